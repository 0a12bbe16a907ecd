"""The scheduler in the discrete-event simulator: efficiency, exactly-once results under
kills, freezes, joins and failures, deterministic replay, and speed of the leader."""

from __future__ import annotations

import random
import time

import pytest

from e2a_node.scheduler import Assign, RequestSteal, Scheduler, SchedulerConfig, StealReply
from e2a_node.scheduler.simulate import SimNode, simulate
from tests.scheduler_helpers import checked  # noqa: F401  (autouse: every policy checks itself)


def segments(n: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(20, 250) for _ in range(n)]


def exactly_once(result) -> None:
    assert result.done
    assert result.job_done_count == 1
    assert all(c == 1 for c in result.accept_counts), \
        [i for i, c in enumerate(result.accept_counts) if c != 1][:20]


@pytest.mark.parametrize("count", [1, 4, 16])
def test_equal_nodes_finish_near_the_ideal_time(count):
    result = simulate(segments(2000), [SimNode(f"n{i}", 100.0) for i in range(count)])
    exactly_once(result)
    assert result.wall_time <= result.ideal_time * 1.05, (result.wall_time, result.ideal_time)
    assert result.redundant_chars <= 0.01 * result.total_chars


def test_heterogeneous_nodes_finish_near_the_ideal_time():
    speeds = [4, 2, 1, 1, 0.5]
    nodes = [SimNode(f"n{i}", 50.0 * s) for i, s in enumerate(speeds)]
    result = simulate(segments(2000), nodes)
    exactly_once(result)
    assert result.wall_time <= result.ideal_time * 1.08, (result.wall_time, result.ideal_time)
    # the fast node did about 4/8.5 of the work
    share = result.stats.nodes[0].chars / result.total_chars
    assert 0.42 < share < 0.52


def test_wrong_handshake_speeds_are_corrected_by_observation():
    speeds = [4, 2, 1, 1, 0.5]
    claims = [0.5, 1, 4, 1, 4]  # fast nodes claim slow and the other way round
    nodes = [SimNode(f"n{i}", 50.0 * s, claimed_speed=50.0 * c)
             for i, (s, c) in enumerate(zip(speeds, claims))]
    result = simulate(segments(2000), nodes)
    exactly_once(result)
    assert result.wall_time <= result.ideal_time * 1.08
    for node, s in zip(result.stats.nodes, speeds):
        assert node.speed == pytest.approx(50.0 * s, rel=0.1)


def test_no_tail_cap_means_stealing_balances_the_end():
    config = SchedulerConfig(tail_factor=1e-9)  # runs never shrink: only steals help
    nodes = [SimNode("a", 100.0), SimNode("b", 20.0, claimed_speed=400.0), SimNode("c", 100.0)]
    result = simulate(segments(600), nodes, config)
    exactly_once(result)
    assert result.stats.steals >= 1
    assert result.wall_time <= result.ideal_time * 1.05


def test_kill_at_half_progress_costs_only_the_lost_capacity():
    segs = segments(2000)
    total = sum(segs)
    half = total / 400.0 / 2  # 4 nodes x 100 chars/s: half the work is done at this time
    nodes = [SimNode("a", 100.0, kill_at=half)] + [SimNode(f"n{i}", 100.0) for i in range(3)]
    result = simulate(segs, nodes)
    exactly_once(result)
    ideal = half + (total - 400.0 * half) / 300.0
    assert result.wall_time <= ideal * 1.05, (result.wall_time, ideal)
    (rec,) = result.stats.recoveries
    assert rec.kind == "left" and rec.node == "a" and rec.seconds is not None
    assert rec.seconds <= SchedulerConfig().target_run_seconds * 1.5  # next free slot


def test_freeze_at_half_progress_is_recovered_by_lease_expiry():
    segs = segments(2000)
    total = sum(segs)
    half = total / 400.0 / 2
    nodes = [SimNode("a", 100.0, freeze_at=half)] + [SimNode(f"n{i}", 100.0) for i in range(3)]
    result = simulate(segs, nodes)
    exactly_once(result)
    ideal = half + (total - 400.0 * half) / 300.0
    assert result.wall_time <= ideal * 1.05 + SchedulerConfig().lease_seconds
    (rec,) = result.stats.recoveries
    assert rec.kind == "expired"
    assert half < rec.detected_at <= half + SchedulerConfig().lease_seconds + 1.0


def test_freeze_then_thaw_delivers_late_audio_once():
    nodes = [SimNode("a", 100.0, freeze_at=100.0, thaw_at=130.0),
             SimNode("b", 100.0), SimNode("c", 100.0)]
    result = simulate(segments(800), nodes, delay=0.05)
    exactly_once(result)
    stats = result.stats
    assert stats.reassignments > 0
    assert stats.nodes[0].state == "active" and stats.nodes[0].segments > 0


def test_join_when_the_queue_is_empty_steals_work():
    config = SchedulerConfig(tail_factor=1e-9, target_run_seconds=1000.0)  # a takes it all
    nodes = [SimNode("a", 100.0), SimNode("b", 100.0), SimNode("late", 100.0, join_at=50.0)]
    result = simulate(segments(400), nodes, config, delay=0.2)
    exactly_once(result)
    late = result.stats.nodes[2]
    assert late.steals_won >= 1 and late.segments > 0


