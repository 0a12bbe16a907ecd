"""Events: what the driver tells the scheduler happened. Plain frozen dataclasses, no I/O.

The driver (asyncio + gRPC) turns each network message or timer into one of these and calls
`Scheduler.handle(event, now)`. Node names are strings chosen by the driver (e.g. the peer's
node id, "local" for the leader's own worker); lease and steal ids are the ints the scheduler
handed out in its instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class NodeJoined:
    """A node passed the handshake and may get work. `speed`: estimated chars/second of one
    slot (the scheduler refines it from the audio it sees); `slots`: leases it works at once;
    `trusted`: its audio is never verified and it is the preferred verifier (the leader's own
    worker; peers are not trusted). A NodeJoined for a node already active is ignored (its
    first join's slots, speed and trust stand); one for a node that left rejoins it."""

    node: str
    slots: int = 1
    speed: float = 100.0
    trusted: bool = False


@dataclass(frozen=True)
class NodeLeft:
    """The node's stream broke or its process died: all its unfinished work goes back now."""

    node: str
    reason: str = ""


@dataclass(frozen=True)
class NodeRefused:
    """The handshake refused the node (version or capability mismatch). Only recorded, for
    the report; such a node never gets work."""

    node: str
    reason: str


@dataclass(frozen=True)
class AudioReceived:
    """Valid audio for segment `index` arrived from `node` for `lease` (the driver checked its
    format and length). The scheduler answers Accept (store it), Compare (it was a
    verification: compare it with the stored audio, do not store it) or Drop (not wanted:
    a duplicate, stale, or not leased to that node)."""

    node: str
    lease: int
    index: int


@dataclass(frozen=True)
class AudioInvalid:
    """Audio for `index` arrived but the driver rejected it (bad format, empty, too short...).
    Counts as a failure of the node; the segment is redone elsewhere."""

    node: str
    lease: int
    index: int
    reason: str = ""


@dataclass(frozen=True)
class SegmentFailed:
    """The node reported that its engine failed on `index`. Counts as a failure of the node;
    the segment is redone elsewhere."""

    node: str
    lease: int
    index: int
    error: str = ""


@dataclass(frozen=True)
class Heartbeat:
    """A sign of life: renews every lease the node holds."""

    node: str


@dataclass(frozen=True)
class Tick:
    """The clock moved. Drivers send one about every 0.25-1 s; leases expire here (and at any
    other event whose `now` is past their expiry)."""


# StealReply.stop_at of a node that does not hold the lease (never given, finished, revoked):
# it starts none of it, and nothing moves (the wire's stop_at is a uint32; this is its largest).
NOTHING_TO_GIVE = 2**32 - 1


@dataclass(frozen=True)
class StealReply:
    """The victim's answer to RequestSteal: it will not start any index >= stop_at of that
    lease. stop_at >= the split asked for when it had already passed the split point; stop_at
    at or past the lease's end (NOTHING_TO_GIVE when it no longer holds the lease) means there
    is nothing left to give."""

    node: str
    steal_id: int
    stop_at: int


@dataclass(frozen=True)
class RevokeAck:
    """The node stopped a revoked lease. A sign of life; otherwise informational."""

    node: str
    lease: int


@dataclass(frozen=True)
class Compared:
    """The driver's answer to Compare: the audio `verifier` made for `index` is byte for byte
    the same as the stored audio (`same`), which came from `suspect`."""

    index: int
    verifier: str
    suspect: str
    same: bool


Event = Union[NodeJoined, NodeLeft, NodeRefused, AudioReceived, AudioInvalid, SegmentFailed,
              Heartbeat, Tick, StealReply, RevokeAck, Compared]
