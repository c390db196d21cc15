"""Write the gateway's OpenAPI document without a running platform.

``create_app`` connects to nothing at start-up, so the document the gateway
serves at ``/api/v1/openapi.json`` can be produced offline; the web app's API
types (``frontend/src/api/schema.d.ts``) are generated from this file::

    .venv/bin/python -m scripts.export_openapi            # frontend/src/api/openapi.json
    cd frontend && npm run gen:api                          # then the TypeScript types

``tests/unit/test_webapp_api_types.py`` fails when either file drifts from the API.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from shared.config import ROOT

DEFAULT_OUTPUT = ROOT / "frontend" / "src" / "api" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document exactly as the gateway serves it."""
    from services.gateway.app import create_app

    logging.getLogger("services.gateway.app").setLevel(logging.ERROR)
    app = create_app()
    response = app.test_client().get("/api/v1/openapi.json")
    if response.status_code != 200:
        raise RuntimeError(f"openapi.json answered {response.status_code}")
    return response.get_json()


def render(document: dict[str, Any]) -> str:
    """Stable text (sorted keys) so a diff shows only real API changes."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    args.output.write_text(render(openapi_document()), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
