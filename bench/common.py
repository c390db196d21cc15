"""What every benchmark shares: statistics, the figure reporter, a platform to run against.

* ``Report``: collects figures, prints one summary line per figure and writes
  ``bench/results/<bench>-<UTC timestamp>.json``.
* ``percentile``/``median``/``summarize``: plain-Python statistics (no numpy in the
  hot path of a client loop).
* ``fresh_vhost()``: a throwaway RabbitMQ vhost (management API), deleted after.
* ``platform()``: the whole platform started by ``shared.testing.stack.start_stack``
  (the e2e fixture: the launcher on free ports, a fresh embedded database) in a
  fresh vhost; yields a ``Platform`` with the stack, its database URI and a token.
* ``Skip``: raised by a benchmark whose prerequisites are missing; the driver prints
  ``<bench>: skipped: <why>`` and goes on.
"""

from __future__ import annotations

import json
import math
import os
import platform as _platform
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from shared.config import ROOT, setting

RESULTS_DIR = ROOT / "bench" / "results"
MGMT_URL_DEFAULT = "http://guest:guest@127.0.0.1:15672"


class Skip(Exception):
    """A prerequisite is missing: the benchmark prints ``skipped: <why>`` instead of failing."""


# -- statistics ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear interpolation (numpy's default)."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarize(samples_s: Sequence[float]) -> dict[str, float]:
    """Latency samples in seconds → ms percentiles and count."""
    ms = [s * 1000.0 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms) if ms else math.nan,
    }


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


# -- reporting -------------------------------------------------------------------


@dataclass
class Report:
    """Figures of one benchmark run: one line each on stdout, all of them in a JSON file."""

    bench: str
    params: dict[str, Any] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))

    def figure(self, name: str, line: str, **data: Any) -> None:
        """Record a figure and print its summary line (``<bench>.<name>: <line>``)."""
        self.figures.append({"name": name, "summary": line, **data})
        print(f"{self.bench}.{name}: {line}", flush=True)

    def skipped(self, name: str, why: str) -> None:
        self.figures.append({"name": name, "skipped": why})
        print(f"{self.bench}.{name}: skipped: {why}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"{self.bench}: note: {text}", flush=True)

    def write(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.bench}-{self.started}.json"
        body = {
            "bench": self.bench,
            "started_utc": self.started,
            "finished_utc": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "host": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                     "platform": _platform.platform(),
                     "loadavg_at_end": list(os.getloadavg())},
            "params": self.params,
            "figures": self.figures,
            "notes": self.notes,
        }
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")
        print(f"{self.bench}: results written to {path.relative_to(ROOT)}", flush=True)
        return path


def progress(bench: str, message: str) -> None:
    """A progress line on stderr (the summary lines on stdout stay clean)."""
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[{stamp}] {bench}: {message}", file=sys.stderr, flush=True)


# -- broker ------------------------------------------------------------------------


def base_amqp_uri() -> str:
    return setting("AMQP_URI")


def mgmt_url() -> str:
    return os.environ.get("RABBIT_MGMT_URL", MGMT_URL_DEFAULT).rstrip("/")


def check_broker() -> None:
    """Raise ``Skip`` unless RabbitMQ and its management API answer."""
    import requests
    from kombu import Connection

    try:
        with Connection(base_amqp_uri(), connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        raise Skip(f"RabbitMQ not reachable on {base_amqp_uri()} "
                   f"({exc.__class__.__name__})") from None
    try:
        overview = requests.get(f"{_mgmt_base()}/api/overview", auth=_mgmt_auth(), timeout=5)
        overview.raise_for_status()
    except Exception as exc:
        raise Skip(f"RabbitMQ management API not reachable on {_mgmt_base()} "
                   f"({exc.__class__.__name__}); `make test-prereqs` enables it") from None


def _mgmt_base() -> str:
    parts = urlsplit(mgmt_url())
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme or "http", f"{host}{port}", "", "", ""))


def _mgmt_auth() -> tuple[str, str]:
    parts = urlsplit(mgmt_url())
    return (parts.username or "guest", parts.password or "guest")


