"""Attacks on the scheduler, with a fake clock: audio for segments a node was never leased,
under other nodes' leases or ended ones, events from strangers and removed nodes, repeated
joins; then peer verification catching a node whose audio differs. Each attack is followed by
the honest job, which must finish with the right owners."""

from __future__ import annotations

import pytest

from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Compare, Compared,
                                Discard, Drop, Heartbeat, JobDone, NodeJoined, NodeLeft,
                                RemoveNode, RequestSteal, Revoke, RevokeAck, Scheduler,
                                SchedulerConfig, SegmentFailed, StealReply, Tick)
from e2a_node.scheduler.chapter_policy import ChapterScheduler
from e2a_node.scheduler.simulate import SimNode, simulate
from e2a_node.scheduler.verification import picked, threshold
from tests.scheduler_helpers import Cluster, of, only_assign
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)



def runs_of_five(**kw) -> SchedulerConfig:
    """Runs of 5 segments of 100 chars at 100 chars/s, however short the queue."""
    return SchedulerConfig(target_run_seconds=5.0, tail_factor=1e-9, **kw)


SMALL = runs_of_five()
FORGED = "not leased to this node"


def two_nodes(config=SMALL, n=40):
    sched = Scheduler([100] * n, config)
    c = Cluster(sched)
    a = only_assign(c.join("a"))
    b = only_assign(c.join("b"))
    assert (a.indices, b.indices) == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
    return sched, c, a, b


def snapshot(sched):
    return (sched.stats(), sched.leases(), sched.queued(), sched.progress(),
            getattr(sched, "verifications", list)())


# ---------------------------------------------------------------------- who may deliver

def test_the_silence_flood_no_longer_makes_the_book():
    # The attack that was found: a peer sends "audio" (2 bytes of silence, which the driver
    # cannot tell from a short sentence) for every sentence of the book.
    sched, c, a, b = two_nodes()
    out = []
    for i in range(40):
        out += c.handle(AudioReceived("a", a.lease, i), 0.01)
    assert of(out, Accept) == [Accept(i, "a") for i in range(5)]  # only what it holds
    removes = of(out, RemoveNode)
    assert len(removes) == 1 and removes[0].node == "a" and FORGED in removes[0].reason
    assert [d.reason for d in of(out, Drop)][:3] == [FORGED] * 3
    assert {d.reason for d in of(out, Drop)[3:]} == {"node removed"}
    st = sched.stats()
    assert st.nodes[0].forged == 3 and st.nodes[0].failures == 3 and st.forged_audio == 3
    assert st.nodes[0].state == "removed"
    c.finish()
    assert c.job_done == 1
    assert all(c.accepted_by[i] == ("a" if i < 5 else "b") for i in range(40))
    sched.check_invariants()


def test_forged_audio_for_another_nodes_segment_under_its_own_lease():
    sched, c, a, b = two_nodes()
    assert c.handle(AudioReceived("a", a.lease, 7), 1.0) == [Drop(7, "a", FORGED)]
    assert c.handle(AudioReceived("a", a.lease, 30), 1.0) == [Drop(30, "a", FORGED)]  # queued
    assert sched.stats().nodes[0].failures == 2
    assert c.handle(AudioReceived("b", b.lease, 7), 1.0) == [Accept(7, "b")]
    sched.check_invariants()
    c.finish()
    assert c.accepted_by[7] == "b" and c.accepted_by[30] in ("a", "b")
    assert sched.stats().nodes[0].state == "active"  # two forgeries: under max_failures


def test_forged_audio_under_another_nodes_lease_or_an_unknown_lease():
    sched, c, a, b = two_nodes()
    assert c.handle(AudioReceived("a", b.lease, 5), 1.0) == [Drop(5, "a", FORGED)]
    assert c.handle(AudioReceived("b", 999, 6), 1.0) == [Drop(6, "b", FORGED)]
    assert c.handle(AudioReceived("b", 0, 6), 1.0) == [Drop(6, "b", FORGED)]
    assert [n.failures for n in sched.stats().nodes] == [1, 2]
    assert sched.is_accepted(5) is False and sched.is_accepted(6) is False
    c.finish(nodes=("a", "b"))
    assert c.accepted_by[5] == "b" and c.accepted_by[6] == "b"


