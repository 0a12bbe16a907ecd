"""Property tests: hypothesis drives the scheduler (and the chapter policy) with hostile and
out-of-order events, and checks after every step what must hold whatever peers send:

  - the scheduler's own bookkeeping (`check_invariants`: every policy here is built checked,
    tests/scheduler_helpers.checked);
  - every Accept answers audio from a node whose live lease held that segment at that moment
    (checked against the scheduler's state before the event, and against the Assigns and
    Revokes it had sent: a model of what is outstanding);
  - no instruction but Drop, RemoveNode and Discard names a node that is not active;
  - JobDone at most once, and only when every segment has audio;
  - a Discarded segment no longer has audio;
  - and, at the end, that delivering every outstanding assignment honestly reaches JobDone.

"Honest" audio is picked from what the scheduler asked for (tests/scheduler_helpers.Cluster,
which also answers Compare and RequestSteal at once, so any Compared or StealReply a rule
sends is stale). Node "local" joins trusted, "x" lies (its audio differs from everyone's),
"ghost" never joins.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Compare, Compared,
                                Discard, Drop, Heartbeat, JobDone, NodeJoined, NodeLeft,
                                NodeRefused, RemoveNode, RequestSteal, RevokeAck, Revoke, Scheduler,
                                SchedulerConfig, SegmentFailed, StealReply, Tick)
from e2a_node.scheduler.chapter_policy import ChapterScheduler
from tests.scheduler_helpers import Cluster
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)

N = 24
CHARS = [40 + (i * 37) % 200 for i in range(N)]
CHAPTERS = [1 + i // 5 for i in range(N)]
NODES = ["local", "a", "b", "x"]
NAMES = NODES + ["ghost"]
# Short runs that shrink with the queue: backups, verifications and liars caught happen often.
# (Giving up is off here, so that every run can be finished honestly in teardown; its rules
# have tests of their own in test_scheduler_rules.py.)
CONFIG = SchedulerConfig(target_run_seconds=3.0, lease_seconds=6.0, quiet_seconds=2.0,
                         max_failures=4, verify_fraction=0.5, verify_backlog=4,
                         verify_attempts=2, give_up_seconds=1e12)
# Long runs that never shrink: idle nodes steal.
STEALING = SchedulerConfig(target_run_seconds=20.0, tail_factor=1e-9, lease_seconds=6.0,
                           quiet_seconds=2.0, max_failures=4, verify_fraction=0.5,
                           verify_backlog=4, verify_attempts=2, give_up_seconds=1e12)

names = st.sampled_from(NAMES)
dts = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)


class Checked:
    """The scheduler under test, with the checks of the module docstring around `handle`."""

    def __init__(self, inner, machine: "HostileEvents") -> None:
        self.inner = inner
        self.m = machine
        self.config = inner.config

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def handle(self, event, now):
        m, inner = self.m, self.inner
        legit = legit_by_model = False
        if type(event) is AudioReceived:
            lease = inner._leases.get(event.lease)
            legit = (lease is not None and lease.node == event.node and 0 <= event.index < N
                     and inner._holds(lease, event.index) and lease.kind != "verify")
            given = m.assigned.get(event.lease)
            legit_by_model = (given is not None and given[0] == event.node
                              and event.index in given[1] and given[2] != "verify"
                              and event.lease not in m.dead)
        out = inner.handle(event, now)
        m.steps += 1
        if type(event) is NodeJoined and event.node not in m.removed:
            if event.node not in m.active:  # (a repeated join changes nothing)
                m.slots[event.node] = max(0, event.slots)
            m.active.add(event.node)
        elif type(event) in (SegmentFailed, AudioInvalid):
            given = m.assigned.get(event.lease)
            if given is not None and given[0] == event.node:
                given[1].discard(event.index)  # it gave that one up: it may be redone elsewhere
        discarded = set()
        for ins in out:
            typ = type(ins)
            if typ is RemoveNode:
                m.removed.add(ins.node)
                m.active.discard(ins.node)
                m.kill(ins.node)
            elif typ is Discard:
                assert ins.node in m.removed, ins
                discarded.add(ins.index)
                for given in m.assigned.values():  # no lease has a claim on it any more
                    given[1].discard(ins.index)
            elif typ is JobDone:
                m.job_done += 1
                assert m.job_done == 1, "JobDone twice"
                assert all(inner.is_accepted(i) for i in range(N)), "JobDone with holes"
            elif typ is not Drop:
                target = ins.victim if typ is RequestSteal else ins.node
                assert target in m.active, f"{ins} names a node that is not active"
                assert not m.job_done or typ is Revoke, f"{ins} after JobDone"
            if typ is Accept:
                assert type(event) is AudioReceived and (ins.index, ins.node) == \
                    (event.index, event.node), (event, ins)
                assert legit, f"{ins} for {event}: the lease did not hold it"
                assert legit_by_model, f"{ins} for {event}: never assigned, or revoked"
                discarded.discard(ins.index)
            elif typ is Compare:
                assert type(event) is AudioReceived and ins.node == event.node
                assert ins.suspect != ins.node
            elif typ is Assign:
                m.assigned[ins.lease] = (ins.node, set(ins.indices), ins.kind)
                m.given[ins.lease] = (ins.node, ins.indices)
                if ins.kind == "steal" and type(event) is StealReply:
                    victim = m.assigned[m.steals[event.steal_id]]
                    victim[1].difference_update(ins.indices)  # the victim lost them
            elif typ is Revoke:
                m.dead.add(ins.lease)
            elif typ is RequestSteal:
                m.steal_ids.append(ins.steal_id)
                m.steals[ins.steal_id] = ins.lease
        if type(event) is NodeLeft and event.node in m.active:
            # (after the instructions: lease expiry runs first, and may name it)
            m.active.discard(event.node)
            m.kill(event.node)
        for i in discarded:
            assert not inner.is_accepted(i), f"segment {i} discarded but still accepted"
        for ins in out:
            if type(ins) is RemoveNode and "differed" in ins.reason:  # a liar: none of its
                liar = ins.node  # audio may stay (the cluster applies Discards after this)
                kept = [i for i, node in m.c.accepted_by.items() if node == liar
                        and i not in discarded and inner.is_accepted(i)]
                assert not kept, f"{liar} lied but its audio for {kept} stays"
        for name in m.active:
            held = len(inner._nodes[name].leases)
            assert held <= m.slots[name], f"{name} holds {held} leases on {m.slots[name]} slots"
        return out


class HostileEvents(RuleBasedStateMachine):
    """Drives one policy; subclasses say which (`build`)."""

    def build(self):
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.active: set[str] = set()
        self.slots: dict[str, int] = {}  # as of its join
        self.removed: set[str] = set()
        self.assigned: dict[int, tuple] = {}  # lease -> (node, indices it holds, kind)
        self.given: dict[int, tuple] = {}  # lease -> (node, indices), as assigned
        self.dead: set[int] = set()  # revoked, or their node left or was removed
        self.steal_ids: list[int] = []
        self.steals: dict[int, int] = {}  # steal id -> the victim's lease
        self.job_done = 0
        self.steps = 0
        self.sched = Checked(self.build(), self)
        self.c = Cluster(self.sched, liars={"x"})

    def kill(self, node: str) -> None:
        self.dead.update(lid for lid, given in self.assigned.items() if given[0] == node)
        self.c.forget(node)

    def lease_of(self, data, node: str | None = None) -> int:
        """A lease id the scheduler gave out (to `node`, if given), or a made-up one."""
        ids = sorted(lid for lid, given in self.assigned.items()
                     if node is None or given[0] == node)
        return data.draw(st.sampled_from(ids) if ids else st.integers(-2, 50))

    def index_of(self, data, lease: int) -> int:
        """An index the lease was given (or, if it has lost them all, any)."""
        held = sorted(self.assigned[lease][1])
        return data.draw(st.sampled_from(held) if held else st.integers(0, N - 1))

    # ---------------------------------------------------------------- membership

    @rule(name=st.sampled_from(NODES), slots=st.integers(0, 3),
          speed=st.sampled_from([20.0, 100.0, 400.0]), dt=dts)
    def join(self, name, slots, speed, dt):
        self.c.join(name, slots, speed, trusted=name == "local", dt=dt)

    @rule(name=names, dt=dts)
    def leave(self, name, dt):
        self.c.handle(NodeLeft(name, "gone"), dt)

    @rule(name=names)
    def refused(self, name):
        self.c.handle(NodeRefused(name, "version"))

    @rule(name=names, dt=dts)
    def heartbeat(self, name, dt):
        self.c.handle(Heartbeat(name), dt)

    @rule(name=names, data=st.data())
    def revoke_ack(self, name, data):
        self.c.handle(RevokeAck(name, self.lease_of(data)))

    @rule(dt=st.floats(min_value=0.0, max_value=15.0, allow_nan=False))
    def tick(self, dt):
        self.c.handle(Tick(), dt)

    # ---------------------------------------------------------------- honest work

    @rule(data=st.data(), dt=dts)
    def deliver(self, data, dt):
        """The next audio of some outstanding lease (leases interleave, each in order)."""
        open_ = sorted(lid for lid, held in self.c.leases.items() if held[1])
        if not open_:
            return
        lid = data.draw(st.sampled_from(open_))
        node, todo, _ = self.c.leases[lid]
        self.c.handle(AudioReceived(node, lid, todo[0]), dt)

    @rule(data=st.data(), invalid=st.booleans(), dt=dts)
    def fail(self, data, invalid, dt):
        open_ = sorted(lid for lid, held in self.c.leases.items() if held[1])
        if not open_:
            return
        lid = data.draw(st.sampled_from(open_))
        node, todo, _ = self.c.leases[lid]
        i = todo.pop(0)
        if invalid:
            self.c.handle(AudioInvalid(node, lid, i, "too short"), dt)
        else:
            self.c.handle(SegmentFailed(node, lid, i, "engine error"), dt)

    # ---------------------------------------------------------------- hostile audio

    @rule(name=names, data=st.data(), index=st.integers(0, N - 1), dt=dts)
    def audio_for_any_index(self, name, data, index, dt):
        """Its own lease (or a made-up id), any index: mostly never leased to it."""
        self.c.handle(AudioReceived(name, self.lease_of(data, name), index), dt)

    @rule(name=names, data=st.data(), dt=dts)
    def audio_under_another_nodes_lease(self, name, data, dt):
        others = sorted(lid for lid, given in self.assigned.items() if given[0] != name)
        if not others:
            return
        lid = data.draw(st.sampled_from(others))
        self.c.handle(AudioReceived(name, lid, self.index_of(data, lid)), dt)

    @rule(data=st.data(), dt=dts)
    def audio_it_was_once_given(self, data, dt):
        """Its own lease, an index of the Assign: the lease may have ended (stale), the index
        been stolen, failed, discarded or delivered already (duplicate), or still be held."""
        if not self.given:
            return
        lid = data.draw(st.sampled_from(sorted(self.given)))
        node, indices = self.given[lid]
        self.c.handle(AudioReceived(node, lid, data.draw(st.sampled_from(indices))), dt)

    @rule(name=names, data=st.data(),
          index=st.one_of(st.integers(N, N + 5), st.integers(-5, -1), st.just(10**12)))
    def audio_out_of_range(self, name, data, index):
        self.c.handle(AudioReceived(name, self.lease_of(data, name), index))

    @rule(name=names, data=st.data(), stop_at=st.integers(-3, N + 3))
    def stale_steal_reply(self, name, data, stop_at):
        steal = data.draw(st.sampled_from(self.steal_ids) if self.steal_ids
                          else st.integers(0, 5))
        self.c.handle(StealReply(name, steal, stop_at))

    @rule(index=st.integers(-1, N), verifier=names, suspect=names, same=st.booleans())
    def spurious_compared(self, index, verifier, suspect, same):
        self.c.handle(Compared(index, verifier, suspect, same))

    # ---------------------------------------------------------------- the end

    def teardown(self) -> None:
        """Honest events only from here: a fresh trusted node joins (every other may be gone)
        and every outstanding assignment is delivered; the job must finish."""
        if not self.job_done:
            self.c.join("closer", slots=2, speed=100.0, trusted=True, dt=0.1)
            self.c.finish(nodes=NODES + ["closer"], steps=20_000)
        assert self.job_done == 1
        assert all(self.sched.is_accepted(i) for i in range(N))
        assert self.sched.next_expiry() == float("inf"), self.sched.leases()


class SchedulerEvents(HostileEvents):
    def build(self):
        return Scheduler(CHARS, CONFIG, done={3, 17})


class StealingEvents(HostileEvents):
    def build(self):
        return Scheduler(CHARS, STEALING, done={3, 17})


class ChapterEvents(HostileEvents):
    def build(self):
        return ChapterScheduler(CHARS, CHAPTERS, CONFIG, done={3, 17})


FAST = settings(max_examples=60, stateful_step_count=40, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                database=None)
LONG = settings(FAST, max_examples=1500, stateful_step_count=80)


@pytest.mark.parametrize("machine", [SchedulerEvents, StealingEvents, ChapterEvents])
def test_hostile_events(machine):
    run_state_machine_as_test(machine, settings=FAST)


@pytest.mark.slow
@pytest.mark.parametrize("machine", [SchedulerEvents, StealingEvents, ChapterEvents])
def test_hostile_events_long(machine):
    run_state_machine_as_test(machine, settings=LONG)
