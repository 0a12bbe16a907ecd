"""An in-memory `Discovery` for tests: nodes appear and vanish when the test says so."""

from __future__ import annotations

from e2a_node.discovery.base import Discovery, NodeAddress


class MemoryDiscovery(Discovery):
    """Nodes are whatever `add` and `remove` made them; keyed by (host, port).

    Adding a node whose host and port are already known replaces it (a changed name or
    TXT record), like an mDNS update would.
    """

    def __init__(self, nodes: list[NodeAddress] | None = None) -> None:
        super().__init__()
        for addr in nodes or []:
            self.add(addr)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add(self, addr: NodeAddress) -> None:
        self._put((addr.host, addr.port), addr)

    def remove(self, addr: NodeAddress) -> None:
        self._drop((addr.host, addr.port))
