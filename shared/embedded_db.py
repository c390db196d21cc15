"""The embedded SecantusDB server (a MongoDB-wire server in a subprocess).

Used by the launcher (``make run``: data under ``var/db``) and by the tests
(``storage=':memory:'``). ``--sync-on-commit`` makes every commit durable: a
``kill -9`` of the server loses nothing that was acknowledged.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo


def free_port() -> int:
    """A TCP port free on the loopback right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def secantusd_command(port: int, storage: str) -> list[str]:
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    return [exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage,
            "--sync-on-commit", "--log-level", "WARNING"]


def wait_for_mongo(
    uri: str, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    """Block until ``uri`` answers a ping; raise if ``process`` exits first or on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return
        except pymongo.errors.PyMongoError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the database exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            client.close()


def mongo_uri_for(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


class EmbeddedDatabase:
    """A SecantusDB subprocess; ``storage=':memory:'`` for a throwaway one."""

    def __init__(self, storage: str = ":memory:", port: int | None = None,
                 log_path: str | None = None):
        self.port = port or free_port()
        self.storage = storage
        self.uri = mongo_uri_for(self.port)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedDatabase:
        if self.storage != ":memory:":
            Path(self.storage).mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            # Own session: a Ctrl-C in the terminal reaches only the launcher, which
            # stops the database last, after every service has let go of it.
            self.process = subprocess.Popen(
                secantusd_command(self.port, self.storage), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        try:
            wait_for_mongo(self.uri, timeout, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
