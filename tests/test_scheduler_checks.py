"""Checked policies: check_invariants after every event, a failure that tells the story of the
segments involved, Policy.story(), checks_from_env, and Policy.arguments()."""

from __future__ import annotations

import pytest

from e2a_node.scheduler import (AudioReceived, Heartbeat, NodeJoined, NodeLeft, Scheduler,
                                SchedulerConfig, Tick, checks_from_env)
from e2a_node.scheduler.chapter_policy import ChapterScheduler
from e2a_node.scheduler.config import SchedulerConfig as Config
from e2a_node.scheduler.history import HISTORY
from e2a_node.scheduler.simulate import SimNode, simulate
from tests.scheduler_helpers import Cluster, only_assign
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)

# 100-char segments at 100 chars/s: runs of 5, however short the queue
RUNS = SchedulerConfig(target_run_seconds=5.0, tail_factor=1e-9)


def test_every_policy_here_is_checked_unless_told_otherwise():
    assert Scheduler([10])._history is not None
    assert ChapterScheduler([10], [1])._history is not None
    assert Scheduler([10], check=False)._history is None
    assert Scheduler([10], check=False).story(0) == []


def test_a_broken_invariant_fails_at_the_next_event_with_the_story_of_the_segment():
    sched = Scheduler([100] * 20, RUNS)
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    assert a.indices == (0, 1, 2, 3, 4)
    sched.handle(AudioReceived("a", a.lease, 0), 1.0)
    sched.handle(Heartbeat("b"), 1.5)  # not in segment 3's story: b never held it
    sched._owner[3] = 999  # a bug: segment 3 now belongs to a lease that does not exist
    with pytest.raises(AssertionError) as caught:
        sched.handle(AudioReceived("a", a.lease, 1), 2.0)
    message = str(caught.value)
    assert "invariant broken" in message and "segment 3 owned by ended lease 999" in message
    story = message[message.index("story of segment 3"):].splitlines()
    assert "Assign(node='a'" in story[1] and "indices=(0..4)" in story[1]
    assert "Heartbeat" not in message.split("story of segment 3")[1]


def test_story_follows_a_segment_through_its_lease_steal_and_revoke():
    sched = Scheduler([100] * 10, SchedulerConfig(target_run_seconds=1000.0, tail_factor=1e-9))
    c = Cluster(sched)
    a = only_assign(c.join("a"))
    assert a.indices == tuple(range(10))
    c.handle(AudioReceived("a", a.lease, 0), 1.0)
    c.join("b", dt=0.1)  # steals the tail of a's run: request, reply, Assign to b
    c.handle(Heartbeat("a"), 0.1)
    c.handle(AudioReceived("a", a.lease, 1), 1.0)
    c.handle(NodeLeft("b", "gone"), 0.5)
    story = sched.story(9)
    kinds = " ".join(story)
    assert "NodeJoined(node='a'" in story[0]  # the event whose answer leased it
    for part in ("RequestSteal", "StealReply", "NodeLeft(node='b'"):
        assert part in kinds, (part, story)
    assert not any("AudioReceived(node='a', lease=1, index=0)" in line for line in story)
    assert any("index=0" in line for line in sched.story(0))


def test_the_history_is_bounded():
    sched = Scheduler([10] * 5)
    for k in range(HISTORY + 50):
        sched.handle(Tick(), float(k))
    assert len(sched._history.entries) == HISTORY


def test_an_assertion_inside_the_policy_tells_the_story_too():
    sched = Scheduler([100] * 10, RUNS)
    only_assign(sched.handle(NodeJoined("a"), 0.0))
    sched._queue.add(3, 4)  # a bug: segment 3 queued while a's run owns it
    with pytest.raises(AssertionError) as caught:  # a's run goes back to the queue: overlap
        sched.handle(NodeLeft("a", "gone"), 1.0)
    message = str(caught.value)
    assert message.startswith("while handling it: segments [0, 5) overlap queued run [3, 4)")
    assert "NodeLeft(node='a'" in message and "story of segment 0" in message


def test_the_chapter_policy_is_checked_too():
    sched = ChapterScheduler([100] * 6, [1, 1, 1, 2, 2, 2])
    a = only_assign(sched.handle(NodeJoined("a"), 0.0))
    sched.handle(AudioReceived("a", a.lease, 0), 1.0)
    sched._ch_missing[0] += 1  # a bug in the count of what chapter 0 lacks
    with pytest.raises(AssertionError, match="chapter 0 .*without audio") as caught:
        sched.handle(AudioReceived("a", a.lease, 1), 2.0)
    assert "story of segment 1" in str(caught.value)


class Counting(Scheduler):
    """A Scheduler that counts its invariant checks."""

    __slots__ = ("checks",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.checks = 0

    def check_invariants(self) -> None:
        self.checks += 1
        super().check_invariants()


def test_a_simulated_run_is_checked_at_every_event():
    built = []

    def build(chars, config, done):
        built.append(Counting(chars, config, done))
        return built[-1]

    result = simulate([50] * 60, [SimNode("a", 100.0), SimNode("b", 80.0, kill_at=5.0)],
                      scheduler=build)
    assert result.done and built[0].checks == result.events > 60


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), (" Yes ", True),
                                       ("0", False), ("", False), ("no", False)])
def test_checks_from_env(value, on):
    assert checks_from_env({"E2A_CHECK_INVARIANTS": value}) is on
    assert checks_from_env({}) is False


def test_arguments_build_a_policy_that_answers_the_same():
    config = SchedulerConfig(target_run_seconds=3.0, verify_fraction=0.5)
    events = [NodeJoined("a", 2, 100.0), NodeJoined("b", 1, 50.0), Tick(),
              NodeLeft("b", "gone"), Tick()]
    for sched in (Scheduler([40, 80, 120, 60, 90], config, done=[1]),
                  ChapterScheduler([40, 80, 120, 60, 90], [3, 3, 4, 4, 4], config, done=[1])):
        args = sched.arguments()
        assert args["done"] == [1] and args["segments"] == [40, 80, 120, 60, 90]
        args["config"] = Config.from_dict(args["config"])
        again = type(sched)(**args)
        for k, ev in enumerate(events):
            assert sched.handle(ev, float(k)) == again.handle(ev, float(k))
        assert sched.arguments()["done"] == [1]  # what it was built from, however it went on