def test_out_of_range_audio_is_forged():
    sched, c, a, b = two_nodes()
    assert c.handle(AudioReceived("a", a.lease, 40), 1.0) == [Drop(40, "a", "index out of range")]
    assert c.handle(AudioReceived("a", a.lease, -1), 1.0) == [Drop(-1, "a", "index out of range")]
    out = c.handle(AudioReceived("a", a.lease, 10**9), 1.0)
    assert of(out, RemoveNode)[0].reason.startswith("3 failures (last: audio for sentence")
    sched.check_invariants()
    c.finish()
    assert set(c.accepted_by.values()) == {"b"}


def test_max_failures_mixes_forgeries_and_engine_errors():
    sched, c, a, b = two_nodes(runs_of_five(max_failures=2))
    c.handle(SegmentFailed("a", a.lease, 0, "onnx"), 1.0)
    out = c.handle(AudioReceived("a", a.lease, 20), 1.0)
    assert out[:2] == [Drop(20, "a", FORGED),
                       RemoveNode("a", f"2 failures (last: audio for sentence 20: {FORGED})")]
    c.finish()
    assert set(c.accepted_by.values()) == {"b"}


def test_late_audio_of_an_expired_lease_is_stale_not_forged():
    sched, c, a, b = two_nodes()
    c.handle(Heartbeat("b"), 9.0)
    assert of(c.handle(Tick(), 1.0), Revoke) == [Revoke("a", a.lease, "expired")]
    out = c.handle(AudioReceived("a", a.lease, 0), 0.5)
    assert out[0] == Drop(0, "a", "stale")
    assert of(out, Assign) and of(out, Assign)[0].node == "a"  # a sign of life all the same
    st = sched.stats()
    assert (st.stale_audio, st.nodes[0].failures, st.nodes[0].forged) == (1, 0, 0)
    again = of(out, Assign)[0]
    assert again.indices[0] == 0  # a got its work back under a new lease: that one counts
    assert c.handle(AudioReceived("a", again.lease, 0), 0.1) == [Accept(0, "a")]
    c.finish(nodes=("a", "b"))
    assert c.job_done == 1
    sched.check_invariants()


def test_a_stolen_tail_is_stale_for_the_victim():
    sched = Scheduler([100] * 10, SchedulerConfig(target_run_seconds=1000.0, tail_factor=1e-9))
    a = only_assign(sched.handle(NodeJoined("a", speed=10.0), 0.0))
    assert sched.handle(NodeJoined("b", speed=10.0), 0.0) == [RequestSteal("a", 1, a.lease, 5)]
    b = only_assign(sched.handle(StealReply("a", 1, 5), 0.1))
    assert b.indices == (5, 6, 7, 8, 9)
    # the victim promised not to start 5..9; its audio for them is late, not forged
    assert sched.handle(AudioReceived("a", a.lease, 7), 1.0) == [Drop(7, "a", "stale")]
    assert sched.handle(AudioReceived("b", b.lease, 7), 1.0) == [Accept(7, "b")]
    assert sched.handle(AudioReceived("a", a.lease, 7), 1.1) == [Drop(7, "a", "duplicate")]
    assert sched.stats().nodes[0].failures == 0
    sched.check_invariants()


