"""Scheduler basics with a fake clock: sizing, leases, expiry, renewal, loss, failures,
resume, JobDone, refusals, joins mid-job, progress and stats."""

from __future__ import annotations

import pytest

from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Drop, Heartbeat,
                                JobDone, NodeJoined, NodeLeft, NodeRefused, RemoveNode, Revoke,
                                RevokeAck, Scheduler, SchedulerConfig, SegmentFailed, Tick)
from tests.scheduler_helpers import of, only_assign
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)


def test_first_assignments_are_sized_by_speed():
    sched = Scheduler([100] * 1000, SchedulerConfig(target_run_seconds=20.0))
    slow = only_assign(sched.handle(NodeJoined("slow", slots=1, speed=10.0), 0.0))
    assert slow.indices == (0, 1)  # 20 s * 10 chars/s = 200 chars = 2 segments
    assert slow.expires_at == 10.0 and slow.kind == "run"
    fast = sched.handle(NodeJoined("fast", slots=2, speed=50.0), 0.0)
    assert [a.indices for a in of(fast, Assign)] == [tuple(range(2, 12)), tuple(range(12, 22))]
    assert [a.lease for a in of(fast, Assign)] == [2, 3]
    sched.check_invariants()


def test_at_least_one_segment_even_when_it_is_long():
    sched = Scheduler([5000, 10, 10])
    a = only_assign(sched.handle(NodeJoined("a", speed=1.0), 0.0))
    assert a.indices == (0,)


def test_runs_shrink_as_the_queue_drains():
    # 20 segments of 100 chars; one slot at 100 chars/s would want 2000 chars (everything),
    # but the tail cap is queued / (2 * slots) = 1000 chars (tail_factor 2 keeps the arithmetic plain).
    sched = Scheduler([100] * 20, SchedulerConfig(tail_factor=2.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    assert a.indices == tuple(range(10))
    b = only_assign(sched.handle(NodeJoined("b", speed=100.0), 0.0))
    assert b.indices == (10, 11)  # 1000 left / (2 * 2 slots) = 250 chars
    sched.check_invariants()


def test_new_work_comes_from_the_front():
    sched = Scheduler([100] * 100, SchedulerConfig(target_run_seconds=5.0))
    starts = []
    for name in "abcd":
        starts.append(only_assign(sched.handle(NodeJoined(name, speed=100.0), 0.0)).indices[0])
    assert starts == sorted(starts) and starts[0] == 0


def test_expiry_returns_only_unfinished_segments_and_marks_the_node():
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=5.0, lease_seconds=10.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    assert a.indices == (0, 1, 2, 3, 4)
    assert sched.handle(AudioReceived("a", a.lease, 0), 1.0) == [Accept(0, "a")]
    assert sched.handle(AudioReceived("a", a.lease, 1), 2.0) == [Accept(1, "a")]
    assert sched.handle(Tick(), 11.9) == []  # renewed by the audio at t=2
    out = sched.handle(Tick(), 12.0)
    assert out == [Revoke("a", a.lease, "expired")]
    assert sched.queued()[0] == (2, 40)  # 2, 3, 4 back in front of the fresh work
    assert sched.stats().nodes[0].state == "unresponsive"
    assert sched.stats().nodes[0].expiries == 1
    assert sched.stats().reassignments == 3
    assert sched.handle(Tick(), 13.0) == []  # unresponsive: no new work
    # another node gets the returned segments first
    b = only_assign(sched.handle(NodeJoined("b", speed=100.0), 14.0))
    assert b.indices[:3] == (2, 3, 4)
    rec = sched.stats().recoveries
    assert len(rec) == 1 and rec[0].kind == "expired" and rec[0].segments == 3
    assert rec[0].detected_at == 12.0 and rec[0].seconds == pytest.approx(2.0)
    # a sign of life: a gets work again; its late audio is stale (the lease ended), not a
    # failure, and only b's lease may deliver 2 now
    out = sched.handle(AudioReceived("a", a.lease, 2), 15.0)
    assert out[0] == Drop(2, "a", "stale")
    assert of(out, Assign) and of(out, Assign)[0].node == "a"
    assert sched.handle(AudioReceived("b", b.lease, 2), 16.0) == [Accept(2, "b")]
    assert sched.handle(AudioReceived("a", a.lease, 2), 16.5) == [Drop(2, "a", "duplicate")]
    sched.check_invariants()
    st = sched.stats()
    assert (st.duplicates, st.stale_audio, st.nodes[0].failures) == (1, 1, 0)


def test_heartbeat_renews_every_lease_of_the_node():
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=5.0))
    out = sched.handle(NodeJoined("a", slots=2, speed=100.0), 0.0)
    assert len(of(out, Assign)) == 2
    assert sched.handle(Heartbeat("a"), 9.0) == []
    assert sched.handle(Tick(), 18.9) == []
    assert [i.lease for i in sched.handle(Tick(), 19.0)] == [1, 2]


