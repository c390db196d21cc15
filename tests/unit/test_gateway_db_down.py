"""The gateway's own database calls (artifact store) during an outage: 503, not 500."""

from __future__ import annotations

from flask import Flask
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from services.gateway import errors


def test_driver_connection_errors_are_503_service_unavailable():
    app = Flask(__name__)
    errors.init_app(app)

    @app.route("/download")
    def download():
        raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")

    @app.route("/reconnect")
    def reconnect():
        raise AutoReconnect("connection closed (configured timeouts: connectTimeoutMS: 20000.0ms)")

    client = app.test_client()
    for path in ("/download", "/reconnect"):
        response = client.get(path)
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["details"] == {"service": "database"}
        assert "27017" not in error["message"] and "connectTimeoutMS" not in error["message"]
