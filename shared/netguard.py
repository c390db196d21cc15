"""The network guard of test runs: no connection anywhere but the loopback.

When ``PLATFORM_NETGUARD=1`` every platform process (``shared/__init__.py`` calls
``install_from_env()``: the services, the gateway, the launcher, the seed script) and
the test process (``shared/testing/netguard.py``) refuse any socket connection to an
address that is not loopback (127.0.0.0/8, ::1) or a Unix socket: ``connect``,
``connect_ex`` and ``sendto`` raise ``NetguardViolation`` (a ``ConnectionRefusedError``,
so the platform sees a refused connection), and the attempt is logged at CRITICAL and
appended to the file ``PLATFORM_NETGUARD_LOG`` when set. The test run reads that file
after every test and fails the test that made the platform try — even when the
platform swallowed the error (a webhook delivery recording a failure, for instance).

``PLATFORM_NETGUARD_ALLOW`` (comma-separated IPs or CIDRs) adds addresses for a CI whose
broker or database is on another host.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("netguard")

ENV = "PLATFORM_NETGUARD"
LOG_ENV = "PLATFORM_NETGUARD_LOG"
ALLOW_ENV = "PLATFORM_NETGUARD_ALLOW"

_MARK = "_netguard_original"
_listeners: list[Callable[[str], None]] = []
_lock = threading.Lock()


class NetguardViolation(ConnectionRefusedError):
    """A connection to a non-loopback address during a guarded (test) run."""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in (os.environ.get(ALLOW_ENV) or "").split(","):
        if item.strip():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return networks


def is_allowed_ip(ip: str) -> bool:
    """Loopback (IPv4, IPv6, IPv4-mapped) or listed in ``PLATFORM_NETGUARD_ALLOW``."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if address.is_loopback or (mapped is not None and mapped.is_loopback):
        return True
    return any(address in network for network in _allowed_networks())


def is_allowed(family: int, address) -> bool:
    """Whether a socket of ``family`` may connect to ``address``."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # Unix sockets, netlink, ...: not the network
    if not isinstance(address, tuple) or not address:
        return False
    host = str(address[0])
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return is_allowed_ip(host)
    except ValueError:
        pass
    try:  # a host name: every address it resolves to must be allowed
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(is_allowed_ip(info[4][0]) for info in infos)


def _violation(address) -> NetguardViolation:
    message = (
        f"NETGUARD: blocked a connection to {address!r} from pid {os.getpid()} "
        f"({os.path.basename(sys.argv[0]) if sys.argv else '?'}): tests may only reach 127.0.0.1"
    )
    log.critical(message)
    path = os.environ.get(LOG_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")
        except OSError:
            log.critical("NETGUARD: could not write to %s", path)
    for listener in list(_listeners):
        listener(message)
    return NetguardViolation(message)


def _guard_class(cls: type) -> None:
    if _MARK in cls.__dict__:
        return
    originals = {name: getattr(cls, name) for name in ("connect", "connect_ex", "sendto")}

    def connect(self, address, *args, **kwargs):
        if not is_allowed(self.family, address):
            raise _violation(address)
        return originals["connect"](self, address, *args, **kwargs)

    def connect_ex(self, address, *args, **kwargs):
        if not is_allowed(self.family, address):
            raise _violation(address)
        return originals["connect_ex"](self, address, *args, **kwargs)

    def sendto(self, data, *args):
        address = args[-1] if args else None
        if address is not None and not is_allowed(self.family, address):
            raise _violation(address)
        return originals["sendto"](self, data, *args)

    cls.connect, cls.connect_ex, cls.sendto = connect, connect_ex, sendto
    setattr(cls, _MARK, originals)


def _socket_classes() -> list[type]:
    classes = [socket.socket]
    if "eventlet" in sys.modules:  # green sockets wrap a pristine copy of the class
        from eventlet import patcher

        classes.append(patcher.original("socket").socket)
    return classes


def install(listener: Callable[[str], None] | None = None) -> None:
    """Guard every socket class of this process (idempotent); ``listener(message)`` is
    called on each violation."""
    with _lock:
        if listener is not None and listener not in _listeners:
            _listeners.append(listener)
        for cls in _socket_classes():
            _guard_class(cls)
    os.environ[ENV] = "1"  # and the processes this one starts


def uninstall() -> None:
    """Restore the original socket methods (the guard's own tests)."""
    with _lock:
        for cls in _socket_classes():
            originals = cls.__dict__.get(_MARK)
            if originals:
                for name, method in originals.items():
                    setattr(cls, name, method)
                delattr(cls, _MARK)
        _listeners.clear()


def install_from_env() -> bool:
    """Install the guard when ``PLATFORM_NETGUARD=1``; whether it did."""
    if os.environ.get(ENV, "") not in ("1", "true", "yes"):
        return False
    install()
    return True