@contextmanager
def fresh_vhost(prefix: str = "bench") -> Iterator[str]:
    """A new vhost for one benchmark (nothing else on the broker sees its queues)."""
    import requests

    vhost = f"{prefix}_{uuid.uuid4().hex[:10]}"
    user = urlsplit(base_amqp_uri()).username or "guest"
    base, auth = _mgmt_base(), _mgmt_auth()
    requests.put(f"{base}/api/vhosts/{quote(vhost, safe='')}", auth=auth,
                 timeout=10).raise_for_status()
    requests.put(f"{base}/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                 json={"configure": ".*", "write": ".*", "read": ".*"}, auth=auth,
                 timeout=10).raise_for_status()
    parts = urlsplit(base_amqp_uri())
    try:
        yield urlunsplit(("amqp", parts.netloc, f"/{vhost}", "", ""))
    finally:
        try:
            requests.delete(f"{base}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=30)
        except Exception:  # a leftover vhost is harmless; never mask the benchmark's error
            pass


# -- the platform ----------------------------------------------------------------------


@dataclass
class Platform:
    stack: Any  # shared.testing.stack.Stack
    mongo_uri: str
    mongo_db: str
    amqp_uri: str

    def token(self, username: str = "datascientist", password: str = "password123") -> str:
        return self.stack.token(username, password)

    def api(self, path: str) -> str:
        return self.stack.api(path)


def _banner_mongo_uri(output: str) -> str | None:
    match = re.search(r"^\s*database\s+(mongodb://\S+)", output, re.MULTILINE)
    return match.group(1) if match else None


@contextmanager
def platform(bench: str, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    """The whole platform (launcher on free ports, fresh DB, fresh vhost); stopped after.
    ``extra_env``: settings of this platform's services (e.g. ``RUNNER_ZYGOTE=0``)."""
    check_broker()
    try:
        from shared.testing.stack import start_stack, stop_stack
    except ImportError as exc:
        raise Skip(f"shared/testing/stack.py not importable ({exc})") from exc
    if not (ROOT / "services" / "gateway" / "wsgi.py").exists():
        raise Skip("the gateway (services/gateway/wsgi.py) is not there")
    with fresh_vhost(bench) as amqp_uri, tempfile.TemporaryDirectory(prefix=f"{bench}-") as tmp:
        progress(bench, f"starting the platform (launcher, vhost {urlsplit(amqp_uri).path})")
        began = time.monotonic()
        try:
            stack = start_stack(Path(tmp), amqp_uri, seed=False, extra_env=extra_env)
        except RuntimeError as exc:
            raise Skip(f"the platform did not start: {str(exc).splitlines()[0]}") from exc
        try:
            uri = _banner_mongo_uri(stack.output())
            if uri is None:
                raise Skip("could not read the database URI from the launcher's banner")
            progress(bench, f"platform ready in {time.monotonic() - began:.0f} s at "
                            f"{stack.base_url}")
            yield Platform(stack=stack, mongo_uri=uri, mongo_db=setting("MONGO_DB"),
                           amqp_uri=amqp_uri)
        finally:
            progress(bench, "stopping the platform")
            stop_stack(stack)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (and its reaped children) from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        # The command name (field 2) may hold spaces: split after its closing paren.
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / ticks


def start_helper(module: str, *args: str, timeout: float = 60.0,
                 env: dict[str, str] | None = None) -> Any:
    """``python -m <module> <args>`` as a child that dies with us; waits for ``ready``."""
    import select
    import subprocess

    from scripts.launcher import _die_with_parent

    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline().decode(errors="replace")
            if not line and process.poll() is not None:
                break
            seen.append(line.rstrip())
            if line.strip() == "ready":
                # Keep reading so a chatty child never blocks on a full pipe.
                threading.Thread(target=lambda: [None for _ in process.stdout],
                                 daemon=True).start()
                return process
        elif process.poll() is not None:
            break
    stop_helper(process)
    raise RuntimeError(f"{module} did not get ready: " + " | ".join(seen[-10:]))


def stop_helper(process: Any, timeout: float = 15.0) -> None:
    import signal
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def load_generate(make_call, concurrency: int, seconds: float,
                  warmup: int = 5) -> dict[str, Any]:
    """``concurrency`` threads, each with its own session-bound callable, for ``seconds``."""
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker():
        call = make_call()
        for _ in range(warmup):
            call()
        start.wait()
        mine = []
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            try:
                call()
            except Exception:
                with lock:
                    errors[0] += 1
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + 3600  # set for real once everyone is warm
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {**summarize(samples), "rps": len(samples) / elapsed, "errors": errors[0],
            "concurrency": concurrency, "seconds": elapsed}