def test_audio_after_done_elsewhere_is_a_duplicate():
    sched = Scheduler([100] * 4, SchedulerConfig(tail_factor=1e-9))
    a = only_assign(sched.handle(NodeJoined("a", speed=10.0), 0.0))
    b1 = only_assign(sched.handle(NodeJoined("b", speed=100.0), 0.0))
    sched.handle(AudioReceived("b", b1.lease, 2), 1.0)
    sched.handle(AudioReceived("b", b1.lease, 3), 2.0)
    b2 = only_assign(sched.handle(StealReply("a", 1, 1), 2.1))
    bk = only_assign(sched.handle(AudioReceived("b", b2.lease, 1), 3.1))
    assert bk.kind == "backup"
    out = sched.handle(AudioReceived("b", bk.lease, 0), 4.2)
    assert out == [Accept(0, "b"), Revoke("a", a.lease, "done elsewhere"), JobDone()]
    assert sched.handle(AudioReceived("a", a.lease, 0), 5.0) == [Drop(0, "a", "duplicate")]
    assert sched.handle(AudioReceived("a", a.lease, 1), 5.0) == [Drop(1, "a", "duplicate")]
    assert sched.stats().duplicates == 2 and sched.stats().nodes[0].failures == 0


def test_a_node_that_left_rejoins_cleanly_and_its_old_lease_is_stale():
    sched, c, a, b = two_nodes()
    c.handle(AudioReceived("a", a.lease, 0), 1.0)
    assert c.handle(NodeLeft("a", "restarting"), 0.5) == []
    c.forget("a")
    out = c.join("a", slots=2, dt=0.5)
    assigns = of(out, Assign)
    assert [x.node for x in assigns] == ["a", "a"] and assigns[0].indices[0] == 1
    assert len(sched.leases()) == 3  # b's and the two new ones: no slot counted twice
    assert sched.stats().nodes[0].slots == 2
    assert c.handle(AudioReceived("a", a.lease, 1), 0.1)[0] == Drop(1, "a", "stale")
    assert sched.stats().nodes[0].failures == 0
    c.finish()
    assert c.accepted_by[0] == "a"
    sched.check_invariants()


def test_repeated_join_of_an_active_node_changes_nothing():
    sched, c, a, b = two_nodes()
    before = snapshot(sched)
    assert c.join("a", slots=8, speed=1e6, trusted=True) == []
    assert snapshot(sched) == before
    assert sched.stats().nodes[0].slots == 1 and not sched.stats().nodes[0].trusted


@pytest.mark.parametrize("event", [
    Heartbeat("ghost"), RevokeAck("ghost", 1), StealReply("ghost", 1, 3),
    SegmentFailed("ghost", 1, 0, "x"), AudioInvalid("ghost", 1, 0, "x"), NodeLeft("ghost"),
    Compared(0, "ghost", "a", False),
    Heartbeat("gone"), RevokeAck("gone", 1), StealReply("gone", 1, 3),
    SegmentFailed("gone", 1, 0, "x"), AudioInvalid("gone", 1, 0, "x"), NodeLeft("gone"),
    NodeJoined("gone", slots=4),
])
def test_strangers_and_removed_nodes_change_nothing(event):
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=1000.0, tail_factor=1e-9,
                                                  max_failures=1))
    sched.handle(NodeJoined("gone"), 0.0)
    sched.handle(SegmentFailed("gone", 1, 0, "boom"), 0.0)  # removed at once
    sched.handle(NodeJoined("a", speed=10.0), 0.0)
    assert of(sched.handle(NodeJoined("b", speed=10.0), 0.0), RequestSteal)  # a steal pending
    before = snapshot(sched)
    assert sched.handle(event, 0.0) == []
    assert snapshot(sched) == before
    sched.check_invariants()


@pytest.mark.parametrize("node", ["ghost", "gone"])
def test_audio_from_strangers_and_removed_nodes_is_only_dropped(node):
    sched = Scheduler([100] * 10, SchedulerConfig(max_failures=1))
    sched.handle(NodeJoined("gone"), 0.0)
    sched.handle(SegmentFailed("gone", 1, 0, "boom"), 0.0)
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    before = snapshot(sched)
    reason = "unknown node" if node == "ghost" else "node removed"
    assert sched.handle(AudioReceived(node, a.lease, 1), 0.0) == [Drop(1, node, reason)]
    assert snapshot(sched) == before


