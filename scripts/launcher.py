"""Start the whole platform on one machine: ``python -m scripts.launcher`` (``make run``).

What it does, in order:

1. starts the embedded database (SecantusDB, data under ``$VAR_DIR/db``) unless
   ``MONGO_URI`` is set;
2. checks the RabbitMQ broker on ``AMQP_URI`` (and says how to start one);
3. starts every nameko service that exists (``SERVICES``) and the gateway, each a
   child process whose output goes to ``$VAR_DIR/log/<name>.log`` and, prefixed,
   to the console;
4. waits until each answers its health check, seeds the demo models once, prints
   the URLs and demo users;
5. watches the children: one that dies is reported with the tail of its log and
   the launcher exits non-zero; Ctrl-C / SIGTERM stops the services, then the
   database last.

Every port and URI comes from the environment (``shared.config``), so a second
stack can run beside the first on other ports (the e2e tests do).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared.config import ROOT, int_setting, setting
from shared.embedded_db import EmbeddedDatabase

READY_MARKER = "==> platform ready"
DEMO_USERS = [
    ("admin", "admin123", "admin"),
    ("datascientist", "password123", "data-scientist"),
    ("business", "password123", "business-user"),
    ("viewer", "password123", "viewer"),
]


@dataclass(frozen=True)
class ServiceSpec:
    """One nameko service: its package under services/ and the setting of its metrics port."""

    name: str
    metrics_port_setting: str


# The one list of nameko services; the launcher starts those whose service.py exists,
# in this order (auth first: the gateway and the seed need its issuer).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("auth", "AUTH_METRICS_PORT"),
    ServiceSpec("registry", "REGISTRY_METRICS_PORT"),
    ServiceSpec("deployer", "DEPLOYER_METRICS_PORT"),
    ServiceSpec("runner", "RUNNER_METRICS_PORT"),
    ServiceSpec("scheduler", "SCHEDULER_METRICS_PORT"),
    ServiceSpec("admin", "ADMIN_METRICS_PORT"),
)
GATEWAY = "gateway"


_console_lock = threading.Lock()


def _console(line: str) -> None:
    """One whole line to stdout: the children's pump threads write concurrently."""
    with _console_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class LaunchError(Exception):
    """The platform could not start; the message says why and what to do."""


class Shutdown(Exception):
    """SIGTERM received."""


def available_services(root: Path = ROOT) -> list[ServiceSpec]:
    return [spec for spec in SERVICES if (root / "services" / spec.name / "service.py").exists()]


def gateway_available(root: Path = ROOT) -> bool:
    return (root / "services" / GATEWAY / "wsgi.py").exists()


def issuer_url() -> str:
    """OIDC_ISSUER, or the built-in issuer on AUTH_HTTP_PORT when OIDC_ISSUER is unset."""
    if os.environ.get("OIDC_ISSUER"):
        return os.environ["OIDC_ISSUER"]
    return f"http://localhost:{setting('AUTH_HTTP_PORT')}/realms/ml-platform"


def truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


