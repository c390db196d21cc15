"""The web app's API types are generated from the gateway's OpenAPI document:
this fails when either committed file drifts from the code.

Regenerate with::

    .venv/bin/python -m scripts.export_openapi && (cd frontend && npm run gen:api)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.export_openapi import DEFAULT_OUTPUT, openapi_document, render
from shared.config import ROOT

FRONTEND = ROOT / "frontend"
TYPES = FRONTEND / "src" / "api" / "schema.d.ts"
GENERATOR = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
REGENERATE = ".venv/bin/python -m scripts.export_openapi && (cd frontend && npm run gen:api)"


def test_committed_openapi_document_matches_the_gateway():
    committed = DEFAULT_OUTPUT.read_text(encoding="utf-8")
    assert committed == render(openapi_document()), (
        f"frontend/src/api/openapi.json drifted from the API; run: {REGENERATE}"
    )


@pytest.mark.skipif(
    not GENERATOR.exists() or shutil.which("node") is None,
    reason="frontend/node_modules not installed (make test runs npm ci first)",
)
def test_committed_types_match_the_openapi_document(tmp_path: Path):
    generated = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(GENERATOR), str(DEFAULT_OUTPUT), "-o", str(generated)],
        cwd=FRONTEND, check=True, capture_output=True, timeout=120,
    )
    assert TYPES.read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), (
        f"frontend/src/api/schema.d.ts drifted from openapi.json; run: {REGENERATE}"
    )
