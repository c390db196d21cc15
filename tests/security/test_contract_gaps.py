"""Small contract gaps of issue 11, item 9, on the real platform: an empty ``schedule``
is a 400 (null is how to say "no schedule"), on create and on PATCH. (The 414/431
envelopes under gunicorn: test_headers.py.)"""

from __future__ import annotations

import pytest
import requests

pytestmark = [pytest.mark.security, pytest.mark.e2e]


@pytest.mark.parametrize("schedule", ["", "   "])
def test_an_empty_schedule_is_400_on_create_and_patch(stack, role_tokens, platform_objects,
                                                       schedule):
    auth = stack.auth(role_tokens["data-scientist"])
    created = requests.post(stack.api("/deployments"), headers=auth, timeout=30, json={
        "name": "empty-schedule", "model_id": platform_objects["model_id"],
        "schedule": schedule})
    assert created.status_code == 400, created.text
    assert "schedule" in created.json()["error"]["details"]
    assert "null" in created.json()["error"]["details"]["schedule"][0]

    url = stack.api(f"/deployments/{platform_objects['deployment_id']}")
    patched = requests.patch(url, headers=auth, json={"schedule": schedule}, timeout=30)
    assert patched.status_code == 400, patched.text
    assert "schedule" in patched.json()["error"]["details"]


def test_null_still_means_no_schedule(stack, role_tokens, platform_objects):
    auth = stack.auth(role_tokens["data-scientist"])
    created = requests.post(stack.api("/deployments"), headers=auth, timeout=30, json={
        "name": "no-schedule", "model_id": platform_objects["model_id"], "schedule": None})
    assert created.status_code == 201, created.text
    assert created.json()["schedule"] is None
    url = stack.api(f"/deployments/{created.json()['id']}")
    patched = requests.patch(url, headers=auth, json={"schedule": "*/5 * * * *"}, timeout=30)
    assert patched.status_code == 200 and patched.json()["schedule"] == "*/5 * * * *"
    cleared = requests.patch(url, headers=auth, json={"schedule": None}, timeout=30)
    assert cleared.status_code == 200 and cleared.json()["schedule"] is None
    assert requests.delete(url, headers=auth, timeout=30).status_code == 204