def test_the_chapter_policy_shares_the_rule():
    chars, chapters = [100] * 9, [1, 1, 1, 2, 2, 3, 3, 3, 3]
    sched = ChapterScheduler(chars, chapters, SchedulerConfig(lease_seconds=10.0))
    c = Cluster(sched)
    a = only_assign(c.join("a"))
    b = only_assign(c.join("b"))
    assert (a.indices, b.indices) == ((0, 1, 2), (3, 4))
    assert c.handle(AudioReceived("a", a.lease, 3), 1.0) == [Drop(3, "a", FORGED)]  # b's
    assert c.handle(AudioReceived("a", a.lease, 7), 1.0) == [Drop(7, "a", FORGED)]  # queued
    out = c.handle(AudioReceived("a", b.lease, 4), 1.0)
    assert out[0] == Drop(4, "a", FORGED) and of(out, RemoveNode)[0].node == "a"
    assert sched.stats().nodes[0].forged == 3
    c.finish()
    assert set(c.accepted_by.values()) == {"b"} and len(c.accepted_by) == 9
    sched.check_invariants()


def test_the_chapter_policy_drops_late_audio_as_stale():
    sched = ChapterScheduler([100] * 3, [1, 1, 1], SchedulerConfig(lease_seconds=5.0))
    c = Cluster(sched)
    a = only_assign(c.join("a"))
    c.handle(AudioReceived("a", a.lease, 0), 1.0)
    assert of(c.handle(Tick(), 5.0), Revoke)
    c.forget("a")
    only_assign(c.join("b"))
    assert c.handle(AudioReceived("a", a.lease, 1), 0.1)[0] == Drop(1, "a", "stale")
    assert c.handle(AudioReceived("a", a.lease, 0), 0.1)[0] == Drop(0, "a", "duplicate")
    c.finish()
    assert c.accepted_by == {0: "a", 1: "b", 2: "b"}
    assert sched.stats().nodes[0].failures == 0


def test_ended_leases_are_remembered_within_a_bound(monkeypatch):
    import e2a_node.scheduler.policy as policy

    monkeypatch.setattr(policy, "ENDED_LEASES_KEPT", 4)
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=1.0, tail_factor=1e-9))
    c = Cluster(sched)
    first = only_assign(c.join("a"))
    c.finish()
    assert len(sched._ended) == 4 and first.lease not in sched._ended
    # too old to tell whose it was: dropped as late audio, not held against the node
    out = sched.handle(AudioReceived("a", first.lease, 0), c.t + 1)
    assert out == [Drop(0, "a", "duplicate")]
    assert sched.stats().nodes[0].failures == 0


# ---------------------------------------------------------------------- peer verification

EVERY = runs_of_five(verify_fraction=1.0, verify_backlog=64)


def test_which_segments_is_a_pure_function_of_seed_and_index():
    bound = threshold(0.02)
    picks = [i for i in range(100_000) if picked(7, i, bound)]
    assert 1700 < len(picks) < 2300
    assert picks == [i for i in range(100_000) if picked(7, i, bound)]
    assert picks != [i for i in range(100_000) if picked(8, i, bound)]
    assert not any(picked(7, i, threshold(0.0)) for i in range(1000))
    assert all(picked(7, i, threshold(1.0)) for i in range(1000))
    cfg = SchedulerConfig(verify_fraction=0.02, verify_seed=7)
    assert (cfg.verify_fraction, cfg.verify_seed) == (0.02, 7)
    with pytest.raises(ValueError):
        SchedulerConfig(verify_fraction=1.5)


def liar_and_local(config=EVERY, n=10):
    """local (trusted, 1 slot) holds 0..4, x (untrusted) 5..9; every segment is verified."""
    sched = Scheduler([100] * n, config)
    c = Cluster(sched, liars={"x"})
    loc = only_assign(c.join("local", trusted=True))
    x = only_assign(c.join("x"))
    assert (loc.indices, x.indices) == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
    return sched, c, loc, x


