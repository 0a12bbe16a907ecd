"""The rules that used to live in the driver, with a fake clock: giving up, and when a discovered
node is asked again (scheduler.peers)."""

from __future__ import annotations

from e2a_node.scheduler import (AudioInvalid, GiveUp, NodeJoined, NodeLeft, Scheduler, SchedulerConfig,
                                SegmentFailed, Tick)
from e2a_node.scheduler.peers import MAX_TARGETS, PeerState, PeerTable
from tests.scheduler_helpers import only_assign
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)


def gave_up(out) -> list[GiveUp]:
    return [ins for ins in out if isinstance(ins, GiveUp)]


def test_no_node_for_give_up_seconds_gives_up_once_then_nothing():
    sched = Scheduler([10] * 5, SchedulerConfig(give_up_seconds=60))
    assert not gave_up(sched.handle(Tick(), 0.0))
    assert not gave_up(sched.handle(Tick(), 59.9))
    out = sched.handle(Tick(), 60.0)
    assert out == [GiveUp("no node could work on the job for 60 s")]
    assert sched.handle(NodeJoined("late", 1, 100.0), 61.0) == []  # nothing after it


def test_a_node_that_comes_back_in_time_resets_the_clock():
    sched = Scheduler([10] * 5, SchedulerConfig(give_up_seconds=60))
    sched.handle(NodeJoined("a", 1, 100.0), 0.0)
    sched.handle(NodeLeft("a", "stream broke"), 10.0)
    sched.handle(Tick(), 69.0)
    assert only_assign(sched.handle(NodeJoined("a", 1, 100.0), 69.5))  # back: work again
    sched.handle(NodeLeft("a", "stream broke"), 100.0)
    assert not gave_up(sched.handle(Tick(), 159.0))
    assert gave_up(sched.handle(Tick(), 160.0))


def test_alone_the_last_node_going_ends_the_job_at_once_naming_why():
    sched = Scheduler([10] * 5, SchedulerConfig(max_failures=2, more_nodes_may_join=False))
    a = only_assign(sched.handle(NodeJoined("local", 1, 100.0), 0.0))
    assert not gave_up(sched.handle(SegmentFailed("local", a.lease, 0, "RuntimeError: the engine broke"), 1.0))
    out = sched.handle(AudioInvalid("local", a.lease, 1, "empty or malformed audio"), 2.0)
    (giving_up,) = gave_up(out)
    assert giving_up.reason == ("no node is left to do the job (local was taken off the job: 2 failures "
                                "(last: sentence 1: empty or malformed audio))")


def test_alone_a_node_that_left_ends_the_job_too():
    sched = Scheduler([10] * 3, SchedulerConfig(more_nodes_may_join=False))
    sched.handle(NodeJoined("local", 1, 100.0), 0.0)
    (giving_up,) = gave_up(sched.handle(NodeLeft("local", "its engine process died"), 1.0))
    assert "local left: its engine process died" in giving_up.reason


def test_with_more_nodes_possible_the_last_one_leaving_waits():
    sched = Scheduler([10] * 3, SchedulerConfig(give_up_seconds=30))
    sched.handle(NodeJoined("a", 1, 100.0), 0.0)
    assert not gave_up(sched.handle(NodeLeft("a", "gone"), 1.0))
    assert gave_up(sched.handle(Tick(), 31.0))


def test_peer_states_wait_their_backoff_and_some_never_come_back():
    table = PeerTable()
    assert table.found("busy:1", 0.0) and not table.found("busy:1", 0.5)  # connect once, not per sighting
    for target in ("down:1", "wrong:1", "twin:1", "liar:1", "gone:1"):
        table.found(target, 0.0)
    table.result("busy:1", PeerState.BUSY, 1.0)
    table.result("down:1", PeerState.UNREACHABLE, 1.0)
    table.result("wrong:1", PeerState.REFUSED, 1.0)
    table.result("twin:1", PeerState.DUPLICATE, 1.0)
    table.result("liar:1", PeerState.BANNED, 1.0)
    table.result("gone:1", PeerState.LEFT, 1.0)
    assert table.due(2.9) == []
    assert sorted(table.due(3.0)) == ["down:1", "gone:1"]
    assert table.due(3.1) == []  # each is handed out once, then it is connecting
    assert table.state("down:1") is PeerState.CONNECTING
    assert table.due(11.0) == ["busy:1"]
    assert table.due(1e9) == []  # refused, duplicate and banned: never again


def test_the_table_stays_bounded_and_keeps_members():
    table = PeerTable(max_targets=8)
    table.found("member:1", 0.0)
    table.result("member:1", PeerState.JOINED, 0.0)
    for n in range(5 * MAX_TARGETS // 100):
        table.found(f"flood:{n}", float(n))
        table.result(f"flood:{n}", PeerState.REFUSED, float(n))
    assert len(table._states) <= 8
    assert table.state("member:1") is PeerState.JOINED
