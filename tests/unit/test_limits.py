"""shared/limits.py, the one layer bounding what clients send (issue 11, items 1 and 2),
and its use at the services' RPC boundaries (a direct RPC cannot overflow either)."""

from __future__ import annotations

import pytest

from services.deployer.schemas import DeploymentCreate, DeploymentQuery, load
from services.registry import domain as registry_domain
from services.registry import schemas as registry_schemas
from services.runner import domain as runner_domain
from shared import cron, limits
from shared.errors import ValidationError

HUGE = ["99999999999999999999", 9223372036854775807, 2**63, "1e17", 1e17, -1, 0, "abc", True,
        float("nan"), "1.5", 1.5, [], {}]


def named(exc_info, field):
    assert exc_info.value.status == 400
    assert field in exc_info.value.details, exc_info.value.details
    return exc_info.value.details[field][0]


@pytest.mark.parametrize("value", HUGE)
def test_page_out_of_range_or_not_an_integer_names_page(value):
    with pytest.raises(ValidationError) as exc:
        limits.page_args(value, 20)
    named(exc, "page")


@pytest.mark.parametrize("value", [0, 201, "201", 10**30, "x"])
def test_per_page_is_1_to_200(value):
    with pytest.raises(ValidationError) as exc:
        limits.page_args(1, value)
    named(exc, "per_page")


def test_the_largest_page_cannot_overflow_an_8_byte_skip():
    page, per_page = limits.page_args(limits.PAGE_MAX, limits.PER_PAGE_MAX)
    assert (page - 1) * per_page < 2**31
    assert limits.page_args(None, "") == (1, limits.PER_PAGE_DEFAULT)
    assert limits.page_args("3", 50.0) == (3, 50)


@pytest.mark.parametrize("query", [{"page": v} for v in HUGE] + [{"per_page": 500}])
def test_registry_rpc_boundary(query):
    with pytest.raises(ValidationError) as exc:
        registry_domain.build_list_query(query)
    named(exc, next(iter(query)))


@pytest.mark.parametrize("query", [{"page": v} for v in HUGE if v != 0 and v != ""] +
                         [{"per_page": 500}])
def test_runner_rpc_boundary(query):
    with pytest.raises(ValidationError) as exc:
        runner_domain.list_query(query)
    named(exc, next(iter(query)))


@pytest.mark.parametrize("value", ["99999999999999999999", 2**63, "1e17", -1, 0, "abc"])
def test_deployer_rpc_boundary(value):
    with pytest.raises(ValidationError) as exc:
        load(DeploymentQuery(), {"page": value})
    assert "page" in exc.value.details


def test_free_form_parameters_are_bounded():
    limits.check_free_form({"alpha": 1, "nested": {"list": [1, "two", None, True]}})
    cases = {
        "size": {"blob": "x" * (limits.parameters_max_bytes() + 1)},
        "depth": _nested(limits.FREE_FORM_DEPTH_MAX + 1),
        "keys": {f"k{i}": i for i in range(limits.FREE_FORM_KEYS_MAX + 1)},
        "dollar": {"$where": "sleep(10000)"},
        "nested dollar": {"a": [{"$gt": ""}]},
        "nul": {"a\x00b": 1},
        "long key": {"k" * (limits.KEY_MAX + 1): 1},
        "nan": {"x": float("nan")},
        "not an object": ["a"],
    }
    for case, value in cases.items():
        with pytest.raises(ValidationError) as exc:
            limits.check_free_form(value)
        assert list(exc.value.details) == ["parameters"], case


def _nested(depth):
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_max_parameters_setting(monkeypatch):
    monkeypatch.setenv("MAX_PARAMETERS_KB", "1")
    with pytest.raises(ValidationError):
        limits.check_free_form({"x": "y" * 1100})
    monkeypatch.setenv("MAX_JSON_BODY_KB", "8")
    assert limits.json_body_max_bytes() == 8192


def test_registry_schema_names_each_oversized_field():
    base = {"name": "m"}
    cases = {
        "name": {"name": "n" * (limits.NAME_MAX + 1)},
        "description": {"description": "d" * (limits.TEXT_MAX + 1)},
        "tags": {"tags": [f"t{i}" for i in range(limits.TAGS_MAX + 1)]},
        "metrics": {"metrics": {f"m{i}": 0.5 for i in range(limits.METRICS_MAX + 1)}},
        "parameters": {"parameters": {"blob": "x" * (limits.parameters_max_bytes() + 1)}},
    }
    for field, extra in cases.items():
        with pytest.raises(ValidationError) as exc:
            registry_schemas.load_create({**base, **extra})
        assert field in exc.value.details, (field, exc.value.details)
    with pytest.raises(ValidationError) as exc:
        registry_schemas.load_create({**base, "tags": ["t" * (limits.TAG_MAX + 1)]})
    assert "tags" in exc.value.details


def test_deployer_and_runner_bound_parameters():
    blob = {"blob": "x" * (limits.parameters_max_bytes() + 1)}
    with pytest.raises(ValidationError) as exc:
        load(DeploymentCreate(), {"name": "d", "model_id": "m", "parameters": blob})
    assert "parameters" in exc.value.details
    with pytest.raises(ValidationError) as exc:
        runner_domain.validate_parameters(blob)
    assert "parameters" in exc.value.details


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_schedule_is_refused_null_is_no_schedule(value):
    """Issue 11, item 9: "" used to mean "no schedule"; null is the only way."""
    with pytest.raises(ValidationError) as exc:
        cron.validate_cron(value)
    assert "null" in named(exc, "schedule")
    assert cron.validate_cron(None) is None


def test_gunicorn_refusals_are_written_as_json_envelopes():
    """Issue 11, item 9 (the unit half; under the real gunicorn: tests/security)."""
    import json

    from services.gateway.gunicorn_errors import json_error

    raw = json_error(414, "URI Too Long", "Request Line is too large (5030 > 4094)").decode()
    head, body = raw.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 414 URI Too Long\r\n")
    assert "Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}" in head
    assert "X-Content-Type-Options: nosniff" in head
    assert json.loads(body)["error"]["code"] == "uri_too_long"
    odd = json_error(400, "Bad Request", "Invalid Request Line 'G\u00e9T /\x00'").decode()
    assert json.loads(odd.split("\r\n\r\n", 1)[1])["error"]["code"] == "validation_error"
