"""`e2a cluster ls`: find nodes and ask each for its status."""

from __future__ import annotations

import asyncio

import grpc

from e2a_node.discovery import make_discovery
from e2a_node.rpc.client import PeerClient, describe_rpc_error


def list_nodes(spec: str, wait: float, interface: str | None) -> list[dict]:
    discovery = make_discovery(spec, interface)
    discovery.start()
    try:
        addresses = discovery.wait_for(10**6, timeout=wait) if spec == "auto" else discovery.nodes()
    finally:
        discovery.stop()
    return asyncio.run(_ask_all(addresses))


async def _ask_all(addresses) -> list[dict]:
    async def ask(addr) -> dict:
        client = PeerClient(addr.target)
        try:
            info = await client.status()
            row = info.to_dict()
            row["address"] = addr.target
            return row
        except grpc.aio.AioRpcError as exc:
            return {"address": addr.target, "name": addr.name, "error": describe_rpc_error(exc)}
        finally:
            await client.close()

    rows = await asyncio.gather(*(ask(a) for a in addresses))
    return sorted(rows, key=lambda r: (r.get("name") or "", r["address"]))
