"""Admission: every node the discovery finds -> access check -> handshake -> a member of the job.

    admission = Admission(discovery, connector, access, events, ui, clock)
    task = asyncio.create_task(admission.run())

Each target's state and when to try it again are the pure `scheduler.peers.PeerTable`'s (busy
and unreachable nodes are retried after a while, refused, duplicate and banned ones never). The
`Connector` does the talking (gRPC in e2a_node.rpc.member; fakes in tests) and answers with an
`Outcome`; admission names the member, drops duplicates (the same node id found twice), and
puts NodeJoined / NodeRefused on the driver's queue, saying in one line why a node is not used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from e2a_node.cluster.members import LOCAL, Member
from e2a_node.clusterkey import MDNS_PROPERTY, ClusterAccess
from e2a_node.scheduler import NodeJoined, NodeRefused
from e2a_node.scheduler.peers import PeerState, PeerTable

if TYPE_CHECKING:
    from e2a_node.discovery import Discovery, NodeAddress

log = logging.getLogger(__name__)

DISCOVERY_SECONDS = 1.0  # how often the discovery's view is read for new or returning nodes


@dataclass
class Outcome:
    """How a connection attempt ended. `member` only when JOINED."""

    state: PeerState
    reason: str = ""
    name: str = ""  # what the node calls itself (its handshake), when it answered
    node_id: str = ""
    member: Member | None = None


class Connector(Protocol):
    async def connect(self, addr: "NodeAddress", name_for: Callable[[str], str], events: asyncio.Queue) -> Outcome:
        """Handshake with the node at `addr` and, when it accepts, start its member for the job,
        putting what it sends on `events`. `name_for(its own name)` gives the unique name the
        member must carry. Never raises: every failure is an Outcome."""


class Admission:
    def __init__(self, discovery: "Discovery", connector: Connector, access: ClusterAccess, events: asyncio.Queue,
                 ui, clock: Callable[[], float], table: PeerTable | None = None) -> None:
        self.discovery, self.connector, self.access = discovery, connector, access
        self.events, self.ui, self.clock = events, ui, clock
        self.table = table or PeerTable()
        self.members: dict[str, Member] = {}  # every member admitted, by name (the driver's too)
        self._node_ids: set[str] = set()
        self._addresses: dict[str, "NodeAddress"] = {}
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        try:
            while True:
                now = self.clock()
                for addr in self.discovery.nodes():
                    self._addresses[addr.target] = addr
                    if self.table.found(addr.target, now):
                        self._start(addr)
                for target in self.table.due(now):
                    addr = self._addresses.get(target)
                    if addr is not None:
                        self._start(addr)
                await asyncio.sleep(DISCOVERY_SECONDS)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def left(self, member: Member) -> None:
        """A member's stream ended: it may come back (restarted) unless it broke the protocol."""
        self.table.result(member.address, PeerState.BANNED if member.banned else PeerState.LEFT, self.clock())

    def _start(self, addr: "NodeAddress") -> None:
        self.table.result(addr.target, PeerState.CONNECTING, self.clock())
        task = asyncio.create_task(self._admit(addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admit(self, addr: "NodeAddress") -> None:
        label = addr.name or addr.target
        announced_id = addr.properties.get("id", "") if addr.properties else ""
        if announced_id and announced_id in self._node_ids:
            self.table.result(addr.target, PeerState.DUPLICATE, self.clock())
            return
        skip = self.access.refusal(addr.host, addr.properties.get(MDNS_PROPERTY, "") if addr.properties else None)
        if skip:
            self._refuse(addr.target, label, f"Not using node {label} ({addr.target}): {skip}.", skip)
            return
        outcome = await self.connector.connect(addr, lambda own: self._unique_name(own or label, addr.target),
                                               self.events)
        name = self._unique_name(outcome.name or label, addr.target)
        if outcome.node_id and outcome.node_id in self._node_ids:
            outcome.state = PeerState.DUPLICATE
            if outcome.member is not None:
                await outcome.member.close()
        if outcome.state is PeerState.JOINED and outcome.member is not None:
            member = outcome.member
            self._node_ids.add(outcome.node_id)
            self.members[member.name] = member
            self.table.result(addr.target, PeerState.JOINED, self.clock())
            self.ui.info(f"Node {member.name} ({addr.target}) joined with {member.slots} slot(s), "
                         f"~{member.speed:.0f} chars/s each.")
            self.events.put_nowait(NodeJoined(member.name, member.slots, max(member.speed, 1.0),
                                              trusted=member.trusted))
        elif outcome.state is PeerState.REFUSED:
            self._refuse(addr.target, name, f"Node {name} ({addr.target}) refused: {outcome.reason}", outcome.reason)
        else:
            log.info("node %s (%s): %s", label, addr.target, outcome.reason or outcome.state.name.lower())
            self.table.result(addr.target, outcome.state, self.clock())

    def _refuse(self, target: str, name: str, line: str, reason: str) -> None:
        self.table.result(target, PeerState.REFUSED, self.clock())
        self.ui.info(line)
        self.events.put_nowait(NodeRefused(name, reason))

    def _unique_name(self, name: str, target: str) -> str:
        if name == LOCAL or (name in self.members and self.members[name].address != target):
            return f"{name}@{target}"
        return name
