"""`e2a cluster ls`: find nodes and ask each for its status (over TLS when this machine has the key)."""

from __future__ import annotations

import asyncio

from e2a_node.cluster.report import fetching_voice
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


def describe(r: dict) -> str:
    """One node of `list_nodes` as a line of `e2a cluster ls`."""
    if r.get("error"):
        return f"{r['address']:<22} {r['error']}"
    engines = "; ".join(f"{e}: {', '.join(v) or '-'}" for e, v in r["engines"].items())
    state = "busy" if r["busy_slots"] >= r["slots"] else ("free" if not r["busy_slots"] else "partly busy")
    speed = f"{r['speed']:.0f} chars/s/slot" if r["speed"] else "speed not measured yet"
    line = (f"{r['name']:<16} {r['address']:<22} {r['device']:<8} {r['busy_slots']}/{r['slots']} slots {state:<11} "
            f"{speed:<24} {engines}")
    if r.get("receiving_total"):
        line += f" · {fetching_voice(r['receiving_bytes'], r['receiving_total'])}"
    if r.get("voice_store_limit"):
        line += f" · voice store {r['voice_store_bytes'] / 1e6:.0f}/{r['voice_store_limit'] / 1e6:.0f} MB"
    return line
