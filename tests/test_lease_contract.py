"""The lease contract: the simulator's node (scheduler.simulate.SimWorker) and the real node's
LeaseRunner (e2a_node/worker.py) give the same answers to the same scripts.

A script is a list of steps sent to one node with one slot: assign a lease, steal from a lease
(known, unknown, finished, revoked, at or past the segment in progress, past the lease's end),
revoke a lease (in progress, waiting, unknown, twice), and "finish" (the segment in progress is
done; a failing index fails). After every step both nodes must have said the same things
(audio, failures, steal replies, revoke acks, in order) and be working on the same index. The
runner runs on an asyncio loop with an engine that finishes a segment only when the test lets it.
"""

from __future__ import annotations

import asyncio

import pytest

from e2a_node.scheduler.events import (NOTHING_TO_GIVE, AudioReceived, RevokeAck, SegmentFailed,
                                       StealReply)
from e2a_node.scheduler.simulate import SimWorker
from e2a_node.worker import NOTHING_TO_GIVE as RUNNER_NOTHING_TO_GIVE
from e2a_node.worker import LeaseRunner, WorkItem
from tests.worker_helpers import GatedEngine, RecordingOutbox

NOTHING = "nothing"  # how the scripts write NOTHING_TO_GIVE


class Said(RecordingOutbox):
    """What the runner said, its "nothing to give" written as the scripts write it."""

    def steal_reply(self, steal_id, stop_at):
        super().steal_reply(steal_id, NOTHING if stop_at == RUNNER_NOTHING_TO_GIVE else stop_at)


class Runner:
    """A LeaseRunner with one gated slot, stepped to a settled state after every step."""

    def __init__(self, fail: frozenset[int]) -> None:
        self.engine = GatedEngine(fail)
        self.said = Said()
        self.runner = LeaseRunner([self.engine], self.said)

    def in_progress(self) -> int | None:
        return self.engine.in_progress

    async def settle(self) -> None:
        """Until the slot is blocked in the engine, or has nothing left to start."""
        runner = self.runner
        for _ in range(2000):
            await asyncio.sleep(0.001)
            if self.engine.in_progress is not None:
                return
            working = any(run.started for run in runner._runs.values())
            if not working and runner._pending.empty():
                return
        raise AssertionError("the runner did not settle")

    async def step(self, op: str, *args) -> None:
        if op == "assign":
            lease, indices = args
            self.runner.assign(lease, [WorkItem(i, str(i), 0) for i in indices])
        elif op == "steal":
            self.runner.steal(*args)
        elif op == "revoke":
            self.runner.revoke(*args)
        elif op == "finish":
            before = self.engine.done
            assert self.engine.in_progress is not None, "nothing in progress to finish"
            self.engine.gate.release()
            for _ in range(2000):
                if self.engine.done > before:
                    break
                await asyncio.sleep(0.001)
        await self.settle()

    async def close(self) -> None:
        for _ in range(10):  # let a slot blocked in the engine return
            self.engine.gate.release()
        await self.runner.close()


class Sim:
    """The simulator's node with one slot; "finish" ends the segment it scheduled last."""

    def __init__(self, fail: frozenset[int]) -> None:
        self.fail = fail
        self.log: list[tuple] = []
        self.scheduled: tuple[int, int, int] | None = None  # (slot, epoch, index)
        self.worker = SimWorker("n", 1, self._emit, self._schedule)

    def _emit(self, event, t: float) -> None:
        if type(event) is StealReply:
            stop_at = NOTHING if event.stop_at == NOTHING_TO_GIVE else event.stop_at
            self.log.append(("steal", event.steal_id, stop_at))
        elif type(event) is RevokeAck:
            self.log.append(("revoked", event.lease))
        elif type(event) is AudioReceived:
            self.log.append(("audio", event.lease, event.index))
        elif type(event) is SegmentFailed:
            self.log.append(("failed", event.lease, event.index))

    def _schedule(self, slot: int, epoch: int, index: int, t: float) -> None:
        self.scheduled = (slot, epoch, index)

    def in_progress(self) -> int | None:
        return None if self.scheduled is None else self.scheduled[2]

    def step(self, op: str, *args) -> None:
        w = self.worker
        if op == "assign":
            lease, indices = args
            w.assign(lease, list(indices), False, 0.0)
        elif op == "steal":
            w.steal(*args, 0.0)
        elif op == "revoke":
            w.revoke(*args, 0.0)
        elif op == "finish":
            assert self.scheduled is not None, "nothing in progress to finish"
            slot, epoch, _ = self.scheduled
            self.scheduled = None
            done = w.finish(slot, epoch, 0.0)
            if done is not None:
                lease, index, _ = done
                kind = "failed" if index in self.fail else "audio"
                self._emit((SegmentFailed if kind == "failed" else AudioReceived)("n", lease, index), 0.0)


def finish(n: int) -> list[tuple]:
    return [("finish",)] * n