def test_a_trusted_verifier_catches_a_liar_and_its_sentences_are_redone():
    sched, c, loc, x = liar_and_local()
    out = c.handle(AudioReceived("x", x.lease, 5), 1.0)
    assert out == [Accept(5, "x")]  # local's slot is busy: the check waits
    assert sched.verifications() == [{"index": 5, "suspect": "x", "first": "", "lease": 0,
                                      "verifier": "", "attempts": 0}]
    c.handle(AudioReceived("x", x.lease, 6), 1.0)
    for i in loc.indices[:-1]:
        assert c.handle(AudioReceived("local", loc.lease, i), 1.0) == [Accept(i, "local")]
    # local's slot frees: the oldest check comes before the queue, on a one-segment lease
    out = c.handle(AudioReceived("local", loc.lease, 4), 1.0)
    assert out[0] == Accept(4, "local")
    check = only_assign(out)
    assert (check.node, check.indices, check.kind) == ("local", (5,), "verify")
    out = c.handle(AudioReceived("local", check.lease, 5), 1.0)
    # the cluster answered Compare at once: the bytes differ, the verifier is trusted
    assert out[0] == Compare(5, "local", "x")
    why = "its audio for sentence 5 differed from local's (trusted)"
    assert RemoveNode("x", why) in out
    assert of(out, Discard) == [Discard(5, "x"), Discard(6, "x")]
    assert not sched.is_accepted(5) and not sched.is_accepted(6)
    sched.check_invariants()
    st = sched.stats()
    assert (st.verifications, st.verification_mismatches, st.discarded_sentences) == (1, 1, 2)
    x_stats = st.nodes[1]
    assert (x_stats.state, x_stats.segments, x_stats.discarded, x_stats.verify_failed) == \
        ("removed", 0, 2, 1)
    assert x_stats.reason == why
    assert st.nodes[0].segments == 5  # the verification was not counted as an accept
    # x stays off the job; the honest job finishes on local alone
    assert c.join("x", dt=1.0) == []
    assert c.handle(AudioReceived("x", x.lease, 7), 0.1) == [Drop(7, "x", "node removed")]
    c.finish()
    assert c.job_done == 1 and set(c.accepted_by.values()) == {"local"}
    assert len(c.accepted_by) == 10 and not any(c.stored.values())


def test_an_honest_peer_is_verified_and_keeps_its_sentences():
    sched = Scheduler([100] * 10, EVERY)
    c = Cluster(sched)
    c.join("local", trusted=True)
    c.join("p")
    c.finish()
    st = sched.stats()
    assert c.accepted_by == {i: ("local" if i < 5 else "p") for i in range(10)}
    assert st.nodes[1].verified == 5 and st.verifications == 5
    assert st.verification_mismatches == st.discarded_sentences == 0
    assert st.nodes[0].verified == 0  # a trusted node's audio is never verified
    assert {a.node for a in c.assigns("verify")} == {"local"}
    assert sched.leases() == [] and sched.verifications() == []  # all done before JobDone


def test_untrusted_nodes_verify_only_without_a_trusted_one():
    sched = Scheduler([100] * 30, EVERY)
    c = Cluster(sched)
    c.join("local", trusted=True)
    p = only_assign(c.join("p"))
    q = only_assign(c.join("q"))
    c.deliver(p, 0.5)
    out = []
    for i in q.indices:
        out += c.handle(AudioReceived("q", q.lease, i), 0.5)
    # local (trusted) is busy, so p's checks wait for it: q's free slot takes fresh work
    assert [(a.node, a.kind) for a in of(out, Assign)] == [("q", "run")]
    assert c.assigns("verify") == [] and len(sched.verifications()) == 10
    c.handle(NodeLeft("local"), 0.1)
    c.forget("local")
    # without a trusted node the untrusted ones verify each other (never themselves)
    c.finish()
    checks = c.assigns("verify")
    assert {a.node for a in checks} == {"p", "q"}
    assert all(c.accepted_by[a.indices[0]] != a.node for a in checks)
    st = sched.stats()
    assert st.nodes[1].verified >= 5 and st.nodes[2].verified >= 5
    assert st.verification_mismatches == 0


