"""A tiny discrete-event simulator: simulated nodes driven by the real Scheduler.

Pure and deterministic (a heap of timed events, ties broken by insertion order; no clock, no
randomness, no threads). Each simulated node has a true speed per slot and works its leases
the way a real node does: one lease per slot, segments in order, one AudioReceived per
segment, heartbeats when it has been silent for `heartbeat` seconds, a RevokeAck for each
Revoke. Every message between leader and node takes `delay` seconds, so a steal request can
arrive after the victim has passed the split point, and a reply can cross other messages.

Scenarios per node: join at time t, a slowdown from time t (a straggler), kill at t (the process dies; the leader sees the stream
break one `delay` later: NodeLeft), freeze at t (a network stall: nothing in or out, though
it keeps computing; its leases expire) with an optional thaw (what it held is delivered
late), a claimed speed different from the true one, indices its engine fails on, and a
refusal at handshake, a trusted node (the leader's own worker), and a liar: from `lie_at` on,
its audio is different bytes from everybody else's.

Audio is modelled by what it would compare equal to: honest audio of segment i is the same
everywhere, a liar's differs from all other audio. The simulator plays the driver's part of
verification: it keeps what is stored per segment, answers Compare at once with Compared, and
deletes on Discard; `SimResult.lies_kept` counts the segments whose stored audio at the end
is a lie, `verify_chars` the characters made for verify leases (the overhead).

    result = simulate([120, 80, ...], [SimNode("a", 150.0), SimNode("b", 75.0, slots=2)])
    result.wall_time, result.efficiency, result.stats.to_dict()
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .config import SchedulerConfig
from .events import (AudioReceived, Compared, Heartbeat, NodeJoined, NodeLeft, NodeRefused,
                     RevokeAck, SegmentFailed, StealReply, Tick)
from .instructions import (Accept, Assign, Compare, Discard, Drop, JobDone, RemoveNode,
                           RequestSteal, Revoke)
from .state import Scheduler
from .stats import JobStats


@dataclass(frozen=True)
class SimNode:
    name: str
    speed: float  # true chars/second of one slot
    slots: int = 1
    join_at: float = 0.0
    kill_at: float | None = None
    freeze_at: float | None = None
    thaw_at: float | None = None
    claimed_speed: float | None = None  # what the handshake says (default: the true speed)
    slow_at: float | None = None  # from then on it works at speed * slow_factor (a straggler)
    slow_factor: float = 1.0
    fail: frozenset[int] = frozenset()  # indices its engine fails on
    refused: str | None = None  # refused at handshake with this reason
    trusted: bool = False  # NodeJoined.trusted
    lie_at: float | None = None  # from then on its audio differs from everybody's


@dataclass
class SimResult:
    done: bool
    wall_time: float  # when JobDone came (or when the simulation gave up)
    ideal_time: float  # work left / capacity of the nodes present throughout (inf if none)
    efficiency: float  # ideal_time / wall_time
    total_chars: int  # characters that had to be made (not counting `done`)
    synthesized_chars: int  # characters the nodes finished, duplicates included
    redundant_chars: int  # synthesized_chars - total_chars (steal overlap, backups, expiries)
    events: int  # Scheduler.handle calls
    job_done_count: int
    accept_counts: list[int]  # per segment: how many Accept instructions
    accepted_by: dict[int, str]
    dropped: int
    stats: JobStats
    discarded: int = 0  # Discard instructions
    lies_kept: int = 0  # segments whose stored audio is a liar's at the end
    verify_chars: int = 0  # characters made for verify leases
    log: list | None = field(default=None, repr=False)  # (now, event, instructions)


# heap entry kinds
_TO_SCHED, _TO_NODE, _SEG_DONE, _TICK, _HEARTBEAT, _JOIN, _KILL, _FREEZE, _THAW = range(9)


class _Slot:
    __slots__ = ("lease", "index", "epoch")

    def __init__(self) -> None:
        self.lease = 0
        self.index = -1
        self.epoch = 0


class _NodeLease:
    __slots__ = ("id", "start", "stop", "next", "revoked", "verify")

    def __init__(self, lease_id: int, start: int, stop: int, verify: bool) -> None:
        self.id = lease_id
        self.start = start
        self.stop = stop
        self.next = start  # next index to start
        self.revoked = False
        self.verify = verify


class _SimState:
    __slots__ = ("spec", "alive", "frozen", "leases", "pending", "slots", "inbox", "outbox",
                 "last_sent")

    def __init__(self, spec: SimNode) -> None:
        self.spec = spec
        self.alive = False
        self.frozen = False
        self.leases: dict[int, _NodeLease] = {}
        self.pending: deque[int] = deque()
        self.slots = [_Slot() for _ in range(spec.slots)]
        self.inbox: list = []
        self.outbox: list = []
        self.last_sent = 0.0


def simulate(segments: Sequence[int], nodes: Iterable[SimNode],
             config: SchedulerConfig | None = None, *, delay: float = 0.02, tick: float = 0.5,
             heartbeat: float = 1.0, done: Iterable[int] = (), max_time: float = 1e7,
             record: bool = False, check_every: int = 0,
             scheduler: Callable[[list[int], SchedulerConfig | None, set[int]], Any] | None = None,
             ) -> SimResult:
    """Run one job to the end. `check_every` > 0 runs the scheduler's invariant check every
    that many events (slow; for tests). `scheduler(segments, config, done)` builds another
    policy with Scheduler's interface (default: Scheduler)."""
    chars = list(segments)
    done = set(done)
    sched = (scheduler or Scheduler)(chars, config, done)
    specs = list(nodes)
    states = {spec.name: _SimState(spec) for spec in specs}
    heap: list = []
    seq = 0

    def push(t: float, kind: int, a=None, b=None) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, kind, a, b))
        seq += 1

    log: list | None = [] if record else None
    accept_counts = [0] * len(chars)
    accepted_by: dict[int, str] = {}
    # Lies only (honest audio compares equal everywhere): the liar's name, for audio on its
    # way, keyed (node, lease, index) as AudioReceived, and for what is stored, by index.
    made: dict[tuple[str, int, int], str] = {}
    stored: dict[int, str] = {}
    counters = {"events": 0, "job_done": 0, "dropped": 0, "synth": 0, "discarded": 0,
                "verify": 0}
    finished_at: float | None = None

    def send(st: _SimState, event, t: float) -> None:
        st.last_sent = t
        if st.frozen:
            st.outbox.append(event)
        else:
            push(t + delay, _TO_SCHED, event)

    def advance(st: _SimState, slot: _Slot, t: float) -> None:
        """Start the slot's next segment, or its next lease."""
        while True:
            lease = st.leases.get(slot.lease) if slot.lease else None
            if lease is None or lease.revoked or lease.next >= lease.stop:
                if not st.pending:
                    slot.lease = 0
                    return
                slot.lease = st.pending.popleft()
                continue
            i = lease.next
            lease.next = i + 1
            slot.index = i
            spec = st.spec
            speed = spec.speed
            if spec.slow_at is not None and t >= spec.slow_at:
                speed *= spec.slow_factor
            push(t + chars[i] / speed, _SEG_DONE, st, (slot, slot.epoch))
            return

    def start_idle(st: _SimState, t: float) -> None:
        for slot in st.slots:
            if slot.lease == 0 and st.pending:
                advance(st, slot, t)

    def apply(st: _SimState, ins, t: float) -> None:
        typ = type(ins)
        if typ is Assign:
            lease = _NodeLease(ins.lease, ins.indices[0], ins.indices[-1] + 1,
                               ins.kind == "verify")
            st.leases[ins.lease] = lease
            st.pending.append(ins.lease)
            start_idle(st, t)
        elif typ is Revoke:
            lease = st.leases.get(ins.lease)
            if lease is not None:
                lease.revoked = True
                for slot in st.slots:
                    if slot.lease == ins.lease:  # abandon the segment in progress
                        slot.epoch += 1
                        slot.lease = 0
                        advance(st, slot, t)
            send(st, RevokeAck(st.spec.name, ins.lease), t)
        elif typ is RequestSteal:
            lease = st.leases.get(ins.lease)
            if lease is None or lease.revoked:
                stop_at = ins.split_at if lease is None else lease.stop
            else:
                stop_at = min(max(ins.split_at, lease.next), lease.stop)
                lease.stop = stop_at
            send(st, StealReply(st.spec.name, ins.steal_id, stop_at), t)
        elif typ is RemoveNode:
            st.alive = False
            for slot in st.slots:
                slot.epoch += 1
                slot.lease = 0

    def deliver(event, t: float) -> None:
        nonlocal finished_at
        instructions = sched.handle(event, t)
        counters["events"] += 1
        if log is not None:
            log.append((t, event, instructions))
        if check_every and counters["events"] % check_every == 0:
            sched.check_invariants()
        audio = (made.pop((event.node, event.lease, event.index), "")
                 if made and type(event) is AudioReceived else "")
        for ins in instructions:
            typ = type(ins)
            if typ is Accept:
                accept_counts[ins.index] += 1
                accepted_by[ins.index] = ins.node
                if audio:
                    stored[ins.index] = audio
            elif typ is Compare:
                same = audio == stored.get(ins.index, "")
                push(t, _TO_SCHED, Compared(ins.index, ins.node, ins.suspect, same))
            elif typ is Discard:
                counters["discarded"] += 1
                stored.pop(ins.index, None)
                accepted_by.pop(ins.index, None)
            elif typ is Drop:
                counters["dropped"] += 1
            elif typ is Assign or typ is Revoke or typ is RemoveNode:
                push(t + delay, _TO_NODE, ins.node, ins)
            elif typ is RequestSteal:
                push(t + delay, _TO_NODE, ins.victim, ins)
            elif typ is JobDone:
                counters["job_done"] += 1
                if finished_at is None:
                    finished_at = t

    for spec in specs:
        push(spec.join_at, _JOIN, spec.name)
        if spec.kill_at is not None:
            push(spec.kill_at, _KILL, spec.name)
        if spec.freeze_at is not None:
            push(spec.freeze_at, _FREEZE, spec.name)
            if spec.thaw_at is not None:
                push(spec.thaw_at, _THAW, spec.name)
    push(0.0, _TICK)
    if sched.done:  # nothing to make (everything resumed): the first event says JobDone
        deliver(Tick(), 0.0)

    t = 0.0
    while heap:
        t, _, kind, a, b = heapq.heappop(heap)
        if t > max_time:
            t = max_time
            break
        if kind == _TO_SCHED:
            deliver(a, t)
        elif kind == _SEG_DONE:
            st, (slot, epoch) = a, b
            if not st.alive or slot.epoch != epoch:
                continue
            i = slot.index
            spec = st.spec
            counters["synth"] += chars[i]
            lease = st.leases.get(slot.lease)
            if lease is not None and lease.verify:
                counters["verify"] += chars[i]
            if i in spec.fail:
                send(st, SegmentFailed(spec.name, slot.lease, i, "engine error"), t)
            else:
                if spec.lie_at is not None and t >= spec.lie_at:
                    made[(spec.name, slot.lease, i)] = spec.name
                send(st, AudioReceived(spec.name, slot.lease, i), t)
            advance(st, slot, t)
        elif kind == _TO_NODE:
            st = states[a]
            if not st.alive:
                continue
            if st.frozen:
                st.inbox.append(b)
            else:
                apply(st, b, t)
        elif kind == _TICK:
            if finished_at is None:
                deliver(Tick(), t)
                push(t + tick, _TICK)
        elif kind == _HEARTBEAT:
            st = states[a]
            if not st.alive or finished_at is not None:
                continue
            if not st.frozen and t - st.last_sent >= heartbeat - 1e-9:
                send(st, Heartbeat(a), t)
            push(t + heartbeat, _HEARTBEAT, a)
        elif kind == _JOIN:
            st = states[a]
            if st.spec.refused is not None:
                deliver(NodeRefused(a, st.spec.refused), t)
                continue
            st.alive = True
            st.last_sent = t
            speed = st.spec.claimed_speed if st.spec.claimed_speed is not None else st.spec.speed
            deliver(NodeJoined(a, st.spec.slots, speed, st.spec.trusted), t)
            push(t + heartbeat, _HEARTBEAT, a)
        elif kind == _KILL:
            st = states[a]
            if st.alive:
                st.alive = False
                for slot in st.slots:
                    slot.epoch += 1
                push(t + delay, _TO_SCHED, NodeLeft(a, "killed"))
        elif kind == _FREEZE:
            states[a].frozen = True
        elif kind == _THAW:
            st = states[a]
            st.frozen = False
            held, st.outbox = st.outbox, []
            for event in held:
                push(t + delay, _TO_SCHED, event)
            inbox, st.inbox = st.inbox, []
            if st.alive:
                for ins in inbox:
                    apply(st, ins, t)

    total = sum(c for i, c in enumerate(chars) if i not in done)
    steady = [s for s in specs if s.join_at == 0 and s.kill_at is None and s.freeze_at is None
              and s.refused is None and not s.fail and s.slow_at is None]
    capacity = sum(s.speed * s.slots for s in steady)
    ideal = total / capacity if capacity > 0 else float("inf")
    wall = finished_at if finished_at is not None else t
    return SimResult(
        done=finished_at is not None,
        wall_time=wall,
        ideal_time=ideal,
        efficiency=ideal / wall if wall > 0 else (1.0 if total == 0 else 0.0),
        total_chars=total,
        synthesized_chars=counters["synth"],
        redundant_chars=counters["synth"] - total,
        events=counters["events"],
        job_done_count=counters["job_done"],
        accept_counts=accept_counts,
        accepted_by=accepted_by,
        dropped=counters["dropped"],
        stats=sched.stats(),
        log=log,
        discarded=counters["discarded"],
        lies_kept=len(stored),
        verify_chars=counters["verify"],
    )