# name -> (failing indices, steps, what the node says over the whole script)
SCRIPTS = {
    "a lease worked to the end": (
        (), [("assign", 1, range(0, 4)), *finish(4)],
        [("audio", 1, 0), ("audio", 1, 1), ("audio", 1, 2), ("audio", 1, 3)]),
    "leases in the order given": (
        (), [("assign", 1, range(0, 2)), ("assign", 2, range(10, 12)), *finish(4)],
        [("audio", 1, 0), ("audio", 1, 1), ("audio", 2, 10), ("audio", 2, 11)]),
    "only the indices given (a resumed chapter's holes)": (
        (), [("assign", 1, (0, 2, 5)), *finish(3)],
        [("audio", 1, 0), ("audio", 1, 2), ("audio", 1, 5)]),
    "steal ahead of the segment in progress: exactly the split": (
        (), [("assign", 1, range(0, 6)), *finish(1), ("steal", 7, 1, 4), *finish(3)],
        [("audio", 1, 0), ("steal", 7, 4), ("audio", 1, 1), ("audio", 1, 2), ("audio", 1, 3)]),
    "steal at the segment in progress: the index after it": (
        (), [("assign", 1, range(0, 6)), *finish(2), ("steal", 7, 1, 2), *finish(1)],
        [("audio", 1, 0), ("audio", 1, 1), ("steal", 7, 3), ("audio", 1, 2)]),
    "steal past the split: the index after the one in progress": (
        (), [("assign", 1, range(0, 6)), *finish(3), ("steal", 7, 1, 1), *finish(1)],
        [("audio", 1, 0), ("audio", 1, 1), ("audio", 1, 2), ("steal", 7, 4), ("audio", 1, 3)]),
    "steal past the lease's end: the split as asked, nothing moves": (
        (), [("assign", 1, range(0, 3)), ("steal", 7, 1, 10), *finish(3)],
        [("steal", 7, 10), ("audio", 1, 0), ("audio", 1, 1), ("audio", 1, 2)]),
    "steal a lease still waiting: exactly the split": (
        (), [("assign", 1, range(0, 2)), ("assign", 2, range(10, 15)), ("steal", 7, 2, 12),
             *finish(4)],
        [("steal", 7, 12), ("audio", 1, 0), ("audio", 1, 1), ("audio", 2, 10), ("audio", 2, 11)]),
    "a second steal of one lease": (
        (), [("assign", 1, range(0, 8)), ("steal", 7, 1, 6), *finish(1), ("steal", 8, 1, 3),
             *finish(2)],
        [("steal", 7, 6), ("audio", 1, 0), ("steal", 8, 3), ("audio", 1, 1), ("audio", 1, 2)]),
    "steal of an unknown lease: nothing to give": (
        (), [("assign", 1, range(0, 2)), ("steal", 7, 99, 0), *finish(2)],
        [("steal", 7, NOTHING), ("audio", 1, 0), ("audio", 1, 1)]),
    "steal of a finished lease: nothing to give": (
        (), [("assign", 1, range(0, 2)), *finish(2), ("steal", 7, 1, 1)],
        [("audio", 1, 0), ("audio", 1, 1), ("steal", 7, NOTHING)]),
    "steal of a lease cut short by a steal and finished: nothing to give": (
        (), [("assign", 1, range(0, 6)), ("steal", 7, 1, 2), *finish(2), ("steal", 8, 1, 1)],
        [("steal", 7, 2), ("audio", 1, 0), ("audio", 1, 1), ("steal", 8, NOTHING)]),
    "steal of a revoked lease still finishing its segment: nothing to give": (
        (), [("assign", 1, range(0, 4)), ("revoke", 1), ("steal", 7, 1, 2), *finish(1)],
        [("revoked", 1), ("steal", 7, NOTHING), ("audio", 1, 0)]),
    "revoke in progress: that segment is still reported, no other": (
        (), [("assign", 1, range(0, 5)), *finish(1), ("revoke", 1), *finish(1)],
        [("audio", 1, 0), ("revoked", 1), ("audio", 1, 1)]),
    "revoke of a waiting lease: it never starts": (
        (), [("assign", 1, range(0, 2)), ("assign", 2, range(10, 12)), ("revoke", 2), *finish(2)],
        [("revoked", 2), ("audio", 1, 0), ("audio", 1, 1)]),
    "revoke unknown, and twice: acknowledged every time": (
        (), [("revoke", 42), ("assign", 1, range(0, 3)), ("revoke", 1), ("revoke", 1), *finish(1),
             ("revoke", 1)],
        [("revoked", 42), ("revoked", 1), ("revoked", 1), ("audio", 1, 0), ("revoked", 1)]),
    "revoke, then the next lease": (
        (), [("assign", 1, range(0, 3)), ("assign", 2, range(10, 12)), ("revoke", 1), *finish(3)],
        [("revoked", 1), ("audio", 1, 0), ("audio", 2, 10), ("audio", 2, 11)]),
    "a failed segment does not end the lease": (
        (1,), [("assign", 1, range(0, 3)), *finish(3), ("steal", 7, 1, 0)],
        [("audio", 1, 0), ("failed", 1, 1), ("audio", 1, 2), ("steal", 7, NOTHING)]),
}


def run_runner(fail, steps) -> list[tuple[list[tuple], int | None]]:
    """After each step: (what the runner said so far, the index in progress)."""

    async def main():
        node = Runner(frozenset(fail))
        seen = []
        try:
            await node.settle()
            for step in steps:
                await node.step(*step)
                seen.append((list(node.said.log), node.in_progress()))
        finally:
            await node.close()
        return seen

    return asyncio.run(main())


def run_sim(fail, steps) -> list[tuple[list[tuple], int | None]]:
    node = Sim(frozenset(fail))
    seen = []
    for step in steps:
        node.step(*step)
        seen.append((list(node.log), node.in_progress()))
    return seen


def test_one_constant_for_nothing_to_give():
    assert RUNNER_NOTHING_TO_GIVE == NOTHING_TO_GIVE


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_the_simulated_node_answers_like_the_real_runner(name):
    fail, steps, said = SCRIPTS[name]
    real = run_runner(fail, steps)
    simulated = run_sim(fail, steps)
    for k, (step, r, s) in enumerate(zip(steps, real, simulated)):
        assert s == r, f"after step {k} {step}: simulator {s}, runner {r}"
    assert real[-1][0] == said  # the script's own expectation: both agree on the right thing
    assert real[-1][1] is None  # nothing left in progress
