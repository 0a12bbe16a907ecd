"""Instructions: what the scheduler asks the driver to do. Plain frozen dataclasses, no I/O.

`Scheduler.handle` returns them in the order they must be carried out. Assign, Revoke and
RequestSteal go to a node; Accept, Compare and Drop tell the driver what to do with the audio it
just reported; Discard deletes stored audio; RemoveNode means "close that node's stream for this
job"; JobDone comes exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Assign:
    """Give `node` a lease on the consecutive segments `indices`, to be worked in order.
    kind: "run" (from the queue), "steal" (the tail of another lease), "backup" (an endgame
    copy of segments another node also holds), "verify" (one segment that already has audio
    from another node, made again to compare: its audio is answered with Compare), "chapter"
    (the chapter policy's whole-chapter task)."""

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
    """Discard this audio. reason: "duplicate" (the segment already has audio), "stale" (the
    sender's lease on it ended), "not leased to this node" / "index out of range" (forged:
    counted as a failure of the node), "unknown node", "node removed"."""

    index: int
    node: str
    reason: str


@dataclass(frozen=True)
class Compare:
    """Do not store the audio just received from `node` for `index`: compare it byte for byte
    with the stored audio of `index` (which came from `suspect`) and answer with the event
    Compared(index, node, suspect, same) right away."""

    index: int
    node: str
    suspect: str


@dataclass(frozen=True)
class Discard:
    """Delete the stored audio of `index`: it came from `node`, found to be lying. The
    segment is made again (it goes back to the queue)."""

    index: int
    node: str


@dataclass(frozen=True)
class RequestSteal:
    """Ask `victim` not to start indices >= split_at of `lease`; it answers with StealReply."""

    victim: str
    steal_id: int
    lease: int
    split_at: int


@dataclass(frozen=True)
class Revoke:
    """Tell `node` to stop working on `lease` (expired, all its segments have audio from
    elsewhere, or a verification no longer needed). Audio it still sends for that lease is
    dropped (stale, or duplicate), never counted against it."""

    node: str
    lease: int
    reason: str = ""


@dataclass(frozen=True)
class RemoveNode:
    """Take `node` off this job (too many failures, forged audio, or audio that differed from a
    verifier's; `reason` says which). Its unfinished work is already requeued. It may name a
    node that already left (a liar found out after it went): close it if still open."""

    node: str
    reason: str


@dataclass(frozen=True)
class JobDone:
    """Every segment has accepted audio (and no verification is outstanding). Emitted once."""


@dataclass(frozen=True)
class GiveUp:
    """The job cannot go on: no node has been able to work for `give_up_seconds`, or (when no
    more nodes may join) the last one is gone. `reason` is one line for the user. Emitted once;
    the scheduler answers nothing after it."""

    reason: str


Instruction = Union[Assign, Accept, Compare, Discard, Drop, RequestSteal, Revoke, RemoveNode,
                    JobDone, GiveUp]
