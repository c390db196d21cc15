"""One sign-in attempt with a password (login page or password grant).

Checks the brute-force lockout first (a locked user name is refused even with
the right password), then the password (unknown users cost a dummy hash: same
answer, same time), counts failures per user name, and reports every outcome:
the events of contract C2 (``login_succeeded``, ``login_failed``,
``user_locked_out``) and the login metrics (labelled by client_id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from services.auth.dependencies import UserRepository
from services.auth.domain import User
from services.auth.lockout import LockoutPolicy, retry_after_s
from services.auth.login_store import LoginRepository
from shared import events
from shared.mongo import isoformat, utcnow

log = logging.getLogger(__name__)

LOGIN_SUCCESSES = Counter(
    "ml_auth_login_successes_total", "Successful sign-ins, by client", ["client_id"]
)
LOGIN_FAILURES = Counter(
    "ml_auth_login_failures_total",
    "Refused sign-ins, by client and reason (invalid_credentials, locked, inactive)",
    ["client_id", "reason"],
)
LOCKOUTS = Counter(
    "ml_auth_lockouts_total", "User names locked out after repeated failures", ["client_id"]
)

INVALID = "invalid_credentials"
LOCKED = "locked"
INACTIVE = "inactive"


@dataclass(frozen=True)
class Outcome:
    """``reason`` None: the password is right and the account active (``user`` set)."""

    user: User | None
    reason: str | None = None
    retry_after_s: int = 0


class SignInAttempt:
    """A password check for one client and remote address; see the module docstring."""

    def __init__(
        self,
        users: UserRepository,
        login: LoginRepository,
        policy: LockoutPolicy,
        dispatch: Callable[[str, dict[str, Any]], None],
        *,
        client_id: str,
        client_ip: str | None,
    ) -> None:
        self.users, self.login, self.policy = users, login, policy
        self._dispatch = dispatch
        self.client_id = client_id
        self.client_ip = client_ip or ""

    def check(self, username: str, password: str) -> Outcome:
        state = self.login.failure_state(username, self.policy)
        if state.locked_until is not None:
            self._failed(username, LOCKED)
            return Outcome(None, LOCKED, retry_after_s(state.locked_until, utcnow()))
        user = self.users.authenticate(username, password)
        if user is None:
            failure = self.login.record_failure(username, self.policy)
            self._failed(username, INVALID)
            if failure.locked_until is not None:
                LOCKOUTS.labels(self.client_id).inc()
                log.warning("user name %r locked out after %d failures until %s",
                            username, failure.failures, isoformat(failure.locked_until))
                self._emit(events.USER_LOCKED_OUT, {
                    "username": username,
                    "until": isoformat(failure.locked_until),
                    "failures": failure.failures,
                })
                return Outcome(None, INVALID, retry_after_s(failure.locked_until, utcnow()))
            return Outcome(None, INVALID)
        # The right password ends the run of failures, active account or not.
        self.login.reset_failures(username)
        if not user.active:
            self._failed(username, INACTIVE)
            return Outcome(user, INACTIVE)
        return Outcome(user)

    def succeeded(self, user: User) -> None:
        """Report a completed sign-in (tokens or an authorization code issued)."""
        LOGIN_SUCCESSES.labels(self.client_id).inc()
        self._emit(events.LOGIN_SUCCEEDED, {
            "username": user.username,
            "user_id": user.id,
            "client_id": self.client_id,
            "client": self.client_ip,
            "at": isoformat(utcnow()),
        })

    def _failed(self, username: str, reason: str) -> None:
        LOGIN_FAILURES.labels(self.client_id, reason).inc()
        self._emit(events.LOGIN_FAILED, {
            "username": username,
            "client_id": self.client_id,
            "client": self.client_ip,
            "at": isoformat(utcnow()),
            "reason": reason,
        })

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        # After the fact, and never at the cost of the sign-in itself.
        try:
            self._dispatch(event_type, payload)
        except Exception:
            log.exception("could not dispatch %s", event_type)
