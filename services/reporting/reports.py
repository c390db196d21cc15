"""The dashboard and the four reports, read from the pre-aggregated read model.

Each function reads a bounded number of documents by index (counters, hour/day
buckets of the period, one page of models or deployments) and never the objects
of the owning services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.reporting import domain
from services.reporting.dependencies import ReadModel
from shared.mongo import isoformat, utcnow


def dashboard(repo: ReadModel, recent: int = 20) -> dict[str, Any]:
    now = utcnow()
    since = domain.floor_hour(now - timedelta(hours=24))
    counters = repo.counter_groups(("models_type", "models_dr", "deployments", "executions"))
    models_by_type: dict[str, int] = {}
    for counter in counters["models_type"]:
        if counter.get("n"):
            models_by_type[counter["key"]] = int(counter["n"])
    models_by_department: dict[str, int] = {}
    for counter in counters["models_dr"]:
        if counter.get("n"):
            dep = counter["department"]
            models_by_department[dep] = models_by_department.get(dep, 0) + int(counter["n"])
    deployments = {"active": 0, "inactive": 0}
    for counter in counters["deployments"]:
        deployments[counter["key"]] = deployments.get(counter["key"], 0) + int(counter["n"])
    by_status = {status: 0 for status in domain.STATUSES}
    for counter in counters["executions"]:
        by_status[counter["key"]] = by_status.get(counter["key"], 0) + int(counter["n"])
    last = domain.empty_point()
    for bucket in repo.status_buckets("hour", since, now + timedelta(hours=1)):
        domain.add_bucket(last, bucket)
    last_24h = {status: int(last["status"].get(status, 0)) for status in domain.STATUSES}
    return {
        "counts": {
            "models": sum(models_by_department.values()),
            "deployments": sum(deployments.values()),
            "executions": sum(by_status.values()),
        },
        "deployments": {"active": deployments.get("active", 0),
                        "inactive": sum(n for k, n in deployments.items() if k != "active")},
        "executions": {"total": sum(by_status.values()), "by_status": by_status,
                       "last_24h": {"since": isoformat(since), "total": sum(last_24h.values()),
                                    "by_status": last_24h}},
        "models_by_type": dict(sorted(models_by_type.items())),
        "models_by_department": dict(sorted(models_by_department.items())),
        "recent_activity": [domain.activity_out(doc) for doc in repo.activity(recent)],
        "generated_at": isoformat(now),
    }


def execution_trends(repo: ReadModel, query: dict[str, Any]) -> dict[str, Any]:
    domain.check_known("execution-trends", query)
    spec = domain.trend_query(query, utcnow())
    grain = "hour" if spec["interval"] == "hour" else "day"
    where = {k: spec[k] for k in ("department", "region") if spec.get(k)}
    return domain.trends(spec, repo.buckets(grain, spec["from"], spec["to"], where))


def department_usage(repo: ReadModel, query: dict[str, Any]) -> dict[str, Any]:
    domain.check_known("department-usage", query)
    where = domain.filters(query)
    start, end = domain.period(query, "day", utcnow(), timedelta(days=30))
    spec = {"from": start, "to": end, **where}
    models, deployments = repo.counters("models_dr", where), repo.counters("deployments", where)
    days = repo.department_days(start, end, where.get("region"))
    return domain.department_usage(spec, models, deployments, days)


def _page(query: dict[str, Any]) -> tuple[int, int]:
    return (domain._int(query, "page", 1, 1, 1_000_000),
            domain._int(query, "per_page", 50, 1, 200))


def model_performance(repo: ReadModel, query: dict[str, Any]) -> dict[str, Any]:
    domain.check_known("model-performance", query)
    where: dict[str, Any] = domain.filters(query)
    name = domain._text(query, "name")
    if name:
        where["name"] = name
    window = domain.period(query, "day", utcnow())
    page, per_page = _page(query)
    models, total = repo.model_page(where, page, per_page)
    stats = repo.model_stats([m["id"] for m in models], *(window or (None, None)))
    items = [domain.model_row(m, stats.get(m["id"], [])) for m in models]
    metric_names = sorted({name for item in items for name in item["metrics"]})
    return {"from": isoformat(window[0]) if window else None,
            "to": isoformat(window[1]) if window else None,
            "department": where.get("department"), "region": where.get("region"),
            "metric_names": metric_names, "items": items, "total": total, "page": page,
            "per_page": per_page}


def deployment_status(repo: ReadModel, query: dict[str, Any]) -> dict[str, Any]:
    domain.check_known("deployment-status", query)
    where: dict[str, Any] = domain.filters(query)
    status = domain._text(query, "status")
    if status and status not in ("active", "inactive"):
        raise domain.validation_error("status", "must be active or inactive")
    counters = {"active": 0, "inactive": 0}
    for counter in repo.counters("deployments", where):
        counters[counter["key"]] = counters.get(counter["key"], 0) + int(counter["n"])
    if status:
        where["status"] = status
    window = domain.period(query, "hour", utcnow())
    if window:
        where["last_run_at"] = {"$gte": window[0], "$lt": window[1]}
    page, per_page = _page(query)
    docs, total = repo.deployment_page(where, page, per_page)
    now = utcnow()
    return {"from": isoformat(window[0]) if window else None,
            "to": isoformat(window[1]) if window else None,
            "department": where.get("department"), "region": where.get("region"),
            "summary": {"active": counters.get("active", 0),
                        "inactive": sum(n for k, n in counters.items() if k != "active")},
            "items": [domain.deployment_row(d, now) for d in docs], "total": total,
            "page": page, "per_page": per_page}


REPORTS = {
    "model-performance": model_performance,
    "execution-trends": execution_trends,
    "department-usage": department_usage,
    "deployment-status": deployment_status,
}
