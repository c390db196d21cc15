"""What the browser login refuses, against a running auth container (real RabbitMQ,
real embedded database): wrong credentials, deactivated accounts, CSRF, the
brute-force lockout (login page and token endpoint, persisted, lifted by RPC),
temporary passwords, and the C2 events and login metrics."""

from __future__ import annotations

import time

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import get_extension
from prometheus_client import REGISTRY

from services.auth import domain
from services.auth.dependencies import UserRepository
from shared import events
from shared.events import on_events
from shared.testing.browser_login import LoginBrowser, parse_page
from tests.service.test_auth_service import Issuer, start_issuer  # noqa: F401  (fixture)

pytestmark = pytest.mark.service

PUBLIC = "http://localhost:3999"
CALLBACK = f"{PUBLIC}/auth/callback"
INVALID = "Nom d'utilisateur ou mot de passe invalide"
GUARD = {"PUBLIC_URL": PUBLIC, "LOGIN_MAX_FAILURES": 3, "LOGIN_LOCKOUT_S": 1,
         "LOGIN_LOCKOUT_MAX_S": 2}


class AuthEventsProbe:
    """Records the auth service's sign-in events (a real consumer on the broker)."""

    name = "auth_events_probe"
    received: list[tuple[str, dict]] = []

    @on_events("auth", [events.LOGIN_SUCCEEDED])
    def succeeded(self, payload):
        self.received.append((events.LOGIN_SUCCEEDED, payload))

    @on_events("auth", [events.LOGIN_FAILED])
    def failed(self, payload):
        self.received.append((events.LOGIN_FAILED, payload))

    @on_events("auth", [events.USER_LOCKED_OUT])
    def locked(self, payload):
        self.received.append((events.USER_LOCKED_OUT, payload))


@pytest.fixture
def probe(container_factory, service_config):
    AuthEventsProbe.received = []
    container = container_factory(AuthEventsProbe, service_config)
    container.start()
    return AuthEventsProbe.received


