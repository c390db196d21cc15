"""Access tokens for tests: a throwaway OIDC issuer with its own RSA signing key.

``TokenIssuer`` generates an RS256 key, serves its JWKS on a local HTTP port
in Keycloak's URL layout and mints access tokens with Keycloak's claims
(``preferred_username``, ``email``, ``given_name``, ``family_name``,
``realm_access.roles``, ``aud``, ``iss``, ``exp``, ``iat``, ``nbf``). Point the
code under test at ``token_issuer.issuer`` (``OIDC_ISSUER``) and audience
``token_issuer.audience`` (``OIDC_AUDIENCE``).

Fixtures (loaded by ``shared.testing.plugin``):

* ``token_issuer`` (session): the ``TokenIssuer``;
* ``issue_token``: ``issue_token(username, roles, **claim_overrides)`` → a token.

Examples::

    token = issue_token("alice", ["data-scientist"])
    headers = {"Authorization": f"Bearer {token}"}
    issue_token("bob", ["viewer"], exp=int(time.time()) - 60)   # expired
    issue_token("bob", ["viewer"], aud=None)                    # claim removed
    issue_token("bob", ["viewer"], headers={"kid": "nope"})     # header override
    issue_token("bob", ["viewer"], signing_key=other_private_pem)  # another key
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

REALM = "ml-platform"
AUDIENCE = "ml-platform-api"


def generate_rsa_key() -> tuple[str, str]:
    """A fresh 2048-bit RSA key: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
    return private, public


def public_jwk(public_pem: str, kid: str) -> dict[str, Any]:
    data = jwk.construct(public_pem, "RS256").to_dict()
    data = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in data.items()}
    return {**data, "kid": kid, "use": "sig", "alg": "RS256"}


class TokenIssuer:
    """Signing keys, a JWKS endpoint on 127.0.0.1 (ephemeral port) and a token minter."""

    def __init__(self, audience: str = AUDIENCE, realm: str = REALM, serve: bool = True):
        self.audience = audience
        self.realm = realm
        self.keys: dict[str, tuple[str, str]] = {}  # kid → (private PEM, public PEM)
        self.kid = self.add_key()
        self.jwks_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self.issuer = f"http://127.0.0.1:0/realms/{realm}"
        if serve:
            self.start()

    # -- keys ------------------------------------------------------------------

    def add_key(self, kid: str | None = None) -> str:
        """Add a signing key to the JWKS (rotation); returns its kid. Not yet the default."""
        kid = kid or uuid.uuid4().hex[:16]
        self.keys[kid] = generate_rsa_key()
        return kid

    def rotate(self) -> str:
        """Add a key and sign new tokens with it (the old one stays in the JWKS)."""
        self.kid = self.add_key()
        return self.kid

    def remove_key(self, kid: str) -> None:
        self.keys.pop(kid, None)

    @property
    def private_pem(self) -> str:
        return self.keys[self.kid][0]

    @property
    def public_pem(self) -> str:
        return self.keys[self.kid][1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(public, kid) for kid, (_, public) in self.keys.items()]}

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    # -- tokens ----------------------------------------------------------------

    def claims(self, username: str, roles: Iterable[str], ttl: int = 300) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(uuid.uuid5(uuid.NAMESPACE_DNS, username)),
            "iat": now,
            "nbf": now - 1,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "typ": "Bearer",
            "azp": "ml-platform-cli",
            "preferred_username": username,
            "email": f"{username}@example.org",
            "given_name": username.capitalize(),
            "family_name": "Test",
            "realm_access": {"roles": list(roles)},
        }

    def issue_token(
        self,
        username: str = "alice",
        roles: Iterable[str] = ("viewer",),
        *,
        headers: dict[str, Any] | None = None,
        signing_key: str | None = None,
        algorithm: str = "RS256",
        **overrides: Any,
    ) -> str:
        """A signed access token; ``overrides`` replace claims (``None`` removes one).

        ``headers`` overrides the JOSE header (``kid`` defaults to the current key's;
        ``{"kid": None}`` drops it); ``signing_key`` signs with another key (PEM, or
        any secret with ``algorithm="HS256"``).
        """
        claims = self.claims(username, roles)
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"kid": self.kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(
            claims, signing_key or self.private_pem, algorithm=algorithm, headers=header
        )

    # -- HTTP ------------------------------------------------------------------

    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                base = f"/realms/{issuer.realm}"
                if self.path == f"{base}/protocol/openid-connect/certs":
                    issuer.jwks_requests += 1
                    body = issuer.jwks()
                elif self.path == f"{base}/.well-known/openid-configuration":
                    body = {"issuer": issuer.issuer, "jwks_uri": issuer.jwks_url}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.issuer = f"http://127.0.0.1:{port}/realms/{self.realm}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(scope="session")
def token_issuer() -> Iterator[TokenIssuer]:
    """A local OIDC issuer (JWKS over HTTP) shared by the test session."""
    issuer = TokenIssuer()
    yield issuer
    issuer.stop()


@pytest.fixture
def issue_token(token_issuer: TokenIssuer):
    """``issue_token(username, roles, **claim_overrides)`` → a token of ``token_issuer``."""
    return token_issuer.issue_token
