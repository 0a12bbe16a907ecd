"""A tiny discrete-event simulator: simulated nodes driven by the real Scheduler.

Pure and deterministic (a heap of timed events, ties broken by insertion order; no clock, no
randomness, no threads). Each simulated node has a true speed per slot and works its leases
the way a real node does (`SimWorker`: the rules of e2a_node/worker.py's LeaseRunner, held to
the same answers by tests/test_lease_contract.py): one lease per slot, segments in order, one
AudioReceived per segment, heartbeats when it has been silent for `heartbeat` seconds, a
RevokeAck for each Revoke. Every message between leader and node takes `delay` seconds, so a steal request can
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
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .config import SchedulerConfig
from .events import (NOTHING_TO_GIVE, AudioReceived, Compared, Heartbeat, NodeJoined,
                     NodeLeft, NodeRefused, RevokeAck, SegmentFailed, StealReply, Tick)
from .instructions import (Accept, Assign, Compare, Discard, Drop, JobDone, RemoveNode,
                           RequestSteal, Revoke)
from .state import Scheduler
from .stats import JobStats
from .trace import TraceWriter


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
        self.lease: _NodeLease | None = None
        self.index = -1  # the index in progress
        self.epoch = 0  # bumped when the slot's work is lost (the node died): its end is ignored


class _NodeLease:
    __slots__ = ("id", "indices", "pos", "stop", "current", "started", "revoked", "done",
                 "verify")

    def __init__(self, lease_id: int, indices: tuple[int, ...], verify: bool) -> None:
        self.id = lease_id
        self.indices = indices
        self.pos = 0  # position in `indices` of the next index to start
        self.stop = indices[-1] + 1  # never start an index >= stop (a steal lowers it)
        self.current: int | None = None  # the index in progress
        self.started = False  # a slot took it
        self.revoked = False
        self.done = False  # finished, or revoked before it started
        self.verify = verify


class SimWorker:
    """The node side of one simulated node: a LeaseRunner (e2a_node/worker.py) in simulated time.

    Its rules are the runner's, and tests/test_lease_contract.py runs the same scripts against
    both and requires the same answers:
      - Assign: the lease's indices (sorted) are worked in order, one lease per slot, leases in
        the order given; a slot that finishes a lease takes the next one waiting.
      - RequestSteal (the victim's half): it never starts an index >= stop_at, where stop_at is
        the split asked for, or the index after the one in progress when a slot is working on
        that index or past the split (stop_at is not capped at the lease's end). A lease it
        does not hold (never given, finished, revoked) answers NOTHING_TO_GIVE.
      - Revoke: a waiting lease never starts; the segment in progress is still finished and
        reported (an engine call cannot be interrupted), then the slot moves on. Always
        acknowledged (RevokeAck), known lease or not, however often.
      - kill(): the process died; nothing in progress is reported.
    Replies go out through `emit(event, t)`; the end of each segment started is announced with
    `schedule(slot, epoch, index, t)`, and the caller calls `finish(slot, epoch, t)` at that
    time, which answers (lease, index, verify) for the caller to report (None: work lost).
    """

    __slots__ = ("name", "slots", "leases", "pending", "alive", "_emit", "_schedule")

    def __init__(self, name: str, slots: int, emit: Callable[[Any, float], None],
                 schedule: Callable[[int, int, int, float], None]) -> None:
        self.name = name
        self.slots = [_Slot() for _ in range(slots)]
        self.leases: dict[int, _NodeLease] = {}  # the leases it holds: waiting or being worked
        self.pending: deque[_NodeLease] = deque()
        self.alive = True
        self._emit = emit
        self._schedule = schedule

    def assign(self, lease_id: int, indices: Sequence[int], verify: bool, t: float) -> None:
        if not indices:
            return
        lease = _NodeLease(lease_id, tuple(sorted(indices)), verify)
        self.leases[lease_id] = lease
        self.pending.append(lease)
        for k, slot in enumerate(self.slots):
            if slot.lease is None and self.pending:
                self._advance(k, t)

    def revoke(self, lease_id: int, t: float) -> None:
        lease = self.leases.get(lease_id)
        if lease is not None:
            lease.revoked = True
            if not lease.started:
                self._finished(lease)
        self._emit(RevokeAck(self.name, lease_id), t)

    def steal(self, steal_id: int, lease_id: int, split_at: int, t: float) -> None:
        lease = self.leases.get(lease_id)
        if lease is None or lease.revoked:
            stop_at = NOTHING_TO_GIVE
        else:
            stop_at = split_at if lease.current is None else max(split_at, lease.current + 1)
            lease.stop = min(lease.stop, stop_at)
        self._emit(StealReply(self.name, steal_id, stop_at), t)

    def kill(self) -> None:
        self.alive = False
        for slot in self.slots:
            slot.epoch += 1
            slot.lease = None

    def finish(self, k: int, epoch: int, t: float) -> tuple[int, int, bool] | None:
        """The segment slot `k` started (in `epoch`) is done: (lease, index, verify) to report,
        or None when that work was lost; the slot goes on to its next segment."""
        slot = self.slots[k]
        lease = slot.lease
        if not self.alive or slot.epoch != epoch or lease is None:
            return None
        lease.current = None
        done = (lease.id, slot.index, lease.verify)
        self._advance(k, t)
        return done

    def _advance(self, k: int, t: float) -> None:
        """Start slot k's next segment: of its lease, or of the next lease waiting."""
        slot = self.slots[k]
        while True:
            lease = slot.lease
            if lease is not None:
                if not lease.revoked and lease.pos < len(lease.indices):
                    i = lease.indices[lease.pos]
                    if i < lease.stop:
                        lease.pos += 1
                        lease.current = slot.index = i
                        self._schedule(k, slot.epoch, i, t)
                        return
                self._finished(lease)
                slot.lease = None
            if not self.pending:
                return
            lease = self.pending.popleft()
            if not lease.done:  # (revoked while it waited)
                lease.started = True
                slot.lease = lease

    def _finished(self, lease: _NodeLease) -> None:
        lease.done = True
        if self.leases.get(lease.id) is lease:
            del self.leases[lease.id]


class _SimState:
    __slots__ = ("spec", "worker", "frozen", "inbox", "outbox", "last_sent")

    def __init__(self, spec: SimNode, worker: SimWorker) -> None:
        self.spec = spec
        self.worker = worker
        self.frozen = False
        self.inbox: list = []
        self.outbox: list = []
        self.last_sent = 0.0

    @property
    def alive(self) -> bool:
        return self.worker.alive


def simulate(segments: Sequence[int], nodes: Iterable[SimNode],
             config: SchedulerConfig | None = None, *, delay: float = 0.02, tick: float = 0.5,
             heartbeat: float = 1.0, done: Iterable[int] = (), max_time: float = 1e7,
             record: bool = False, check_every: int = 0,
             scheduler: Callable[[list[int], SchedulerConfig | None, set[int]], Any] | None = None,
             trace: str | Path | None = None) -> SimResult:
    """Run one job to the end. `check_every` > 0 runs the scheduler's invariant check every
    that many events (slow; for tests). `scheduler(segments, config, done)` builds another
    policy with Scheduler's interface (default: Scheduler). `trace`: write every event and
    the scheduler's answer there (trace.py), for `replay`."""
    chars = list(segments)
    done = set(done)
    sched = (scheduler or Scheduler)(chars, config, done)
    tracer = TraceWriter.for_scheduler(trace, sched) if trace is not None else None
    specs = list(nodes)
    states: dict[str, _SimState] = {}
    heap: list = []
    seq = 0

    def push(t: float, kind: int, a=None, b=None) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, kind, a, b))
        seq += 1

    def node(spec: SimNode) -> _SimState:
        def emit(event, t: float) -> None:
            send(st, event, t)

        def schedule(k: int, epoch: int, i: int, t: float) -> None:
            speed = spec.speed
            if spec.slow_at is not None and t >= spec.slow_at:
                speed *= spec.slow_factor
            push(t + chars[i] / speed, _SEG_DONE, st, (k, epoch))

        st = _SimState(spec, SimWorker(spec.name, spec.slots, emit, schedule))
        st.worker.alive = False  # until it joins
        return st

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

    def apply(st: _SimState, ins, t: float) -> None:
        typ = type(ins)
        worker = st.worker
        if typ is Assign:
            worker.assign(ins.lease, ins.indices, ins.kind == "verify", t)
        elif typ is Revoke:
            worker.revoke(ins.lease, t)
        elif typ is RequestSteal:
            worker.steal(ins.steal_id, ins.lease, ins.split_at, t)
        elif typ is RemoveNode:
            worker.kill()

    states.update((spec.name, node(spec)) for spec in specs)

    def deliver(event, t: float) -> None:
        nonlocal finished_at
        instructions = sched.handle(event, t)
        counters["events"] += 1
        if log is not None:
            log.append((t, event, instructions))
        if tracer is not None:
            tracer.write(t, event, instructions)
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
            st = a
            got = st.worker.finish(b[0], b[1], t)
            if got is None:
                continue
            lease, i, verify = got
            spec = st.spec
            counters["synth"] += chars[i]
            if verify:
                counters["verify"] += chars[i]
            if i in spec.fail:
                send(st, SegmentFailed(spec.name, lease, i, "engine error"), t)
            else:
                if spec.lie_at is not None and t >= spec.lie_at:
                    made[(spec.name, lease, i)] = spec.name
                send(st, AudioReceived(spec.name, lease, i), t)
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
            st.worker.alive = True
            st.last_sent = t
            speed = st.spec.claimed_speed if st.spec.claimed_speed is not None else st.spec.speed
            deliver(NodeJoined(a, st.spec.slots, speed, st.spec.trusted), t)
            push(t + heartbeat, _HEARTBEAT, a)
        elif kind == _KILL:
            st = states[a]
            if st.alive:
                st.worker.kill()
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

    if tracer is not None:
        tracer.close()
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
