"""The web app hides what a role may not do from a copy of the role matrix
(``frontend/src/auth/policy.json``): it must equal the gateway's POLICY."""

from __future__ import annotations

import json

from services.gateway.policy import POLICY
from shared.config import ROOT


def test_web_app_policy_mirrors_the_gateway():
    web = json.loads((ROOT / "frontend" / "src" / "auth" / "policy.json").read_text())
    assert web == {action: sorted(roles) for action, roles in POLICY.items()}, (
        "frontend/src/auth/policy.json differs from services/gateway/policy.py POLICY"
    )
