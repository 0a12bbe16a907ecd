"""The chapter-per-task baseline (Celery's model) with a fake clock: whole chapters to free
slots, restarts from a chapter's first sentence, duplicates, JobDone once, resume, and, in the
simulator, that it is exactly-once but slower than the stealing scheduler on mixed nodes."""

from __future__ import annotations

import random

import pytest

from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Drop, Heartbeat,
                                JobDone, NodeJoined, NodeLeft, RemoveNode, Revoke, RevokeAck,
                                SchedulerConfig, SegmentFailed, StealReply, Tick)
from e2a_node.scheduler.chapter_policy import ChapterScheduler
from e2a_node.scheduler.simulate import SimNode, simulate
from tests.scheduler_helpers import of, only_assign
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)

# chapters 1, 2, 3 of 3, 2 and 4 segments of 100 chars
CHARS = [100] * 9
CHAPTERS = [1, 1, 1, 2, 2, 3, 3, 3, 3]


def finish(sched, node, lease, indices, t):
    out = []
    for i in indices:
        out += sched.handle(AudioReceived(node, lease, i), t)
        t += 1.0
    return out, t


def test_whole_chapters_go_to_free_slots_in_order():
    sched = ChapterScheduler(CHARS, CHAPTERS)
    a = only_assign(sched.handle(NodeJoined("a", slots=1, speed=10.0), 0.0))
    assert (a.node, a.indices, a.kind, a.expires_at) == ("a", (0, 1, 2), "chapter", 10.0)
    b = of(sched.handle(NodeJoined("b", slots=2, speed=1000.0), 0.0), Assign)
    assert [x.indices for x in b] == [(3, 4), (5, 6, 7, 8)]  # 2 slots, 2 chapters; no size limit
    assert sched.queued_chapters() == []
    assert sched.handle(NodeJoined("c", speed=1000.0), 0.0) == []  # nothing left: no steal, no backup
    out, _ = finish(sched, "b", b[0].lease, (3, 4), 1.0)
    assert out == [Accept(3, "b"), Accept(4, "b")]  # b's free slot finds nothing to take
    sched.check_invariants()


def test_next_chapter_when_a_slot_frees():
    sched = ChapterScheduler(CHARS, CHAPTERS)
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    out, t = finish(sched, "a", a.lease, (0, 1), 1.0)
    assert not of(out, Assign)
    out = sched.handle(AudioReceived("a", a.lease, 2), t)
    assert out[0] == Accept(2, "a") and only_assign(out).indices == (3, 4)


def test_expiry_restarts_the_chapter_from_its_first_sentence():
    sched = ChapterScheduler(CHARS, CHAPTERS, SchedulerConfig(lease_seconds=10.0))
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    assert sched.handle(AudioReceived("a", a.lease, 0), 1.0) == [Accept(0, "a")]
    assert sched.handle(AudioReceived("a", a.lease, 1), 2.0) == [Accept(1, "a")]
    assert sched.handle(Heartbeat("a"), 5.0) == []
    assert sched.next_expiry() == 15.0
    assert sched.handle(Tick(), 14.9) == []
    out = sched.handle(Tick(), 15.0)
    assert out == [Revoke("a", a.lease, "expired")]  # a is unresponsive: no new work for it
    assert sched.queued_chapters() == [0, 1, 2]  # back at the front
    b = only_assign(sched.handle(NodeJoined("b"), 16.0))
    assert b.indices == (0, 1, 2)  # all of it, including the two with stored audio
    out, t = finish(sched, "b", b.lease, (0, 1, 2), 17.0)
    assert out[:2] == [Drop(0, "b", "duplicate"), Drop(1, "b", "duplicate")]
    assert out[2] == Accept(2, "b")
    stats = sched.stats()
    assert (stats.duplicates, stats.duplicate_chars, stats.reassignments) == (2, 200, 3)
    assert stats.nodes[0].state == "unresponsive" and stats.nodes[0].expiries == 1
    assert stats.nodes[1].duplicate_chars == 200
    rec = stats.recoveries
    assert len(rec) == 1 and (rec[0].node, rec[0].kind, rec[0].segments) == ("a", "expired", 3)
    assert rec[0].detected_at == 15.0 and rec[0].seconds == pytest.approx(1.0)
    # a sign of life: a gets work again; its late audio is a duplicate now
    out = sched.handle(AudioReceived("a", a.lease, 2), t)
    assert out[0] == Drop(2, "a", "duplicate") and of(out, Assign)
    sched.check_invariants()


