"""``GET /dashboard`` and the reports of API.md, read from the reporting service.

Every report answers JSON, or CSV with ``?format=csv`` or ``Accept: text/csv``
(an attachment). Bad parameters are a 400 naming them. ``POST /reports/rebuild``
(admin) rebuilds the read side from the owning services.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC
from typing import Any

import marshmallow as ma
from flask import Response, request
from marshmallow import validate

from services.gateway.headers import attachment
from services.gateway.policy import requires
from services.gateway.web import Blueprint, rpc

blp = Blueprint("reports", __name__, url_prefix="/api/v1",
                description="The dashboard and the built-in reports (pre-aggregated)")

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
_DT = {"allow_none": True, "metadata": {"format": "date-time"}}
_NUM = {"allow_none": True}


# -- query schemas ---------------------------------------------------------------------


class ReportQuerySchema(ma.Schema):
    department = ma.fields.String(validate=validate.Length(max=200))
    region = ma.fields.String(validate=validate.Length(max=200))
    from_ = ma.fields.AwareDateTime(data_key="from", default_timezone=UTC, metadata={
        "description": "start of the period (ISO 8601; floored to the hour / day)"})
    to = ma.fields.AwareDateTime(default_timezone=UTC, metadata={
        "description": "end of the period (ISO 8601, exclusive; rounded up)"})
    format = ma.fields.String(validate=validate.OneOf(("json", "csv")), metadata={
        "description": "csv: the report as a CSV attachment (also Accept: text/csv)"})

    @ma.post_load
    def as_rpc_query(self, data, **kwargs):
        if "from_" in data:
            data["from"] = data.pop("from_").isoformat()
        if "to" in data:
            data["to"] = data["to"].isoformat()
        return data


class PagedReportQuerySchema(ReportQuerySchema):
    page = ma.fields.Integer(validate=validate.Range(min=1))
    per_page = ma.fields.Integer(validate=validate.Range(min=1, max=200))


class ModelPerformanceQuerySchema(PagedReportQuerySchema):
    name = ma.fields.String(validate=validate.Length(max=200), metadata={
        "description": "one model name: compare its versions"})


class ExecutionTrendsQuerySchema(ReportQuerySchema):
    interval = ma.fields.String(validate=validate.OneOf(("hour", "day", "week")))


class DeploymentStatusQuerySchema(PagedReportQuerySchema):
    status = ma.fields.String(validate=validate.OneOf(("active", "inactive")))


# -- response schemas ------------------------------------------------------------------


def _status_counts(name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict({s: ma.fields.Integer() for s in STATUSES}, name=name)


StatusCountsSchema = _status_counts("StatusCounts")


class ActivitySchema(ma.Schema):
    at = ma.fields.String(**_DT)
    who = ma.fields.String(allow_none=True)
    action = ma.fields.String(metadata={"description": "created, updated, started, ..."})
    object_type = ma.fields.String(metadata={"enum": ["model", "deployment", "execution"]})
    object_id = ma.fields.String()
    label = ma.fields.String(allow_none=True)


class DashboardCountsSchema(ma.Schema):
    models = ma.fields.Integer()
    deployments = ma.fields.Integer()
    executions = ma.fields.Integer()


class DeploymentCountsSchema(ma.Schema):
    active = ma.fields.Integer()
    inactive = ma.fields.Integer()


class Last24hSchema(ma.Schema):
    since = ma.fields.String(**_DT)
    total = ma.fields.Integer()
    by_status = ma.fields.Nested(StatusCountsSchema)


class DashboardExecutionsSchema(ma.Schema):
    total = ma.fields.Integer()
    by_status = ma.fields.Nested(StatusCountsSchema)
    last_24h = ma.fields.Nested(Last24hSchema)


class DashboardSchema(ma.Schema):
    counts = ma.fields.Nested(DashboardCountsSchema)
    deployments = ma.fields.Nested(DeploymentCountsSchema)
    executions = ma.fields.Nested(DashboardExecutionsSchema)
    models_by_type = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    models_by_department = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    recent_activity = ma.fields.List(ma.fields.Nested(ActivitySchema))
    generated_at = ma.fields.String(**_DT)


class _Period(ma.Schema):
    from_ = ma.fields.String(data_key="from", attribute="from", **_DT)
    to = ma.fields.String(**_DT)
    department = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)


class ExecutionStatsSchema(ma.Schema):
    total = ma.fields.Integer()
    by_status = ma.fields.Nested(StatusCountsSchema)
    success_rate = ma.fields.Float(**_NUM, metadata={"description": "succeeded / finished"})
    duration_p50_s = ma.fields.Float(**_NUM)
    duration_p90_s = ma.fields.Float(**_NUM)
    duration_p95_s = ma.fields.Float(**_NUM)
    duration_p99_s = ma.fields.Float(**_NUM)
    rows = ma.fields.Integer()
    compute_s = ma.fields.Float()


class TrendPointSchema(ExecutionStatsSchema):
    start = ma.fields.String(**_DT)
    end = ma.fields.String(**_DT)


class ExecutionTrendsSchema(_Period):
    interval = ma.fields.String(metadata={"enum": ["hour", "day", "week"]})
    totals = ma.fields.Nested(ExecutionStatsSchema)
    points = ma.fields.List(ma.fields.Nested(TrendPointSchema))


class DepartmentUsageItemSchema(ma.Schema):
    department = ma.fields.String()
    models = ma.fields.Integer()
    deployments = ma.fields.Integer()
    active_deployments = ma.fields.Integer()
    executions = ma.fields.Integer()
    succeeded = ma.fields.Integer()
    failed = ma.fields.Integer()
    success_rate = ma.fields.Float(**_NUM)
    rows_scored = ma.fields.Integer()
    compute_s = ma.fields.Float()


class DepartmentUsageSchema(_Period):
    items = ma.fields.List(ma.fields.Nested(DepartmentUsageItemSchema))


class ModelPerformanceItemSchema(ma.Schema):
    model_id = ma.fields.String()
    name = ma.fields.String()
    version = ma.fields.String()
    type = ma.fields.String(allow_none=True)
    framework = ma.fields.String(allow_none=True)
    department = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)
    status = ma.fields.String(allow_none=True)
    metrics = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    executions = ma.fields.Integer()
    succeeded = ma.fields.Integer()
    failed = ma.fields.Integer()
    success_rate = ma.fields.Float(**_NUM)
    rows_scored = ma.fields.Integer()
    compute_s = ma.fields.Float()
    mean_duration_s = ma.fields.Float(**_NUM)


class ModelPerformanceSchema(_Period):
    metric_names = ma.fields.List(ma.fields.String())
    items = ma.fields.List(ma.fields.Nested(ModelPerformanceItemSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class LastRunSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String()
    created_at = ma.fields.String(**_DT)
    at = ma.fields.String(**_DT)


class DeploymentStatusItemSchema(ma.Schema):
    id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    model_id = ma.fields.String(allow_none=True)
    model_name = ma.fields.String(allow_none=True)
    model_version = ma.fields.String(allow_none=True)
    department = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    schedule = ma.fields.String(allow_none=True)
    timezone = ma.fields.String(allow_none=True)
    next_run_at = ma.fields.String(**_DT)
    last_run = ma.fields.Nested(LastRunSchema, allow_none=True)


class DeploymentStatusSchema(_Period):
    summary = ma.fields.Nested(DeploymentCountsSchema)
    items = ma.fields.List(ma.fields.Nested(DeploymentStatusItemSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class RebuildSchema(ma.Schema):
    state = ma.fields.String(metadata={"enum": ["never", "running", "succeeded", "failed"]})
    requested = ma.fields.Boolean()
    requested_at = ma.fields.String(**_DT)
    started_at = ma.fields.String(**_DT)
    finished_at = ma.fields.String(**_DT)
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    error = ma.fields.String(allow_none=True)


# -- CSV ---------------------------------------------------------------------------------


def _stats_columns(row: dict[str, Any]) -> dict[str, Any]:
    out = {"total": row["total"]}
    out.update({s: row["by_status"].get(s, 0) for s in STATUSES})
    for key in ("success_rate", "duration_p50_s", "duration_p90_s", "duration_p95_s",
                "duration_p99_s", "rows", "compute_s"):
        out[key] = row.get(key)
    return out


def csv_rows(name: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's table, one dict per CSV line."""
    if name == "execution-trends":
        return [{"start": p["start"], "end": p["end"], **_stats_columns(p)}
                for p in report["points"]]
    if name == "model-performance":
        metrics = report.get("metric_names") or []
        return [{**{k: v for k, v in item.items() if k != "metrics"},
                 **{f"metric_{m}": item["metrics"].get(m) for m in metrics}}
                for item in report["items"]]
    if name == "deployment-status":
        return [{**{k: v for k, v in item.items() if k != "last_run"},
                 "last_run_id": (item.get("last_run") or {}).get("id"),
                 "last_run_status": (item.get("last_run") or {}).get("status"),
                 "last_run_at": (item.get("last_run") or {}).get("at")}
                for item in report["items"]]
    return list(report["items"])


