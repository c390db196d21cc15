"""A private RabbitMQ node for tests that kill the broker (``tests/faults/``).

Never the machine's shared broker: the node has its own name
(``faults-<id>@localhost``), AMQP and distribution ports (free ones), data
directory (``RABBITMQ_MNESIA_BASE``), log directory, config file (one loopback
listener on its port), an empty plugin list, and its own ``HOME`` so its Erlang
cookie is its own. It registers with the machine's epmd (port 4369) under its own
name, as a second node on a host normally does; epmd forgets it when it dies.

``rabbitmq-server`` is the one from ``/usr/lib/rabbitmq/bin`` (Debian's package:
the ``/usr/sbin`` wrapper would ``su rabbitmq``, who cannot write here); it runs
as a child in its own process group, so ``kill()`` SIGKILLs the whole node (a
crash) and ``start()`` boots it again on the same data: durable queues and
persistent messages come back, as after a real crash.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from shared.embedded_db import free_port

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)


def server_binary() -> str | None:
    for candidate in SERVER_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("rabbitmq-server")
    return found if found and not found.startswith("/usr/sbin") else None


class RabbitNode:
    """One private broker node under ``base``; ``amqp_uri`` is its default vhost."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.name = f"faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None
        self.binary = server_binary()
        self._write_files()
        atexit.register(self._kill_quietly)

    def _write_files(self) -> None:
        for sub in ("home", "mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            # the tests fill the disk of a shared machine with nothing: keep the default
            # alarm from stopping publishers on a nearly full /tmp
            "disk_free_limit.absolute = 10MB\n"
        )
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("RABBITMQ_")}
        env.update({
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    # -- life cycle ------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> RabbitNode:
        """Boot the node (on the data it has) and wait until it takes AMQP connections."""
        if self.binary is None:
            raise RuntimeError("rabbitmq-server is not installed (apt-get install "
                               "rabbitmq-server; `make test` does it as root)")
        out = open(self.base / "log" / "console.log", "ab")
        try:
            self.process = subprocess.Popen([self.binary], cwd=self.base, env=self.env(),
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        from kombu import Connection

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the private RabbitMQ node exited with code "
                                   f"{self.process.returncode}:\n{self.console_tail()}")
            try:
                with Connection(self.amqp_uri, connect_timeout=2) as conn:
                    conn.ensure_connection(max_retries=1)
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the private RabbitMQ node did not accept connections "
                                       f"in {timeout:.0f} s:\n{self.console_tail()}") from None
                time.sleep(0.5)

    def console_tail(self, lines: int = 30) -> str:
        texts = []
        for path in sorted((self.base / "log").glob("*.log")):
            texts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(texts[-lines:])

    def _signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL the whole node, as a crash would."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(30)
        deadline = time.monotonic() + 10
        while self._port_open() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node cleanly (SIGTERM), killing it if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            self._signal_group(signal.SIGKILL)  # stragglers of a killed node
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(10)

    def _kill_quietly(self) -> None:
        self._signal_group(signal.SIGKILL)

    def _port_open(self) -> bool:
        import socket

        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0
