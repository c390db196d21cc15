"""Common pytest fixtures (loaded with ``-p shared.testing.plugin``).

* ``mongo_uri``: the embedded SecantusDB for the session (or ``MONGO_URI``).
* ``mongo_db``: a fresh, uniquely named database per test, dropped after.
* ``service_config``: nameko config for a container under test: a fresh
  RabbitMQ vhost (nameko's ``rabbit_config``), the test's database, metrics
  on an ephemeral port.
* ``auth``: bearer headers for a role (``shared.testing.gateway``).
"""

from __future__ import annotations

# nameko 2.14's pytest plugin no longer monkey-patches. Patch before pymongo is
# imported: pymongo decides at import time whether select.poll exists.
import warnings

with warnings.catch_warnings():
    # nameko 2.14 has no other hub than eventlet; its deprecation notice is noise.
    warnings.simplefilter("ignore")
    import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import uuid  # noqa: E402

import pymongo  # noqa: E402
import pytest  # noqa: E402

from shared.testing.database import EmbeddedDatabase  # noqa: E402
from shared.testing.gateway import auth  # noqa: E402,F401  (gateway request headers)
from shared.testing.stack import stack  # noqa: E402,F401  (the e2e platform)
from shared.testing.tokens import issue_token, token_issuer  # noqa: E402,F401  (JWTs)

# No test may make anything connect beyond 127.0.0.1 (shared/netguard.py).
pytest_plugins = ("shared.testing.netguard",)


@pytest.fixture(scope="session")
def mongo_uri():
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    database = EmbeddedDatabase().start()
    yield database.uri
    database.stop()


@pytest.fixture
def mongo_db_name():
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mongo_db(mongo_uri, mongo_db_name):
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    yield client[mongo_db_name]
    client.drop_database(mongo_db_name)
    client.close()


@pytest.fixture
def service_config(rabbit_config, mongo_uri, mongo_db):
    """Config for ``container_factory(Service, service_config)``."""
    return {
        **rabbit_config,
        "MONGO_URI": mongo_uri,
        "MONGO_DB": mongo_db.name,
        "METRICS_PORT": 0,
        "RPC_TIMEOUT_S": 10,
    }


@pytest.fixture
def unique():
    """A short unique string, to keep names from colliding across tests."""
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:8]}"
