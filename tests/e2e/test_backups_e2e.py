"""« Sauvegarde et restauration » through the whole platform, started by the launcher.

A platform with real models (their file bytes), a deployment scheduled every minute
with its dataset, executions with results and a user is backed up; the archive is
downloaded and restored into a FRESH platform (its own database and vhost): every
model, file (byte for byte), deployment, schedule, execution, result and user is back,
the user signs in, and the schedule fires again there. On the first platform, what
was deleted through the API comes back from a listed backup, and the audit trail keeps
its entries (the restore is appended). A truncated archive and a foreign tar.gz are
refused with a 400 that changes nothing. For the moment of the snapshot (held open
by the test-only ``BACKUP_SNAPSHOT_HOLD_S``), writes are answered 503 with
``Retry-After`` while reads go on. The three other roles get 403.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
import uuid

import pytest
import requests

from shared import backup_archive
from shared.testing.stack import fresh_vhost, start_stack, stop_stack

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "admin123")
DATASCIENTIST = ("datascientist", "password123")
BUSINESS = ("business", "password123")
VIEWER = ("viewer", "password123")
FINAL = ("succeeded", "failed", "cancelled", "timed_out")
HOLD_S = 3


@pytest.fixture(scope="module")
def platform(request, rabbit_manager, tmp_path_factory):
    with fresh_vhost(request, rabbit_manager) as amqp_uri:
        try:
            running = start_stack(tmp_path_factory.mktemp("backups-a"), amqp_uri,
                                  extra_env={"BACKUP_SNAPSHOT_HOLD_S": str(HOLD_S)})
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        try:
            yield running
        finally:
            stop_stack(running)


@pytest.fixture(scope="module")
def models():
    import joblib
    from sklearn.datasets import load_iris, load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    iris_X, iris_y = load_iris(return_X_y=True, as_frame=True)
    wine_X, wine_y = load_wine(return_X_y=True, as_frame=True)
    out = {}
    for name, model, X, y in (("iris", LogisticRegression(max_iter=300), iris_X, iris_y),
                              ("wine", DecisionTreeClassifier(max_depth=3), wine_X, wine_y)):
        buffer = io.BytesIO()
        joblib.dump(model.fit(X, y), buffer)
        out[name] = (buffer.getvalue(), X)
    return out


def _h(stack, who=ADMIN) -> dict:
    return stack.auth(stack.token(*who))


def _get(stack, path, who=ADMIN, **params):
    response = requests.get(stack.api(path), headers=_h(stack, who), params=params, timeout=30)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def _wait(stack, path: str, done, timeout: float = 120, who=ADMIN) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = _get(stack, path, who)
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def _backup(stack) -> dict:
    started = requests.post(stack.api("/admin/backups"), headers=_h(stack), timeout=30)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    backup = _wait(stack, f"/admin/backups/{started.json()['id']}",
                   lambda b: b["status"] != "running")
    assert backup["status"] == "succeeded", backup  # else "error" says why
    return backup


def _restore(stack, **kwargs) -> dict:
    response = requests.post(stack.api("/admin/restore"), headers=_h(stack), timeout=120,
                             **kwargs)
    assert response.status_code == 202, response.text
    restore = _wait(stack, f"/admin/restores/{response.json()['id']}",
                    lambda r: r["status"] != "running", timeout=300)
    assert restore["status"] == "succeeded", restore
    return restore


def _file(stack, path: str, who=DATASCIENTIST) -> bytes:
    response = requests.get(stack.api(path), headers=_h(stack, who), timeout=60)
    assert response.status_code == 200, (path, response.text)
    return response.content


def _create_model(stack, name: str, data: bytes, department: str) -> dict:
    meta = {"name": f"{name}-{uuid.uuid4().hex[:6]}", "type": "classification",
            "framework": "scikit-learn", "department": department, "region": "Europe",
            "description": f"modèle {name}", "tags": ["sauvegarde"]}
    for _ in range(3):  # a model file is inspected in a sandbox: a loaded machine may 503
        response = requests.post(stack.api("/models"), headers=_h(stack, DATASCIENTIST),
                                 timeout=120, files={
                                     "metadata": (None, json.dumps(meta), "application/json"),
                                     "file": (f"{name}.joblib", data, "application/octet-stream")})
        if response.status_code != 503:
            break
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def content(platform, models):
    """What the first platform holds when it is backed up."""
    stack = platform
    iris_bytes, iris_X = models["iris"]
    wine_bytes, _ = models["wine"]
    iris = _create_model(stack, "iris", iris_bytes, "Finance")
    wine = _create_model(stack, "wine", wine_bytes, "Marketing")
    ds = _h(stack, DATASCIENTIST)
    created = requests.post(stack.api("/deployments"), headers=ds, timeout=30, json={
        "name": f"chaque-minute-{uuid.uuid4().hex[:6]}", "model_id": iris["id"],
        "schedule": "* * * * *", "timezone": "Europe/Paris", "parameters": {}})
    assert created.status_code == 201, created.text
    deployment = created.json()
    dataset = iris_X.head(4).to_csv(index=False).encode()
    requests.put(stack.api(f"/deployments/{deployment['id']}/input"), headers=ds, timeout=30,
                 files={"file": ("lot.csv", dataset, "text/csv")}).raise_for_status()
    started = requests.post(stack.api(f"/deployments/{deployment['id']}/start"), headers=ds,
                            timeout=30)
    assert started.status_code == 200, started.text
    run = requests.post(stack.api(f"/models/{iris['id']}/executions"), headers=ds, timeout=60,
                        json={"input": {"rows": iris_X.head(6).to_dict(orient="records")}})
    assert run.status_code == 201, run.text
    execution = _wait(stack, f"/executions/{run.json()['id']}", lambda e: e["status"] in FINAL,
                      who=DATASCIENTIST)
    assert execution["status"] == "succeeded", execution
    results = _file(stack, f"/executions/{execution['id']}/results?format=csv")
    username = f"sauve-{uuid.uuid4().hex[:6]}"
    user = requests.post(stack.api("/users"), headers=_h(stack), timeout=30, json={
        "username": username, "email": f"{username}@example.com", "first_name": "Léa",
        "last_name": "Martin", "role": "business-user", "password": "restaure-moi-1"})
    assert user.status_code == 201, user.text
    settings = requests.put(stack.api("/admin/settings"), headers=_h(stack), timeout=30,
                            json={"backup_retention_count": 5})
    assert settings.status_code == 200, settings.text
    return {"models": {"iris": (iris, iris_bytes), "wine": (wine, wine_bytes)},
            "deployment": _get(stack, f"/deployments/{deployment['id']}"),
            "execution": execution, "results": results, "dataset": dataset,
            "user": user.json(), "password": "restaure-moi-1"}


@pytest.fixture(scope="module")
def backup(platform, content):
    before = _snapshot_of(platform)
    backup = _backup(platform)
    archive = _file(platform, f"/admin/backups/{backup['id']}/download", ADMIN)
    return backup, archive, before


def _snapshot_of(stack) -> dict:
    """Everything the round trip must bring back, as the API shows it."""
    models = _get(stack, "/models", per_page=200)["items"]
    deployments = _get(stack, "/deployments", per_page=200)["items"]
    executions = _get(stack, "/executions", per_page=200)["items"]
    users = _get(stack, "/users", per_page=200)["items"]
    noisy = {"next_run_at", "last_execution", "updated_at"}
    return {
        "models": sorted(models, key=lambda m: m["id"]),
        "deployments": sorted(({k: v for k, v in d.items() if k not in noisy}
                               for d in deployments), key=lambda d: d["id"]),
        # final ones only: a run in progress at the backup is restored as it was then
        "executions": {e["id"]: e for e in executions if e["status"] in FINAL},
        "users": sorted(({k: v for k, v in u.items()
                          if "login" not in k and "lock" not in k} for u in users),
                        key=lambda u: u["id"]),
    }


def _same(before: dict, after: dict) -> None:
    assert after["models"] == before["models"]
    assert after["deployments"] == before["deployments"]
    assert after["users"] == before["users"]
    for execution_id, execution in before["executions"].items():
        assert after["executions"].get(execution_id) == execution


def test_a_backup_holds_everything_and_its_manifest_checks(platform, content, backup):
    record, archive, _ = backup
    assert record["size"] == len(archive)
    assert record["sha256"] == hashlib.sha256(archive).hexdigest()
    assert record["summary"]["models"] == 2 and record["summary"]["deployments"] == 1
    assert record["summary"]["executions"] >= 1 and record["summary"]["users"] >= 5
    # model files, the dataset, the results (and nothing of the backups themselves)
    assert record["summary"]["files"] >= 4
    assert 0 < record["window_s"] < HOLD_S + 10
    manifest = backup_archive.verify(io.BytesIO(archive))
    assert manifest["format"] == "ml-platform-backup" and manifest["backup_id"] == record["id"]
    assert {"models", "deployments", "executions", "users", "artifacts.files",
            "artifacts.chunks", "schedules", "settings", "audit_log"} <= set(
        manifest["collections"])
    assert "signing_keys" not in manifest["collections"]
    assert manifest["collections"]["models"]["count"] == 2
    listed = _get(platform, "/admin/backups")["items"]
    assert listed[0]["id"] == record["id"] and listed[0]["status"] == "succeeded"
    entries = _get(platform, "/admin/audit", object_type="backup")["items"]
    assert any(e["object_id"] == record["id"] and e["user"] == "admin" for e in entries)


def test_restore_into_a_fresh_platform_brings_everything_back(
        platform, content, backup, request, rabbit_manager, tmp_path_factory):
    _, archive, before = backup
    with fresh_vhost(request, rabbit_manager) as amqp_uri:
        try:
            fresh = start_stack(tmp_path_factory.mktemp("backups-b"), amqp_uri)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        try:
            assert _get(fresh, "/models")["total"] == 0
            restore = _restore(fresh, files={
                "file": ("sauvegarde.tar.gz", archive, "application/gzip")})
            assert restore["source"]["kind"] == "upload"
            assert restore["progress"]["done"] == restore["progress"]["total"] > 0
            _same(before, _snapshot_of(fresh))
            for model, data in content["models"].values():
                assert _file(fresh, f"/models/{model['id']}/file") == data
            execution = content["execution"]
            assert _file(fresh, f"/executions/{execution['id']}/results?format=csv") == \
                content["results"]
            assert _get(fresh, f"/executions/{execution['id']}/logs")["lines"] == \
                _get(platform, f"/executions/{execution['id']}/logs")["lines"]
            deployment = _get(fresh, f"/deployments/{content['deployment']['id']}")
            assert deployment["status"] == "active" and deployment["schedule"] == "* * * * *"
            # the user is back, with their password
            user = content["user"]
            token = fresh.token(user["username"], content["password"])
            assert requests.get(fresh.api("/me"), headers=fresh.auth(token),
                                timeout=15).json()["roles"] == ["business-user"]
            assert _get(fresh, "/admin/settings")["backup_retention_count"] == 5
            # the restore is in the fresh platform's audit trail
            entries = _get(fresh, "/admin/audit", object_type="restore")["items"]
            assert any(e["object_id"] == restore["id"] for e in entries)
            # the schedule fires again on the fresh platform
            restored_at = restore["finished_at"]
            fired = _wait(fresh, "/executions", lambda page: any(
                e["trigger"] == "schedule" and e["status"] == "succeeded"
                and e["created_at"] > restored_at
                for e in page["items"]), timeout=150)
            assert fired
        finally:
            stop_stack(fresh)


def test_restore_of_a_listed_backup_into_the_running_platform(platform, content, backup):
    record, _, before = backup
    ds = _h(platform, DATASCIENTIST)
    deployment = content["deployment"]
    wine, wine_bytes = content["models"]["wine"]
    assert requests.post(platform.api(f"/deployments/{deployment['id']}/stop"), headers=ds,
                         timeout=30).status_code == 200
    assert requests.delete(platform.api(f"/deployments/{deployment['id']}"), headers=ds,
                           timeout=30).status_code == 204
    assert requests.delete(platform.api(f"/models/{wine['id']}"), headers=ds,
                           timeout=30).status_code == 204
    user = content["user"]
    changed = requests.patch(platform.api(f"/users/{user['id']}"), headers=_h(platform),
                             json={"role": "viewer"}, timeout=30)
    assert changed.status_code == 200, changed.text
    restore = _restore(platform, json={"backup_id": record["id"]})
    assert restore["source"] == {**restore["source"], "kind": "backup",
                                 "backup_id": record["id"]}
    # what was deleted or changed since the backup is as it was then
    _same(before, _snapshot_of(platform))
    assert _file(platform, f"/models/{wine['id']}/file") == wine_bytes
    assert _get(platform, f"/users/{user['id']}")["role"] == "business-user"
    assert _get(platform, f"/deployments/{deployment['id']}")["status"] == "active"
    # the audit trail kept what happened after the backup, and has the restore
    history = _get(platform, "/admin/audit", object_id=wine["id"], per_page=100)["items"]
    assert "model.deleted" in {e["action"] for e in history}
    entries = _get(platform, "/admin/audit", object_type="restore")["items"]
    assert any(e["object_id"] == restore["id"] for e in entries)
    # writes work again
    again = requests.patch(platform.api(f"/models/{wine['id']}"), headers=ds, timeout=30,
                           json={"description": "restauré"})
    assert again.status_code == 200, again.text


def _refusal(stack, name: str, data: bytes) -> dict:
    before_models = _get(stack, "/models")["total"]
    before_restores = _get(stack, "/admin/restores")["total"]
    response = requests.post(stack.api("/admin/restore"), headers=_h(stack), timeout=60,
                             files={"file": (name, data, "application/gzip")})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "file" in error["details"]
    assert _get(stack, "/models")["total"] == before_models
    assert _get(stack, "/admin/restores")["total"] == before_restores
    return error


def test_a_truncated_or_foreign_archive_is_refused_and_changes_nothing(platform, backup):
    _, archive, _ = backup
    error = _refusal(platform, "coupee.tar.gz", archive[: len(archive) * 2 // 3])
    assert "truncated" in error["message"]
    foreign = io.BytesIO()
    with tarfile.open(fileobj=foreign, mode="w:gz") as tar:
        body = b"name,value\nx,1\n"
        info = tarfile.TarInfo("export.csv")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    error = _refusal(platform, "autre.tar.gz", foreign.getvalue())
    assert "not a backup of this platform" in error["message"]
    error = _refusal(platform, "texte.tar.gz", b"not even gzip")
    assert "damaged" in error["message"]


def test_writes_get_503_with_retry_after_during_the_snapshot(platform):
    started = requests.post(platform.api("/admin/backups"), headers=_h(platform), timeout=30)
    assert started.status_code == 202, started.text
    ds = _h(platform, DATASCIENTIST)
    body = {"name": f"pendant-{uuid.uuid4().hex[:6]}", "type": "classification",
            "framework": "scikit-learn"}
    held = None
    deadline = time.monotonic() + HOLD_S + 15
    while time.monotonic() < deadline:
        response = requests.post(platform.api("/models"), headers=ds, json=body, timeout=30)
        if response.status_code == 503:
            held = response
            break
        assert response.status_code == 201, response.text
        body["name"] = f"pendant-{uuid.uuid4().hex[:6]}"
        time.sleep(0.1)
    assert held is not None, "no write was held during the snapshot"
    assert int(held.headers["Retry-After"]) >= 1
    assert held.json()["error"]["code"] == "service_unavailable"
    assert held.json()["error"]["details"]["reason"] == "maintenance"
    # reads go on meanwhile
    assert requests.get(platform.api("/models"), headers=ds, timeout=30).status_code == 200
    backup = _wait(platform, f"/admin/backups/{started.json()['id']}",
                   lambda b: b["status"] != "running")
    assert backup["status"] == "succeeded", backup
    body["name"] = f"apres-{uuid.uuid4().hex[:6]}"
    after = requests.post(platform.api("/models"), headers=ds, json=body, timeout=30)
    assert after.status_code == 201, after.text


def test_retention_keeps_the_newest_backups(platform):
    assert requests.put(platform.api("/admin/settings"), headers=_h(platform), timeout=30,
                        json={"backup_retention_count": 2}).status_code == 200
    made = [_backup(platform)["id"] for _ in range(3)]
    kept = [b["id"] for b in _get(platform, "/admin/backups", per_page=200)["items"]
            if b["status"] == "succeeded"]
    assert kept == [made[2], made[1]]
    gone = requests.get(platform.api(f"/admin/backups/{made[0]}"), headers=_h(platform),
                        timeout=30)
    assert gone.status_code == 404
    bad = requests.put(platform.api("/admin/settings"), headers=_h(platform), timeout=30,
                       json={"backup_retention_count": 0})
    assert bad.status_code == 400 and "backup_retention_count" in bad.json()["error"]["details"]


@pytest.mark.parametrize("who", [DATASCIENTIST, BUSINESS, VIEWER])
def test_other_roles_are_refused(platform, who):
    headers = _h(platform, who)
    for method, path, kwargs in (
            ("get", "/admin/backups", {}), ("post", "/admin/backups", {}),
            ("get", "/admin/backups/0123456789abcdef01234567", {}),
            ("get", "/admin/backups/0123456789abcdef01234567/download", {}),
            ("post", "/admin/restore", {"json": {"backup_id": "0123456789abcdef01234567"}}),
            ("get", "/admin/restores", {}),
            ("get", "/admin/restores/0123456789abcdef01234567", {})):
        response = requests.request(method, platform.api(path), headers=headers, timeout=30,
                                    **kwargs)
        assert response.status_code == 403, (who, method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
