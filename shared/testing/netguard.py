"""pytest plugin (loaded by ``shared.testing.plugin``): the test run may only reach
127.0.0.1.

At start-up it installs ``shared.netguard`` in the test process and exports
``PLATFORM_NETGUARD=1`` and ``PLATFORM_NETGUARD_LOG`` (a file of this run), so every
platform process a test starts (the ``stack`` fixture's launcher and its services)
installs the same guard and reports there. After each test, any attempt recorded
in this process or in that file fails the test (as an error at teardown), even
when the code that tried swallowed the refused connection.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from shared import netguard

_seen: list[str] = []
_OWN_LOG = pytest.StashKey[str]()


def _log_path() -> str:
    return os.environ[netguard.LOG_ENV]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "netguard_expected: the test provokes a blocked connection on purpose"
    )
    if not os.environ.get(netguard.LOG_ENV):
        handle, path = tempfile.mkstemp(prefix="netguard-", suffix=".log")
        os.close(handle)
        os.environ[netguard.LOG_ENV] = path
        config.stash[_OWN_LOG] = path
    netguard.install(listener=_seen.append)


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_OWN_LOG, None)
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _file_size() -> int:
    try:
        return os.path.getsize(_log_path())
    except OSError:
        return 0


def _file_since(offset: int) -> list[str]:
    try:
        with open(_log_path(), encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return [line.strip() for line in handle if line.strip()]
    except OSError:
        return []


@pytest.fixture(autouse=True)
def _netguard_check(request):
    """Fail the test during which anything tried to leave the loopback."""
    offset = _file_size()
    _seen.clear()
    yield
    if request.node.get_closest_marker("netguard_expected"):
        _seen.clear()
        return
    # The file has this process's violations too (written before the listener runs).
    attempts = _file_since(offset) or list(_seen)
    _seen.clear()
    if attempts:
        pytest.fail("connections outside 127.0.0.1 were attempted:\n" + "\n".join(attempts),
                    pytrace=False)
