"""Model-file safety: format detection, allow-listed loading, sandboxed inspection.

Model files are untrusted. The service process only looks at magic bytes
(:mod:`.formats`) and runs :func:`inspect_artifact` / :func:`inspect_file`,
which load the file in a child process (:mod:`.sandbox`). Inside a sandbox
child, :func:`load_model` loads a model with the same allow-list
(:mod:`.allowlist`) — that is what the runner uses.
"""

from shared.modelfile.formats import CONTENT_TYPES, FORMATS, UnrecognisedFormat, detect_format
from shared.modelfile.sandbox import inspect_artifact, inspect_file


def load_model(path: str, fmt: str | None = None):
    """Load a model with the allow-list. Call only inside a sandboxed child process."""
    from shared.modelfile.loader import load_model as _load_model

    return _load_model(path, fmt)


__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "UnrecognisedFormat",
    "detect_format",
    "inspect_artifact",
    "inspect_file",
    "load_model",
]