def test_node_left_restarts_all_its_chapters_at_the_front():
    chars = [100] * 12
    chapters = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    sched = ChapterScheduler(chars, chapters)
    a = of(sched.handle(NodeJoined("a", slots=2), 0.0), Assign)
    b = only_assign(sched.handle(NodeJoined("b"), 0.0))
    assert [x.indices for x in a] == [(0, 1), (2, 3)] and b.indices == (4, 5)
    sched.handle(AudioReceived("a", a[1].lease, 2), 1.0)
    assert sched.handle(NodeLeft("a", "killed"), 2.0) == []
    assert sched.queued_chapters() == [0, 1, 3, 4, 5]
    out, _ = finish(sched, "b", b.lease, (4, 5), 3.0)
    assert only_assign(out).indices == (0, 1)
    rec = sched.stats().recoveries
    assert len(rec) == 1 and (rec[0].kind, rec[0].segments, rec[0].pending) == ("left", 4, 2)
    assert rec[0].recovered_at is None  # chapter 2 still waits
    sched.check_invariants()


def test_job_done_once_and_only_after_the_restarted_task_ends():
    sched = ChapterScheduler([100, 100], [1, 1], SchedulerConfig(lease_seconds=5.0))
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    sched.handle(AudioReceived("a", a.lease, 0), 1.0)
    assert of(sched.handle(Tick(), 6.0), Revoke)
    b = only_assign(sched.handle(NodeJoined("b"), 6.0))
    # a's expired task may not deliver any more: its late audio is stale (no failure)
    assert sched.handle(AudioReceived("a", a.lease, 1), 7.0)[0] == Drop(1, "a", "stale")
    assert not sched.done
    assert sched.handle(AudioReceived("b", b.lease, 0), 8.0) == [Drop(0, "b", "duplicate")]
    assert not sched.done
    out = sched.handle(AudioReceived("b", b.lease, 1), 9.0)
    assert out == [Accept(1, "b"), JobDone()]
    assert sched.done and sched.next_expiry() == float("inf")
    assert of(sched.handle(Tick(), 10.0), JobDone) == []
    assert of(sched.handle(AudioReceived("a", a.lease, 1), 11.0), JobDone) == []
    assert sched.stats().nodes[0].failures == 0


def test_resume_skips_stored_segments_and_chapters():
    sched = ChapterScheduler(CHARS, CHAPTERS, done={0, 1, 2, 5, 7})
    a = only_assign(sched.handle(NodeJoined("a", slots=1), 0.0))  # chapter 1 is complete
    assert a.indices == (3, 4)
    b = only_assign(sched.handle(NodeJoined("b", slots=1), 0.0))
    assert b.indices == (6, 8)  # a resumed chapter with holes: only what is missing
    out, t = finish(sched, "a", a.lease, (3, 4), 1.0)
    out, t = finish(sched, "b", b.lease, (6, 8), t)
    assert out[-1] == JobDone()
    p = sched.progress()
    assert (p.segments_done, p.resumed_segments, p.fraction) == (9, 5, 1.0)
    assert sched.stats().resumed_segments == 5


def test_everything_stored_is_done_at_once():
    sched = ChapterScheduler([10, 10], [1, 2], done=[0, 1])
    assert sched.done
    assert sched.handle(NodeJoined("a"), 0.0) == [JobDone()]
    assert ChapterScheduler([], []).handle(Tick(), 0.0) == [JobDone()]


def test_a_steal_reply_is_stale_and_nothing_is_ever_stolen():
    sched = ChapterScheduler(CHARS, CHAPTERS)
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    assert sched.handle(StealReply("a", 1, 1), 1.0) == []
    assert sched.stats().stale_replies == 1
    assert sched.stats().steals == sched.stats().steal_requests == 0
    assert sched.handle(RevokeAck("a", a.lease), 2.0) == []


