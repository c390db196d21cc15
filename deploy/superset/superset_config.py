"""Apache Superset's configuration for the platform (``SUPERSET_CONFIG_PATH`` points here).

Used alike by ``make run`` (``scripts/superset.py`` starts Superset from its own virtual
environment) and by docker-compose (mounted into the ``apache/superset`` image). Superset
imports this file itself, so it reads only the environment and the standard library:

* ``SUPERSET_SECRET_KEY``: the key that signs sessions and encrypts the stored database
  URIs. ``make run`` generates one on first use and keeps it in
  ``$VAR_DIR/superset/secret_key`` (``SUPERSET_SECRET_KEY_FILE``); nothing secret is
  committed. Superset refuses to start without one.
* ``SUPERSET_METADATA_DB_URI``: Superset's own metadata database (users, charts,
  dashboards); by default an SQLite file under ``SUPERSET_HOME`` (``$VAR_DIR/superset``).
"""

from __future__ import annotations

import os
from pathlib import Path

_HOME = Path(os.environ.get("SUPERSET_HOME") or Path.home() / ".superset")


def _secret_key() -> str:
    key = os.environ.get("SUPERSET_SECRET_KEY", "").strip()
    key_file = os.environ.get("SUPERSET_SECRET_KEY_FILE", "").strip()
    if not key and key_file and Path(key_file).is_file():
        key = Path(key_file).read_text(encoding="utf-8").strip()
    if not key:
        raise RuntimeError("Superset needs a secret key: set SUPERSET_SECRET_KEY or "
                           "SUPERSET_SECRET_KEY_FILE (make run generates one under VAR_DIR)")
    return key


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = (os.environ.get("SUPERSET_METADATA_DB_URI")
                           or f"sqlite:///{_HOME / 'superset.db'}")

# The embedded analytics copy is an SQLite file: Superset refuses SQLite connections
# unless this is off. The connection is made read-only by scripts/superset.py
# (SQLite mode=ro, no DML allowed in SQL Lab).
PREVENT_UNSAFE_DB_CONNECTIONS = False

# The interface in French by default (the platform's users' language), English on offer.
BABEL_DEFAULT_LOCALE = "fr"
LANGUAGES = {
    "fr": {"flag": "fr", "name": "Français"},
    "en": {"flag": "us", "name": "English"},
}

# No example data, no telemetry, nothing fetched from outside at run time.
SUPERSET_LOAD_EXAMPLES = False
SCARF_ANALYTICS = False

# One process, no Redis: an in-process cache, and results kept for a few minutes.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = CACHE_CONFIG
RATELIMIT_STORAGE_URI = "memory://"
