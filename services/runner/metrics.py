"""Prometheus metrics of the runner (served on ``METRICS_PORT`` by Observability)."""

from prometheus_client import Counter, Gauge, Histogram

EXECUTIONS = Counter(
    "ml_runner_executions_total",
    "Executions by status reached (queued, then the final one) and trigger",
    ["status", "trigger"],
)
DURATION = Histogram(
    "ml_runner_execution_duration_seconds",
    "Duration of finished executions",
    ["status"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)
RUNNING = Gauge("ml_runner_executions_running", "Executions running on this replica")
QUEUED = Gauge("ml_runner_executions_queued", "Executions waiting in the queue (all replicas)")
ROWS = Counter("ml_runner_rows_scored_total", "Rows scored by batch executions")
PREDICT_LATENCY = Histogram(
    "ml_runner_online_prediction_latency_seconds",
    "Online prediction latency inside the runner",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PREDICT_ROWS = Counter("ml_runner_online_rows_total", "Rows scored by online predictions")
FINISHED = Counter(
    "ml_runner_executions_finished_total",
    "Executions that reached a final status, by status, trigger, department and model name",
    ["status", "trigger", "department", "model"],
)
ROWS_BY_MODEL = Counter(
    "ml_runner_execution_rows_total",
    "Rows scored by succeeded batch executions, by department and model name",
    ["department", "model"],
)


def finished(doc: dict) -> None:
    """Count one execution that reached its final status (labels bounded by model names)."""
    department = doc.get("department") or "(none)"
    model = doc.get("model_name") or "(none)"
    FINISHED.labels(doc["status"], doc.get("trigger") or "manual", department, model).inc()
    rows = (doc.get("result") or {}).get("rows")
    if doc["status"] == "succeeded" and rows:
        ROWS_BY_MODEL.labels(department, model).inc(rows)
