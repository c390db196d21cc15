"""gunicorn settings for the gateway: ``gunicorn -c services/gateway/gunicorn.conf.py
'services.gateway.wsgi:app'``.

One worker with N threads (gthread): the gateway's work is I/O-bound (it waits on
RPC replies and GridFS), and a single process keeps a single RPC pool, JWKS cache
and Prometheus registry, so /metrics needs no PROMETHEUS_MULTIPROC_DIR. Scale out
with more gateway replicas behind a load balancer.
"""

import os

bind = f"0.0.0.0:{os.environ.get('GATEWAY_PORT') or '3000'}"
worker_class = "gthread"
workers = 1
threads = int(os.environ.get("GATEWAY_THREADS") or 16)
# Uploads of MAX_UPLOAD_MB can take a while on slow links; do not kill the worker mid-upload.
timeout = int(os.environ.get("GATEWAY_WORKER_TIMEOUT_S") or 300)
graceful_timeout = 20
keepalive = 5
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s'
# gunicorn's defaults, written out: a request line over 4094 bytes → 414, more than
# 100 headers or one over 8190 bytes → 431, answered in the JSON envelope.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def post_worker_init(worker):
    """gunicorn's own refusals (414, 431, 400) in the API's JSON envelope."""
    from services.gateway.gunicorn_errors import install

    install()
