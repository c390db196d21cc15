"""Apache Superset beside the platform (guide 7.3): installed, started and provisioned.

``make run`` calls :func:`start_in_background`: a thread installs Superset on first use
(``deploy/superset/requirements.txt`` into ``.venv-superset/``, its own virtual
environment, so its pins never touch the platform's ``.venv``), prepares its metadata
database (SQLite under ``$VAR_DIR/superset``; the admin user; the secret key generated
once in ``$VAR_DIR/superset/secret_key``), starts it with gunicorn on ``SUPERSET_PORT``
and provisions the analytics connection, datasets and dashboard
(``scripts/superset_provision.py``). The platform never waits for it: the launcher
prints when Superset is ready, or why not. Superset is not one of the launcher's
supervised children: if it fails, the platform goes on; it stops with the platform.

``python -m scripts.superset install`` only installs (``make test`` does, so the tests
find it ready); ``python -m scripts.superset run`` runs Superset alone in the foreground
(the docker-compose ``superset`` service does, from ``deploy/superset/Dockerfile``).
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from shared.config import ROOT, int_setting, setting

VENV = ROOT / ".venv-superset"
REQUIREMENTS = ROOT / "deploy" / "superset" / "requirements.txt"
CONFIG = ROOT / "deploy" / "superset" / "superset_config.py"
# Written after a complete install: the hash of the requirements it installed.
STAMP = VENV / ".installed"
ADMIN = ("admin", "admin")
PROVISION_RETRY_S = 30

Log = Callable[[str], None]


class SupersetError(Exception):
    """Superset could not be installed or started; the message says why."""


def enabled() -> bool:
    return setting("SUPERSET_ENABLED").strip().lower() not in ("", "0", "false", "no", "off")


def analytics_db_url() -> str:
    """Contract C4: where the reporting service keeps the analytics copy."""
    return (os.environ.get("ANALYTICS_DB_URL")
            or f"sqlite:///{Path(setting('VAR_DIR')).resolve()}/analytics/analytics.db")


def without_password(url: str) -> str:
    """A database URL fit for a log line: its password masked."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# -- install ---------------------------------------------------------------------------


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def installed(venv: Path = VENV) -> bool:
    stamp = venv / ".installed"
    return stamp.exists() and stamp.read_text().strip() == requirements_hash()


def install(log: Log = print, venv: Path = VENV, log_path: Path | None = None) -> float:
    """Install the pinned Superset into ``venv`` unless already there; seconds it took."""
    if installed(venv):
        return 0.0
    started = time.monotonic()
    log(f"Superset: installing apache-superset into {venv} (first use: a few minutes; "
        f"log in {log_path or 'the console'})")
    python = venv / "bin" / "python"
    steps = []
    if not python.exists():
        steps.append([_base_python(), "-m", "venv", str(venv)])
    steps += [[str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
              [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)]]
    for command in steps:
        _run(command, log_path, os.environ.copy(), what="the install of Superset")
    (venv / ".installed").write_text(requirements_hash() + "\n")
    seconds = time.monotonic() - started
    log(f"Superset: installed in {seconds:.0f} s")
    return seconds


