"""A trivial nameko service for the RPC round-trip figure (no platform service has an echo).

Run in its own process: ``python -m bench.echo_service <AMQP_URI>``; prints ``ready``
once its RPC consumer is up, stops on SIGTERM.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import signal  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

SERVICE_NAME = "bench_echo"


class EchoService:
    name = SERVICE_NAME

    @rpc
    def echo(self, value: Any) -> Any:
        """Return ``value`` unchanged (the cheapest possible RPC)."""
        return value


def main() -> None:
    runner = ServiceRunner({"AMQP_URI": sys.argv[1]})
    runner.add_service(EchoService)

    def stop(signum, frame):
        # Stop from a green thread: the signal handler runs on the hub.
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    print("ready", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
