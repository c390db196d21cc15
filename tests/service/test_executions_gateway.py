"""The Executions endpoints through the gateway (Flask test client, real tokens of a
local issuer) against the real runner; the registry and deployer are the fakes of
test_runner_service."""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest

from services.gateway.app import unprotected_views
from shared.testing.gateway import gateway_app, gateway_config
from shared.testing.runner import (
    FEATURES,
    iris_frame,
    iris_model,
    upload,
)

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]


@pytest.fixture
def client(runner, runner_config, token_issuer):
    config = gateway_config(runner_config, token_issuer, RPC_TIMEOUT_S=15, MAX_UPLOAD_MB=5)
    with gateway_app(config) as app:
        assert not [v for v in unprotected_views(app) if "execution" in v]
        yield app.test_client()


def wait_http(client, headers, execution_id, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/executions/{execution_id}", headers=headers).json
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_run_upload_follow_logs_and_download_every_format(client, auth, make_model):
    local = iris_model()
    model = make_model(local)
    x, _ = iris_frame()
    headers = auth("business-user")
    response = client.post(
        f"/api/v1/models/{model['id']}/executions", headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(csv_bytes(x)), "iris.csv"),
              "parameters": json.dumps({"predict_proba": True, "note": "x"})})
    assert response.status_code == 201, response.json
    execution = response.json
    assert execution["status"] == "queued" and execution["input"]["filename"] == "iris.csv"
    assert execution["created_by"] == "business-user-user"
    assert execution["parameters"] == {"predict_proba": True, "note": "x"}

    done = wait_http(client, headers, execution["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 150 and done["input"]["rows"] == 150

    logs = client.get(f"/api/v1/executions/{execution['id']}/logs?after=0",
                      headers=auth("viewer")).json
    assert logs["lines"][0]["n"] == 1 and logs["next"] == logs["lines"][-1]["n"]
    later = client.get(f"/api/v1/executions/{execution['id']}/logs?after={logs['next'] - 1}",
                       headers=headers).json
    assert [line["n"] for line in later["lines"]] == [logs["next"]]

    expected = local.predict(x).tolist()
    for fmt in ("csv", "json", "parquet"):
        response = client.get(f"/api/v1/executions/{execution['id']}/results?format={fmt}",
                              headers=auth("viewer"))
        assert response.status_code == 200, (fmt, response.data[:200])
        assert f".{fmt}" in response.headers["Content-Disposition"]
        data = io.BytesIO(response.data)
        frame = (pd.read_csv(data) if fmt == "csv" else
                 pd.DataFrame.from_records(json.load(data)) if fmt == "json" else
                 pd.read_parquet(data))
        assert frame["prediction"].tolist() == expected, fmt
        assert "proba_2" in frame.columns

    listed = client.get(f"/api/v1/executions?model_id={model['id']}&status=succeeded",
                        headers=auth("viewer")).json
    assert listed["total"] == 1 and listed["items"][0]["id"] == execution["id"]
    assert client.post(f"/api/v1/executions/{execution['id']}/cancel",
                       headers=headers).status_code == 409
    rerun = client.post(f"/api/v1/executions/{execution['id']}/rerun", headers=headers)
    assert rerun.status_code == 201 and rerun.json["rerun_of"] == execution["id"]
    assert wait_http(client, headers, rerun.json["id"])["status"] == "succeeded"
    reruns = client.get(f"/api/v1/executions?rerun_of={execution['id']}",
                        headers=auth("viewer")).json
    assert [item["id"] for item in reruns["items"]] == [rerun.json["id"]]

    preview = client.get(f"/api/v1/executions/{execution['id']}/results/preview?limit=5",
                         headers=auth("viewer"))
    assert preview.status_code == 200, preview.json
    assert preview.json["total"] == 150 and len(preview.json["rows"]) == 5
    column = preview.json["columns"].index("prediction")
    assert [row[column] for row in preview.json["rows"]] == expected[:5]
    assert client.get(f"/api/v1/executions/{execution['id']}/results/preview?limit=201",
                      headers=headers).status_code == 400


def test_input_errors_are_explained(client, auth, make_model):
    model = make_model()
    headers = auth("data-scientist")
    bad = b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,3\n1,2,3,4,5\n"
    response = client.post(f"/api/v1/models/{model['id']}/executions", headers=headers,
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(bad), "bad.csv")})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input_data"
    # the short row (line 3) is the first bad one: never padded with NaN (issue 11, item 3)
    assert "line 3" in response.json["error"]["message"]
    assert str(response.json["error"]["details"]["line"]) == "3"

    response = client.post(f"/api/v1/models/{model['id']}/executions", headers=headers,
                           json={"input": {"rows": [{"sepal_length": 1.0}]}})
    assert response.status_code == 422
    assert response.json["error"]["details"]["missing_columns"] == FEATURES[1:]

    response = client.post(f"/api/v1/models/{model['id']}/executions", headers=headers,
                           json={"parameters": {"batch_size": -3},
                                 "input": {"rows": [dict.fromkeys(FEATURES, 1)]}})
    assert response.status_code == 400
    assert "parameters.batch_size" in response.json["error"]["details"]

    bare = make_model(with_file=False)
    response = client.post(f"/api/v1/models/{bare['id']}/executions", headers=headers,
                           json={"input": {"rows": [dict.fromkeys(FEATURES, 1)]}})
    assert response.status_code == 409
    assert client.get("/api/v1/executions/nope", headers=headers).status_code == 404
    response = client.get("/api/v1/executions/nope/results", headers=headers)
    assert response.status_code == 404