def _base_python() -> str:
    """The interpreter behind the running one (a venv's python makes a clean new venv)."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(candidate) if candidate.exists() else sys.executable


def _run(command: list[str], log_path: Path | None, env: dict[str, str], what: str,
         timeout: float = 1800) -> None:
    """Run a step to completion, output to ``log_path``; SupersetError with its tail."""
    if log_path is None:
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, timeout=timeout,
                                preexec_fn=_die_with_parent)
        if result.returncode:
            raise SupersetError(f"{what} failed ({' '.join(command[-3:])}: exit "
                                f"{result.returncode})")
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(command)}\n")
        log.flush()
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, timeout=timeout,
                                preexec_fn=_die_with_parent)
    if result.returncode:
        raise SupersetError(f"{what} failed (exit {result.returncode}); last lines of "
                            f"{log_path}:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])


try:
    # As in scripts/launcher.py: loaded here, never between fork and exec.
    _LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the child: its own process group, SIGTERM when the thread that started it ends
    (the launcher's Superset thread lives as long as the launcher, even on kill -9)."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# -- run -------------------------------------------------------------------------------


@dataclass
class Superset:
    """One Superset: its home (metadata DB, secret key) under ``var_dir``, its port."""

    var_dir: Path
    port: int
    analytics_url: str
    venv: Path = VENV
    log: Log = print
    process: subprocess.Popen | None = None
    # What the last provisioning created or found: database, datasets, dashboard, charts.
    provisioned: dict | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def home(self) -> Path:
        return self.var_dir / "superset"

    @property
    def log_path(self) -> Path:
        return self.var_dir / "log" / "superset.log"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(SUPERSET_HOME=str(self.home), SUPERSET_CONFIG_PATH=str(CONFIG),
                   SUPERSET_SECRET_KEY_FILE=str(self.secret_key_file()), FLASK_APP="superset",
                   PYTHONUNBUFFERED="1")
        # The platform's venv and modules have nothing to do in Superset's processes.
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        return env

    def secret_key_file(self) -> Path:
        """Generated once, readable by its owner only; the same on every start (it
        encrypts the stored connection URIs)."""
        path = self.home / "secret_key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
        return path

    def superset_cli(self, *args: str) -> None:
        _run([str(self.venv / "bin" / "superset"), *args], self.log_path, self.env(),
             what=f"superset {args[0]}", timeout=600)

    def prepare(self) -> None:
        """Metadata database migrated, admin user, roles — skipped when this version of
        Superset already prepared this home."""
        marker = self.home / ".prepared"
        version = requirements_hash()
        if marker.exists() and marker.read_text().strip() == version:
            return
        self.log(f"Superset: preparing its metadata database in {self.home}")
        self.superset_cli("db", "upgrade")
        self._create_admin()
        self.superset_cli("init")
        marker.write_text(version + "\n")

    def _create_admin(self) -> None:
        username, password = ADMIN
        # "User already exists" exits 0 too: a password changed in Superset is kept.
        self.superset_cli("fab", "create-admin", "--username", username, "--password", password,
                          "--firstname", "Admin", "--lastname", "Plateforme",
                          "--email", "admin@localhost")

    def start_server(self) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", self.port))
            except OSError as exc:
                raise SupersetError(f"port {self.port} (SUPERSET_PORT) is already in use: is "
                                    "another Superset running? Stop it or choose another "
                                    "SUPERSET_PORT") from exc
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [str(self.venv / "bin" / "gunicorn"), "--workers", "1", "--threads", "8",
                   "--timeout", "120", "--bind", f"0.0.0.0:{self.port}",
                   "--no-control-socket", "superset.app:create_app()"]
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(command)}\n")
            log.flush()
            self.process = subprocess.Popen(command, env=self.env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopping.is_set():
            if self.process is not None and self.process.poll() is not None:
                raise SupersetError(f"Superset exited with code {self.process.returncode}; "
                                    f"last lines of {self.log_path}:\n{_tail(self.log_path)}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=3).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        if not self._stopping.is_set():
            raise SupersetError(f"Superset does not answer {self.url}/health after "
                                f"{timeout:.0f} s; see {self.log_path}")

    def provision(self) -> dict:
        from scripts.superset_provision import provision

        return provision(f"http://127.0.0.1:{self.port}", *ADMIN, self.analytics_url,
                         log=self.log)

    def start(self, timeout: float = 600) -> None:
        """Install, prepare, start and wait for /health, in the calling thread."""
        install(self.log, self.venv, self.var_dir / "log" / "superset-install.log")
        self.prepare()
        self.start_server()
        self.wait_healthy(timeout)

    def stop(self, timeout: float = 15) -> None:
        self._stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        except ProcessLookupError:
            pass

    # -- the launcher's background thread ------------------------------------------

    def run_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self._background, name="superset", daemon=True)
        thread.start()
        return thread

    def _background(self) -> None:
        try:
            self.start()
        except (SupersetError, OSError, subprocess.SubprocessError) as exc:
            if not self._stopping.is_set():
                self.log(f"WARNING: Superset is not available: {exc}")
            self.stop()
            return
        self.provision_until_done()
        if self.process is not None:
            code = self.process.wait()  # this thread must live as long as Superset
            if not self._stopping.is_set():
                self.log(f"WARNING: Superset stopped (exit {code}); the platform goes on. "
                         f"Last lines of {self.log_path}:\n{_tail(self.log_path)}")

    def provision_until_done(self) -> None:
        """Provision; while it fails (e.g. the analytics copy does not exist yet), say why
        once and try again every PROVISION_RETRY_S, Superset staying up meanwhile."""
        from scripts.superset_provision import ProvisionError

        reported = False
        while not self._stopping.is_set():
            try:
                self.provisioned = self.provision()
            except (ProvisionError, requests.RequestException) as exc:
                if not reported:
                    self.log(f"WARNING: Superset is up on {self.url} but not provisioned yet "
                             f"({exc}); retrying every {PROVISION_RETRY_S} s")
                    reported = True
                if self._stopping.wait(PROVISION_RETRY_S):
                    return
                continue
            source = without_password(self.analytics_url)
            self.log(f"Superset ready on {self.url} ({ADMIN[0]}/{ADMIN[1]}), "
                     f"dashboard \"Plateforme ML\", data from {source}")
            return


def start_in_background(log: Log = print) -> Superset | None:
    """The launcher's one call: Superset in the background, stopped at the launcher's exit;
    None (and says so) when ``SUPERSET_ENABLED=0``."""
    if not enabled():
        log("Superset disabled (SUPERSET_ENABLED=0)")
        return None
    superset = Superset(var_dir=Path(setting("VAR_DIR")).resolve(),
                        port=int_setting("SUPERSET_PORT"), analytics_url=analytics_db_url(),
                        log=log)
    log(f"Superset: starting in the background on {superset.url} (log in "
        f"{superset.log_path}); the platform does not wait for it")
    atexit.register(superset.stop)
    superset.run_in_background()
    return superset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["install", "run"])
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            install()
            return 0
        superset = Superset(var_dir=Path(setting("VAR_DIR")).resolve(),
                            port=int_setting("SUPERSET_PORT"), analytics_url=analytics_db_url(),
                            log=lambda message: print(f"superset | {message}", flush=True))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            superset.start()
            superset.provision_until_done()
            superset.process.wait()
        finally:
            superset.stop()
    except SupersetError as exc:
        print(f"superset | ERROR: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