def test_two_untrusted_disagree_and_a_third_decides():
    # p makes 0..4, x (the liar) checks one of p's; q arbitrates: q agrees with p -> x lied
    sched = Scheduler([100] * 30, runs_of_five(verify_fraction=1.0, verify_backlog=1))
    c = Cluster(sched, liars={"x"})
    p = only_assign(c.join("p"))
    x = only_assign(c.join("x"))
    c.handle(AudioReceived("p", p.lease, 0), 1.0)  # the one check the backlog allows
    out = []
    for i in x.indices:
        out += c.handle(AudioReceived("x", x.lease, i), 0.1)
    check = [a for a in of(out, Assign) if a.kind == "verify"]
    assert [(a.node, a.indices) for a in check] == [("x", (0,))]
    out = c.handle(AudioReceived("x", check[0].lease, 0), 0.1)
    assert out[0] == Compare(0, "x", "p") and not of(out, RemoveNode)
    assert sched.verifications()[0]["first"] == "x"
    assert sched.stats().verification_mismatches == 1
    # the arbitration waits for a third node: not p, not x
    assert not [a for a in of(out, Assign) if a.kind == "verify"]
    out = c.join("q", dt=0.1)
    arb = [a for a in of(out, Assign) if a.kind == "verify"]
    assert [(a.node, a.indices) for a in arb] == [("q", (0,))]
    out = c.handle(AudioReceived("q", arb[0].lease, 0), 0.1)
    assert out[0] == Compare(0, "q", "p")
    assert RemoveNode("x", "its audio for sentence 0 differed from p's and q's") in out
    assert {d.index for d in of(out, Discard)} == set(x.indices)
    c.finish()
    assert "x" not in c.accepted_by.values() and len(c.accepted_by) == 30
    st = sched.stats()
    assert st.nodes[0].verified >= 1 and st.unresolved_disagreements == []


def test_the_arbiter_sides_with_the_verifier_and_the_suspect_is_caught():
    sched = Scheduler([100] * 30, runs_of_five(verify_fraction=1.0, verify_backlog=1))
    c = Cluster(sched, liars={"x"})
    x = only_assign(c.join("x"))
    p = only_assign(c.join("p"))
    q = only_assign(c.join("q"))
    c.handle(AudioReceived("x", x.lease, 0), 1.0)
    c.deliver(p, 0.1)  # p's free slot verifies x's 0
    for i in q.indices:
        c.handle(AudioReceived("q", q.lease, i), 0.1)
    c.finish()
    assert [r.node for r in c.removed] == ["x"]
    assert "differed from p's and q's" in c.removed[0].reason
    assert "x" not in c.accepted_by.values() and len(c.accepted_by) == 30


def test_no_third_node_leaves_an_unresolved_disagreement_and_the_job_completes():
    sched = Scheduler([100] * 10, runs_of_five(verify_fraction=1.0, verify_backlog=2))
    c = Cluster(sched, liars={"x"})
    c.join("p")
    c.join("x")
    c.finish()
    st = sched.stats()
    assert c.job_done == 1 and len(c.accepted_by) == 10
    assert st.unresolved_disagreements and st.discarded_sentences == 0
    d = st.unresolved_disagreements[0]
    assert {d.suspect, d.verifier} == {"p", "x"}
    assert st.to_dict()["unresolved_disagreements"][0]["index"] == d.index
    assert [n.state for n in st.nodes] == ["active", "active"]