def test_deployment_run_and_predict(client, auth, make_model, make_deployment, store):
    local = iris_model()
    model = make_model(local)
    x, _ = iris_frame()
    ref = upload(store, x, "csv")
    deployment = make_deployment(model, parameters={"output_format": "parquet"},
                                 input_={"artifact_id": ref["id"], "filename": "input.csv",
                                         "rows": 150, "columns": FEATURES, "format": "csv"})
    headers = auth("admin")
    response = client.post(f"/api/v1/deployments/{deployment['id']}/executions",
                           headers=headers)
    assert response.status_code == 201, response.json
    done = wait_http(client, headers, response.json["id"])
    assert done["status"] == "succeeded" and done["result"]["format"] == "parquet"
    assert done["deployment_id"] == deployment["id"]

    instances = x.head(2).to_dict(orient="records")
    response = client.post(f"/api/v1/deployments/{deployment['id']}/predict", headers=headers,
                           json={"instances": instances,
                                 "parameters": {"predict_proba": True}})
    assert response.status_code == 200, response.json
    assert response.json["predictions"] == local.predict(x.head(2)).tolist()
    assert len(response.json["probabilities"]) == 2
    response = client.post(f"/api/v1/deployments/{deployment['id']}/predict", headers=headers,
                           json={"instances": [{"sepal_length": 1}]})
    assert response.status_code == 422
    assert "petal_width" in response.json["error"]["message"]
    stopped = make_deployment(model, status="inactive")
    response = client.post(f"/api/v1/deployments/{stopped['id']}/predict", headers=headers,
                           json={"instances": instances})
    assert response.status_code == 409


def test_viewer_cannot_run_cancel_rerun_or_predict(client, auth, make_model, make_deployment):
    model = make_model()
    deployment = make_deployment(model)
    rows = {"input": {"rows": [dict.fromkeys(FEATURES, 1.0)]}}
    viewer = auth("viewer")
    assert client.post(f"/api/v1/models/{model['id']}/executions", headers=viewer,
                       json=rows).status_code == 403
    assert client.post(f"/api/v1/deployments/{deployment['id']}/executions", headers=viewer,
                       json=rows).status_code == 403
    assert client.post(f"/api/v1/deployments/{deployment['id']}/predict", headers=viewer,
                       json={"instances": rows["input"]["rows"]}).status_code == 403
    execution = client.post(f"/api/v1/models/{model['id']}/executions",
                            headers=auth("data-scientist"), json=rows).json
    for action in ("cancel", "rerun"):
        response = client.post(f"/api/v1/executions/{execution['id']}/{action}", headers=viewer)
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/executions/{execution['id']}", headers=viewer).status_code == 200
    assert client.get("/api/v1/executions").status_code == 401


def test_openapi_documents_the_executions(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/executions", "/api/v1/executions/{execution_id}/logs",
                 "/api/v1/executions/{execution_id}/results",
                 "/api/v1/models/{model_id}/executions",
                 "/api/v1/deployments/{deployment_id}/predict"):
        assert path in paths, path
