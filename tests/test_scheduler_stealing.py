"""Work stealing (request/confirm, stale replies, the cost rule) and endgame backups, driven
by hand with a fake clock."""

from __future__ import annotations

import pytest

from e2a_node.scheduler import (Accept, Assign, AudioReceived, Drop, JobDone, NodeJoined,
                                NodeLeft, RequestSteal, Revoke, Scheduler, SchedulerConfig,
                                StealReply, Tick)
from e2a_node.scheduler.stealing import balanced_split, steal_pays
from tests.scheduler_helpers import of
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)

# one lease holds everything: no run-size limit, no tail cap
NOCAP = SchedulerConfig(target_run_seconds=1000.0, tail_factor=1e-9)


def one_victim_one_thief():
    """a (10 chars/s) holds segments 0..9 (100 chars each); b (10 chars/s) joins and asks to
    steal. Balanced split: a has 10 s left on segment 0 plus 900 chars; b pays 0.5 s to start:
    10 + x/10 = 0.5 + (900 - x)/10 -> x = 402.5 chars -> a keeps 1..4, b would get 5..9."""
    sched = Scheduler([100] * 10, NOCAP)
    a = of(sched.handle(NodeJoined("a", speed=10.0), 0.0), Assign)[0]
    assert a.indices == tuple(range(10))
    out = sched.handle(NodeJoined("b", speed=10.0), 0.0)
    assert out == [RequestSteal("a", 1, a.lease, 5)]
    return sched, a


def test_steal_request_and_confirm():
    sched, a = one_victim_one_thief()
    out = sched.handle(StealReply("a", 1, 5), 0.1)
    assert len(out) == 1 and isinstance(out[0], Assign)
    b = out[0]
    assert (b.node, b.indices, b.kind) == ("b", (5, 6, 7, 8, 9), "steal")
    leases = {lz["lease"]: lz for lz in sched.leases()}
    assert leases[a.lease]["stop"] == 5
    sched.check_invariants()
    st = sched.stats()
    assert st.steals == 1 and st.steal_requests == 1
    assert [(n.node, n.steals_won, n.steals_lost) for n in st.nodes] == [("a", 0, 1), ("b", 1, 0)]
    outs = []
    for k in range(5):
        outs += sched.handle(AudioReceived("a", a.lease, k), 2.0 * (k + 1))
        outs += sched.handle(AudioReceived("b", b.lease, 5 + k), 2.0 * (k + 1) + 0.5)
    assert of(outs, Revoke) == [] and of(outs, Drop) == []
    assert outs[-1] == JobDone() and outs.count(JobDone()) == 1


def test_tail_being_stolen_is_not_stolen_twice_or_backed_up():
    sched, a = one_victim_one_thief()
    assert sched.handle(NodeJoined("c", speed=10.0), 0.05) == []
    assert sched.handle(Tick(), 0.06) == []


def test_victim_already_past_the_split_point():
    sched, a = one_victim_one_thief()
    for k in range(6):  # a raced ahead: it has started 6 when the request arrives
        sched.handle(AudioReceived("a", a.lease, k), 0.01 * (k + 1))
    out = sched.handle(StealReply("a", 1, 7), 0.2)
    assert [(x.node, x.indices) for x in of(out, Assign)] == [("b", (7, 8, 9))]
    assert {lz["lease"]: lz["stop"] for lz in sched.leases()}[a.lease] == 7
    sched.check_invariants()


def test_victim_at_the_end_gives_nothing():
    sched, a = one_victim_one_thief()
    out = sched.handle(StealReply("a", 1, 10), 0.2)
    assert of(out, Assign) == []
    # a has started everything it holds: nothing left to steal, and a backup would not pay
    assert of(out, RequestSteal) == []
    assert sched.handle(Tick(), 0.5) == []
    st = sched.stats()
    assert st.steals == 0 and st.steals_empty == 1
    assert [(n.steals_won, n.steals_lost) for n in st.nodes] == [(0, 0), (0, 0)]
    sched.check_invariants()


def test_stale_reply_with_unknown_id():
    sched, a = one_victim_one_thief()
    assert sched.handle(StealReply("a", 99, 5), 0.1) == []
    assert sched.handle(StealReply("b", 1, 5), 0.1) == []  # right id, wrong node
    assert sched.stats().stale_replies == 2
    assert of(sched.handle(StealReply("a", 1, 5), 0.2), Assign)  # the real one still counts


def test_duplicate_reply_is_stale():
    sched, a = one_victim_one_thief()
    assert of(sched.handle(StealReply("a", 1, 5), 0.1), Assign)
    assert sched.handle(StealReply("a", 1, 5), 0.2) == []
    assert sched.stats().stale_replies == 1 and sched.stats().steals == 1
    sched.check_invariants()


def test_reply_after_the_victim_lease_expired_is_stale():
    sched, a = one_victim_one_thief()
    out = sched.handle(Tick(), 10.0)
    assert out[0] == Revoke("a", a.lease, "expired")
    # the steal is cancelled, the thief's slot is free again and takes the returned work
    assigns = of(out, Assign)
    assert [(x.node, x.indices) for x in assigns] == [("b", tuple(range(10)))]
    out = sched.handle(StealReply("a", 1, 5), 10.5)
    assert of(out, Assign) == []
    st = sched.stats()
    assert st.stale_replies == 1 and st.steals_cancelled == 1 and st.steals == 0
    assert {lz["node"]: lz["stop"] for lz in sched.leases()}["b"] == 10
    sched.check_invariants()


