"""docker-compose.yml, k8s/, deploy/ and the Dockerfile, checked offline (no Docker engine
here): every service is shipped, every workload has probes and limits, every setting
has its shared/config.py name, Prometheus scrapes every metrics port, and the Grafana
dashboard only charts metrics that the code defines."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
import yaml

from scripts.launcher import SERVICES
from shared.config import DEFAULTS, ROOT

PLATFORM = sorted(path.name for path in (ROOT / "services").iterdir()
                  if (path / "__init__.py").exists())
METRICS_PORTS = {spec.name: int(DEFAULTS[spec.metrics_port_setting]) for spec in SERVICES}


@cache
def code_text() -> str:
    """Every Python source of the platform, to grep for names the code reads or defines."""
    return "\n".join(path.read_text(errors="replace")
                     for folder in ("shared", "services", "scripts")
                     for path in (ROOT / folder).rglob("*.py"))


@cache
def config_yml_settings() -> set[str]:
    """The ``${NAME:default}`` names of the services' config.yml files."""
    return {name for path in (ROOT / "services").glob("*/config.yml")
            for name in re.findall(r"\$\{([A-Z0-9_]+):", path.read_text())}


def known_setting(name: str) -> bool:
    """A setting of shared/config.py, of a service's config.yml, or one the code reads."""
    return (name in DEFAULTS or name in config_yml_settings()
            or f'"{name}"' in code_text() or f"'{name}'" in code_text())


@cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@cache
def k8s_docs() -> list[dict]:
    docs = []
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def k8s_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in k8s_docs() if doc["kind"] == kind}


def test_the_platform_has_its_six_parts():
    assert set(PLATFORM) >= {"auth", "registry", "deployer", "runner", "scheduler", "gateway"}


# -- docker-compose --------------------------------------------------------------------


@pytest.mark.parametrize("name", PLATFORM)
def test_compose_runs_every_part_from_the_one_image(name):
    service = compose()["services"][name]
    assert service["build"] == "."
    command = " ".join(service["command"])
    if name == "gateway":
        assert "services.gateway.wsgi:app" in command
    else:
        assert f"--config services/{name}/config.yml services.{name}.service" in command