def test_failures_retry_the_chapter_then_remove_the_node():
    sched = ChapterScheduler(CHARS, CHAPTERS, SchedulerConfig(max_failures=2))
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    sched.handle(AudioReceived("a", a.lease, 0), 1.0)
    out = sched.handle(SegmentFailed("a", a.lease, 1, "boom"), 2.0)
    # the task raised: it starts again from its first sentence (here on the same free node)
    assert out[0] == Revoke("a", a.lease, "failed")
    again = only_assign(out)
    assert again.indices == (0, 1, 2) and again.lease != a.lease
    assert sched.stats().retries == 3
    out = sched.handle(AudioInvalid("a", again.lease, 0, "too short"), 3.0)
    assert out == [RemoveNode("a", "2 failures (last: sentence 0: too short)")]
    assert sched.queued_chapters()[0] == 0
    b = only_assign(sched.handle(NodeJoined("b"), 4.0))
    assert b.indices == (0, 1, 2)
    assert sched.handle(NodeJoined("a"), 5.0) == []  # removed nodes stay off
    assert sched.handle(AudioReceived("a", again.lease, 1), 6.0) == [Drop(1, "a", "node removed")]
    rec = sched.stats().recoveries
    assert [(r.kind, r.segments, r.recovered_at) for r in rec] == [("removed", 3, 4.0)]
    sched.check_invariants()


def test_chapter_numbers_are_checked():
    with pytest.raises(ValueError, match="must not decrease"):
        ChapterScheduler([1, 1, 1], [1, 2, 1])
    with pytest.raises(ValueError, match="chapter numbers for"):
        ChapterScheduler([1, 1, 1], [1, 1])
    with pytest.raises(ValueError, match="outside"):
        ChapterScheduler([1], [1], done=[3])


# ---------------------------------------------------------------------- in the simulator

def book(chapters: int, per_chapter: int, seed: int = 1) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    chars, numbers = [], []
    for c in range(chapters):
        for _ in range(rng.randint(per_chapter // 2, per_chapter * 3 // 2)):
            chars.append(rng.randint(20, 250))
            numbers.append(c + 1)
    return chars, numbers


def chapter_policy(numbers):
    return lambda chars, config, done: ChapterScheduler(chars, numbers, config, done)


def exactly_once(result) -> None:
    assert result.done and result.job_done_count == 1
    assert all(c == 1 for c in result.accept_counts)


def test_in_the_simulator_it_is_slower_than_stealing_on_mixed_nodes():
    # 20 chapters, ~1200 sentences, nodes 16x apart: the slow ones hold whole chapters to the
    # end (measured: chapters 2.2x the stealing wall time, efficiency 0.46 vs 0.99)
    chars, numbers = book(20, 60)
    nodes = [SimNode(f"n{i}", 50.0 * s) for i, s in enumerate([4, 4, 1, 1, 0.25, 0.25])]
    stealing = simulate(chars, nodes)
    chapters = simulate(chars, nodes, scheduler=chapter_policy(numbers))
    exactly_once(stealing)
    exactly_once(chapters)
    assert chapters.stats.steal_requests == 0 and chapters.redundant_chars == 0
    assert stealing.efficiency > 0.9
    assert chapters.efficiency < 0.75
    assert chapters.wall_time > 1.5 * stealing.wall_time, (chapters.wall_time, stealing.wall_time)


def test_in_the_simulator_failures_cost_whole_chapters():
    chars, numbers = book(12, 60, seed=2)
    nodes = [SimNode("a", 100.0), SimNode("b", 100.0, slots=2),
             SimNode("k", 100.0, kill_at=200.0),
             SimNode("f", 100.0, freeze_at=100.0, thaw_at=150.0)]
    stealing = simulate(chars, nodes)
    chapters = simulate(chars, nodes, scheduler=chapter_policy(numbers))
    exactly_once(stealing)
    exactly_once(chapters)
    kinds = sorted(r.kind for r in chapters.stats.recoveries)
    assert kinds == ["expired", "left"]
    assert all(r.recovered_at is not None for r in chapters.stats.recoveries)
    # the restarted chapters were made again from their first sentence
    assert chapters.stats.duplicate_chars > 3 * max(stealing.stats.duplicate_chars, 1)
    assert chapters.redundant_chars >= chapters.stats.duplicate_chars
