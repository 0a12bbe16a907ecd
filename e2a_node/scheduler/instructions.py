"""Instructions: what the scheduler asks the driver to do. Plain frozen dataclasses, no I/O.

`Scheduler.handle` returns them in the order they must be carried out. Assign, Revoke and
RequestSteal go to a node; Accept and Drop tell the driver what to do with the audio it just
reported; RemoveNode means "close that node's stream for this job"; JobDone comes exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Assign:
    """Give `node` a lease on the consecutive segments `indices`, to be worked in order.
    kind: "run" (from the queue), "steal" (the tail of another lease), "backup" (an endgame
    copy of segments another node also holds)."""

    node: str
    lease: int
    indices: tuple[int, ...]
    expires_at: float
    kind: str = "run"


@dataclass(frozen=True)
class Accept:
    """Store this audio for segment `index`: it is the first valid audio for it."""

    index: int
    node: str


@dataclass(frozen=True)
class Drop:
    """Discard this audio: the segment already has audio (a duplicate), or the sender was
    taken off the job."""

    index: int
    node: str
    reason: str


@dataclass(frozen=True)
class RequestSteal:
    """Ask `victim` not to start indices >= split_at of `lease`; it answers with StealReply."""

    victim: str
    steal_id: int
    lease: int
    split_at: int


@dataclass(frozen=True)
class Revoke:
    """Tell `node` to stop working on `lease` (expired, or all its segments have audio from
    elsewhere). Audio it still sends is handled as usual (accepted only if first)."""

    node: str
    lease: int
    reason: str = ""


@dataclass(frozen=True)
class RemoveNode:
    """Take `node` off this job (too many failures). Its unfinished work is already requeued."""

    node: str
    reason: str


@dataclass(frozen=True)
class JobDone:
    """Every segment has accepted audio. Emitted once."""


Instruction = Union[Assign, Accept, Drop, RequestSteal, Revoke, RemoveNode, JobDone]
