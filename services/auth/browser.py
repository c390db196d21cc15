"""Pure logic of the browser login (authorization code flow + PKCE), no I/O.

The authorization request is checked in Keycloak's order: an unknown client or
a redirect URI that is not exactly one of the client's gets an error *page*
(never a redirect: no open redirector); every later error is sent back to the
(now trusted) redirect URI as ``error=...&state=...`` (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from services.auth.domain import PKCE_METHODS, Client, effective_scope

#: RFC 7636 §4.1: a verifier (and an S256 challenge, base64url of 32 bytes = 43
#: chars) is 43-128 characters of the unreserved set.
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
#: Keycloak caps state and nonce too; a bounded length keeps stored codes small.
MAX_PARAM_LENGTH = 2048

# French messages of the pages (the web app's users read French).
INVALID_CREDENTIALS = "Nom d'utilisateur ou mot de passe invalide"
ACCOUNT_DISABLED = "Compte désactivé. Contactez votre administrateur."
MISSING_FIELDS = "Saisissez votre nom d'utilisateur et votre mot de passe."
FORM_EXPIRED = (
    "Votre formulaire de connexion a expiré ou n'est pas valide. Veuillez vous reconnecter."
)


class AuthorizeError(Exception):
    """An authorization request refused.

    ``redirect_to`` None: shown as an error page (unknown client, bad redirect
    URI); else the client's redirect URI with ``error`` and ``state``, where the
    browser is sent.
    """

    def __init__(self, error: str, description: str, redirect_to: str | None = None):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_to = redirect_to


@dataclass(frozen=True)
class AuthorizeRequest:
    """A valid authorization request (``/auth`` query parameters)."""

    client: Client
    redirect_uri: str
    state: str | None
    nonce: str | None
    scope: str
    code_challenge: str
    prompt: str

    def redirect(self, **params: str | None) -> str:
        """The redirect URI with ``params`` (and the request's ``state``) in its query."""
        return add_query(self.redirect_uri, **params, state=self.state)


def add_query(url: str, **params: str | None) -> str:
    """``url`` with ``params`` (None values left out) appended to its query string."""
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = "&".join(filter(None, [parts.query, extra]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _too_long(query: Mapping[str, str], name: str) -> bool:
    return len(query.get(name) or "") > MAX_PARAM_LENGTH


def parse_authorize(query: Mapping[str, str], clients: Mapping[str, Client]) -> AuthorizeRequest:
    """Validate an authorization request; ``AuthorizeError`` says how to refuse it."""
    client = clients.get(query.get("client_id") or "")
    if client is None:
        raise AuthorizeError("invalid_client", "Client not found.")
    if not client.standard_flow:
        raise AuthorizeError(
            "unauthorized_client",
            "Client is not allowed to initiate browser login.",
        )
    redirect_uri = query.get("redirect_uri") or ""
    if not redirect_uri_allowed(redirect_uri, client):
        raise AuthorizeError("invalid_redirect_uri", "Invalid parameter: redirect_uri")
    state = query.get("state") or None
    if state is not None and len(state) > MAX_PARAM_LENGTH:
        state = None  # never echo an oversized value back

    def refuse(error: str, description: str) -> AuthorizeError:
        to = add_query(redirect_uri, error=error, error_description=description, state=state)
        return AuthorizeError(error, description, to)

    for name in ("nonce", "scope"):
        if _too_long(query, name):
            raise refuse("invalid_request", f"Invalid parameter: {name}")
    if query.get("response_type") != "code":
        raise refuse("unsupported_response_type", "Client is not allowed to initiate browser "
                     "login with given response_type. Only 'code' is supported.")
    if query.get("response_mode", "query") != "query":
        raise refuse("invalid_request", "Invalid parameter: response_mode")
    challenge = query.get("code_challenge") or ""
    method = query.get("code_challenge_method") or ""
    if not method:
        raise refuse("invalid_request", "Missing parameter: code_challenge_method")
    if method not in PKCE_METHODS:
        raise refuse("invalid_request", "Invalid parameter: code_challenge_method")
    if not challenge:
        raise refuse("invalid_request", "Missing parameter: code_challenge")
    if not _PKCE_VALUE.match(challenge):
        raise refuse("invalid_request", "Invalid parameter: code_challenge")
    prompt = query.get("prompt") or ""
    if prompt not in ("", "none", "login"):
        raise refuse("invalid_request", "Invalid parameter: prompt")
    return AuthorizeRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        nonce=query.get("nonce") or None,
        scope=effective_scope(query.get("scope")),
        code_challenge=challenge,
        prompt=prompt,
    )


def redirect_uri_allowed(uri: str, client: Client) -> bool:
    """Exact, case-sensitive match against the client's list (no wildcard, no prefix)."""
    return bool(uri) and any(hmac.compare_digest(uri, allowed) for allowed in client.redirect_uris)


def post_logout_uri_allowed(uri: str, client: Client) -> bool:
    return bool(uri) and any(
        hmac.compare_digest(uri, allowed) for allowed in client.post_logout_redirect_uris
    )


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: BASE64URL(SHA256(ascii(verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_error(verifier: str, challenge: str) -> str | None:
    """None when ``verifier`` matches the S256 ``challenge``, else Keycloak's reason."""
    if not verifier:
        return "PKCE code verifier not specified"
    if not _PKCE_VALUE.match(verifier):
        return "PKCE invalid code verifier"
    if not hmac.compare_digest(s256(verifier), challenge):
        return "PKCE verification failed: Code mismatch"
    return None


class BoundCode(Protocol):
    """What a redeemed code was bound to (``login_store.IssuedCode``)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    expires_at: datetime


def code_refusal(
    code: BoundCode, *, client_id: str, redirect_uri: str, code_verifier: str, now: datetime
) -> str | None:
    """None when a code redeemed now by ``client_id`` is good, else Keycloak's reason.

    The code must be unexpired, issued to the same client, for the same redirect
    URI, and the verifier must match its S256 challenge (RFC 6749 §4.1.3, RFC 7636).
    """
    if now >= code.expires_at or not hmac.compare_digest(code.client_id, client_id):
        return "Code not valid"
    if not hmac.compare_digest(code.redirect_uri, redirect_uri):
        return "Incorrect redirect_uri"
    return pkce_error(code_verifier, code.code_challenge)


def password_policy_errors(
    new: str, confirmation: str, *, username: str, min_length: int
) -> list[str]:
    """French reasons why ``new`` is refused as the new password (empty: accepted).

    That it differs from the old password is checked by the caller (it needs the hash).
    """
    errors = []
    if not new:
        return ["Saisissez un nouveau mot de passe."]
    if len(new) < min_length:
        errors.append(f"Le mot de passe doit contenir au moins {min_length} caractères.")
    if new.strip().lower() == username.lower():
        errors.append("Le mot de passe ne doit pas être identique au nom d'utilisateur.")
    if new != confirmation:
        errors.append("Les mots de passe ne correspondent pas.")
    return errors
