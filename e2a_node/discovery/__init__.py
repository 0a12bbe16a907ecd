"""Node discovery: which e2a nodes can this machine reach?

    with make_discovery("auto") as discovery:       # mDNS browse on the LAN
        discovery.wait_for(1, timeout=2)
        for node in discovery.nodes():
            connect(node.target)

`make_discovery("10.0.0.5:50051,10.0.0.7")` gives a fixed list instead. `nodes()` can be called
again at any time for a fresh view (nodes joining or leaving mid-job).

Layering: imports only `errors` and `wire` from e2a; the one home of zeroconf and ifaddr
(tests/test_layering.py).
"""

from __future__ import annotations

from e2a_node.discovery.base import Discovery, NodeAddress
from e2a_node.discovery.mdns import (
    MDNS_INTERFACE_ENV,
    SERVICE_TYPE,
    MdnsAnnouncer,
    MdnsDiscovery,
    interface_from_env,
)
from e2a_node.discovery.memory import MemoryDiscovery
from e2a_node.discovery.static import StaticDiscovery, parse_targets
from e2a_node.errors import E2AError

__all__ = [
    "MDNS_INTERFACE_ENV",
    "SERVICE_TYPE",
    "Discovery",
    "MdnsAnnouncer",
    "MdnsDiscovery",
    "MemoryDiscovery",
    "NodeAddress",
    "StaticDiscovery",
    "interface_from_env",
    "make_discovery",
    "parse_targets",
]


def make_discovery(spec: str, interface: str | None = None) -> Discovery:
    """"auto" -> mDNS browsing; "host:port,host:port" -> that fixed list.

    `interface` (or $E2A_MDNS_INTERFACE when it is None) confines mDNS to one interface; it
    does not apply to a static list. Nothing is started: use `with` or call `start()`.
    """
    text = (spec or "").strip()
    if not text:
        raise E2AError("--cluster needs 'auto' or a list like 10.0.0.5:50051,10.0.0.7:50051")
    if text.lower() == "auto":
        return MdnsDiscovery(interface=interface_from_env(interface))
    return StaticDiscovery([text])