def test_victim_dies_before_replying():
    sched, a = one_victim_one_thief()
    out = sched.handle(NodeLeft("a", "killed"), 1.0)
    assert [(x.node, x.indices) for x in of(out, Assign)] == [("b", tuple(range(10)))]
    assert sched.handle(StealReply("a", 1, 5), 1.1) == []
    sched.check_invariants()


def test_thief_leaves_before_the_reply():
    sched, a = one_victim_one_thief()
    sched.handle(NodeLeft("b", "killed"), 0.05)
    out = sched.handle(StealReply("a", 1, 5), 0.1)
    assert of(out, Assign) == []
    assert sched.queued() == [(5, 10)]  # the victim gave it up: it goes back to the queue
    sched.check_invariants()


def test_no_steal_when_the_thief_is_too_slow():
    sched = Scheduler([100] * 10, NOCAP)
    sched.handle(NodeJoined("a", speed=100.0), 0.0)  # 10 s of work left
    # b needs 100.5 s for even the last segment: it would finish after a
    assert sched.handle(NodeJoined("b", speed=1.0), 0.0) == []
    assert sched.handle(Tick(), 1.0) == []
    assert sched.stats().steal_requests == 0


def test_the_split_balances_and_the_rule_is_dasks():
    prefix = list(range(0, 1100, 100))  # 10 segments of 100 chars
    k, tv, tt = balanced_split(prefix, 1, 10, 10.0, 10.0, 10.0, 0.5)
    assert (k, tv, tt) == (5, 50.0, 50.5)
    k, tv, tt = balanced_split(prefix, 1, 10, 0.0, 10.0, 30.0, 0.0)  # thief 3x faster
    assert k == 3 and tv == pytest.approx(20.0) and tt == pytest.approx(700 / 30)
    # cost + tail/w + cost/2 <= victim alone
    assert steal_pays(10.0, 10.25, 0.5) and not steal_pays(10.0, 10.2, 0.5)


def backup_scenario():
    """a (10 chars/s) holds 0,1; b (100 chars/s) does 2,3, steals 1, then backs up 0."""
    sched = Scheduler([100] * 4, SchedulerConfig(tail_factor=1e-9))
    a = of(sched.handle(NodeJoined("a", speed=10.0), 0.0), Assign)[0]
    assert a.indices == (0, 1)
    b1 = of(sched.handle(NodeJoined("b", speed=100.0), 0.0), Assign)[0]
    assert b1.indices == (2, 3)
    sched.handle(AudioReceived("b", b1.lease, 2), 1.0)
    out = sched.handle(AudioReceived("b", b1.lease, 3), 2.0)
    assert of(out, RequestSteal) == [RequestSteal("a", 1, a.lease, 1)]
    b2 = of(sched.handle(StealReply("a", 1, 1), 2.1), Assign)[0]
    assert (b2.indices, b2.kind) == ((1,), "steal")
    out = sched.handle(AudioReceived("b", b2.lease, 1), 3.1)
    # nothing queued, nothing to steal (a has only its in-progress segment), and b would
    # redo segment 0 in 1.5 s while a needs ~6.9 s more: a backup
    backup = of(out, Assign)
    assert [(x.node, x.indices, x.kind) for x in backup] == [("b", (0,), "backup")]
    return sched, a, backup[0]


def test_backup_wins_and_the_primary_is_revoked():
    sched, a, bk = backup_scenario()
    # one backup per segment: another fast idle node gets nothing
    assert sched.handle(NodeJoined("c", speed=100.0), 3.5) == []
    out = sched.handle(AudioReceived("b", bk.lease, 0), 4.2)
    assert out == [Accept(0, "b"), Revoke("a", a.lease, "done elsewhere"), JobDone()]
    assert sched.handle(AudioReceived("a", a.lease, 0), 10.0) == [Drop(0, "a", "duplicate")]
    st = sched.stats()
    assert st.backups == 1 and st.duplicates == 1 and st.duplicate_chars == 100
    assert {n.node: n.duplicates for n in st.nodes} == {"a": 1, "b": 0, "c": 0}
    assert {n.node: n.backups for n in st.nodes}["b"] == 1


def test_primary_wins_and_the_backup_is_revoked():
    sched, a, bk = backup_scenario()
    out = sched.handle(AudioReceived("a", a.lease, 0), 4.0)
    assert out == [Accept(0, "a"), Revoke("b", bk.lease, "done elsewhere"), JobDone()]
    assert sched.handle(AudioReceived("b", bk.lease, 0), 4.2) == [Drop(0, "b", "duplicate")]
    assert sched.stats().duplicates == 1


def test_quiet_primary_gets_a_backup_that_takes_over_on_expiry():
    sched = Scheduler([100] * 2, SchedulerConfig(tail_factor=1e-9, quiet_seconds=3.0))
    a = of(sched.handle(NodeJoined("a", speed=100.0), 0.0), Assign)[0]
    assert a.indices == (0, 1)
    # b is far slower: neither a steal nor a backup pays while a is heard from
    assert sched.handle(NodeJoined("b", speed=10.0), 0.0) == []
    assert sched.handle(Tick(), 2.5) == []
    out = sched.handle(Tick(), 3.5)  # a silent for 3.5 s
    assert [(x.node, x.indices, x.kind) for x in of(out, Assign)] == [("b", (0, 1), "backup")]
    bk = of(out, Assign)[0]
    out = sched.handle(Tick(), 10.0)
    assert out == [Revoke("a", a.lease, "expired")]
    st = sched.stats()
    assert st.backup_promotions == 2 and st.reassignments == 0 and sched.queued() == []
    sched.check_invariants()
    sched.handle(AudioReceived("b", bk.lease, 0), 13.0)
    out = sched.handle(AudioReceived("b", bk.lease, 1), 22.0)
    assert out == [Accept(1, "b"), JobDone()]
