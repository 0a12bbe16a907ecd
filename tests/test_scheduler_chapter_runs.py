"""Runs sized by chapter: with more slots than a chapter has full-length runs, a chapter is
spread over every slot, so chapters complete one after another (the leader encodes each as soon
as it is complete)."""

from __future__ import annotations

from e2a_node.scheduler import AudioReceived, NodeJoined, Scheduler, SchedulerConfig
from tests.scheduler_helpers import Assign, checked, of  # noqa: F401  (checked: invariants on)

SPEED = 50.0  # chars/s of a slot: a 20 s run is 1,000 characters
CHARS = [100] * 1000  # ten chapters of 10,000 characters (too many for the tail cap to bind)
CHAPTERS = [k // 100 for k in range(1000)]


def first_runs(chapters, slots=16):
    sched = Scheduler(CHARS, SchedulerConfig(), chapters=chapters)
    return of(sched.handle(NodeJoined("n", slots=slots, speed=SPEED), 0.0), Assign)


def test_runs_spread_a_chapter_over_every_slot():
    runs = first_runs(CHAPTERS)
    assert len(runs) == 16
    assert all(len(r.indices) * 100 <= 10_000 / 16 for r in runs)  # 625 chars, not 1,000
    assert max(i for r in runs for i in r.indices) < 100  # all of them in the first chapter


def test_without_chapters_runs_are_full_length():
    runs = first_runs(None)
    assert [len(r.indices) for r in runs] == [10] * 16  # 1,000 chars, 20 s: over two chapters


def test_a_run_is_never_shorter_than_min_run_seconds():
    chapters = list(range(1000))  # every segment its own 100-char chapter
    runs = first_runs(chapters)
    # the spread (100 / 16 chars) is below 5 s of work (250 chars): 2 segments of 100 chars fit
    assert {len(r.indices) for r in runs} == {2}


def test_chapter_runs_finish_the_job():
    sched = Scheduler(CHARS, SchedulerConfig(), chapters=CHAPTERS)
    pending = list(of(sched.handle(NodeJoined("n", slots=16, speed=SPEED), 0.0), Assign))
    now, done = 0.0, set()
    while pending:
        run = pending.pop(0)
        for i in run.indices:
            now += 0.01
            done.add(i)
            pending += of(sched.handle(AudioReceived("n", run.lease, i), now), Assign)
    assert done == set(range(1000)) and sched.done


def test_chapters_must_match_the_segments():
    import pytest

    with pytest.raises(ValueError, match="chapter numbers"):
        Scheduler(CHARS, SchedulerConfig(), chapters=[0] * 10)
