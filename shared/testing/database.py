"""Kept for the tests that import it: the embedded database lives in shared.embedded_db."""

from shared.embedded_db import (  # noqa: F401
    EmbeddedDatabase,
    free_port,
    mongo_uri_for,
    secantusd_command,
    wait_for_mongo,
)
