"""The error envelope: platform errors, werkzeug errors, validation, and the 500 that
names the request id without leaking the traceback."""

from __future__ import annotations

import logging

import marshmallow as ma
import pytest
from flask import Flask

from services.gateway import errors
from services.gateway.web import Blueprint
from shared.errors import Conflict, InvalidModelFile


class Body(ma.Schema):
    name = ma.fields.String(required=True)
    size = ma.fields.Integer()


@pytest.fixture
def client():
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    errors.init_app(app)
    blp = Blueprint("t", __name__)

    @blp.route("/boom", methods=["GET"])
    def boom():
        raise RuntimeError("secret internals")

    @blp.route("/conflict", methods=["GET"])
    def conflict():
        raise Conflict("name taken", {"name": "x"})

    @blp.route("/invalid", methods=["GET"])
    def invalid():
        raise InvalidModelFile("not a model", {"reason": "unrecognised_format"})

    @blp.route("/body", methods=["POST"])
    @blp.arguments(Body)
    def body(data):
        return data

    @blp.route("/query", methods=["GET"])
    @blp.arguments(Body, location="query")
    def query(data):
        return data

    app.register_blueprint(blp)
    return app.test_client()


def error_of(response, status, code):
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert set(response.json["error"]) == {"code", "message", "details"}
    return response.json["error"]


def test_unexpected_error_is_500_with_request_id_and_no_traceback(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get("/boom", headers={"X-Request-ID": "r-1"})
    error = error_of(response, 500, "internal_error")
    assert "r-1" in error["message"]
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any(
        record.exc_info and "secret internals" in str(record.exc_info[1])
        for record in caplog.records
    )
    assert response.headers["X-Request-ID"] == "r-1"


def test_platform_errors_keep_code_and_details(client):
    assert error_of(client.get("/conflict"), 409, "conflict")["details"] == {"name": "x"}
    assert error_of(client.get("/invalid"), 422, "invalid_model_file")["message"] == "not a model"


def test_validation_is_400_with_field_messages(client):
    error = error_of(
        client.post("/body", json={"size": "big", "extra": 1}), 400, "validation_error"
    )
    assert set(error["details"]) == {"name", "size", "extra"}
    error = error_of(client.get("/query?size=x"), 400, "validation_error")
    assert set(error["details"]) == {"name", "size"}
    error_of(
        client.post("/body", data="{", content_type="application/json"), 400, "validation_error"
    )


def test_non_json_body_is_415(client):
    error_of(
        client.post("/body", data="name=x", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )
    error_of(
        client.post("/body", data="<a/>", content_type="text/xml"), 415, "unsupported_media_type"
    )


def test_werkzeug_errors_become_envelopes(client):
    error_of(client.get("/nope"), 404, "not_found")
    response = client.delete("/conflict")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    error_of(
        client.post("/body", data=b"x" * 5000, content_type="application/json"),
        413,
        "payload_too_large",
    )


def test_request_id_made_when_missing_or_insane(client):
    assert len(client.get("/nope").headers["X-Request-ID"]) == 32
    assert client.get("/nope", headers={"X-Request-ID": "a b"}).headers["X-Request-ID"] != "a b"
    long_id = "x" * 200
    assert client.get("/nope", headers={"X-Request-ID": long_id}).headers["X-Request-ID"] != long_id


def test_log_lines_carry_the_request_id(client):
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(errors.RequestIdFilter())
    handler.setFormatter(logging.Formatter(errors.LOG_FORMAT))
    logger = logging.getLogger("services.gateway.errors")
    logger.addHandler(handler)
    try:
        client.get("/boom", headers={"X-Request-ID": "r-2"})
        logger.error("outside any request")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert "[r-2] unhandled error on GET /boom" in lines[0]
    assert "[-] outside any request" in stream.getvalue()
