"""`e2a cluster ls`: find nodes and ask each for its status (over TLS when this machine has the key)."""

from __future__ import annotations

import asyncio

import grpc

from e2a_node.clusterkey import MDNS_PROPERTY, ClusterAccess
from e2a_node.discovery import make_discovery
from e2a_node.rpc.client import PeerClient


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
    async def ask(addr) -> dict:
        announced = addr.properties.get(MDNS_PROPERTY, "") if addr.properties else None
        skip = access.refusal(addr.host, announced)
        if skip:
            return {"address": addr.target, "name": addr.name, "error": f"not asked: {skip}"}
        client = PeerClient(addr.target, access.identity)
        try:
            info = await client.status()
            row = info.to_dict()
            row["address"] = addr.target
            return row
        except grpc.aio.AioRpcError as exc:
            return {"address": addr.target, "name": addr.name, "error": client.describe(exc)}
        finally:
            await client.close()

    rows = await asyncio.gather(*(ask(a) for a in addresses))
    return sorted(rows, key=lambda r: (r.get("name") or "", r["address"]))
