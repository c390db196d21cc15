"""services/runner/redact.py: what of a model's failure a viewer may read."""

from __future__ import annotations

import importlib.util
import sys

from services.runner import redact
from shared.config import ROOT


def _raise_from_platform():
    import pandas as pd

    pd.to_numeric(pd.Series(["x"]))  # raises inside site-packages


def test_platform_frames_and_paths_are_hidden():
    try:
        _raise_from_platform()
    except ValueError as exc:
        lines = redact.user_traceback(exc)
    text = "\n".join(lines)
    assert lines[-1].startswith("ValueError")
    assert str(ROOT) not in text and "site-packages" not in text and "Traceback" not in text


def test_the_models_own_frames_are_shown(tmp_path):
    # a model's own module, outside the platform's paths
    (tmp_path / "my_model_code.py").write_text(
        "def predict(x):\n    raise RuntimeError('bad feature ' + x)\n")
    spec = importlib.util.spec_from_file_location("my_model_code", tmp_path / "my_model_code.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.predict("age")
    except RuntimeError as exc:
        lines = redact.user_traceback(exc, hidden=(str(tmp_path),))
    assert 'File "my_model_code.py", line 2, in predict' in "\n".join(lines)
    assert lines[-1] == "RuntimeError: bad feature age"
    assert str(tmp_path) not in "\n".join(lines)
    assert not any("test_runner_redact" in line for line in lines if str(ROOT) in line)


def test_scrub_replaces_platform_and_scratch_paths():
    line = f"cannot open {sys.prefix}/lib/x.py and /tmp/runner-ab/exec-1/input in {ROOT}/services"
    out = redact.scrub(line, hidden=("/tmp/runner-ab/exec-1",))
    assert sys.prefix not in out and "/tmp/runner-ab" not in out and str(ROOT) not in out
    assert redact.is_platform_path(redact.__file__)
    assert redact.is_platform_path("<frozen runpy>")