def test_compose_every_container_has_a_healthcheck_and_waits_for_healthy_dependencies():
    services = compose()["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert dependency in services
    assert set(services["gateway"]["depends_on"]) >= set(PLATFORM) - {"gateway"}
    assert {"rabbitmq", "mongo", "keycloak", "prometheus", "grafana", "superset"} <= set(services)


def test_compose_ports_of_the_user_guide():
    published = {name: [str(p).split(":")[0] for p in service.get("ports", [])]
                 for name, service in compose()["services"].items()}
    assert "3000" in published["gateway"]
    assert "3001" in published["grafana"]
    assert "8088" in published["superset"]
    assert "8080" in published["keycloak"]
    assert "15672" in published["rabbitmq"]


def test_compose_settings_have_their_shared_config_names():
    for name in PLATFORM:
        env = compose()["services"][name]["environment"]
        unknown = [key for key in env if not known_setting(key)]
        assert not unknown, f"{name}: {unknown} not in shared/config.py nor read by the code"
    env = compose()["services"]["registry"]["environment"]
    for spec in SERVICES:
        assert int(env[spec.metrics_port_setting]) == METRICS_PORTS[spec.name]


def test_compose_healthchecks_probe_each_service_on_its_metrics_port():
    for spec in SERVICES:
        test = " ".join(compose()["services"][spec.name]["healthcheck"]["test"])
        assert f":{METRICS_PORTS[spec.name]}/health" in test


def test_compose_mongo_is_a_replica_set_and_keycloak_imports_the_realm():
    services = compose()["services"]
    assert "--replSet" in services["mongo"]["command"]
    assert "replicaSet=rs0" in services["registry"]["environment"]["MONGO_URI"]
    assert "--import-realm" in services["keycloak"]["command"]
    mounted = [volume.split(":")[0] for volume in services["keycloak"]["volumes"]]
    assert mounted == ["./deploy/keycloak"]
    realm = json.loads((ROOT / "deploy/keycloak/realm-ml-platform.json").read_text())
    assert realm["realm"] == "ml-platform"


# -- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_runs_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, stages
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "COPY --from=build" in text


# -- Kubernetes ------------------------------------------------------------------------


def test_k8s_every_part_has_a_deployment_and_a_service():
    deployments, services = k8s_kind("Deployment"), k8s_kind("Service")
    for name in PLATFORM:
        assert name in deployments, f"no Deployment for {name}"
        assert name in services, f"no Service for {name}"
        selector = services[name]["spec"]["selector"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    assert {doc["kind"] for doc in k8s_docs()} >= {"Namespace", "ConfigMap", "Secret",
                                                   "Deployment", "Service", "Ingress"}


def test_k8s_every_workload_has_probes_and_resources():
    for name, deployment in k8s_kind("Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                http = container[probe]["httpGet"]
                assert http["path"].endswith("/health"), (name, probe)
                assert http["port"] in ports, (name, probe)
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)
            if name in METRICS_PORTS:
                assert ports["metrics"] == METRICS_PORTS[name]


def test_k8s_settings_have_their_shared_config_names():
    for name in ("ml-platform-config",):
        assert all(key in DEFAULTS for key in k8s_kind("ConfigMap")[name]["data"])
    secret = k8s_kind("Secret")["ml-platform-secrets"]
    assert set(secret["stringData"]) <= set(DEFAULTS)
    for name, deployment in k8s_kind("Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env", []):
                assert known_setting(var["name"]), (name, var["name"])


def test_k8s_ingress_routes_to_the_gateway():
    rules = k8s_kind("Ingress")["gateway"]["spec"]["rules"]
    backends = [path["backend"]["service"] for rule in rules for path in rule["http"]["paths"]]
    assert backends and all(backend["name"] == "gateway" for backend in backends)


# -- Prometheus and Grafana ------------------------------------------------------------


def test_prometheus_scrapes_every_metrics_port():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {target for job in config["scrape_configs"]
               for static in job["static_configs"] for target in static["targets"]}
    for service, port in METRICS_PORTS.items():
        assert f"{service}:{port}" in targets
    assert f"gateway:{DEFAULTS['GATEWAY_PORT']}" in targets
    mounted = compose()["services"]["prometheus"]["volumes"][0].split(":")[0]
    assert mounted == "./deploy/prometheus/prometheus.yml"


def test_grafana_provisions_prometheus_and_the_dashboard():
    datasources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    source = datasources["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/ml-platform.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    volumes = dict(volume.split(":")[:2] for volume in compose()["services"]["grafana"]["volumes"])
    assert volumes["./deploy/grafana/dashboards"] == path
    assert volumes["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/plateforme-ml.json").read_text())
    assert dashboard["title"] == "Plateforme ML"
    uids = {target["datasource"]["uid"] for panel in dashboard["panels"]
            for target in panel["targets"]}
    assert uids == {source["uid"]}


def test_grafana_dashboard_charts_only_metrics_the_code_defines():
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/plateforme-ml.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = {re.sub(r"_(bucket|sum|count)$", "", name)
             for expr in exprs for name in re.findall(r"\bml_[a-z0-9_]+", expr)}
    assert {"ml_entrypoint_requests_total", "ml_entrypoint_latency_seconds"} <= names
    undefined = sorted(name for name in names if f'"{name}"' not in code_text())
    assert not undefined, f"the dashboard charts metrics no code defines: {undefined}"


# -- Superset --------------------------------------------------------------------------


def test_compose_superset_reads_the_analytics_copy_in_postgres():
    services = compose()["services"]
    superset, postgres = services["superset"], services["analytics-db"]
    assert superset["build"]["dockerfile"] == "deploy/superset/Dockerfile"
    assert (ROOT / superset["build"]["dockerfile"]).exists()
    assert superset["depends_on"] == {"analytics-db": {"condition": "service_healthy"}}
    url = superset["environment"]["ANALYTICS_DB_URL"]
    assert url.startswith("postgresql") and "@analytics-db:5432/" in url
    assert url.rsplit("/", 1)[1] == postgres["environment"]["POSTGRES_DB"]
    # The reporting service writes where Superset reads (contract C4).
    assert compose()["x-platform-env"]["ANALYTICS_DB_URL"] == url
    assert superset["environment"]["SUPERSET_PORT"] == DEFAULTS["SUPERSET_PORT"] == "8088"
    assert not any("SECRET" in key for key in superset["environment"]), "no committed secret"


def test_superset_image_runs_the_make_run_code_from_the_pinned_requirements():
    text = (ROOT / "deploy/superset/Dockerfile").read_text()
    assert "-r deploy/superset/requirements.txt" in text
    assert '"scripts.superset", "run"' in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    requirements = [line for line in (ROOT / "deploy/superset/requirements.txt")
                    .read_text().splitlines() if line and not line.startswith("#")]
    assert "apache_superset==6.1.0" in requirements or "apache-superset==6.1.0" in requirements
    assert all("==" in line for line in requirements), "every Superset requirement pinned"
