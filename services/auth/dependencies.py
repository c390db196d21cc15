"""Repositories of the auth service: users (+ login sessions) and signing keys.

Collections (owned by auth): ``users``, ``auth_sessions``, ``signing_keys``.
ObjectIds and raw documents stay here; callers get ``domain`` objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import eventlet
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from bson import ObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from eventlet import tpool
from jose import jwk
from jose.backends.base import Key
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.auth import domain
from services.auth.domain import User
from shared.errors import NotFound
from shared.mongo import Repository, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# -- passwords -------------------------------------------------------------------

# argon2id with the RFC 9106 "low memory" profile (argon2-cffi's default):
# ~0.1 s of CPU per hash, so it always runs in a tpool thread, never on the hub.
_hasher = PasswordHasher()
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash verified against when the username is unknown, so that a wrong
    username costs the same time as a wrong password (no enumeration by timing)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not a password: timing equaliser")
    return _dummy_hash


def _offload(fn: Callable[..., T], *args: Any) -> T:
    return tpool.execute(fn, *args)


def hash_password(password: str) -> str:
    return _offload(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str, password: str) -> bool:
    return _offload(_verify, password_hash, password)


# -- users and sessions --------------------------------------------------------------


def _user_from_doc(doc: dict[str, Any]) -> User:
    return User(
        id=str(doc["_id"]),
        username=doc["username"],
        email=doc.get("email") or "",
        first_name=doc.get("first_name") or "",
        last_name=doc.get("last_name") or "",
        role=doc["role"],
        active=bool(doc.get("active", True)),
        password_hash=doc["password_hash"],
        password_temporary=bool(doc.get("password_temporary", False)),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
        revoked_at=doc.get("revoked_at"),
    )


@dataclass(frozen=True)
class Session:
    """A login session: what a refresh token refers to (Keycloak's ``sid``)."""

    id: str
    user_id: str
    client_id: str
    scope: str
    started_at: datetime
    expires_at: datetime
    #: The nonce of the last authorization request (put in refreshed ID tokens).
    nonce: str | None = None


def _session_from_doc(doc: dict[str, Any]) -> Session:
    return Session(
        id=doc["_id"],
        user_id=doc["user_id"],
        client_id=doc["client_id"],
        scope=doc.get("scope", domain.DEFAULT_SCOPE),
        started_at=doc["started_at"],
        expires_at=doc["expires_at"],
        nonce=doc.get("nonce"),
    )


class UserRepository(Repository):
    """Users of the realm and their login sessions.

    Verbs only; user administration (create / modify / deactivate through the
    API) will add verbs here, next to ``add_user``.
    """

    indexes = {
        "users": [([("username", ASCENDING)], {"unique": True})],
        "auth_sessions": [
            # MongoDB purges expired sessions itself; lookups also check expiry.
            ([("expires_at", ASCENDING)], {"expireAfterSeconds": 0}),
            # The browser's SSO cookie finds its session by the cookie's hash.
            ([("sso_hash", ASCENDING)], {"sparse": True}),
        ],
    }

    def setup(self) -> None:
        super().setup()
        self.users = self.db["users"]
        self.sessions = self.db["auth_sessions"]
        self.ensure_demo_users()

    # users ------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        role: str,
        *,
        email: str,
        first_name: str,
        last_name: str,
        active: bool = True,
        password_temporary: bool = False,
    ) -> User:
        """Insert a user; ``DuplicateKeyError`` when the username is taken,
        ``ValueError`` for a role that is not the realm's."""
        now = utcnow()
        doc = {
            "username": domain.normalize_username(username),
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "role": domain.check_role(role),
            "active": active,
            "password_hash": hash_password(password),
            "password_temporary": password_temporary,
            "created_at": now,
            "updated_at": now,
        }
        doc["_id"] = self.users.insert_one(doc).inserted_id
        return _user_from_doc(doc)

    def ensure_demo_users(self) -> int:
        """Create the demo users when the realm has no user yet; how many were created.

        Replicas starting together may both find the collection empty: the
        unique username index lets exactly one insert of each user win.
        """
        if self.users.find_one({}, {"_id": 1}) is not None:
            return 0
        pool = eventlet.GreenPool(len(domain.DEMO_USERS))
        created = sum(pool.imap(self._add_demo_user, domain.DEMO_USERS))
        if created:
            log.info("created %d demo users", created)
        return created

    def _add_demo_user(self, demo: domain.DemoUser) -> int:
        try:
            self.add_user(
                demo.username,
                demo.password,
                demo.role,
                email=demo.email,
                first_name=demo.first_name,
                last_name=demo.last_name,
            )
        except DuplicateKeyError:
            return 0
        return 1

    def find_by_username(self, username: str) -> User | None:
        doc = self.users.find_one({"username": domain.normalize_username(username)})
        return _user_from_doc(doc) if doc else None

    def find_by_id(self, user_id: str) -> User | None:
        if not ObjectId.is_valid(user_id):
            return None
        doc = self.users.find_one({"_id": ObjectId(user_id)})
        return _user_from_doc(doc) if doc else None

    def get_user(self, username: str) -> User:
        user = self.find_by_username(username)
        if user is None:
            raise NotFound(f"user {username!r} not found", {"username": username})
        return user

    def list_users(self) -> list[User]:
        return [_user_from_doc(doc) for doc in self.users.find().sort("username", ASCENDING)]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (active or not: the caller decides).

        Unknown users cost one hash verification too, so timing does not tell
        whether a username exists.
        """
        user = self.find_by_username(username)
        ok = verify_password(user.password_hash if user else _dummy(), password)
        if not (user and ok):
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            # Parameters were raised since this hash was made: upgrade it now
            # that the clear password is at hand.
            self.users.update_one(
                {"_id": ObjectId(user.id)},
                {"$set": {"password_hash": hash_password(password), "updated_at": utcnow()}},
            )
        return user

    def update_user(self, user_id: str, changes: dict[str, Any], *, revoke: bool) -> User | None:
        """Apply ``changes`` (names, e-mail, role, active) to a user; the user after it,
        None when unknown. ``revoke``: tokens issued until now stop working (the time
        is kept in ``revoked_at``) and every login session of the user ends."""
        now = utcnow()
        fields = {**changes, "updated_at": now}
        if "role" in fields:
            domain.check_role(fields["role"])
        if revoke:
            fields["revoked_at"] = now
        doc = self.users.find_one_and_update(
            {"_id": ObjectId(user_id)} if ObjectId.is_valid(user_id) else {"_id": None},
            {"$set": fields}, return_document=ReturnDocument.AFTER)
        if doc is None:
            return None
        if revoke:
            self.close_sessions_of(user_id)
        return _user_from_doc(doc)

    def active_admin_ids(self) -> list[str]:
        return [str(doc["_id"]) for doc in
                self.users.find({"role": "admin", "active": True}, {"_id": 1})]

    def revocations_since(self, since: datetime | None) -> list[User]:
        """Users whose tokens were revoked after ``since`` (every revocation: None)."""
        query = {"revoked_at": {"$gt": since} if since else {"$ne": None}}
        return [_user_from_doc(doc) for doc in self.users.find(query)]

    def set_password(self, user_id: str, password: str, *, temporary: bool = False) -> bool:
        """Replace a user's password (and its ``temporary`` flag); whether the user exists."""
        result = self.users.update_one(
            {"_id": ObjectId(user_id)},
            {
                "$set": {
                    "password_hash": hash_password(password),
                    "password_temporary": temporary,
                    "updated_at": utcnow(),
                }
            },
        )
        return result.matched_count == 1

    # sessions ---------------------------------------------------------------

    def open_session(
        self,
        user: User,
        client_id: str,
        scope: str,
        max_age_s: int,
        *,
        sso_hash: str | None = None,
        nonce: str | None = None,
    ) -> Session:
        """A new login session; ``sso_hash`` (browser logins) is the hash of the
        SSO cookie that finds it again."""
        now = utcnow()
        doc = {
            "_id": domain.new_id(),
            "user_id": user.id,
            "client_id": client_id,
            "scope": scope,
            "started_at": now,
            "last_refresh": now,
            "expires_at": now + timedelta(seconds=max_age_s),
        }
        if sso_hash is not None:
            doc["sso_hash"] = sso_hash
            doc["nonce"] = nonce
        self.sessions.insert_one(doc)
        # The embedded database may not honour TTL indexes: purge as we go.
        self.sessions.delete_many({"expires_at": {"$lt": now}})
        return _session_from_doc(doc)

    def touch_session(self, session_id: str, user_id: str, client_id: str) -> Session | None:
        """The live session ``session_id`` of that user and client, marked refreshed; else None."""
        now = utcnow()
        doc = self.sessions.find_one_and_update(
            {
                "_id": session_id,
                "user_id": user_id,
                "client_id": client_id,
                "expires_at": {"$gt": now},
            },
            {"$set": {"last_refresh": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _session_from_doc(doc) if doc else None

    def find_sso_session(self, sso_hash: str, idle_s: int) -> Session | None:
        """The live browser session whose SSO cookie hashes to ``sso_hash``, marked used;
        None when it expired or went unused for ``idle_s`` (Keycloak's SSO Session Idle)."""
        now = utcnow()
        doc = self.sessions.find_one_and_update(
            {
                "sso_hash": sso_hash,
                "expires_at": {"$gt": now},
                "last_refresh": {"$gt": now - timedelta(seconds=idle_s)},
            },
            {"$set": {"last_refresh": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _session_from_doc(doc) if doc else None

    def find_session(self, session_id: str) -> Session | None:
        doc = self.sessions.find_one({"_id": session_id, "expires_at": {"$gt": utcnow()}})
        return _session_from_doc(doc) if doc else None

    def set_session_nonce(self, session_id: str, nonce: str | None) -> None:
        self.sessions.update_one({"_id": session_id}, {"$set": {"nonce": nonce}})

    def close_session(self, session_id: str) -> bool:
        return self.sessions.delete_one({"_id": session_id}).deleted_count == 1

    def close_sessions_of(self, user_id: str) -> int:
        return self.sessions.delete_many({"user_id": user_id}).deleted_count


# -- signing keys --------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    generation: int
    private: Key
    public: Key
    jwk: dict[str, str]


def _generate_rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _load_key(doc: dict[str, Any]) -> SigningKey:
    # Loading an RSA private key validates it (~50 ms of CPU): done once per key,
    # in a tpool thread, then cached.
    private = _offload(jwk.construct, doc["private_pem"], domain.ALGORITHM)
    public = private.public_key()
    return SigningKey(
        kid=doc["_id"],
        generation=doc["generation"],
        private=private,
        public=public,
        jwk=domain.public_jwk(doc["_id"], public.to_dict()),
    )


class KeyRepository(Repository):
    """Persistent RS256 signing keys, rotated by ``kid``.

    The key with the highest ``generation`` signs; every key not retired is
    listed in the JWKS so tokens signed before a rotation stay verifiable.
    A unique index on ``generation`` makes creation race-safe across replicas.
    """

    indexes = {"signing_keys": [([("generation", ASCENDING)], {"unique": True})]}
    #: How long a replica trusts its cached key set before re-reading it (to see
    #: a rotation made by another replica).
    cache_s = 60.0
    #: An unknown kid re-reads the key set at most this often, so tokens with
    #: made-up kids cannot turn into one database read each.
    miss_reload_s = 5.0

    def setup(self) -> None:
        super().setup()
        self.keys = self.db["signing_keys"]
        self._cache: dict[str, SigningKey] = {}
        self._loaded_at = 0.0
        if self.keys.find_one({}, {"_id": 1}) is None:
            self.rotate(expected_generation=0)
        self._reload()

    def _reload(self) -> None:
        docs = list(self.keys.find({"retired_at": None}).sort("generation", DESCENDING))
        cache = {doc["_id"]: self._cache.get(doc["_id"]) or _load_key(doc) for doc in docs}
        self._cache, self._loaded_at = cache, time.monotonic()

    def _fresh(self) -> dict[str, SigningKey]:
        if time.monotonic() - self._loaded_at > self.cache_s:
            self._reload()
        return self._cache

    def rotate(self, expected_generation: int | None = None) -> str:
        """Create a new active key; its ``kid``. Older keys stay listed until retired.

        With ``expected_generation`` the new key gets the next generation after
        it, and a concurrent creator of the same generation wins (its key is used).
        """
        if expected_generation is None:
            last = self.keys.find_one({}, sort=[("generation", DESCENDING)])
            expected_generation = last["generation"] if last else 0
        pem = _offload(_generate_rsa_pem)
        public = _offload(jwk.construct, pem, domain.ALGORITHM).public_key().to_dict()
        kid = domain.jwk_thumbprint(public)
        try:
            self.keys.insert_one(
                {
                    "_id": kid,
                    "generation": expected_generation + 1,
                    "algorithm": domain.ALGORITHM,
                    "private_pem": pem,
                    "created_at": utcnow(),
                    "retired_at": None,
                }
            )
            log.info("created signing key %s (generation %d)", kid, expected_generation + 1)
        except DuplicateKeyError:
            log.info("another replica created signing key generation %d", expected_generation + 1)
        self._reload()
        return self.active().kid

    def retire(self, kid: str) -> None:
        """Stop listing (and accepting) a key; tokens it signed stop verifying."""
        self.keys.update_one({"_id": kid}, {"$set": {"retired_at": utcnow()}})
        self._reload()

    def active(self) -> SigningKey:
        keys = self._fresh()
        return max(keys.values(), key=lambda key: key.generation)

    def find(self, kid: str) -> SigningKey | None:
        """The key ``kid``; an unknown kid re-reads the key set once (rotation elsewhere)."""
        key = self._fresh().get(kid)
        if key is None and time.monotonic() - self._loaded_at > self.miss_reload_s:
            self._reload()
            key = self._cache.get(kid)
        return key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        keys = sorted(self._fresh().values(), key=lambda key: -key.generation)
        return {"keys": [key.jwk for key in keys]}