def test_audio_renews_and_revoke_ack_is_a_sign_of_life():
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=5.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    sched.handle(AudioReceived("a", a.lease, 0), 8.0)
    assert sched.handle(Tick(), 17.0) == []
    sched.handle(RevokeAck("a", 99), 17.5)
    assert sched.handle(Tick(), 27.0) == []
    assert of(sched.handle(Tick(), 27.5), Revoke)


def test_expiry_is_seen_at_any_event_not_only_ticks():
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=5.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    out = sched.handle(NodeJoined("b", speed=100.0), 30.0)
    assert out[0] == Revoke("a", a.lease, "expired")
    assert only_assign(out).indices[0] == 0


def test_node_left_returns_work_at_once():
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=5.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    b = only_assign(sched.handle(NodeJoined("b", speed=100.0), 0.0))
    sched.handle(AudioReceived("a", a.lease, 0), 1.0)
    assert sched.handle(NodeLeft("a", "stream broke"), 1.5) == []  # b is busy
    assert sched.queued()[0] == (1, 5)
    st = sched.stats()
    assert st.nodes[0].state == "left" and st.nodes[0].reason == "stream broke"
    assert st.nodes[0].segments == 1  # nothing already received is lost
    # b finishes its run and gets a's segments first
    out = []
    for k, i in enumerate(b.indices):
        out = sched.handle(AudioReceived("b", b.lease, i), 2.0 + k)
    assert only_assign(out).indices[:4] == (1, 2, 3, 4)
    rec = sched.stats().recoveries
    assert rec[0].kind == "left" and rec[0].segments == 4 and rec[0].recovered_at is not None
    sched.check_invariants()


def test_failures_remove_the_node_and_return_its_work():
    sched = Scheduler([100] * 40, SchedulerConfig(target_run_seconds=5.0, max_failures=3))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    out = sched.handle(SegmentFailed("a", a.lease, 0, "onnx error"), 1.0)
    assert of(out, RemoveNode) == []
    assert sched.queued()[0] == (0, 1)  # the failed segment goes back at once
    sched.handle(AudioReceived("a", a.lease, 1), 2.0)
    sched.handle(AudioInvalid("a", a.lease, 2, "empty audio"), 3.0)
    out = sched.handle(SegmentFailed("a", a.lease, 3, "onnx error"), 4.0)
    removes = of(out, RemoveNode)
    assert len(removes) == 1 and removes[0].node == "a"
    assert "3 failures" in removes[0].reason and "onnx error" in removes[0].reason
    assert sched.queued()[0] == (0, 1) and (2, 40) in sched.queued()  # 1 is done
    st = sched.stats()
    assert st.nodes[0].state == "removed" and st.nodes[0].failures == 3
    assert st.retries == 3 and st.reassignments == 1  # 0, 2, 3 failed; 4 unfinished
    # it stays off the job
    assert sched.handle(AudioReceived("a", a.lease, 4), 5.0) == [Drop(4, "a", "node removed")]
    assert sched.handle(NodeJoined("a", speed=100.0), 6.0) == []
    b = only_assign(sched.handle(NodeJoined("b", speed=100.0), 7.0))
    assert b.indices == (0,)  # the front run is the lone failed segment
    sched.check_invariants()


