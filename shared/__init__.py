"""Code shared by every service, the gateway and the tools."""

from shared import netguard as _netguard

# Test runs (PLATFORM_NETGUARD=1) forbid connections beyond 127.0.0.1 in every process.
_netguard.install_from_env()
