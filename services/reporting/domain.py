"""Pure logic of the reporting read side: what each model, deployment and execution
adds to the pre-aggregated figures, duration histograms, periods and the reports.

No I/O here. Every figure is a sum of *contributions*: an entity contributes
``+1`` to a few counters and buckets. A change of an entity is the difference
between the contributions of its new state and of its old one, so an event
applied twice (same state) changes nothing, and a rebuild is the sum of the
contributions of every entity read from the owning services.

Durations: each bucket keeps a log-scale histogram (bucket bounds grow by a
factor of 1.25 from 10 ms), mergeable across buckets; a percentile is the
geometric middle of the bucket holding that rank, so it is within ±12 % of the
exact value. Counts, rows and compute time are exact.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from shared import cron
from shared.errors import validation_error
from shared.mongo import isoformat

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
FINAL = ("succeeded", "failed", "cancelled", "timed_out")
TRIGGERS = ("manual", "schedule", "rerun", "api")
INTERVALS = ("hour", "day", "week")
NONE = "(none)"  # the department / region of something that has none
ALL = "*"  # a bucket summed over every department (or region): one read, not forty

# Execution rank: an older event (lower rank) never overwrites a newer state.
RANK = {"queued": 0, "running": 1}
FINAL_RANK = 2

# -- duration histograms ----------------------------------------------------------

HIST_BASE = 0.01
HIST_FACTOR = 1.25
HIST_SIZE = 90  # up to 0.01 * 1.25**89 ≈ 4.3e6 s


def hist_index(duration_s: float) -> int:
    """The histogram bucket of a duration: bucket i holds (b[i-1], b[i]]."""
    if duration_s <= HIST_BASE:
        return 0
    index = math.ceil(math.log(duration_s / HIST_BASE, HIST_FACTOR) - 1e-9)
    return min(max(index, 0), HIST_SIZE - 1)


def hist_value(index: int) -> float:
    """The representative duration of bucket ``index`` (geometric middle)."""
    if index == 0:
        return HIST_BASE
    low = HIST_BASE * HIST_FACTOR ** (index - 1)
    return round(low * math.sqrt(HIST_FACTOR), 4)


def percentile(hist: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of merged histogram counts ``{index: n}``."""
    total = sum(hist.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return hist_value(index)
    return hist_value(max(hist))


def merge_hist(target: dict[int, int], stored: dict[str, Any] | None) -> None:
    for key, value in (stored or {}).items():
        if value:
            target[int(key)] = target.get(int(key), 0) + int(value)


# -- time -------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def floor_week(moment: datetime) -> datetime:
    day = floor_day(moment)
    return day - timedelta(days=day.weekday())


FLOORS = {"hour": floor_hour, "day": floor_day, "week": floor_week}
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
DEFAULT_SPAN = {"hour": timedelta(hours=48), "day": timedelta(days=30),
                "week": timedelta(weeks=12)}
MAX_POINTS = 1000


def ceil_to(moment: datetime, grain: str) -> datetime:
    floored = FLOORS[grain](moment)
    return floored if floored == moment else floored + STEPS[grain]


# -- contributions ------------------------------------------------------------------
# A contribution: (collection, key, fields set on insert, increments).

Contribution = tuple[str, str, dict[str, Any], dict[str, float]]


def dim(value: Any) -> str:
    return str(value) if value not in (None, "") else NONE


def model_contributions(model: dict[str, Any] | None) -> list[Contribution]:
    if not model:
        return []
    dep, reg = dim(model.get("department")), dim(model.get("region"))
    return [
        ("counters", f"models_dr|{dep}|{reg}",
         {"group": "models_dr", "department": dep, "region": reg}, {"n": 1}),
        ("counters", f"models_type|{dim(model.get('type'))}",
         {"group": "models_type", "key": dim(model.get("type"))}, {"n": 1}),
    ]


def deployment_contributions(deployment: dict[str, Any] | None) -> list[Contribution]:
    if not deployment:
        return []
    dep, reg = dim(deployment.get("department")), dim(deployment.get("region"))
    status = dim(deployment.get("status"))
    return [("counters", f"deployments|{dep}|{reg}|{status}",
             {"group": "deployments", "department": dep, "region": reg, "key": status},
             {"n": 1})]


def execution_contributions(execution: dict[str, Any] | None) -> list[Contribution]:
    """Counters by status; hour and day buckets by department and region; per model.
    ``execution`` is the slim copy (``slim_execution``: ``rows`` = result rows)."""
    if not execution:
        return []
    status = execution.get("status") or "queued"
    created = parse_time(execution.get("created_at"))
    out: list[Contribution] = [
        ("counters", f"executions|{status}", {"group": "executions", "key": status}, {"n": 1}),
    ]
    if created is None:
        return out
    dep, reg = dim(execution.get("department")), dim(execution.get("region"))
    incs: dict[str, float] = {f"status.{status}": 1,
                              f"trigger.{dim(execution.get('trigger'))}": 1}
    if status in FINAL:
        duration = execution.get("duration_s")
        rows = (execution.get("rows") or 0) if status == "succeeded" else 0
        incs["rows"] = int(rows)
        if isinstance(duration, int | float):
            incs["compute_s"] = float(duration)
            incs["timed"] = 1
            incs[f"hist.{hist_index(float(duration))}"] = 1
    for grain, floor in (("hour", floor_hour), ("day", floor_day)):
        start = floor(created)
        for d, r in ((dep, reg), (dep, ALL), (ALL, reg), (ALL, ALL)):
            out.append(("buckets", f"{grain}|{start.isoformat()}|{d}|{r}",
                        {"grain": grain, "start": start, "department": d, "region": r},
                        dict(incs)))
    out += department_day_contributions(created, dep, reg, status, incs)
    model_id = execution.get("model_id")
    if model_id:
        model_incs = {k: v for k, v in incs.items() if not k.startswith(("hist.", "trigger."))}
        day = floor_day(created)
        out.append(("model_days", f"{model_id}|{day.isoformat()}",
                    {"model_id": model_id, "day": day}, model_incs))
        out.append(("model_days", f"{model_id}|all",
                    {"model_id": model_id, "day": None}, dict(model_incs)))
    return out


def department_field(department: str) -> str:
    """A department as a field name of a department-day document (no ``.`` nor ``$``)."""
    return quote(department, safe="")


def department_day_contributions(created: datetime, dep: str, reg: str, status: str,
                                 incs: dict[str, float]) -> list[Contribution]:
    """One document per day and region (and per day for every region), holding each
    department's figures as maps: department-usage reads one document per day of its
    period, however many departments there are."""
    field = department_field(dep)
    dep_incs = {f"{status}.{field}": 1}
    for name in ("rows", "compute_s"):
        if name in incs:
            dep_incs[f"{name}.{field}"] = incs[name]
    day = floor_day(created)
    return [("department_days", f"{day.isoformat()}|{r}", {"start": day, "region": r},
             dict(dep_incs)) for r in (reg, ALL)]


def difference(before: Iterable[Contribution], after: Iterable[Contribution]
               ) -> list[Contribution]:
    """``after - before``, merged per key, zero increments dropped."""
    merged: dict[tuple[str, str], tuple[dict[str, Any], dict[str, float]]] = {}
    for sign, contributions in ((-1, before), (1, after)):
        for collection, key, fields, incs in contributions:
            _, total = merged.setdefault((collection, key), (fields, defaultdict(float)))
            for name, value in incs.items():
                total[name] += sign * value
    out = []
    for (collection, key), (fields, incs) in merged.items():
        nonzero = {k: (int(v) if float(v).is_integer() else round(v, 6))
                   for k, v in incs.items() if abs(v) > 1e-9}
        if nonzero:
            out.append((collection, key, fields, nonzero))
    return out


class Totals:
    """The running sum of many contributions (a rebuild), merged as they come so that
    100,000 executions never sit in memory as 600,000 tuples."""

    def __init__(self) -> None:
        self._merged: dict[tuple[str, str], tuple[dict[str, Any], dict[str, float]]] = {}

    def add(self, contributions: Iterable[Contribution]) -> None:
        for collection, key, fields, incs in contributions:
            _, sums = self._merged.setdefault((collection, key), (fields, defaultdict(float)))
            for name, value in incs.items():
                sums[name] += value

    def result(self) -> list[Contribution]:
        return difference((), ((c, k, f, i) for (c, k), (f, i) in self._merged.items()))


def execution_rank(execution: dict[str, Any]) -> int:
    return RANK.get(execution.get("status"), FINAL_RANK)


# -- slim copies kept by the read side ------------------------------------------------

MODEL_FIELDS = ("id", "name", "version", "type", "framework", "department", "region",
                "status", "metrics", "created_by", "created_at", "updated_at")
DEPLOYMENT_FIELDS = ("id", "name", "model_id", "status", "department", "region", "schedule",
                     "timezone", "created_by", "created_at", "updated_at", "next_run_at")
EXECUTION_FIELDS = ("id", "status", "trigger", "model_id", "model_name", "model_version",
                    "deployment_id", "department", "region", "created_by", "created_at",
                    "started_at", "finished_at", "duration_s", "error")


def version_key(version: Any) -> str:
    """Sorts semantic versions as text: ``1.10.0`` after ``1.9.0``, a release after its
    pre-releases."""
    text = str(version or "")
    core, _, pre = text.partition("-")
    parts = [int(p) if p.isdigit() else 0 for p in re.split(r"[.+]", core)[:3]]
    parts += [0] * (3 - len(parts))
    return ".".join(f"{p:08d}" for p in parts) + ("~" + pre if pre else "~~")


def _descending(text: str) -> str:
    """A text that sorts in the reverse order of ``text`` (printable ASCII)."""
    return "".join(chr(0x20 + 0x7E - min(max(ord(c), 0x20), 0x7E)) for c in text)


def sort_key(model: dict[str, Any]) -> str:
    """The order of the model-performance report as one ascending text: name, then the
    newest version first."""
    return f"{model.get('name') or ''}\x01{_descending(version_key(model.get('version')))}"


DIRECTORY_STEP = 10


def directory_slice(keys: list[str], total: int, page: int, per_page: int
                    ) -> tuple[str, str | None, int] | None:
    """The bounded ``sort_key`` range holding a page, from every DIRECTORY_STEP-th key:
    ``(low, high or None, offset of the page's first row in that range)``."""
    start = (page - 1) * per_page
    if start >= total or not keys:
        return None
    first = start // DIRECTORY_STEP
    last = (start + per_page) // DIRECTORY_STEP + 1
    return keys[first], keys[last] if last < len(keys) else None, start - first * DIRECTORY_STEP


def slim_model(model: dict[str, Any]) -> dict[str, Any]:
    out = {key: model.get(key) for key in MODEL_FIELDS}
    out["sort_key"] = sort_key(model)
    out["metrics"] = {k: v for k, v in (model.get("metrics") or {}).items()
                      if isinstance(v, int | float) and not isinstance(v, bool)}
    out["version_key"] = version_key(model.get("version"))
    return out


def slim_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    out = {key: deployment.get(key) for key in DEPLOYMENT_FIELDS}
    model = deployment.get("model") or {}
    out["model_name"] = model.get("name")
    out["model_version"] = model.get("version")
    return out


def slim_execution(execution: dict[str, Any]) -> dict[str, Any]:
    out = {key: execution.get(key) for key in EXECUTION_FIELDS}
    out["rows"] = (execution.get("result") or {}).get("rows")
    out["input_rows"] = (execution.get("input") or {}).get("rows")
    return out


# -- activity -------------------------------------------------------------------------

ACTIONS = {
    "model_created": ("model", "created"), "model_updated": ("model", "updated"),
    "model_file_uploaded": ("model", "file_uploaded"), "model_deleted": ("model", "deleted"),
    "deployment_created": ("deployment", "created"),
    "deployment_updated": ("deployment", "updated"),
    "deployment_started": ("deployment", "started"),
    "deployment_stopped": ("deployment", "stopped"),
    "deployment_deleted": ("deployment", "deleted"),
    "execution_queued": ("execution", "queued"),
    "execution_succeeded": ("execution", "succeeded"),
    "execution_failed": ("execution", "failed"),
    "execution_cancelled": ("execution", "cancelled"),
    "execution_timed_out": ("execution", "timed_out"),
}


def activity_entry(event: str, obj: dict[str, Any], who: str | None, at: str | None
                   ) -> dict[str, Any] | None:
    """Who did what, when, on which object (its type and id, to link to)."""
    if event not in ACTIONS or not obj.get("id"):
        return None
    object_type, action = ACTIONS[event]
    label = obj.get("name")
    if object_type == "model" and obj.get("version"):
        label = f"{obj.get('name')} {obj.get('version')}"
    if object_type == "execution":
        label = " ".join(str(p) for p in (obj.get("model_name"), obj.get("model_version")) if p)
    moment = parse_time(at) or datetime.now(UTC)
    return {"_id": f"{event}|{obj['id']}|{at}", "at": moment, "who": who or "system",
            "action": action, "object_type": object_type, "object_id": str(obj["id"]),
            "label": label or None}


def activity_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {"at": isoformat(doc["at"]), "who": doc.get("who"), "action": doc.get("action"),
            "object_type": doc.get("object_type"), "object_id": doc.get("object_id"),
            "label": doc.get("label")}


# -- report queries ---------------------------------------------------------------------


def _text(query: dict[str, Any], name: str) -> str | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise validation_error(name, "must be a text of at most 200 characters")
    return value


def _int(query: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise validation_error(name, "must be a whole number") from None
    if not low <= number <= high:
        raise validation_error(name, f"must be between {low} and {high}")
    return number


def _instant(query: dict[str, Any], name: str) -> datetime | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise validation_error(name, "must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z")
    return parsed


def period(query: dict[str, Any], grain: str, now: datetime,
           default_span: timedelta | None = None) -> tuple[datetime, datetime] | None:
    """``from`` / ``to`` aligned on ``grain`` (from floored, to rounded up), or the default
    span ending now; None when there is no period (no default span and none asked)."""
    low, high = _instant(query, "from"), _instant(query, "to")
    if low is None and high is None and default_span is None:
        return None
    high = high or now
    low = low or high - (default_span or DEFAULT_SPAN[grain])
    if high <= low:
        raise validation_error("to", "must be after from")
    return FLOORS[grain](low), ceil_to(high, grain)


def filters(query: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name in ("department", "region"):
        value = _text(query, name)
        if value is not None:
            out[name] = value
    return out


KNOWN = {
    "dashboard": set(),
    "model-performance": {"department", "region", "from", "to", "name", "page", "per_page",
                          "format"},
    "execution-trends": {"department", "region", "from", "to", "interval", "format"},
    "department-usage": {"department", "region", "from", "to", "format"},
    "deployment-status": {"department", "region", "from", "to", "status", "page", "per_page",
                          "format"},
}


def check_known(report: str, query: dict[str, Any]) -> None:
    unknown = sorted(set(query) - KNOWN[report])
    if unknown:
        raise validation_error(unknown[0], f"unknown parameter for {report}")


def trend_query(query: dict[str, Any], now: datetime) -> dict[str, Any]:
    interval = query.get("interval") or "day"
    if interval not in INTERVALS:
        raise validation_error("interval", "must be one of hour, day, week")
    start, end = period(query, interval, now, DEFAULT_SPAN[interval])
    points = int((end - start) / STEPS[interval])
    if points > MAX_POINTS:
        raise validation_error("from", f"the period holds {points} {interval}s: at most "
                                       f"{MAX_POINTS} (choose a larger interval)")
    return {"interval": interval, "from": start, "to": end, **filters(query)}


def bucket_match(grain: str, start: datetime, end: datetime, where: dict[str, str]
                 ) -> dict[str, Any]:
    """The buckets of a period: the roll-up of the filters asked (``*`` = all), one
    bounded range of the (department, region, grain, start) index."""
    return {"department": where.get("department", ALL), "region": where.get("region", ALL),
            "grain": grain, "start": {"$gte": start, "$lt": end}}


def empty_point() -> dict[str, Any]:
    return {"status": defaultdict(int), "rows": 0, "compute_s": 0.0, "hist": {}}


def add_bucket(point: dict[str, Any], bucket: dict[str, Any]) -> None:
    for status, n in (bucket.get("status") or {}).items():
        point["status"][status] += int(n)
    point["rows"] += int(bucket.get("rows") or 0)
    point["compute_s"] += float(bucket.get("compute_s") or 0)
    merge_hist(point["hist"], bucket.get("hist"))


def summarise(point: dict[str, Any]) -> dict[str, Any]:
    """Counts by status, success rate (succeeded / finished), percentiles, rows, time."""
    by_status = {status: int(point["status"].get(status, 0)) for status in STATUSES}
    finished = sum(by_status[s] for s in FINAL)
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "success_rate": round(by_status["succeeded"] / finished, 4) if finished else None,
        "duration_p50_s": percentile(point["hist"], 0.50),
        "duration_p90_s": percentile(point["hist"], 0.90),
        "duration_p95_s": percentile(point["hist"], 0.95),
        "duration_p99_s": percentile(point["hist"], 0.99),
        "rows": point["rows"],
        "compute_s": round(point["compute_s"], 3),
    }


def trends(spec: dict[str, Any], buckets: Iterable[dict[str, Any]]) -> dict[str, Any]:
    interval = spec["interval"]
    floor = FLOORS[interval]
    points: dict[datetime, dict[str, Any]] = {}
    moment = spec["from"]
    while moment < spec["to"]:
        points[moment] = empty_point()
        moment += STEPS[interval]
    overall = empty_point()
    for bucket in buckets:
        start = floor(parse_time(bucket["start"]))
        if start in points:
            add_bucket(points[start], bucket)
            add_bucket(overall, bucket)
    return {
        "interval": interval, "from": isoformat(spec["from"]), "to": isoformat(spec["to"]),
        "department": spec.get("department"), "region": spec.get("region"),
        "totals": summarise(overall),
        "points": [{"start": isoformat(start), "end": isoformat(start + STEPS[interval]),
                    **summarise(point)} for start, point in points.items()],
    }


def department_usage(spec: dict[str, Any], model_counters, deployment_counters, days
                     ) -> dict[str, Any]:
    """``days``: the department-day documents of the period (one region, or all)."""
    rows: dict[str, dict[str, Any]] = {}

    def row(department: str) -> dict[str, Any]:
        return rows.setdefault(department, {
            "department": department, "models": 0, "deployments": 0,
            "active_deployments": 0, "point": empty_point()})

    for counter in model_counters:
        row(counter["department"])["models"] += int(counter.get("n") or 0)
    for counter in deployment_counters:
        entry = row(counter["department"])
        entry["deployments"] += int(counter.get("n") or 0)
        if counter.get("key") == "active":
            entry["active_deployments"] += int(counter.get("n") or 0)
    wanted = spec.get("department")
    for day in days:
        for name in (*STATUSES, "rows", "compute_s"):
            for field, value in (day.get(name) or {}).items():
                department = unquote(field)
                if wanted and department != wanted:
                    continue
                point = row(department)["point"]
                if name == "rows":
                    point["rows"] += int(value)
                elif name == "compute_s":
                    point["compute_s"] += float(value)
                else:
                    point["status"][name] += int(value)
    items = []
    for department in sorted(rows):
        entry = rows[department]
        summary = summarise(entry.pop("point"))
        if not (entry["models"] or entry["deployments"] or summary["total"]):
            continue
        items.append({**entry, "executions": summary["total"],
                      "succeeded": summary["by_status"]["succeeded"],
                      "failed": summary["by_status"]["failed"],
                      "success_rate": summary["success_rate"], "rows_scored": summary["rows"],
                      "compute_s": summary["compute_s"]})
    return {"from": isoformat(spec["from"]), "to": isoformat(spec["to"]),
            "department": spec.get("department"), "region": spec.get("region"),
            "items": items}


def model_row(model: dict[str, Any], stats: list[dict[str, Any]]) -> dict[str, Any]:
    point = empty_point()
    for stat in stats:
        add_bucket(point, stat)
    timed = sum(int(s.get("timed") or 0) for s in stats)
    summary = summarise(point)
    return {
        "model_id": model["id"], "name": model.get("name"), "version": model.get("version"),
        "type": model.get("type"), "framework": model.get("framework"),
        "department": model.get("department"), "region": model.get("region"),
        "status": model.get("status"), "metrics": model.get("metrics") or {},
        "executions": summary["total"], "succeeded": summary["by_status"]["succeeded"],
        "failed": summary["by_status"]["failed"], "success_rate": summary["success_rate"],
        "rows_scored": summary["rows"], "compute_s": summary["compute_s"],
        "mean_duration_s": round(summary["compute_s"] / timed, 3) if timed else None,
    }


def refresh_next_run(deployment: dict[str, Any], now: datetime) -> str | None:
    """The shown next run of an active scheduled deployment (moved on when passed)."""
    if deployment.get("status") != "active" or not deployment.get("schedule"):
        return None
    shown = parse_time(deployment.get("next_run_at"))
    if shown is not None and shown > now:
        return isoformat(shown)
    try:
        upcoming = cron.next_run(deployment["schedule"], deployment.get("timezone") or "UTC",
                                 now)
    except Exception:  # a stored schedule is validated by the deployer; never fail a report
        return None
    return isoformat(upcoming)


def deployment_row(deployment: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {key: deployment.get(key) for key in (
        "id", "name", "model_id", "model_name", "model_version", "department", "region",
        "status", "schedule", "timezone")} | {
        "next_run_at": refresh_next_run(deployment, now),
        "last_run": deployment.get("last_run"),
    }
