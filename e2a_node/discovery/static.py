"""A fixed list of nodes given by the user: `--cluster 10.0.0.5:50051,10.0.0.7:50051`.

For networks where multicast does not get through (some Wi-Fi, VPNs, containers) or when
the user wants exactly these machines and no others.
"""

from __future__ import annotations

import ipaddress
import re

from e2a_node.discovery.base import Discovery, NodeAddress
from e2a_node.errors import E2AError
from e2a_node.wire import DEFAULT_PORT

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def parse_targets(text: str) -> list[NodeAddress]:
    """Parse "host[:port],host[:port],..." into addresses, in order, without duplicates.

    A target without a port gets DEFAULT_PORT (50051). IPv6 hosts are written "[::1]:50051" (a bare "::1"
    is accepted too, with the default port). Raises E2AError naming the first bad item.
    """
    if not text or not text.strip():
        raise E2AError("no cluster nodes given: expected host:port[,host:port...]")
    result: list[NodeAddress] = []
    for position, item in enumerate(text.split(","), start=1):
        addr = parse_target(item, position)
        if addr not in result:
            result.append(addr)
    return result


def parse_target(item: str, position: int | None = None) -> NodeAddress:
    """Parse one "host[:port]" target. `position` only makes error messages clearer."""
    where = f" (item {position})" if position is not None else ""
    text = item.strip()
    if not text:
        raise E2AError(f"empty cluster target{where}: expected host:port")

    def bad(why: str) -> E2AError:
        return E2AError(f"bad cluster target {text!r}{where}: {why}")

    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise bad("missing ']' after the IPv6 address")
        host, rest = text[1:close], text[close + 1:]
        if rest and not rest.startswith(":"):
            raise bad("expected ':port' after ']'")
        port_text = rest[1:] if rest else None
        if not _is_ipv6(host):
            raise bad(f"{host!r} is not an IPv6 address")
    elif text.count(":") > 1:
        if not _is_ipv6(text):
            raise bad("IPv6 addresses with a port go in brackets, like [::1]:50051")
        host, port_text = text, None
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
        if not _is_hostname(host):
            raise bad(f"{host!r} is not a host name or IP address")

    port = DEFAULT_PORT if port_text is None else _parse_port(port_text, bad)
    return NodeAddress(host=host, port=port)


def _parse_port(text: str, bad) -> int:
    if not text.isdigit():
        raise bad(f"port {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise bad(f"port {port} is out of range (1-65535)")
    return port


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _is_hostname(text: str) -> bool:
    # IPv4 addresses pass as hostnames made of digit labels.
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(_HOST_LABEL.match(label) for label in name.split("."))


class StaticDiscovery(Discovery):
    """The nodes the user listed; known from construction, never changing.

    Whether a listed node is actually up is found out by connecting to it, not here.
    """

    def __init__(self, targets: list[str]) -> None:
        super().__init__()
        addrs: list[NodeAddress] = []
        for target in targets:
            for addr in parse_targets(target):
                if addr not in addrs:
                    addrs.append(addr)
        if not addrs:
            raise E2AError("no cluster nodes given: expected host:port[,host:port...]")
        for addr in addrs:
            self._put((addr.host, addr.port), addr)
        self._order = addrs

    def nodes(self) -> list[NodeAddress]:
        # The user's order, not sorted: it may express a preference.
        return list(self._order)

    def wait_for(self, count: int, timeout: float) -> list[NodeAddress]:
        return self.nodes()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