def test_node_joining_mid_job_gets_work_at_once():
    sched = Scheduler([100] * 100, SchedulerConfig(target_run_seconds=5.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    for k, i in enumerate(a.indices):
        sched.handle(AudioReceived("a", a.lease, i), 1.0 + k)
    late = only_assign(sched.handle(NodeJoined("late", speed=100.0), 30.0))
    assert late.node == "late"


def test_refused_node_appears_in_stats_only():
    sched = Scheduler([100] * 10)
    assert sched.handle(NodeRefused("old", "protocol version 1, need 2"), 0.0) == []
    nodes = sched.stats().nodes
    assert [(n.node, n.state, n.reason) for n in nodes] == [
        ("old", "refused", "protocol version 1, need 2")]
    assert sched.stats().to_dict()["nodes"][0]["state"] == "refused"


def test_resume_never_assigns_done_segments():
    done = set(range(0, 30, 2)) | {29}
    sched = Scheduler([100] * 30, SchedulerConfig(target_run_seconds=5.0), done=done)
    assert sched.progress().segments_done == 16 and sched.progress().resumed_segments == 16
    seen = []
    t = 0.0
    out = sched.handle(NodeJoined("a", slots=2, speed=100.0), t)
    while not sched.done:
        for a in of(out, Assign):
            assert not set(a.indices) & done
            seen.extend(a.indices)
        nxt = []
        for a in of(out, Assign):
            for i in a.indices:
                t += 1.0
                nxt += sched.handle(AudioReceived("a", a.lease, i), t)
        out = nxt
    assert sorted(seen) == sorted(set(range(30)) - done)


def test_job_done_exactly_once():
    sched = Scheduler([10, 20, 30])
    a = only_assign(sched.handle(NodeJoined("a", speed=1000.0), 0.0))
    assert a.indices == (0, 1, 2) or a.indices[0] == 0
    outs = []
    t = 1.0
    while not sched.done:
        for i in range(3):
            if not sched.is_accepted(i):
                lease = [lz["lease"] for lz in sched.leases() if lz["start"] <= i < lz["stop"]]
                outs += sched.handle(AudioReceived("a", lease[0] if lease else 0, i), t)
                t += 1.0
    outs += sched.handle(AudioReceived("a", a.lease, 2), t)
    outs += sched.handle(Tick(), t + 1)
    outs += sched.handle(NodeJoined("b", speed=10.0), t + 2)
    assert outs.count(JobDone()) == 1
    assert of(outs, Assign) == [] or all(x.node == "a" for x in of(outs, Assign))


def test_job_done_when_everything_was_already_stored():
    sched = Scheduler([10, 20], done=[0, 1])
    assert sched.handle(Tick(), 0.0) == [JobDone()]
    assert sched.handle(NodeJoined("a"), 1.0) == []
    empty = Scheduler([])
    assert empty.handle(Tick(), 0.0) == [JobDone()]


def test_progress_and_busy_time():
    sched = Scheduler([100] * 10, SchedulerConfig(target_run_seconds=2.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=100.0), 0.0))
    assert a.indices == (0, 1)
    sched.handle(AudioReceived("a", a.lease, 0), 1.0)
    sched.handle(AudioReceived("a", a.lease, 1), 2.0)
    p = sched.progress()
    assert (p.segments_done, p.segments_total, p.chars_done, p.chars_total) == (2, 10, 200, 1000)
    assert p.per_node["a"] == {"segments": 2, "chars": 200, "share": 0.2}
    assert p.to_dict()["fraction"] == 0.2
    node = sched.stats().nodes[0]
    assert node.busy_seconds == pytest.approx(2.0) and node.leases == 2
    assert node.speed == pytest.approx(100.0)


def test_speed_estimate_follows_observed_audio():
    sched = Scheduler([100] * 200, SchedulerConfig(target_run_seconds=10.0))
    a = only_assign(sched.handle(NodeJoined("a", speed=1000.0), 0.0))  # claims 10x too fast
    t = 0.0
    for i in a.indices[:30]:
        t += 1.0  # really 100 chars/s
        sched.handle(AudioReceived("a", a.lease, i), t)
    assert sched.stats().nodes[0].speed == pytest.approx(100.0, rel=0.05)


def test_time_must_not_go_backwards_and_events_must_be_events():
    sched = Scheduler([10])
    sched.handle(Tick(), 5.0)
    with pytest.raises(ValueError):
        sched.handle(Tick(), 4.0)
    with pytest.raises(TypeError):
        sched.handle("tick", 6.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Scheduler([10], done=[3])
    with pytest.raises(ValueError):
        SchedulerConfig(lease_seconds=0)


def test_the_state_machine_imports_no_io():
    import ast
    from pathlib import Path

    import e2a_node.scheduler as pkg

    forbidden = {"grpc", "asyncio", "threading", "zeroconf", "time", "socket", "os", "random",
                 "datetime", "subprocess", "logging"}
    for path in Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