try:
    # Loaded here, not in the forked child: dlopen between fork and exec can deadlock.
    _LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the child, before exec: own process group, and SIGTERM if the launcher dies
    (even by kill -9), so no orphan keeps a port or the database busy."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """A child process whose combined output goes to its log file and the console."""

    name: str
    command: list[str]
    log_path: Path
    health_url: str
    env: dict[str, str]
    echo: bool = True
    # The gateway's /api/v1/health reports the services too (503 while one is missing):
    # for the gateway itself, any answer means it is up; the services are checked one by one.
    any_status: bool = False
    process: subprocess.Popen | None = None
    tail: deque = field(default_factory=lambda: deque(maxlen=40))

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        threading.Thread(target=self._pump, name=f"log-{self.name}", daemon=True).start()

    def _pump(self) -> None:
        prefix = f"{self.name:<9}| "
        with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} started: "
                      f"{' '.join(self.command)}\n")
            log.flush()
            for raw in self.process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.tail.append(line)
                log.write(line + "\n")
                log.flush()
                if self.echo:
                    _console(prefix + line)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            status = requests.get(self.health_url, timeout=2).status_code
        except requests.RequestException:
            return False
        return status == 200 or self.any_status

    def crash_report(self) -> str:
        tail = "\n".join(f"    {line}" for line in list(self.tail)[-25:]) or "    (no output)"
        return (f"{self.name} exited with code {self.process.returncode}; "
                f"last lines of {self.log_path}:\n{tail}")

    def terminate(self) -> None:
        if self.alive():
            self.process.terminate()

    def kill_group(self) -> None:
        """SIGKILL the child's whole process group (its own workers and sandboxes)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Launcher:
    def __init__(self, seed: bool, echo: bool = True):
        self.seed_enabled = seed
        self.echo = echo
        self.var_dir = Path(setting("VAR_DIR"))
        self.log_dir = self.var_dir / "log"
        self.database: EmbeddedDatabase | None = None
        self.children: list[Child] = []
        self.issuer = issuer_url()
        self.gateway_port = int_setting("GATEWAY_PORT")
        self.base_url = f"http://localhost:{self.gateway_port}"

    # -- steps ------------------------------------------------------------------------

    def say(self, message: str) -> None:
        _console(f"launcher | {message}")

    def check_ports_free(self, ports: dict[str, int]) -> None:
        busy = []
        for what, port in ports.items():
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("0.0.0.0", port))
                except OSError:
                    busy.append(f"{what} ({port})")
        if busy:
            raise LaunchError(
                "ports already in use: " + ", ".join(busy) + ".\n"
                "Is the platform already running (another `make run`)? Stop it, or choose "
                "other ports with the environment variables of the README "
                "(GATEWAY_PORT, AUTH_HTTP_PORT, *_METRICS_PORT, EMBEDDED_DB_PORT)."
            )

    def build_webapp(self) -> None:
        """Build frontend/ when its sources changed; the API runs without it."""
        from scripts import webapp_build

        try:
            webapp_build.ensure_built(log=self.say)
        except RuntimeError as exc:
            self.say(f"WARNING: the web app is not built: {exc}")

    def start_database(self) -> str:
        if os.environ.get("MONGO_URI"):
            self.say(f"using the database at MONGO_URI ({os.environ['MONGO_URI']})")
            return os.environ["MONGO_URI"]
        storage = self.var_dir / "db"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        reused = storage.exists() and any(storage.iterdir())
        self.say(f"starting the embedded database (SecantusDB) on port "
                 f"{setting('EMBEDDED_DB_PORT')}, data in {storage}"
                 f"{' (existing data reused)' if reused else ''}")
        self.database = EmbeddedDatabase(
            storage=str(storage), port=int_setting("EMBEDDED_DB_PORT"),
            log_path=str(self.log_dir / "db.log"),
        )
        try:
            self.database.start(timeout=60)
        except Exception as exc:
            raise LaunchError(f"the embedded database did not start: {exc}; "
                              f"see {self.log_dir / 'db.log'}") from exc
        return self.database.uri

    def check_broker(self) -> None:
        from kombu import Connection

        uri = setting("AMQP_URI")
        try:
            with Connection(uri, connect_timeout=5) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as exc:
            raise LaunchError(
                f"RabbitMQ is not reachable on AMQP_URI={uri} ({exc.__class__.__name__}: {exc}).\n"
                "Start one, then run `make run` again:\n"
                "    sudo rabbitmq-server -detached          (Debian/Ubuntu: apt-get install "
                "rabbitmq-server)\n"
                "    docker run -d -p 5672:5672 rabbitmq:3    (with Docker)\n"
                "or point AMQP_URI at your broker."
            ) from exc
        self.say(f"RabbitMQ reachable on {uri}")

    def child_env(self, mongo_uri: str) -> dict[str, str]:
        from shared.config import DEFAULTS

        env = dict(os.environ)
        # Resolved values, so every child sees the same settings as the launcher.
        env.update({name: setting(name) for name in DEFAULTS})
        env.update(MONGO_URI=mongo_uri, OIDC_ISSUER=self.issuer, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    def start_children(self, mongo_uri: str) -> None:
        specs = available_services()
        if not specs:
            raise LaunchError("no service found under services/*/service.py")
        base_env = self.child_env(mongo_uri)
        for spec in specs:
            port = int_setting(spec.metrics_port_setting)
            env = {**base_env, "METRICS_PORT": str(port)}
            command = [sys.executable, "-m", "nameko", "run", "--config",
                       f"services/{spec.name}/config.yml", f"services.{spec.name}.service"]
            self.children.append(Child(spec.name, command, self.log_dir / f"{spec.name}.log",
                                       f"http://127.0.0.1:{port}/health", env, self.echo))
        if gateway_available():
            command = [sys.executable, "-m", "gunicorn", "services.gateway.wsgi:app",
                       "--config", str(ROOT / "services" / GATEWAY / "gunicorn.conf.py"),
                       "--bind", f"0.0.0.0:{self.gateway_port}",
                       # gunicorn's control socket is one fixed path per user: a second
                       # stack (the e2e tests beside a make run) would take it over.
                       "--no-control-socket"]
            self.children.append(Child(
                GATEWAY, command, self.log_dir / "gateway.log",
                f"http://127.0.0.1:{self.gateway_port}/api/v1/health", base_env, self.echo,
                any_status=True))
        for child in self.children:
            self.say(f"starting {child.name}: {' '.join(child.command[1:])}")
            child.start()

    def check_crashed(self) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                raise LaunchError(child.crash_report())

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.children)
        auth_running = any(child.name == "auth" for child in self.children)
        issuer_ok = not auth_running
        while pending or not issuer_ok:
            self.check_crashed()
            pending = [child for child in pending if not child.healthy()]
            if not issuer_ok:
                issuer_ok = self._issuer_answers()
            if not pending and issuer_ok:
                break
            if time.monotonic() > deadline:
                silent = [f"{child.name}: {child.health_url} does not answer 200"
                          for child in pending]
                if not issuer_ok:
                    silent.append(f"issuer: {self.issuer}/.well-known/openid-configuration "
                                  "does not answer 200")
                raise LaunchError(f"not healthy after {timeout:.0f} s (logs in {self.log_dir}):\n"
                                  + "\n".join(silent))
            time.sleep(0.5)
        self.say("every service is healthy: " + ", ".join(c.name for c in self.children))

    def _issuer_answers(self) -> bool:
        try:
            url = f"{self.issuer}/.well-known/openid-configuration"
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def seed(self) -> None:
        if not self.seed_enabled:
            return
        if not gateway_available() or "registry" not in {c.name for c in self.children}:
            self.say("seed skipped: the gateway or the registry is not there yet")
            return
        from scripts import seed

        try:
            seed.seed(self.base_url, self.issuer, log=self.say)
        except Exception as exc:  # the platform is usable without the demo models
            self.say(f"WARNING: seeding the demo data failed: {exc.__class__.__name__}: {exc}")

    def start_superset(self) -> None:
        """Apache Superset, in the background (scripts/superset.py): never waited for, not
        a supervised child (its failure does not stop the platform), stopped at exit."""
        from scripts import superset

        superset.start_in_background(log=self.say)

    def banner(self) -> None:
        lines = [
            "",
            "Plateforme Centralisée de Modèles ML",
        ]
        if self._web_app_served():
            lines.append(f"  web app          {self.base_url}")
        lines += [
            f"  API              {self.base_url}/api/v1   (docs: {self.base_url}/api/v1/docs)",
            f"  OIDC issuer      {self.issuer}",
        ]
        for child in self.children:
            if child.name != GATEWAY:
                port = child.health_url.split(":")[2].split("/")[0]
                lines.append(f"  {child.name:<16} metrics http://localhost:{port}/metrics")
        lines.append(f"  database         {self.database.uri if self.database else 'MONGO_URI'}")
        lines.append(f"  logs             {self.log_dir}/<service>.log")
        lines.append("  demo users       " + ", ".join(f"{u}/{p} ({r})" for u, p, r in DEMO_USERS))
        lines.append("Ctrl-C stops everything.")
        for line in lines:
            _console(line)
        _console(f"{READY_MARKER} {self.base_url}")

    def _web_app_served(self) -> bool:
        try:
            return requests.get(self.base_url + "/", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def watch(self) -> None:
        while True:
            self.check_crashed()
            time.sleep(0.5)

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the children (gateway first), wait, kill stragglers, then the database."""
        if self.children:
            self.say("stopping the services")
        for child in reversed(self.children):
            child.terminate()
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {timeout:.0f} s: killing it")
            # Whatever is left in its group (gunicorn workers, execution sandboxes).
            child.kill_group()
            if child.process.poll() is None:
                child.process.wait(5)
        if self.database is not None:
            self.say("stopping the database")
            self.database.stop()
        self.say("stopped")

    def run(self) -> int:
        specs = available_services()
        ports = {f"{s.name} metrics": int_setting(s.metrics_port_setting) for s in specs}
        if any(s.name == "auth" for s in specs):
            ports["auth issuer"] = int_setting("AUTH_HTTP_PORT")
        if gateway_available():
            ports["gateway"] = self.gateway_port
        if not os.environ.get("MONGO_URI"):
            ports["embedded database"] = int_setting("EMBEDDED_DB_PORT")
        try:
            self.check_ports_free(ports)
            self.check_broker()
            self.build_webapp()
            mongo_uri = self.start_database()
            self.start_children(mongo_uri)
            self.wait_healthy(float(setting("STARTUP_TIMEOUT_S")))
            self.seed()
            self.start_superset()
            self.banner()
            self.watch()
        except LaunchError as exc:
            print(f"launcher | ERROR: {exc}", file=sys.stderr, flush=True)
            return 1
        except (KeyboardInterrupt, Shutdown):
            print(flush=True)
            return 0
        finally:
            # A second Ctrl-C while stopping must not leave the database behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop()
        return 0


def _on_sigterm(signum, frame):
    raise Shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-seed", action="store_true",
                        help="do not create the demo models (also SEED_DEMO_DATA=0)")
    parser.add_argument("--quiet", action="store_true",
                        help="do not copy the services' output to the console (logs only)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Explicitly: a shell starting us in the background leaves SIGINT ignored, and
    # Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    seed = truthy(setting("SEED_DEMO_DATA")) and not args.no_seed
    return Launcher(seed=seed, echo=not args.quiet).run()


if __name__ == "__main__":
    sys.exit(main())
