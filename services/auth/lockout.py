"""Brute-force protection, the way Keycloak's brute-force detection works (pure logic).

Failures are counted per user name, whether the user exists or not (so a
lockout never reveals an account). Once ``max_failures`` failures in a row have
been made, every further failure locks the name for a wait that starts at
``base_wait_s`` and doubles with each lockout, capped at ``max_wait_s``
(Keycloak grows it by ``waitIncrementSeconds`` each time; doubling reaches the
cap sooner). While locked, every attempt is refused, even with the right
password, and not counted. A success resets the count; failures older than
``reset_after_s`` are forgotten (Keycloak's ``maxDeltaTimeSeconds``).

``LockoutPolicy`` is the ONE place the thresholds are read from (contract C2):
``LockoutPolicy.from_config(config)`` today; the admin settings feed it later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.config import DEFAULTS

#: The defaults, also those of the Keycloak realm export (failureFactor,
#: waitIncrementSeconds, maxFailureWaitSeconds, maxDeltaTimeSeconds).
DEFAULT_MAX_FAILURES = int(DEFAULTS["LOGIN_MAX_FAILURES"])
DEFAULT_LOCKOUT_S = int(DEFAULTS["LOGIN_LOCKOUT_S"])
DEFAULT_LOCKOUT_MAX_S = int(DEFAULTS["LOGIN_LOCKOUT_MAX_S"])
DEFAULT_FAILURE_RESET_S = int(DEFAULTS["LOGIN_FAILURE_RESET_S"])


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = DEFAULT_MAX_FAILURES
    base_wait_s: float = DEFAULT_LOCKOUT_S
    max_wait_s: float = DEFAULT_LOCKOUT_MAX_S
    reset_after_s: float = DEFAULT_FAILURE_RESET_S

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("LOGIN_MAX_FAILURES must be at least 1")
        if self.base_wait_s <= 0 or self.max_wait_s < self.base_wait_s:
            raise ValueError("need 0 < LOGIN_LOCKOUT_S <= LOGIN_LOCKOUT_MAX_S")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LockoutPolicy:
        """From ``LOGIN_MAX_FAILURES``, ``LOGIN_LOCKOUT_S``, ``LOGIN_LOCKOUT_MAX_S``,
        ``LOGIN_FAILURE_RESET_S`` (unset or empty: the defaults above)."""

        def get(name: str, default: float) -> float:
            value = config.get(name)
            return default if value in (None, "") else float(value)

        return cls(
            max_failures=int(get("LOGIN_MAX_FAILURES", DEFAULT_MAX_FAILURES)),
            base_wait_s=get("LOGIN_LOCKOUT_S", DEFAULT_LOCKOUT_S),
            max_wait_s=get("LOGIN_LOCKOUT_MAX_S", DEFAULT_LOCKOUT_MAX_S),
            reset_after_s=get("LOGIN_FAILURE_RESET_S", DEFAULT_FAILURE_RESET_S),
        )

    def wait_after(self, failures: int) -> float:
        """Seconds the name is locked after its ``failures``-th failure in a row (0: not)."""
        if failures < self.max_failures:
            return 0.0
        lockouts = failures - self.max_failures  # 0 for the first lockout
        # 2**n overflows floats long after the cap is reached: stop doubling there.
        doublings = min(lockouts, 64)
        return min(self.base_wait_s * 2**doublings, self.max_wait_s)

    def locked_until(self, failures: int, now: datetime) -> datetime | None:
        wait = self.wait_after(failures)
        return now + timedelta(seconds=wait) if wait else None

    def forgotten(self, last_failure: datetime | None, now: datetime) -> bool:
        """Whether failures last made at ``last_failure`` no longer count."""
        return last_failure is None or now - last_failure > timedelta(seconds=self.reset_after_s)


def retry_after_s(locked_until: datetime, now: datetime) -> int:
    """Whole seconds to wait (for ``Retry-After``), at least 1 while locked."""
    return max(1, math.ceil((locked_until - now).total_seconds()))


def french_wait(seconds: int) -> str:
    """``42 secondes``, ``2 minutes``, ``1 minute et 30 secondes``."""
    minutes, secs = divmod(max(1, seconds), 60)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes > 1 else ''}")
    if secs:
        parts.append(f"{secs} seconde{'s' if secs > 1 else ''}")
    return " et ".join(parts)


def locked_message(seconds: int) -> str:
    """The login page's message during a lockout (the same for any user name)."""
    return (
        "Trop de tentatives de connexion échouées. "
        f"Veuillez patienter {french_wait(seconds)} avant de réessayer."
    )
