"""A scripted browser for the issuer's login page (``requests`` + the stdlib HTML parser).

It does what a browser and the web app's OIDC client do: builds an
authorization request with PKCE S256, reads the login form (action, hidden
fields such as the CSRF token), posts it with its cookies, and exchanges the
code from the redirect for tokens.

    browser = LoginBrowser(issuer_url, redirect_uri)
    tokens = browser.sign_in("admin", "admin123")
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

CLIENT_ID = "ml-platform-web"


def pkce_pair() -> tuple[str, str]:
    """A random code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # input id -> label text


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._label_for: str | None = None
        self._label_text = ""
        self.alerts: list[str] = []
        self._in_alert = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(Form(action=attrs.get("action") or ""))
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1].fields[attrs["name"]] = attrs.get("value") or ""
        elif tag == "label":
            self._label_for, self._label_text = attrs.get("for"), ""
        elif tag == "title":
            self._in_title = True
        if attrs.get("role") == "alert" or self._in_alert:
            self._in_alert += 1

    def handle_endtag(self, tag):
        if tag == "label" and self._label_for and self.forms:
            self.forms[-1].labels[self._label_for] = self._label_text.strip()
            self._label_for = None
        if tag == "title":
            self._in_title = False
        if self._in_alert:
            self._in_alert -= 1

    def handle_data(self, data):
        if self._label_for is not None:
            self._label_text += data
        if self._in_title:
            self.title += data
        if self._in_alert and data.strip():
            self.alerts.append(data.strip())


@dataclass
class Page:
    response: requests.Response
    forms: list[Form]
    alerts: list[str]
    title: str

    @property
    def form(self) -> Form:
        assert self.forms, f"no form on the page:\n{self.response.text[:2000]}"
        return self.forms[0]

    @property
    def alert(self) -> str:
        return " ".join(self.alerts)


def parse_page(response: requests.Response) -> Page:
    parser = _FormParser()
    parser.feed(response.text)
    return Page(response, parser.forms, parser.alerts, parser.title.strip())


class LoginBrowser:
    """One browser (its own cookie jar) signing in to ``issuer`` for ``redirect_uri``."""

    def __init__(self, issuer: str, redirect_uri: str, client_id: str = CLIENT_ID) -> None:
        self.issuer = issuer.rstrip("/")
        self.oidc = f"{self.issuer}/protocol/openid-connect"
        self.redirect_uri = redirect_uri
        self.client_id = client_id
        self.session = requests.Session()
        self.verifier, self.challenge = pkce_pair()
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)

    def authorize_params(self, **overrides: str | None) -> dict[str, str]:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": "openid profile email",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **overrides,
        }
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **overrides: str | None) -> requests.Response:
        """GET the authorization endpoint (redirects not followed)."""
        return self.session.get(f"{self.oidc}/auth", params=self.authorize_params(**overrides),
                                allow_redirects=False, timeout=15)

    def submit(self, page: Page, drop: tuple[str, ...] = (), **values: str) -> requests.Response:
        """Post the page's first form with its hidden fields, ``values`` filled in."""
        form = page.form
        data = {k: v for k, v in {**form.fields, **values}.items() if k not in drop}
        action = urljoin(page.response.url, form.action)
        return self.session.post(action, data=data, allow_redirects=False, timeout=15)

    def login(self, username: str, password: str) -> requests.Response:
        """The login page, then the form posted with these credentials."""
        page = self.authorize()
        assert page.status_code == 200, page.text[:2000]
        return self.submit(parse_page(page), username=username, password=password)

    def code_from(self, response: requests.Response) -> str:
        """The code of a redirect to the redirect URI (state checked)."""
        assert response.status_code == 302, response.text[:2000]
        location = response.headers["Location"]
        assert location.startswith(self.redirect_uri + "?"), location
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [self.state], query
        assert "code" in query, query
        return query["code"][0]

    def exchange(self, code: str, **overrides: str) -> requests.Response:
        data = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            **overrides,
        }
        return requests.post(f"{self.oidc}/token", data=data, timeout=15)

    def sign_in(self, username: str, password: str) -> dict:
        """The whole flow: login page, credentials, code, tokens (asserting each step)."""
        response = self.exchange(self.code_from(self.login(username, password)))
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return requests.post(f"{self.oidc}/token", timeout=15, data={
            "grant_type": "refresh_token", "client_id": self.client_id,
            "refresh_token": refresh_token,
        })

    def logout(self, id_token: str, post_logout_redirect_uri: str | None = None,
               state: str | None = None) -> requests.Response:
        params = {"id_token_hint": id_token, "client_id": self.client_id}
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            params["state"] = state
        return self.session.get(f"{self.oidc}/logout", params=params, allow_redirects=False,
                                timeout=15)
