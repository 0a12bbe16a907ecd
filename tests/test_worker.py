"""LeaseRunner: the victim's side of steals, revokes and failures (a fake engine stands in)."""

from __future__ import annotations

import asyncio

from e2a_node.worker import NOTHING_TO_GIVE, LeaseRunner, WorkItem
from tests.worker_helpers import GatedEngine, RecordingOutbox


def items(a: int, b: int) -> list[WorkItem]:
    return [WorkItem(i, str(i), 0) for i in range(a, b)]


async def until(cond, timeout=5.0):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def run(coro):
    return asyncio.run(coro)


def test_steal_mid_run_stops_after_the_segment_in_progress():
    async def main():
        engine, box = GatedEngine(), RecordingOutbox()
        runner = LeaseRunner([engine], box)
        runner.assign(7, items(0, 10))
        await until(lambda: engine.started == ["0"])
        engine.gate.release()
        await until(lambda: engine.started == ["0", "1"])
        runner.steal(1, 7, split_at=1)  # asks for 1.., but 1 is already being spoken
        runner.steal(2, 7, split_at=5)  # a later, smaller steal is still honoured as asked
        for _ in range(5):
            engine.gate.release()
        await until(lambda: 7 not in runner.active_leases())
        await runner.close()
        return box.log

    log = run(main())
    assert ("steal", 1, 2) in log and ("steal", 2, 5) in log
    assert [e[2] for e in log if e[0] == "audio"] == [0, 1]


def test_steal_before_start_gives_exactly_the_split_and_unknown_lease_gives_nothing():
    async def main():
        engine, box = GatedEngine(), RecordingOutbox()
        runner = LeaseRunner([engine], box)
        runner.assign(1, items(0, 3))
        await until(lambda: engine.started == ["0"])
        runner.assign(2, items(10, 20))  # queued behind lease 1 on the only slot
        runner.steal(5, 2, split_at=12)
        runner.steal(6, 99, split_at=0)
        for _ in range(10):
            engine.gate.release()
        await until(lambda: not runner.active_leases())
        await runner.close()
        return box.log

    log = run(main())
    assert ("steal", 5, 12) in log and ("steal", 6, NOTHING_TO_GIVE) in log
    assert [e[2] for e in log if e[0] == "audio"] == [0, 1, 2, 10, 11]


def test_revoke_stops_the_lease_and_a_failure_does_not():
    async def main():
        engine, box = GatedEngine(fail={1}), RecordingOutbox()
        runner = LeaseRunner([engine], box)
        runner.assign(1, items(0, 4))
        runner.assign(2, items(10, 14))
        runner.revoke(2)  # not started yet: never starts
        for _ in range(4):
            engine.gate.release()
        await until(lambda: not runner.active_leases())
        await runner.close()
        return box.log

    log = run(main())
    assert ("failed", 1, 1) in log and ("revoked", 2) in log
    assert [e[2] for e in log if e[0] == "audio"] == [0, 2, 3]


def test_two_slots_work_two_leases_at_once():
    async def main():
        engines, box = [GatedEngine(), GatedEngine()], RecordingOutbox()
        runner = LeaseRunner(engines, box)
        runner.assign(1, items(0, 2))
        runner.assign(2, items(5, 7))
        await until(lambda: all(e.started for e in engines))
        for e in engines:
            e.gate.release()
            e.gate.release()
        await until(lambda: not runner.active_leases())
        await runner.close()
        return box.log

    log = run(main())
    assert sorted(e[2] for e in log if e[0] == "audio") == [0, 1, 5, 6]
