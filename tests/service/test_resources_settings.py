"""The ceilings of the resources (settings ``max_memory_mb``, ``max_execution_timeout_s``)
reach the deployer and the runner without a restart: real admin, deployer and runner
containers on the real broker and database; the admin changes a ceiling, the
``settings_changed`` broadcast carries it, and the same running services obey it."""

from __future__ import annotations

import time

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.admin.service import AdminService
from services.deployer.service import DeployerService
from services.runner.service import RunnerService
from shared.errors import ValidationError
from shared.testing import deployer as deployer_testing
from shared.testing import runner as runner_testing
from shared.testing.runner import FEATURES

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


@pytest.fixture
def rpc(service_config):
    with ClusterRpcProxy(service_config, timeout=30,
                         context_data={"username": "admin-user", "request_id": "res"}) as proxy:
        yield proxy


def refused(call, field: str, ceiling: str) -> bool:
    try:
        call()
    except ValidationError as exc:
        assert field in exc.details, exc.details
        assert ceiling in exc.details[field][0], exc.details
        return True
    return False


def test_a_lowered_ceiling_refuses_a_deployment_without_a_restart(container_factory,
                                                                  service_config, rpc, unique):
    for cls in (AdminService, DeployerService, deployer_testing.FakeRegistry):
        container_factory(cls, service_config).start()
    model = deployer_testing.make_model(unique)

    def create(**extra):
        return rpc.deployer.create_deployment({"name": unique("dep"), "model_id": model["id"],
                                               **extra})

    kept = create(memory_mb=1024, timeout_s=600)
    assert (kept["memory_mb"], kept["timeout_s"]) == (1024, 600)
    assert create()["memory_mb"] is None  # null = the default
    rpc.admin.update_settings({"max_memory_mb": 512, "max_execution_timeout_s": 300,
                               "default_execution_timeout_s": 60})
    assert wait_for(lambda: refused(lambda: create(memory_mb=1024), "memory_mb",
                                    "at most 512 MB (the ceiling max_memory_mb"))
    assert refused(lambda: create(timeout_s=600), "timeout_s",
                   "at most 300 s (the ceiling max_execution_timeout_s")
    assert refused(lambda: rpc.deployer.update_deployment(kept["id"], {"memory_mb": 513}),
                   "memory_mb", "max_memory_mb")
    assert create(memory_mb=512, timeout_s=300)["memory_mb"] == 512
    patched = rpc.deployer.update_deployment(kept["id"], {"memory_mb": 256, "timeout_s": None})
    assert (patched["memory_mb"], patched["timeout_s"]) == (256, None)
    assert {h["field"] for h in patched["history"]} >= {"memory_mb", "timeout_s"}
    # raised again: accepted again, still without a restart
    rpc.admin.update_settings({"max_memory_mb": 4096})
    assert wait_for(lambda: create(memory_mb=4096)["memory_mb"] == 4096)


def test_the_runner_follows_the_ceilings_without_a_restart(container_factory, runner_config,
                                                           rpc, make_model, make_deployment):
    for cls in (AdminService, runner_testing.FakeRegistry, runner_testing.FakeDeployer):
        container_factory(cls, runner_config).start()
    container_factory(RunnerService, runner_config).start()
    model = make_model()
    deployment = make_deployment(model)
    deployment.update(memory_mb=1024, timeout_s=600)  # saved before the ceilings dropped
    rows = {"rows": [dict.fromkeys(FEATURES, 1.0)]}
    assert rpc.runner.create_execution({"model_id": model["id"], "input": rows,
                                        "memory_mb": 1024})["resources"]["memory_mb"] == 1024
    rpc.admin.update_settings({"max_memory_mb": 512, "max_execution_timeout_s": 300,
                               "default_execution_timeout_s": 60})
    assert wait_for(lambda: refused(
        lambda: rpc.runner.create_execution({"model_id": model["id"], "input": rows,
                                             "memory_mb": 1024}),
        "memory_mb", "max_memory_mb"))
    assert rpc.runner.resource_limits()["max_memory_mb"] == 512
    # the deployment's stored values are capped, not refused
    capped = rpc.runner.create_execution({"deployment_id": deployment["id"], "input": rows})
    assert capped["resources"] == {"memory_mb": 512, "timeout_s": 300}