def _safe(value: Any) -> Any:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: quote it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(name: str, report: dict[str, Any], columns: list[str]) -> Response:
    rows = csv_rows(name, report)
    if rows:
        columns = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _safe(v) for k, v in row.items()})
    response = Response(out.getvalue(), mimetype="text/csv")
    return attachment(response, f"report-{name}.csv")


def wants_csv(args: dict[str, Any]) -> bool:
    if args.get("format"):
        return args["format"] == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv" and request.accept_mimetypes["text/csv"] > \
        request.accept_mimetypes["application/json"]


#: A CSV export of a paged report without ``page`` holds every line, up to this many.
CSV_MAX_LINES = 100_000
_PAGE_SIZE = 200  # the API's largest page


def _every_page(name: str, query: dict[str, Any]) -> dict[str, Any]:
    """The paged report's first page, with the items of all its pages."""
    query = {**query, "page": 1, "per_page": _PAGE_SIZE}
    report = rpc("reporting", "report", name, query)
    items = list(report["items"])
    while len(items) < min(report["total"], CSV_MAX_LINES) and report["items"]:
        query["page"] += 1
        report = rpc("reporting", "report", name, query)
        items += report["items"]
    return {**report, "items": items[:CSV_MAX_LINES]}


def _report(name: str, args: dict[str, Any], schema: type[ma.Schema]):
    query = {k: v for k, v in args.items() if k != "format"}
    if wants_csv(args):
        paged = name in ("model-performance", "deployment-status") and "page" not in query
        report = (_every_page(name, query) if paged
                  else rpc("reporting", "report", name, query))
        return csv_response(name, report, list(_CSV_COLUMNS[name]))
    return rpc("reporting", "report", name, query)


