"""`e2a cluster ls`: find nodes and ask each for its status (over TLS when this machine has the key)."""

from __future__ import annotations

import asyncio

from e2a_node.clusterkey import ClusterAccess
from e2a_node.discovery import make_discovery
from e2a_node.rpc.client import PeerClient, ask_node


def list_nodes(spec: str, wait: float, interface: str | None, access: ClusterAccess | None = None) -> list[dict]:
    access = access or ClusterAccess()
    discovery = make_discovery(spec, interface)
    discovery.start()
    try:
        addresses = discovery.wait_for(10**6, timeout=wait) if spec == "auto" else discovery.nodes()
    finally:
        discovery.stop()
    return asyncio.run(_ask_all(addresses, access))


async def _ask_all(addresses, access: ClusterAccess) -> list[dict]:
    async def status(client: PeerClient) -> dict:
        return (await client.status()).to_dict()

    async def ask(addr) -> dict:
        row, why = await ask_node(addr, access, status)
        return {**row, "address": addr.target} if row else {"address": addr.target, "name": addr.name, "error": why}

    rows = await asyncio.gather(*(ask(a) for a in addresses))
    return sorted(rows, key=lambda r: (r.get("name") or "", r["address"]))
