"""Repository of the browser login: authorization codes and login failures.

Collections (owned by auth): ``auth_codes`` (one document per code, keyed by
the code's SHA-256: the code itself is never stored) and ``login_failures``
(one document per user name that failed recently, known or not). Both live in
the database, so every replica sees the same codes and lockouts, and a restart
forgets neither.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument

from services.auth.lockout import LockoutPolicy
from shared.mongo import Repository, utcnow

#: User names longer than this are cut before counting (bounded documents).
MAX_NAME_LENGTH = 256


def digest(secret: str) -> str:
    """SHA-256 hex of a bearer secret (code, SSO cookie): what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedCode:
    """What an authorization code was bound to when it was issued."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    user_id: str
    sid: str
    scope: str
    nonce: str | None
    expires_at: datetime


@dataclass(frozen=True)
class Redemption:
    """The outcome of redeeming a code: ``code`` None when unknown or already used."""

    code: IssuedCode | None
    replayed_sid: str | None = None


@dataclass(frozen=True)
class FailureState:
    failures: int
    locked_until: datetime | None


class LoginRepository(Repository):
    """Authorization codes (single-use) and per-user-name login failures."""

    indexes = {
        "auth_codes": [([("expires_at", ASCENDING)], {"expireAfterSeconds": 0})],
        "login_failures": [([("expires_at", ASCENDING)], {"expireAfterSeconds": 0})],
    }

    def setup(self) -> None:
        super().setup()
        self.codes = self.db["auth_codes"]
        self.failures = self.db["login_failures"]

    # codes -----------------------------------------------------------------

    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        code_challenge: str,
        user_id: str,
        sid: str,
        scope: str,
        nonce: str | None,
        ttl_s: float,
    ) -> str:
        """A new authorization code (random, 256 bits) bound to all of the above."""
        code = new_secret()
        now = utcnow()
        self.codes.insert_one(
            {
                "_id": digest(code),
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "code_challenge": code_challenge,
                "user_id": user_id,
                "sid": sid,
                "scope": scope,
                "nonce": nonce,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=ttl_s),
                # Kept a while after expiry, to recognise a replay (then purged).
                "used_at": None,
            }
        )
        # The embedded database may not honour TTL indexes: purge as we go.
        self.codes.delete_many({"expires_at": {"$lt": now - timedelta(minutes=10)}})
        return code

    def redeem_code(self, code: str) -> Redemption:
        """Mark ``code`` used (atomically: one redemption wins) and return what it was
        bound to. A second redemption returns the session it had opened, so the
        caller can revoke it (RFC 6749 §4.1.2)."""
        doc = self.codes.find_one_and_update(
            {"_id": digest(code), "used_at": None},
            {"$set": {"used_at": utcnow()}},
            return_document=ReturnDocument.BEFORE,
        )
        if doc is None:
            used = self.codes.find_one({"_id": digest(code)}, {"sid": 1})
            return Redemption(None, replayed_sid=used["sid"] if used else None)
        return Redemption(
            IssuedCode(
                client_id=doc["client_id"],
                redirect_uri=doc["redirect_uri"],
                code_challenge=doc["code_challenge"],
                user_id=doc["user_id"],
                sid=doc["sid"],
                scope=doc["scope"],
                nonce=doc.get("nonce"),
                expires_at=doc["expires_at"],
            )
        )

    # login failures ------------------------------------------------------------

    @staticmethod
    def _key(username: str) -> str:
        return username[:MAX_NAME_LENGTH]

    def failure_state(self, username: str, policy: LockoutPolicy) -> FailureState:
        doc = self.failures.find_one({"_id": self._key(username)})
        now = utcnow()
        if doc is None or policy.forgotten(doc.get("last_failure"), now):
            return FailureState(0, None)
        until = doc.get("locked_until")
        return FailureState(doc.get("failures", 0), until if until and until > now else None)

    def record_failure(self, username: str, policy: LockoutPolicy) -> FailureState:
        """Count one failure for ``username``; its new count and lockout (if it starts now)."""
        key, now = self._key(username), utcnow()
        cutoff = now - timedelta(seconds=policy.reset_after_s)
        # Failures from too long ago are forgotten before this one counts.
        self.failures.update_one(
            {"_id": key, "last_failure": {"$lt": cutoff}}, {"$set": {"failures": 0}}
        )
        doc = self.failures.find_one_and_update(
            {"_id": key},
            {
                "$inc": {"failures": 1},
                "$set": {
                    "last_failure": now,
                    "expires_at": now + timedelta(seconds=policy.reset_after_s),
                },
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        failures = int(doc["failures"])
        until = policy.locked_until(failures, now)
        if until is not None:
            self.failures.update_one(
                {"_id": key},
                {
                    "$set": {
                        "locked_until": until,
                        "expires_at": max(until, now)
                        + timedelta(seconds=policy.reset_after_s),
                    }
                },
            )
        return FailureState(failures, until)

    def reset_failures(self, username: str) -> bool:
        """Forget the failures (and lockout) of ``username``; whether there were any."""
        return self.failures.delete_one({"_id": self._key(username)}).deleted_count == 1