def test_victim_past_the_split_in_simulation():
    # long message delays: by the time a request arrives the victim has moved on
    config = SchedulerConfig(tail_factor=1e-9, target_run_seconds=60.0)
    nodes = [SimNode("a", 200.0), SimNode("b", 50.0), SimNode("c", 400.0, join_at=30.0)]
    result = simulate([40] * 600, nodes, config, delay=1.0, record=True)
    exactly_once(result)
    requests = {ins.steal_id: ins for _, _, out in result.log for ins in out
                if isinstance(ins, RequestSteal)}
    replies = [ev for _, ev, _ in result.log if isinstance(ev, StealReply)]
    assert any(ev.stop_at > requests[ev.steal_id].split_at for ev in replies)
    assert result.stats.steals >= 1


def scenario(seed: int):
    rng = random.Random(seed)
    n = rng.randint(150, 600)
    segs = [rng.randint(1, 300) for _ in range(n)]
    done = set(rng.sample(range(n), rng.randint(0, n // 4))) if rng.random() < 0.4 else set()
    nodes = [SimNode("steady", rng.uniform(30, 300), slots=rng.randint(1, 3))]
    for k in range(rng.randint(1, 5)):
        kw: dict = {}
        roll = rng.random()
        if roll < 0.2:
            kw["kill_at"] = rng.uniform(0, 60)
        elif roll < 0.4:
            kw["freeze_at"] = rng.uniform(0, 60)
            if rng.random() < 0.6:
                kw["thaw_at"] = kw["freeze_at"] + rng.uniform(1, 30)
        elif roll < 0.55:
            kw["fail"] = frozenset(rng.sample(range(n), rng.randint(1, 5)))
        if rng.random() < 0.3:
            kw["join_at"] = rng.uniform(0, 60)
        if rng.random() < 0.3:
            kw["claimed_speed"] = rng.uniform(10, 500)
        if rng.random() < 0.1:
            kw["refused"] = "version mismatch"
        nodes.append(SimNode(f"n{k}", rng.uniform(10, 300), slots=rng.randint(1, 3), **kw))
    config = SchedulerConfig(target_run_seconds=rng.choice([2.0, 5.0, 20.0]),
                             tail_factor=rng.choice([1e-9, 1.0, 2.0, 4.0]),
                             lease_seconds=rng.choice([3.0, 10.0]))
    delay = rng.choice([0.001, 0.02, 0.2, 1.0])
    return segs, nodes, config, delay, done


@pytest.mark.parametrize("seed", range(40))
def test_randomized_every_segment_accepted_exactly_once(seed):
    segs, nodes, config, delay, done = scenario(seed)
    result = simulate(segs, nodes, config, delay=delay, done=done, record=True,
                      max_time=1e6)
    assert result.done
    assert result.job_done_count == 1
    for i, c in enumerate(result.accept_counts):
        assert c == (0 if i in done else 1), (i, c)
    for _, _, out in result.log:
        for ins in out:
            if isinstance(ins, Assign):
                assert ins.indices == tuple(range(ins.indices[0], ins.indices[-1] + 1))
                assert not done & set(ins.indices)
    stats = result.stats
    assert stats.segments_done == len(segs)
    assert stats.duplicates == result.dropped - sum(
        1 for _, _, out in result.log for ins in out
        if type(ins).__name__ == "Drop" and ins.reason != "duplicate")


def test_deterministic_replay():
    segs, nodes, config, delay, done = scenario(3)
    first = simulate(segs, nodes, config, delay=delay, done=done, record=True)
    second = simulate(segs, nodes, config, delay=delay, done=done, record=True)
    assert first.log == second.log
    # the same events at the same times into a fresh scheduler give the same instructions
    sched = Scheduler(segs, config, done)
    for now, event, out in first.log:
        assert sched.handle(event, now) == out
    assert sched.stats() == first.stats


def test_the_leader_is_not_the_bottleneck():
    rng = random.Random(7)
    segs = [rng.randint(20, 250) for _ in range(20_000)]
    nodes = [SimNode(f"n{i:02d}", rng.choice([50.0, 100.0, 150.0, 200.0]),
                     slots=rng.choice([1, 2])) for i in range(32)]
    start = time.perf_counter()
    # (a throughput test: checked after every event it would time the checks)
    result = simulate(segs, nodes, scheduler=lambda c, cfg, d: Scheduler(c, cfg, d, check=False))
    elapsed = time.perf_counter() - start
    exactly_once(result)
    # the simulator's own work is included; the scheduler alone is faster still
    assert result.events / elapsed > 10_000, (result.events, elapsed)


def test_a_late_straggler_is_covered_by_steals_and_backups():
    segs = segments(2000)
    slow_at = sum(segs) / 400.0 * 0.9  # one of 4 nodes drops to 5% speed near the end
    nodes = [SimNode("s", 100.0, slow_at=slow_at, slow_factor=0.05)] + [
        SimNode(f"n{i}", 100.0) for i in range(3)]
    # Long tail runs (tail_factor 2) leave the straggler holding work that only steals and
    # backups can take back; the default's shorter runs hide part of that.
    helped = simulate(segs, nodes, SchedulerConfig(tail_factor=2.0))
    alone = simulate(segs, nodes, SchedulerConfig(tail_factor=2.0, stealing=False, backups=False))
    exactly_once(helped)
    exactly_once(alone)
    ideal = sum(segs) / 400.0
    assert helped.wall_time <= ideal * 1.06
    assert alone.wall_time > helped.wall_time * 1.1
    assert helped.stats.steals + helped.stats.backups >= 1
