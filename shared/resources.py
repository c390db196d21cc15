"""Resources of a deployment and of a run (guide 10.3, « Ajustez les ressources allouées
au déploiement »): ``memory_mb`` (the child process's address-space limit, RLIMIT_AS)
and ``timeout_s`` (its wall-clock limit), capped by the global settings
``max_memory_mb`` and ``max_execution_timeout_s``.

Pure logic, shared by the deployer (validates a deployment's values) and the runner
(validates a run's values, works out what a run gets, caps it again when it starts,
since a ceiling may have dropped since it was queued). ``settings`` is anything with
``settings["max_memory_mb"]`` (a ``shared.settings.SettingsView`` or a dict).

Precedence of a run: its own value, else its deployment's, else the default
(``RUNNER_MEMORY_MB`` for memory, the setting ``default_execution_timeout_s`` for
time); every one is capped by the ceiling. A value *asked for* above its ceiling is a
400 naming the field and the ceiling; a stored one (a deployment saved before the
ceiling dropped) is capped silently.
"""

from __future__ import annotations

from typing import Any

from shared.errors import ValidationError

FIELDS = ("memory_mb", "timeout_s")
#: Below this, the Python interpreter of the child cannot even start its imports (and
#: it is the admin's floor for ``max_memory_mb``).
MIN_MEMORY_MB = 64
MIN_TIMEOUT_S = 1
#: field → (its setting ceiling, minimum)
CEILINGS = {"memory_mb": ("max_memory_mb", MIN_MEMORY_MB),
            "timeout_s": ("max_execution_timeout_s", MIN_TIMEOUT_S)}


def ceiling(settings: Any, field: str) -> int:
    return int(float(settings[CEILINGS[field][0]]))


def limits(settings: Any, default_memory_mb: int | None = None) -> dict[str, int]:
    """What a form needs to help and validate (readable by every role)."""
    out = {
        "min_memory_mb": MIN_MEMORY_MB,
        "max_memory_mb": ceiling(settings, "memory_mb"),
        "min_timeout_s": MIN_TIMEOUT_S,
        "max_timeout_s": ceiling(settings, "timeout_s"),
        "default_timeout_s": min(int(float(settings["default_execution_timeout_s"])),
                                 ceiling(settings, "timeout_s")),
    }
    if default_memory_mb is not None:
        out["default_memory_mb"] = min(int(default_memory_mb), out["max_memory_mb"])
    return out


def _message(field: str, value: Any, settings: Any, prefix: str) -> str | None:
    name, low = CEILINGS[field]
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        return "must be a whole number"
    high = ceiling(settings, field)
    unit = "MB" if field == "memory_mb" else "s"
    if value < low:
        return f"must be at least {low} {unit}"
    if value > high:
        return f"must be at most {high} {unit} (the ceiling {name} of the global settings)"
    return None


def validate(values: Any, settings: Any, prefix: str = "") -> dict[str, int | None]:
    """The given ``memory_mb`` / ``timeout_s`` of ``values`` (``None`` = not set, kept),
    as ints. Raises ValidationError naming each bad field (``prefix`` + name) and, when
    it is too high, the ceiling."""
    values = values or {}
    out: dict[str, int | None] = {}
    errors: dict[str, list[str]] = {}
    for field in FIELDS:
        if field not in values:
            continue
        value = values[field]
        if value is None:
            out[field] = None
            continue
        problem = _message(field, value, settings, prefix)
        if problem:
            errors[prefix + field] = [problem]
        else:
            out[field] = int(value)
    if errors:
        text = "; ".join(f"{k}: {v[0]}" for k, v in sorted(errors.items()))
        raise ValidationError(text, errors)
    return out


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, 0, "")), None)


def effective(run: dict[str, Any] | None, deployment: dict[str, Any] | None, settings: Any,
              default_memory_mb: int) -> dict[str, int]:
    """What a run gets: ``{"memory_mb", "timeout_s"}``.

    ``run``: the request's own values (``memory_mb``, ``timeout_s``, and the older
    ``parameters.timeout_s``); ``deployment``: its values and parameters. Each value is
    capped by its ceiling (call ``validate`` first to refuse a run's own value above it).
    """
    run = run or {}
    deployment = deployment or {}
    run_params = run.get("parameters") or {}
    dep_params = deployment.get("parameters") or {}
    memory = _first(run.get("memory_mb"), deployment.get("memory_mb"), default_memory_mb)
    timeout = _first(run.get("timeout_s"), run_params.get("timeout_s"),
                     deployment.get("timeout_s"), dep_params.get("timeout_s"),
                     settings["default_execution_timeout_s"])
    return cap({"memory_mb": memory, "timeout_s": timeout}, settings, default_memory_mb)


def cap(resources: dict[str, Any] | None, settings: Any, default_memory_mb: int) -> dict:
    """``resources`` within today's ceilings (a run queued before a ceiling dropped)."""
    resources = resources or {}
    memory = resources.get("memory_mb") or default_memory_mb
    timeout = resources.get("timeout_s") or settings["default_execution_timeout_s"]
    memory = min(int(memory), ceiling(settings, "memory_mb"))
    timeout = min(float(timeout), float(settings["max_execution_timeout_s"]))
    return {"memory_mb": memory,
            "timeout_s": int(timeout) if float(timeout).is_integer() else timeout}