def test_a_lost_verify_lease_goes_back_and_is_given_up_after_its_attempts():
    cfg = SchedulerConfig(target_run_seconds=3.0, tail_factor=1e-9, verify_fraction=1.0,
                          verify_attempts=2, lease_seconds=10.0, stealing=False, backups=False)
    sched = Scheduler([100] * 9, cfg)
    c = Cluster(sched)
    loc = only_assign(c.join("local", trusted=True))
    p = only_assign(c.join("p"))
    assert (loc.indices, p.indices) == ((0, 1, 2), (3, 4, 5))
    c.deliver(p, 0.1)  # p takes 6..8 next and holds them
    c.handle(AudioReceived("local", loc.lease, 0), 0.1)
    c.handle(AudioReceived("local", loc.lease, 1), 0.1)
    check = only_assign(c.handle(AudioReceived("local", loc.lease, 2), 0.1))
    assert (check.kind, check.indices) == ("verify", (3,))
    c.handle(Heartbeat("p"), 9.0)
    out = c.handle(Tick(), 1.0)  # local goes quiet: its check expires
    assert Revoke("local", check.lease, "expired") in out
    assert sched.verifications()[0] == {"index": 3, "suspect": "p", "first": "", "lease": 0,
                                        "verifier": "", "attempts": 1}
    c.forget("local")
    again = only_assign(c.handle(Heartbeat("local"), 0.1))  # heard again: first in line
    assert (again.kind, again.indices) == ("verify", (3,))
    out = c.handle(SegmentFailed("local", again.lease, 3, "engine"), 0.1)
    assert sched.stats().verifications_skipped == 1  # second attempt lost: given up
    assert [v["index"] for v in sched.verifications()] == [4, 5]
    assert sched.is_accepted(3)
    c.leases.pop(again.lease, None)
    c.finish(nodes=("local", "p"))
    assert sched.stats().nodes[1].verified == 5  # 4, 5 and 6..8
    assert c.accepted_by[3] == "p"


def test_a_verifier_that_leaves_gives_its_check_back():
    sched, c, loc, x = liar_and_local(n=10)
    for i in x.indices:
        c.handle(AudioReceived("x", x.lease, i), 0.1)
    c.join("v", trusted=True)  # a second trusted node takes the first check at once
    vlease = [lid for lid, held in c.leases.items() if held[0] == "v"]
    assert len(vlease) == 1 and c.leases[vlease[0]][2] == "verify"
    c.handle(NodeLeft("v"), 0.1)
    c.forget("v")
    assert sched.verifications()[0]["lease"] == 0  # back in the queue
    c.finish()
    assert "x" not in c.accepted_by.values() and [r.node for r in c.removed] == ["x"]


def test_a_suspect_that_leaves_keeps_its_sentences_until_found_out():
    sched, c, loc, x = liar_and_local()
    for i in x.indices:
        c.handle(AudioReceived("x", x.lease, i), 0.1)
    c.handle(NodeLeft("x", "gone"), 0.1)
    assert all(sched.is_accepted(i) for i in x.indices)  # it left, it did not lie
    c.finish()
    # its checks still ran and found it out: its sentences were redone, it stays off
    assert [r.node for r in c.removed] == ["x"] and len(c.discarded) == 5
    assert sched.stats().nodes[1].state == "removed"
    assert set(c.accepted_by.values()) == {"local"}
    assert c.join("x") == []


def test_an_honest_suspect_that_leaves_keeps_its_sentences():
    sched = Scheduler([100] * 10, EVERY)
    c = Cluster(sched)
    c.join("local", trusted=True)
    p = only_assign(c.join("p"))
    c.deliver(p, 0.1)
    c.handle(NodeLeft("p"), 0.1)
    c.forget("p")
    c.finish()
    assert all(c.accepted_by[i] == "p" for i in p.indices)
    assert sched.stats().nodes[1].verified == 5


def test_spurious_compared_events_change_nothing():
    sched, c, loc, x = liar_and_local()
    c.handle(AudioReceived("x", x.lease, 5), 0.1)  # a check of 5 is queued, not comparing
    before = snapshot(sched)
    for ev in (Compared(5, "local", "x", False), Compared(6, "local", "x", False),
               Compared(5, "x", "x", False), Compared(99, "local", "x", True)):
        assert sched.handle(ev, c.t) == []
    assert snapshot(sched) == before