def wait_for(received: list, event_type: str, count: int = 1, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = [payload for name, payload in received if name == event_type]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        eventlet.sleep(0.05)


@pytest.fixture
def guarded(start_issuer) -> Issuer:  # noqa: F811
    return start_issuer(**GUARD)


def browser_for(issuer: Issuer) -> LoginBrowser:
    return LoginBrowser(f"{issuer.base}{domain.REALM_PATH}", CALLBACK)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def page_login(issuer: Issuer, username: str, password: str):
    response = browser_for(issuer).login(username, password)
    return response, parse_page(response)


def test_wrong_password_and_unknown_user_get_the_same_page(guarded, probe):
    before = metric("ml_auth_login_failures_total", client_id=domain.CLIENT_WEB,
                    reason="invalid_credentials")
    wrong, wrong_page = page_login(guarded, "admin", "admin124")
    unknown, unknown_page = page_login(guarded, "nobody-here", "admin123")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong_page.alert == unknown_page.alert == INVALID
    assert "Location" not in wrong.headers
    # The user name is kept in the form, the password never is.
    assert wrong_page.form.fields["username"] == "admin"
    assert wrong_page.form.fields["password"] == ""
    assert metric("ml_auth_login_failures_total", client_id=domain.CLIENT_WEB,
                  reason="invalid_credentials") == before + 2
    failed = wait_for(probe, events.LOGIN_FAILED, 2)
    assert {p["username"] for p in failed} == {"admin", "nobody-here"}
    assert all(p["reason"] == "invalid_credentials" and p["client_id"] == domain.CLIENT_WEB
               and p["client"] == "127.0.0.1" and p["at"].endswith("Z") for p in failed)


def test_deactivated_user_cannot_sign_in(guarded, mongo_db, probe):
    mongo_db.users.update_one({"username": "viewer"}, {"$set": {"active": False}})
    right, right_page = page_login(guarded, "viewer", "password123")
    assert right.status_code == 400 and "Location" not in right.headers
    assert right_page.alert == "Compte désactivé. Contactez votre administrateur."
    # Without the right password nothing more than the uniform message is said.
    _, wrong_page = page_login(guarded, "viewer", "wrong-one")
    assert wrong_page.alert == INVALID
    reasons = [p["reason"] for p in wait_for(probe, events.LOGIN_FAILED, 2)]
    assert sorted(reasons) == ["inactive", "invalid_credentials"]


@pytest.mark.parametrize("csrf", [None, "forged-token-forged-token-forged"])
def test_login_form_without_the_right_csrf_token_is_refused(guarded, csrf):
    browser = browser_for(guarded)
    page = parse_page(browser.authorize())
    if csrf is None:
        response = browser.submit(page, drop=("csrf_token",), username="admin",
                                  password="admin123")
    else:
        response = browser.submit(page, csrf_token=csrf, username="admin", password="admin123")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "expiré" in parse_page(response).alert
    # A cross-site post has no cookie at all: refused the same.
    browser.session.cookies.clear()
    response = browser.submit(page, username="admin", password="admin123")
    assert response.status_code == 400 and "Location" not in response.headers


def lock_out(issuer: Issuer, name: str) -> None:
    """Three failures on the login page (LOGIN_MAX_FAILURES=3): the third locks."""
    for _ in range(2):
        response, page = page_login(issuer, name, "wrong-password")
        assert (response.status_code, page.alert) == (401, INVALID)
    response, page = page_login(issuer, name, "wrong-password")
    assert response.status_code == 429
    assert page.alert == ("Trop de tentatives de connexion échouées. "
                          "Veuillez patienter 4 secondes avant de réessayer.")
    assert response.headers["Retry-After"] == "4"


def test_lockout_on_the_page_and_the_token_endpoint_then_expiry(start_issuer, probe):  # noqa: F811
    guarded = start_issuer(**{**GUARD, "LOGIN_LOCKOUT_S": 4, "LOGIN_LOCKOUT_MAX_S": 8})
    lockouts = metric("ml_auth_lockouts_total", client_id=domain.CLIENT_WEB)
    lock_out(guarded, "business")
    # While locked even the right password is refused, on the page and the token endpoint.
    response, page = page_login(guarded, "business", "password123")
    assert response.status_code == 429 and "patienter" in page.alert
    token = guarded.login("business", "password123")
    assert token.status_code == 429
    assert token.json()["error"] == "rate_limited"
    assert 1 <= int(token.headers["Retry-After"]) <= 4
    assert set(token.json()) == {"error", "error_description"}
    lock_out(guarded, "ghost-user")  # an unknown name is locked out the same way
    assert metric("ml_auth_lockouts_total", client_id=domain.CLIENT_WEB) == lockouts + 2
    locked = wait_for(probe, events.USER_LOCKED_OUT, 2)
    assert {p["username"] for p in locked} == {"business", "ghost-user"}
    assert all(p["failures"] == 3 and p["until"].endswith("Z") for p in locked)
    assert "locked" in [p["reason"] for p in wait_for(probe, events.LOGIN_FAILED, 8)]

    time.sleep(4.2)  # LOGIN_LOCKOUT_S=4
    # The next failure locks again, twice as long (LOGIN_LOCKOUT_MAX_S=8 caps it).
    again = guarded.login("ghost-user", "still-wrong")
    assert (again.status_code, again.headers["Retry-After"]) == (429, "8")
    # The right password after the wait signs in, and resets the count.
    response = browser_for(guarded).login("business", "password123")
    assert response.status_code == 302, response.text
    response, page = page_login(guarded, "business", "wrong-password")
    assert (response.status_code, page.alert) == (401, INVALID)


def test_lockout_is_kept_in_the_database_and_lifted_by_unlock_user(
    start_issuer, service_config  # noqa: F811
):
    first = start_issuer(**{**GUARD, "LOGIN_LOCKOUT_S": 60, "LOGIN_LOCKOUT_MAX_S": 120})
    for _ in range(3):
        first.login("datascientist", "wrong-password")
    assert first.login("datascientist").status_code == 429
    first.container.stop()
    # Another replica (or the same after a restart) sees the lockout.
    second = start_issuer(**{**GUARD, "LOGIN_LOCKOUT_S": 60, "LOGIN_LOCKOUT_MAX_S": 120})
    response = second.login("datascientist")
    assert response.status_code == 429 and 50 <= int(response.headers["Retry-After"]) <= 60
    with ClusterRpcProxy(service_config, timeout=10) as cluster:
        assert cluster.auth.unlock_user("DataScientist") == {
            "username": "datascientist", "unlocked": True}
        assert cluster.auth.unlock_user("datascientist")["unlocked"] is False
    assert second.login("datascientist").status_code == 200


def test_temporary_password_must_be_replaced_before_the_code(guarded, probe):
    users = get_extension(guarded.container, UserRepository)
    users.add_user("nouveau", "Temp-1234", "viewer", email="n@example.com", first_name="Noé",
                   last_name="Petit", password_temporary=True)
    assert users.get_user("viewer").password_temporary is False  # demo users are not
    # The token endpoint refuses it, as Keycloak does until the account is set up.
    response = guarded.login("nouveau", "Temp-1234")
    assert response.json() == {"error": "invalid_grant",
                               "error_description": "Account is not fully set up"}

    browser = browser_for(guarded)
    response = browser.login("nouveau", "Temp-1234")
    assert response.status_code == 200 and "Location" not in response.headers
    page = parse_page(response)
    assert page.title.startswith("Mettre à jour le mot de passe")
    assert page.form.labels == {"password-new": "Nouveau mot de passe",
                                "password-confirm": "Confirmation du mot de passe"}
    for new, confirm, message in [
        ("court", "court", "au moins 8 caractères"),
        ("Nouveau", "Nouveau", "au moins 8"),
        ("nouveau1", "nouveau2", "ne correspondent pas"),
        ("Temp-1234", "Temp-1234", "différent de l'ancien"),
    ]:
        response = browser.submit(page, password_new=new, password_confirm=confirm)
        assert response.status_code == 400, new
        assert message in parse_page(response).alert, (new, parse_page(response).alert)
    response = browser.submit(page, password_new="nouveau", password_confirm="nouveau")
    assert "identique au nom d'utilisateur" in parse_page(response).alert
    # A ticket from another browser (other CSRF cookie) is not accepted.
    other = browser_for(guarded)
    other.authorize()
    stolen = other.submit(page, csrf_token=other.session.cookies["ML_LOGIN_CSRF"],
                          password_new="Tout-Neuf-99", password_confirm="Tout-Neuf-99")
    assert stolen.status_code == 400 and "expiré" in parse_page(stolen).alert

    response = browser.submit(page, password_new="Tout-Neuf-99", password_confirm="Tout-Neuf-99")
    tokens = browser.exchange(browser.code_from(response)).json()
    assert guarded.verify(tokens["access_token"])["preferred_username"] == "nouveau"
    assert users.get_user("nouveau").password_temporary is False
    assert wait_for(probe, events.LOGIN_SUCCEEDED)[0]["username"] == "nouveau"
    # The old ticket is spent: the password is no longer temporary.
    replay = browser.submit(page, password_new="Encore-Neuf-1", password_confirm="Encore-Neuf-1")
    assert replay.status_code == 400
    assert guarded.login("nouveau", "Tout-Neuf-99").status_code == 200
