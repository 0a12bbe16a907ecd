"""Picking instructions out of a scheduler's answer, a model cluster that plays the
scheduler's instructions back honestly, and `checked`: every policy a scheduler test builds
checks its invariants after every event (a test module turns it on by importing it)."""

from __future__ import annotations

import pytest

from e2a_node.scheduler import (Accept, Assign, AudioReceived, Compare, Compared, Discard,
                                Heartbeat, JobDone, NodeJoined, RemoveNode, RequestSteal, Revoke,
                                StealReply, Tick)
from e2a_node.scheduler.policy import Policy


@pytest.fixture(autouse=True)
def checked(monkeypatch):
    """Policies built without `check=` run check_invariants() after every event, and a broken
    invariant fails the test with the story of the segments involved."""
    monkeypatch.setattr(Policy, "checks_by_default", True)


def of(instructions, kind):
    return [i for i in instructions if isinstance(i, kind)]


def only_assign(instructions) -> Assign:
    assigns = of(instructions, Assign)
    assert len(assigns) == 1, instructions
    return assigns[0]


class Cluster:
    """What the scheduler asked each node to do, as a driver and honest nodes would see it.

    `leases` holds every Assign not revoked or finished: lease -> [node, indices still to
    deliver, kind]. Nodes in `liars` make audio that differs from everybody else's; the
    cluster answers Compare with Compared by comparing what it stored (`stored`: index ->
    "" for honest audio, the liar's name for a lie) and RequestSteal with an honest
    StealReply, at once. Every event goes through `handle`, which keeps the model and
    returns the scheduler's instructions (follow-up answers included)."""

    def __init__(self, sched, liars=(), t: float = 0.0) -> None:
        self.sched = sched
        self.liars = set(liars)
        self.t = t
        self.leases: dict[int, list] = {}
        self.stored: dict[int, str] = {}
        self.accepted_by: dict[int, str] = {}
        self.removed: list[RemoveNode] = []
        self.discarded: list[Discard] = []
        self.job_done = 0
        self.log: list[tuple] = []  # (event, instructions), every call

    def assigns(self, kind: str | None = None) -> list[Assign]:
        return [ins for _, out in self.log for ins in out
                if type(ins) is Assign and (kind is None or ins.kind == kind)]

    def content(self, node: str) -> str:
        return node if node in self.liars else ""

    def handle(self, event, dt: float = 0.0) -> list:
        self.t += dt
        if type(event) is AudioReceived:  # delivered: the node will not send it again
            held = self.leases.get(event.lease)
            if held is not None and held[0] == event.node and event.index in held[1]:
                held[1].remove(event.index)
        out = self.sched.handle(event, self.t)
        self.log.append((event, out))
        follow = self.apply(event, out)
        for ev in follow:
            out = out + self.handle(ev)
        return out

    def apply(self, event, out) -> list:
        follow = []
        for ins in out:
            typ = type(ins)
            if typ is Assign:
                self.leases[ins.lease] = [ins.node, list(ins.indices), ins.kind]
            elif typ is Revoke:
                self.leases.pop(ins.lease, None)
            elif typ is RemoveNode:
                self.removed.append(ins)
                self.forget(ins.node)
            elif typ is Accept:
                self.stored[ins.index] = self.content(event.node)
                self.accepted_by[ins.index] = ins.node
            elif typ is Discard:
                self.discarded.append(ins)
                self.stored.pop(ins.index, None)
                self.accepted_by.pop(ins.index, None)
            elif typ is Compare:
                same = self.content(ins.node) == self.stored.get(ins.index)
                follow.append(Compared(ins.index, ins.node, ins.suspect, same))
            elif typ is RequestSteal:
                held = self.leases.get(ins.lease)
                if held is None:
                    stop_at = ins.split_at
                else:
                    stop_at = max(ins.split_at, held[1][0]) if held[1] else ins.split_at
                    held[1] = [i for i in held[1] if i < stop_at]
                follow.append(StealReply(ins.victim, ins.steal_id, stop_at))
            elif typ is JobDone:
                self.job_done += 1
        return follow

    def forget(self, node: str) -> None:
        for lease in [lid for lid, held in self.leases.items() if held[0] == node]:
            del self.leases[lease]

    def deliver(self, assign: Assign, dt: float = 0.0) -> None:
        """The node of `assign` sends the audio of every segment it was given, in order."""
        for i in assign.indices:
            self.handle(AudioReceived(assign.node, assign.lease, i), dt)

    def deliver_next(self, dt: float = 1.0):
        """The next audio of the oldest lease with work left; None when there is none."""
        for lease in sorted(self.leases):
            node, todo, _ = self.leases[lease]
            if todo:
                return self.handle(AudioReceived(node, lease, todo[0]), dt)
            del self.leases[lease]
        return None

    def finish(self, nodes=(), steps: int = 100_000) -> None:
        """Deliver everything asked, honestly, until JobDone. `nodes` are heartbeaten when
        nothing is outstanding (they may have gone quiet); time moves on when even that
        brings no work, so that leases the nodes dropped expire."""
        idle = 0
        for _ in range(steps):
            if self.job_done:
                return
            if self.deliver_next() is not None:
                idle = 0
                continue
            idle += 1
            for name in nodes:
                self.handle(Heartbeat(name))
            self.handle(Tick(), dt=1.0 if idle < 3 else self.sched.config.lease_seconds)
        raise AssertionError(f"no JobDone after {steps} steps")

    def join(self, node: str, slots: int = 1, speed: float = 100.0, trusted: bool = False,
             dt: float = 0.0) -> list:
        return self.handle(NodeJoined(node, slots, speed, trusted), dt)