def test_jobdone_waits_for_the_checks_within_the_backlog():
    cfg = runs_of_five(verify_fraction=1.0, verify_backlog=3)
    sched = Scheduler([100] * 10, cfg)
    c = Cluster(sched)
    c.join("local", trusted=True)
    p = only_assign(c.join("p"))
    c.deliver(p, 0.1)
    st = sched.stats()
    assert st.verifications_skipped == 2 and len(sched.verifications()) == 3
    done_at = None
    while not c.job_done:
        out = c.deliver_next(0.1)
        if sched.stats().segments_done == 10 and done_at is None:
            done_at = len(sched.verifications())
    assert done_at is not None and sched.stats().verifications == 3
    assert sched.leases() == []


def test_chapter_policy_ignores_verification():
    sched = ChapterScheduler([100] * 4, [1, 1, 2, 2], EVERY)
    c = Cluster(sched, liars={"x"})
    c.join("local", trusted=True)
    c.join("x")
    c.finish()
    assert sched.stats().verifications == 0 and c.accepted_by[2] == "x"


# ---------------------------------------------------------------------- in the simulator

def test_in_the_simulator_a_liar_is_caught_and_the_book_is_all_honest():
    chars = [100 + (i * 37) % 150 for i in range(2000)]
    nodes = [SimNode("local", 100.0, trusted=True), SimNode("a", 100.0),
             SimNode("liar", 100.0, lie_at=0.0), SimNode("b", 100.0)]
    cfg = SchedulerConfig(verify_fraction=0.02, verify_seed=1)
    result = simulate(chars, nodes, cfg)
    assert result.done and result.job_done_count == 1
    assert result.lies_kept == 0 and "liar" not in result.accepted_by.values()
    assert len(result.accepted_by) == 2000
    st = result.stats
    liar = [n for n in st.nodes if n.node == "liar"][0]
    assert liar.state == "removed" and liar.discarded == result.discarded > 0
    assert st.verification_mismatches >= 1
    assert result.verify_chars / result.total_chars < 0.05  # about 2% of the peers' work
    plain = simulate(chars, nodes)
    assert plain.lies_kept > 0 and plain.verify_chars == 0


def test_in_the_simulator_honest_peers_pay_about_the_fraction():
    chars = [100 + (i * 37) % 150 for i in range(2000)]
    nodes = [SimNode(f"n{k}", 100.0) for k in range(4)]
    result = simulate(chars, nodes, SchedulerConfig(verify_fraction=0.02))
    plain = simulate(chars, nodes)
    assert result.done and result.discarded == 0 and result.stats.verification_mismatches == 0
    assert 0.01 < result.verify_chars / result.total_chars < 0.03
    assert result.wall_time < plain.wall_time * 1.05


def test_checks_of_a_caught_liar_are_revoked_and_their_late_audio_is_stale():
    sched, c, loc, x = liar_and_local()
    for i in x.indices:
        c.handle(AudioReceived("x", x.lease, i), 0.1)
    out = c.join("v", trusted=True, dt=0.1)
    v_check = only_assign(out)
    assert (v_check.kind, v_check.indices) == ("verify", (5,))
    out = []
    for i in loc.indices:  # local's slot frees and checks 6
        out += c.handle(AudioReceived("local", loc.lease, i), 0.1)
    l_check = [a for a in of(out, Assign) if a.kind == "verify"]
    assert [a.indices for a in l_check] == [(6,)]
    out = c.handle(AudioReceived("local", l_check[0].lease, 6), 0.1)
    assert out[0] == Compare(6, "local", "x") and RemoveNode in {type(i) for i in out}
    assert Revoke("v", v_check.lease, "not needed") in out
    stale = sched.stats().stale_audio
    assert c.handle(AudioReceived("v", v_check.lease, 5), 0.1)[0] == Drop(5, "v", "stale")
    st = sched.stats()
    assert st.nodes[2].failures == 0 and st.verifications == 1 and st.stale_audio == stale + 1
    c.finish()
    assert set(c.accepted_by.values()) == {"local", "v"} and len(c.accepted_by) == 10