_STATS = ["total", *STATUSES, "success_rate", "duration_p50_s", "duration_p90_s",
          "duration_p95_s", "duration_p99_s", "rows", "compute_s"]
_CSV_COLUMNS = {
    "execution-trends": ["start", "end", *_STATS],
    "department-usage": list(DepartmentUsageItemSchema().fields),
    "model-performance": [f for f in ModelPerformanceItemSchema().fields if f != "metrics"],
    "deployment-status": [*(f for f in DeploymentStatusItemSchema().fields if f != "last_run"),
                          "last_run_id", "last_run_status", "last_run_at"],
}
_CSV_DOC = {"responses": {200: {"description": "JSON, or CSV with ?format=csv / Accept: "
                                               "text/csv", "content": {
    "text/csv": {"schema": {"type": "string"}}}}}}


# -- routes ------------------------------------------------------------------------------


@blp.route("/dashboard", methods=["GET"])
@requires("dashboard:read")
@blp.response(200, DashboardSchema)
def dashboard():
    """Counts of models, deployments (active / inactive) and executions (the last 24 hours
    by status), models by type and by department, recent activity (who, what, when, and
    the object to link to)."""
    return rpc("reporting", "dashboard")


@blp.route("/reports/model-performance", methods=["GET"])
@requires("reports:read")
@blp.arguments(ModelPerformanceQuerySchema, location="query")
@blp.response(200, ModelPerformanceSchema)
@blp.doc(**_CSV_DOC)
def model_performance(args):
    """Each model version: its metrics (comparable across the versions of one name) and its
    executions in the period (all time by default). Filters department, region, name."""
    return _report("model-performance", args, ModelPerformanceSchema)


@blp.route("/reports/execution-trends", methods=["GET"])
@requires("reports:read")
@blp.arguments(ExecutionTrendsQuerySchema, location="query")
@blp.response(200, ExecutionTrendsSchema)
@blp.doc(**_CSV_DOC)
def execution_trends(args):
    """Executions per hour / day / week (by created_at) with their status, success rate,
    duration percentiles (log histogram, ±12 %), rows and compute time. Default period:
    48 hours, 30 days or 12 weeks to now; at most 1,000 points."""
    return _report("execution-trends", args, ExecutionTrendsSchema)


@blp.route("/reports/department-usage", methods=["GET"])
@requires("reports:read")
@blp.arguments(ReportQuerySchema, location="query")
@blp.response(200, DepartmentUsageSchema)
@blp.doc(**_CSV_DOC)
def department_usage(args):
    """Per department: models and deployments (now), executions, rows scored and compute
    time in the period (default: the last 30 days, whole UTC days)."""
    return _report("department-usage", args, DepartmentUsageSchema)


@blp.route("/reports/deployment-status", methods=["GET"])
@requires("reports:read")
@blp.arguments(DeploymentStatusQuerySchema, location="query")
@blp.response(200, DeploymentStatusSchema)
@blp.doc(**_CSV_DOC)
def deployment_status(args):
    """Active and inactive deployments with their next and last runs; ``from`` / ``to``
    keep those whose last run was created in the period."""
    return _report("deployment-status", args, DeploymentStatusSchema)


@blp.route("/reports/rebuild", methods=["POST"])
@requires("admin")
@blp.response(202, RebuildSchema)
def rebuild():
    """Rebuild the read side (and the analytics copy) from the owning services → 202;
    follow it with ``GET /reports/rebuild``."""
    return rpc("reporting", "request_rebuild")


@blp.route("/reports/rebuild", methods=["GET"])
@requires("admin")
@blp.response(200, RebuildSchema)
def rebuild_status():
    """The state of the last rebuild (never, running, succeeded, failed) and its counts."""
    return rpc("reporting", "rebuild_status")
