"""Resources per run and per deployment (guide 10.3), honoured by the runner: RLIMIT_AS
from ``memory_mb`` (over it → failed, "memory limit of N MB exceeded"), the timeout from
``timeout_s`` (→ timed_out); what the run was given and what it used are recorded.
Real runner container and child processes; the registry and deployer are small fakes."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, ValidationError
from shared.testing.runner import (
    FEATURES,
    all_logs,
    iris_frame,
    slow_input,
    upload,
    wait_final,
)

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]


def test_a_run_records_its_resources_and_usage(runner, cluster, make_model, store):
    model = make_model()
    x, _ = iris_frame()
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": upload(store, x, "csv")},
        "memory_mb": 1024, "timeout_s": 120})
    assert execution["resources"] == {"memory_mb": 1024, "timeout_s": 120}
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    assert done["resources"] == {"memory_mb": 1024, "timeout_s": 120}
    usage = done["usage"]
    assert usage["rows"] == 150 and usage["rows_per_second"] > 0
    assert 10 < usage["peak_memory_mb"] < 1024 and usage["duration_s"] > 0
    assert usage["peak_memory_mb"] == done["peak_memory_mb"]
    assert any("memory limit 1024 MB, timeout 120 s" in line["message"]
               for line in all_logs(cluster, execution["id"]))

    # without values: the runner's default memory and the default timeout of the settings
    plain = cluster.runner.create_execution({"model_id": model["id"],
                                             "input": {"rows": [dict.fromkeys(FEATURES, 1.0)]}})
    assert plain["resources"] == {"memory_mb": 2048, "timeout_s": 3600}


def test_a_run_over_its_memory_limit_fails_with_a_clear_error(runner, cluster, make_model,
                                                              store):
    model = make_model()
    ref = upload(store, slow_input(1_500_000), "parquet")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref}, "memory_mb": 900,
        "parameters": {"batch_size": 100_000_000, "predict_proba": True,
                       "output_format": "json"}})
    done = wait_final(cluster, execution["id"], timeout=90)
    assert done["status"] == "failed", done
    assert "memory limit of 900 MB exceeded" in done["error"], done["error"]
    assert done["resources"]["memory_mb"] == 900


def test_a_run_over_its_timeout_is_timed_out(runner, cluster, make_model, store):
    model = make_model()
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": upload(store, slow_input(), "csv")},
        "timeout_s": 2, "parameters": {"batch_size": 1}})
    done = wait_final(cluster, execution["id"], timeout=30)
    assert done["status"] == "timed_out", done
    assert "timed out after 2 s" in done["error"]
    assert done["resources"]["timeout_s"] == 2 and done["duration_s"] < 10


def test_a_deployment_run_takes_the_deployments_values_unless_the_run_overrides(
        runner, cluster, make_model, make_deployment, store):
    model = make_model()
    deployment = make_deployment(model, input_=None)
    deployment.update(memory_mb=1200, timeout_s=120)
    rows = {"rows": [dict.fromkeys(FEATURES, 1.0)]}
    inherited = cluster.runner.create_execution({"deployment_id": deployment["id"],
                                                 "input": rows})
    assert inherited["resources"] == {"memory_mb": 1200, "timeout_s": 120}
    own = cluster.runner.create_execution({"deployment_id": deployment["id"], "input": rows,
                                           "memory_mb": 1500})
    assert own["resources"] == {"memory_mb": 1500, "timeout_s": 120}
    assert wait_final(cluster, inherited["id"])["status"] == "succeeded"

    # a re-run keeps what its source was given
    again = cluster.runner.rerun_execution(own["id"])
    assert again["resources"] == {"memory_mb": 1500, "timeout_s": 120}

    # the deployment's timeout is honoured
    short = make_deployment(model, input_=None)
    short.update(timeout_s=2)
    slow = cluster.runner.create_execution({
        "deployment_id": short["id"], "parameters": {"batch_size": 1},
        "input": {"artifact": upload(store, slow_input(), "csv")}})
    assert slow["resources"]["timeout_s"] == 2
    done = wait_final(cluster, slow["id"], timeout=30)
    assert done["status"] == "timed_out" and "timed out after 2 s" in done["error"], done


def test_a_run_above_a_ceiling_is_refused_naming_the_field(runner, cluster, make_model):
    model = make_model()
    rows = {"rows": [dict.fromkeys(FEATURES, 1.0)]}
    with pytest.raises(ValidationError) as caught:
        cluster.runner.create_execution({"model_id": model["id"], "input": rows,
                                         "memory_mb": 4096})
    assert "memory_mb" in str(caught.value) and "max_memory_mb" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        cluster.runner.create_execution({"model_id": model["id"], "input": rows,
                                         "timeout_s": 10**7})
    assert "timeout_s" in str(caught.value)
    assert "max_execution_timeout_s" in str(caught.value)
    limits = cluster.runner.resource_limits()
    assert limits["max_memory_mb"] == 2048 and limits["default_memory_mb"] == 2048
    assert limits["max_timeout_s"] == 604800 and limits["default_timeout_s"] == 3600


def test_a_limit_too_small_to_load_the_libraries_says_so(runner, cluster, make_model):
    """Under ~500 MB of address space numpy / scipy cannot even be mapped: an ImportError
    "failed to map segment" that is reported as the memory limit, not as a broken file."""
    model = make_model()
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"rows": [dict.fromkeys(FEATURES, 1.0)]},
        "memory_mb": 300})
    done = wait_final(cluster, execution["id"], timeout=60)
    assert done["status"] == "failed", done
    assert done["error"].startswith("memory limit of 300 MB exceeded (memory_mb)"), done["error"]
    assert "site-packages" not in done["error"] and "/" not in done["error"].split(":", 1)[1]


def test_online_predictions_run_under_the_deployments_memory(runner, cluster, make_model,
                                                             make_deployment):
    model = make_model()
    instance = [dict.fromkeys(FEATURES, 1.0)]
    roomy = make_deployment(model)
    roomy.update(memory_mb=1024)
    assert len(cluster.runner.predict(roomy["id"], instance)["predictions"]) == 1
    starved = make_deployment(model)  # same model file, its own predictor and limit
    starved.update(memory_mb=300)
    with pytest.raises(Conflict) as caught:
        cluster.runner.predict(starved["id"], instance)
    assert "memory limit of 300 MB exceeded (memory_mb)" in str(caught.value)
    assert len(cluster.runner.predict(roomy["id"], instance)["predictions"]) == 1
