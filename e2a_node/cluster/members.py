"""The workers of one job, as its driver sees them: a `Member` protocol and the leader's own one.

A member takes the scheduler's work (`assign`, `revoke`, `steal`) and puts what happens on the
driver's event queue: `Audio` for a finished sentence, and the scheduler's own event types
(SegmentFailed, StealReply, RevokeAck, Heartbeat, NodeLeft) with its name filled in. The driver
never knows how a member does it: `LocalMember` runs a LeaseRunner on engines loaded here; a
peer's member (e2a_node.rpc.member) talks gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from e2a_node.scheduler import Heartbeat, RevokeAck, SegmentFailed, StealReply
from e2a_node.synth.base import Engine
from e2a_node.worker import LeaseRunner, WorkItem

LOCAL = "local"  # the leader's own member: trusted, never verified
HEARTBEAT_SECONDS = 1.0  # what every node sends while it holds a stream; the local member too


@dataclass(frozen=True)
class Audio:
    """One sentence's audio from a member (chunks already put together)."""

    node: str
    lease: int
    index: int
    pcm: bytes
    sample_rate: int
    synth_seconds: float


@dataclass(frozen=True)
class VoiceTransfer:
    """A node being sent the job's voice files before it can join: it holds `done` of `total`
    bytes, `sent` of them in this job from `source` ("leader" or the node sending them);
    `finished` once they are all in and verified."""

    node: str
    done: int
    total: int
    sent: int = 0
    source: str = "leader"
    finished: bool = False


class Member(Protocol):
    name: str
    address: str  # where it is, for people ("this machine", "10.0.0.5:50051")
    kind: str  # "local" or "peer"
    slots: int
    speed: float  # chars/s per slot it claimed when it joined
    trusted: bool  # its audio is taken without verification (the leader's own)
    banned: bool  # it broke the protocol: not admitted again during this job

    def assign(self, lease: int, items: Sequence[WorkItem]) -> None: ...
    def revoke(self, lease: int) -> None: ...
    def steal(self, steal_id: int, lease: int, split_at: int) -> None: ...
    async def close(self) -> None: ...


class _QueueOutbox:
    """A LeaseRunner's results, as the events a peer's stream produces."""

    def __init__(self, queue: asyncio.Queue, node: str, sample_rate: int) -> None:
        self.queue, self.node, self.sample_rate = queue, node, sample_rate

    async def room(self) -> None:
        """Always room: the driver's loop takes each result as it comes."""

    def audio(self, lease: int, index: int, pcm: bytes, synth_seconds: float) -> None:
        self.queue.put_nowait(Audio(self.node, lease, index, pcm, self.sample_rate, synth_seconds))

    def failed(self, lease: int, index: int, error: str) -> None:
        self.queue.put_nowait(SegmentFailed(self.node, lease, index, error))

    def steal_reply(self, steal_id: int, stop_at: int) -> None:
        self.queue.put_nowait(StealReply(self.node, steal_id, stop_at))

    def revoke_ack(self, lease: int) -> None:
        self.queue.put_nowait(RevokeAck(self.node, lease))


class LocalMember:
    """This machine's engines, one slot each. Like a node, it sends a heartbeat every second
    while it is part of the job (the sign of life its leases are renewed by)."""

    kind = "local"
    address = "this machine"
    trusted = True
    banned = False

    def __init__(self, engines: Sequence[Engine], events: asyncio.Queue, sample_rate: int, speed: float,
                 name: str = LOCAL) -> None:
        self.name, self.speed = name, speed
        self.runner = LeaseRunner(engines, _QueueOutbox(events, name, sample_rate))
        self.slots = self.runner.slots
        self._beat = asyncio.create_task(self._heartbeat(events))

    async def _heartbeat(self, events: asyncio.Queue) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            events.put_nowait(Heartbeat(self.name))

    def assign(self, lease: int, items: Sequence[WorkItem]) -> None:
        self.runner.assign(lease, items)

    def revoke(self, lease: int) -> None:
        self.runner.revoke(lease)

    def steal(self, steal_id: int, lease: int, split_at: int) -> None:
        self.runner.steal(steal_id, lease, split_at)

    async def close(self) -> None:
        self._beat.cancel()
        await asyncio.gather(self._beat, return_exceptions=True)
        await self.runner.close()
