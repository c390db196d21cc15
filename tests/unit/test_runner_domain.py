"""The runner's pure logic: parameters, instance checks, list queries."""

import pytest

from services.runner import domain
from shared.errors import InvalidInputData, ValidationError

SCHEMA = [{"name": "a", "type": "float"}, {"name": "b", "type": "int64"},
          {"name": "c", "type": "string"}]


def test_parameters_are_normalised_and_unknown_ones_kept():
    params = domain.validate_parameters({"predict_proba": "true", "output_format": "JSON",
                                         "timeout_s": "2.5", "batch_size": 10.0, "alpha": [1]})
    assert params == {"predict_proba": True, "output_format": "json", "timeout_s": 2.5,
                      "batch_size": 10, "alpha": [1]}
    assert domain.unused_parameters(params) == ["alpha"]
    assert domain.validate_parameters(None) == {}


@pytest.mark.parametrize("name,value", [
    ("predict_proba", "perhaps"), ("output_format", "xlsx"), ("timeout_s", 0),
    ("timeout_s", float("nan")), ("batch_size", 1.5), ("batch_size", True), ("batch_size", 0),
])
def test_bad_parameter_values_name_the_parameter(name, value):
    with pytest.raises(ValidationError) as exc:
        domain.validate_parameters({name: value})
    assert list(exc.value.details) == [f"parameters.{name}"]


def test_merge_request_wins():
    assert domain.merge_parameters({"parameters": {"a": 1, "b": 2}}, {"b": 3}) == {"a": 1, "b": 3}


def test_instances_checked_against_schema():
    assert domain.check_instances([{"a": 1.0, "b": 2, "c": "x"}], SCHEMA)
    with pytest.raises(InvalidInputData) as exc:
        domain.check_instances([{"a": "1", "b": True, "z": 0}], SCHEMA)
    details = exc.value.details
    assert details["missing_fields"] == ["c"] and details["unknown_fields"] == ["z"]
    assert details["non_numeric_fields"] == ["a", "b"]
    for bad in ([], {"a": 1}, [1]):
        with pytest.raises(ValidationError):
            domain.check_instances(bad, SCHEMA)
    assert domain.check_instances([{"anything": "goes"}], None)


def test_list_query():
    filters, sort, page, per_page = domain.list_query(
        {"status": "running", "trigger": "rerun", "sort": "duration_s", "page": 2})
    assert filters == {"status": "running", "trigger": "rerun"}
    assert sort[0] == ("duration_s", 1) and (page, per_page) == (2, 20)
    for bad in ({"status": "done"}, {"sort": "-name"}, {"per_page": 500}, {"trigger": "x"}):
        with pytest.raises(ValidationError):
            domain.list_query(bad)


def test_error_last_line():
    assert domain.error_last_line("Traceback...\n  File x\nValueError: boom\n") == \
        "ValueError: boom"
    assert domain.error_last_line("") == "unknown error"
