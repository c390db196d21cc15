"""An embedded SecantusDB server for tests and the launcher."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def secantusd_command(port: int, storage: str) -> list[str]:
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    return [exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage,
            "--sync-on-commit", "--log-level", "WARNING"]


def wait_for_mongo(uri: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            pymongo.MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return
        except pymongo.errors.PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def mongo_uri_for(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


class EmbeddedDatabase:
    """A SecantusDB subprocess; ``storage=':memory:'`` for a throwaway one."""

    def __init__(self, storage: str = ":memory:", port: int | None = None, log_path: str | None = None):
        self.port = port or free_port()
        self.storage = storage
        self.uri = mongo_uri_for(self.port)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> EmbeddedDatabase:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(secantusd_command(self.port, self.storage), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_mongo(self.uri)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
