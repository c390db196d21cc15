"""Strict verification of the issuer's RS256 access tokens.

The rules (ARCHITECTURE.md "Identity", TRAPS.md "JWT"), each a test in
tests/unit/test_gateway_auth.py:

* the header must say ``alg: RS256`` and carry a ``kid``; python-jose would
  otherwise try every key of a JWKS, so the key is selected by ``kid`` here;
* an unknown ``kid`` refreshes the JWKS once (at most once per
  ``refetch_interval`` seconds, so garbage tokens cannot hammer the issuer),
  then it is a 401;
* ``exp``, ``iat`` and ``aud`` are required (jose accepts tokens without them
  otherwise), ``iss`` must be the configured issuer, ``aud`` must contain the
  configured audience, ``nbf`` (when present) must have passed.

The JWKS is fetched lazily from ``{issuer}/protocol/openid-connect/certs``:
the issuer may still be starting when the gateway starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError, JWTError

from shared.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger(__name__)

ALGORITHM = "RS256"


@dataclass(frozen=True)
class Principal:
    """The caller, as the token describes them."""

    username: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    roles: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "roles": list(self.roles),
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        realm_access = claims.get("realm_access") or {}
        roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
        username = claims.get("preferred_username") or claims.get("sub")
        if not isinstance(username, str) or not username:
            raise Unauthorized("token names no user")
        return cls(
            username=username,
            email=claims.get("email"),
            first_name=claims.get("given_name") or claims.get("first_name"),
            last_name=claims.get("family_name") or claims.get("last_name"),
            roles=tuple(r for r in (roles or []) if isinstance(r, str)),
            claims=claims,
        )


def jwks_url_for(issuer: str) -> str:
    return issuer.rstrip("/") + "/protocol/openid-connect/certs"


def http_fetch_jwks(url: str, timeout: float = 5.0) -> dict[str, Any]:
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


class JwtVerifier:
    """Verifies access tokens against the issuer's JWKS (cached, thread-safe).

    ``fetch(url) -> jwks dict`` is injectable for unit tests of the pure logic.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        fetch: Callable[[str], dict[str, Any]] = http_fetch_jwks,
        refetch_interval: float = 10.0,
        leeway: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url or jwks_url_for(issuer)
        self.fetch = fetch
        self.refetch_interval = refetch_interval
        self.leeway = leeway
        self.clock = clock
        self._keys: dict[str, dict[str, Any]] | None = None
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------

    def _refresh(self) -> None:
        """Fetch the JWKS unless it was fetched less than ``refetch_interval`` ago."""
        with self._lock:
            now = self.clock()
            if self._fetched_at is not None and now - self._fetched_at < self.refetch_interval:
                return
            self._fetched_at = now
            try:
                jwks = self.fetch(self.jwks_url)
            except Exception as exc:
                log.warning("cannot fetch the JWKS from %s: %r", self.jwks_url, exc)
                if self._keys is None:
                    raise ServiceUnavailable(
                        "the identity provider did not answer", {"service": "auth"}
                    ) from exc
                return
            keys = {}
            for key in jwks.get("keys", []) if isinstance(jwks, dict) else []:
                if (
                    isinstance(key, dict)
                    and key.get("kid")
                    and key.get("kty") == "RSA"
                    and key.get("alg", ALGORITHM) == ALGORITHM
                    and key.get("use", "sig") == "sig"
                ):
                    keys[key["kid"]] = key
            self._keys = keys

    def key_for(self, kid: str) -> dict[str, Any]:
        if self._keys is None or kid not in self._keys:
            self._refresh()
        key = (self._keys or {}).get(kid)
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        return key

    # -- tokens ----------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``Unauthorized`` naming what is wrong."""
        if not token:
            raise Unauthorized("missing bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise Unauthorized("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"token algorithm must be {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token has no key id (kid)")
        key = self.key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require_exp": True,
                    "require_aud": True,
                    "require_iat": True,
                    "verify_nbf": True,
                    "verify_at_hash": False,
                    "leeway": self.leeway,
                },
            )
        except ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except JWTClaimsError as exc:
            raise Unauthorized(f"invalid token claims: {exc}") from None
        except JWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        if not isinstance(claims, dict):
            raise Unauthorized("invalid token payload")
        # Keycloak marks its tokens: only an access token ("Bearer") opens the API,
        # never a refresh or ID token that a client might send by mistake or malice.
        if claims.get("typ", "Bearer") != "Bearer":
            raise Unauthorized(f"a {claims.get('typ')} token is not an access token")
        return claims

    def principal(self, token: str) -> Principal:
        return Principal.from_claims(self.verify(token))


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, else ``Unauthorized``."""
    if not authorization:
        raise Unauthorized("missing bearer token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization must be a bearer token")
    return token.strip()
