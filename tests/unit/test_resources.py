"""Resources of deployments and runs (shared.resources): validation against the global
settings' ceilings, precedence run > deployment > default, capping."""

from __future__ import annotations

import pytest

from shared import resources
from shared.errors import ValidationError

SETTINGS = {"max_memory_mb": 2048, "max_execution_timeout_s": 3600,
            "default_execution_timeout_s": 600}


def test_valid_values_are_kept_as_ints_and_null_means_default():
    assert resources.validate({"memory_mb": 512, "timeout_s": 30}, SETTINGS) == \
        {"memory_mb": 512, "timeout_s": 30}
    assert resources.validate({"memory_mb": None}, SETTINGS) == {"memory_mb": None}
    assert resources.validate({"name": "x"}, SETTINGS) == {}
    assert resources.validate({"memory_mb": 2048, "timeout_s": 3600}, SETTINGS) == \
        {"memory_mb": 2048, "timeout_s": 3600}


@pytest.mark.parametrize("field, value, expected", [
    ("memory_mb", 4096, "must be at most 2048 MB (the ceiling max_memory_mb"),
    ("timeout_s", 3601, "must be at most 3600 s (the ceiling max_execution_timeout_s"),
    ("memory_mb", 0, "must be at least 64 MB"),
    ("memory_mb", -5, "must be at least 64 MB"),
    ("timeout_s", 0, "must be at least 1 s"),
    ("timeout_s", 1.5, "must be a whole number"),
    ("memory_mb", "512", "must be a whole number"),
    ("memory_mb", True, "must be a whole number"),
])
def test_bad_values_are_a_400_naming_the_field_and_the_ceiling(field, value, expected):
    with pytest.raises(ValidationError) as caught:
        resources.validate({field: value}, SETTINGS)
    assert list(caught.value.details) == [field]
    assert caught.value.details[field][0].startswith(expected)
    assert caught.value.message.startswith(f"{field}: ")


def test_both_bad_fields_are_named():
    with pytest.raises(ValidationError) as caught:
        resources.validate({"memory_mb": 99999, "timeout_s": 99999}, SETTINGS)
    assert set(caught.value.details) == {"memory_mb", "timeout_s"}


def test_a_lowered_ceiling_refuses_what_was_accepted():
    assert resources.validate({"memory_mb": 1024}, SETTINGS)
    with pytest.raises(ValidationError, match="at most 512 MB"):
        resources.validate({"memory_mb": 1024}, {**SETTINGS, "max_memory_mb": 512})


def test_precedence_run_then_deployment_then_default():
    deployment = {"memory_mb": 1024, "timeout_s": 120, "parameters": {}}
    assert resources.effective({"memory_mb": 256, "timeout_s": 10}, deployment, SETTINGS,
                               2048) == {"memory_mb": 256, "timeout_s": 10}
    assert resources.effective({}, deployment, SETTINGS, 2048) == \
        {"memory_mb": 1024, "timeout_s": 120}
    assert resources.effective({}, None, SETTINGS, 1500) == \
        {"memory_mb": 1500, "timeout_s": 600}
    # the older parameters.timeout_s still counts, the run's first, then the deployment's
    assert resources.effective({"parameters": {"timeout_s": 5}}, deployment, SETTINGS,
                               2048)["timeout_s"] == 5
    assert resources.effective({}, {"parameters": {"timeout_s": 7}}, SETTINGS,
                               2048)["timeout_s"] == 7
    assert resources.effective({"timeout_s": 9, "parameters": {"timeout_s": 5}}, None,
                               SETTINGS, 2048)["timeout_s"] == 9


def test_everything_is_capped_by_the_ceilings():
    low = {**SETTINGS, "max_memory_mb": 512, "max_execution_timeout_s": 60}
    # a deployment saved before the ceilings dropped, and the default above them
    assert resources.effective({}, {"memory_mb": 1024, "timeout_s": 120}, low, 2048) == \
        {"memory_mb": 512, "timeout_s": 60}
    assert resources.effective({}, None, low, 2048) == {"memory_mb": 512, "timeout_s": 60}
    assert resources.cap({"memory_mb": 900, "timeout_s": 300}, low, 2048) == \
        {"memory_mb": 512, "timeout_s": 60}
    assert resources.cap(None, SETTINGS, 2048) == {"memory_mb": 2048, "timeout_s": 600}


def test_limits_for_the_forms():
    assert resources.limits(SETTINGS, 4096) == {
        "min_memory_mb": 64, "max_memory_mb": 2048, "default_memory_mb": 2048,
        "min_timeout_s": 1, "max_timeout_s": 3600, "default_timeout_s": 600}
    assert resources.limits({**SETTINGS, "max_execution_timeout_s": 300.0})[
        "default_timeout_s"] == 300
