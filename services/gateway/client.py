"""The client address of a request, for the audit trail.

``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy
(``GATEWAY_TRUSTED_PROXIES``: comma-separated IP addresses or CIDR ranges, empty by
default): the address is then the right-most one of the chain that is not itself a
trusted proxy. Otherwise, and always when the setting is empty, it is the peer
(``remote_addr``): a client cannot choose what the audit trail says of it.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

from flask import request


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple:
    networks = []
    for entry in setting.split(","):
        if entry.strip():
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return tuple(networks)


def _trusted(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(trusted: str | None = None) -> str | None:
    """The client's IP address as the audit trail records it."""
    networks = trusted_networks(trusted if trusted is not None
                                else os.environ.get("GATEWAY_TRUSTED_PROXIES", ""))
    peer = request.remote_addr
    if not networks or not peer or not _trusted(peer, networks):
        return peer
    chain = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in chain if h]):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled header: the proxy's own address
    return peer
