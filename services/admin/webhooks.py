"""Outgoing webhooks: Standard Webhooks signatures and the server-side request forgery guard.

* ``new_secret()`` / ``sign()``: secrets are ``whsec_`` + base64 of 32 random bytes; the
  signature is ``v1,`` + base64(HMAC-SHA256(secret bytes, "<id>.<timestamp>.<body>")),
  as https://www.standardwebhooks.com specifies.
* ``check_url()``: only http(s); the host is resolved and every address must be global
  (no loopback, private, link-local, shared, reserved, multicast or unspecified ones)
  unless ``webhook_allowed_hosts`` names the host (or an IP / CIDR holding the
  address). Cloud metadata addresses are refused even then.
* ``send()``: one POST through a session whose connections re-check the resolved
  address at connect time (DNS rebinding between validation and delivery gains
  nothing), never follow redirects, ignore proxy variables and read at most 64 KiB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

SECRET_PREFIX = "whsec_"
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Refused whatever the allowed hosts say: instance metadata services and "any" addresses.
ALWAYS_REFUSED = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("0.0.0.0"),
    ipaddress.ip_address("::"),
}
MAX_RESPONSE_BYTES = 64 * 1024


class UrlRefused(ValueError):
    """The target is not a URL the platform may call; the message says why (French-free:
    the gateway shows it as the ``url`` field's message)."""


# -- signatures -------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "user-agent": "ml-platform-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


# -- allowed targets ---------------------------------------------------------------------


def parse_allowed(entries: Iterable[str]) -> tuple[set[str], list]:
    """``webhook_allowed_hosts`` → (host names, IP networks). Raises ValueError naming a
    bad entry."""
    names: set[str] = set()
    networks = []
    for entry in entries:
        text = str(entry).strip().lower()
        if not text:
            raise ValueError("empty host")
        try:
            networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        labels = text.rstrip(".").split(".")
        if len(text) > 253 or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum()
            and not label.startswith("-") and not label.endswith("-") for label in labels
        ):
            raise ValueError(f"{entry!r} is not a host name, an IP address or a CIDR range")
        names.add(text.rstrip("."))
    return names, networks


def _address(text: str) -> IpAddress:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal(host: str, ip: IpAddress, allowed: Iterable[str]) -> str | None:
    """Why ``ip`` (an address of ``host``) may not be called, or None."""
    if ip in ALWAYS_REFUSED or ip.is_multicast:
        return f"{ip} is a metadata, multicast or unspecified address"
    if ip.is_global:
        return None
    names, networks = parse_allowed(allowed)
    if host.lower().rstrip(".") in names or any(ip in net for net in networks):
        return None
    return (f"{host} resolves to {ip}, a non-public address (loopback, private, link-local "
            "or reserved); add the host to webhook_allowed_hosts to allow it")


def resolve(host: str, port: int) -> list[IpAddress]:
    try:
        return [_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"the host {host!r} cannot be resolved") from exc
    return list(dict.fromkeys(_address(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_url(url: str) -> Target:
    """Scheme, host and port of a webhook URL (no resolution). Raises UrlRefused."""
    if not isinstance(url, str) or len(url) > 2000:
        raise UrlRefused("must be a URL of at most 2000 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise UrlRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("credentials in the URL are not allowed")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def check_url(url: str, allowed: Iterable[str]) -> Target:
    """Validate a target: scheme, and every resolved address (see the module docstring)."""
    target = parse_url(url)
    allowed = list(allowed)
    for ip in resolve(target.host, target.port):
        reason = refusal(target.host, ip, allowed)
        if reason:
            raise UrlRefused(reason)
    return target


# -- sending ----------------------------------------------------------------------------


def _guarded(base: type, allowed: list[str]) -> type:
    class Guarded(base):
        def _new_conn(self):
            # Resolve once, check every address, connect to a checked one: the name
            # cannot be re-pointed between the check and the connection.
            addresses = resolve(self._dns_host, self.port)
            for ip in addresses:
                reason = refusal(self._dns_host, ip, allowed)
                if reason:
                    raise UrlRefused(reason)
            self._dns_host = str(addresses[0])
            return super()._new_conn()

    return Guarded


class GuardedAdapter(HTTPAdapter):
    """An adapter whose every connection goes through ``check_url``'s rules."""

    def __init__(self, allowed: list[str]):
        self.allowed = list(allowed)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        http = type("GuardedHTTPPool", (HTTPConnectionPool,),
                    {"ConnectionCls": _guarded(HTTPConnection, self.allowed)})
        https = type("GuardedHTTPSPool", (HTTPSConnectionPool,),
                     {"ConnectionCls": _guarded(HTTPSConnection, self.allowed)})
        self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(url: str, body: str, request_headers: dict[str, str], allowed: list[str],
         timeout: float) -> Outcome:
    """POST ``body`` once. Never raises: a refusal, a network error or a non-2xx answer
    (a redirect included: never followed) is an ``Outcome`` with its error."""
    started = time.perf_counter()
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would bypass the guard
    adapter = GuardedAdapter(allowed)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        check_url(url, allowed)
        with session.post(url, data=body.encode(), headers=request_headers, timeout=timeout,
                          allow_redirects=False, stream=True) as response:
            response.raw.read(MAX_RESPONSE_BYTES, decode_content=False)
            status = response.status_code
        error = None if 200 <= status < 300 else f"HTTP {status}"
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
        return Outcome(status, _ms(started), error)
    except UrlRefused as exc:
        return Outcome(None, _ms(started), f"refused: {exc}")
    except requests.RequestException as exc:
        cause = exc
        while cause.__context__ is not None and not isinstance(cause, UrlRefused):
            cause = cause.__context__
        if isinstance(cause, UrlRefused):
            return Outcome(None, _ms(started), f"refused: {cause}")
        return Outcome(None, _ms(started), f"{exc.__class__.__name__}: {exc}"[:500])
    finally:
        session.close()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
