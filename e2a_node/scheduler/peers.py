"""Which discovered nodes the leader should try to bring into a job, and when: pure, with a clock
passed in, like the rest of the scheduler.

    table = PeerTable()
    if table.found("10.0.0.5:50051", now): connect ...
    table.result("10.0.0.5:50051", PeerState.BUSY, now)
    for target in table.due(now): connect again ...

A target goes NEW -> CONNECTING -> one of the outcomes. How long each outcome waits before the
next try is data (`RETRY_SECONDS`): a busy node is asked again after 10 s (its job may end), an
unreachable one after 2 s (not up yet, or restarting), one that left after 2 s (it may come
back: a restarted node rejoins); refused (wrong voice, wrong key, impossible claims), duplicate
(the same node under a second address) and banned (it broke the protocol) ones never during
this job. The table remembers at most `MAX_TARGETS` targets: past that the oldest that are not
in the job are forgotten (a flood of mDNS announcements cannot grow it without end).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping


class PeerState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    JOINED = "joined"
    BUSY = "busy"
    UNREACHABLE = "unreachable"
    LEFT = "left"
    REFUSED = "refused"
    DUPLICATE = "duplicate"
    BANNED = "banned"


RETRY_SECONDS: dict[PeerState, float | None] = {
    PeerState.BUSY: 10.0,
    PeerState.UNREACHABLE: 2.0,
    PeerState.LEFT: 2.0,
    PeerState.REFUSED: None,
    PeerState.DUPLICATE: None,
    PeerState.BANNED: None,
}
MAX_TARGETS = 1024


class PeerTable:
    def __init__(self, retry: Mapping[PeerState, float | None] | None = None, max_targets: int = MAX_TARGETS) -> None:
        self.retry = {**RETRY_SECONDS, **(retry or {})}
        self.max_targets = max_targets
        self._states: OrderedDict[str, tuple[PeerState, float]] = OrderedDict()  # target -> (state, since)

    def state(self, target: str) -> PeerState:
        return self._states.get(target, (PeerState.NEW, 0.0))[0]

    def found(self, target: str, now: float) -> bool:
        """The discovery lists `target`: True when it is new, so the caller should connect now."""
        if target in self._states:
            return False
        self._states[target] = (PeerState.NEW, now)
        self._forget_oldest()
        return True

    def result(self, target: str, state: PeerState, now: float) -> None:
        self._states[target] = (state, now)
        self._states.move_to_end(target)
        self._forget_oldest()

    def due(self, now: float) -> list[str]:
        """Targets whose wait is over; each is returned once (it is CONNECTING until its result)."""
        ready = []
        for target, (state, since) in self._states.items():
            wait = self.retry.get(state)
            if wait is not None and now - since >= wait:
                ready.append(target)
        for target in ready:
            self._states[target] = (PeerState.CONNECTING, now)
        return ready

    def _forget_oldest(self) -> None:
        while len(self._states) > self.max_targets:
            for target, (state, _) in self._states.items():
                if state not in (PeerState.JOINED, PeerState.CONNECTING):
                    del self._states[target]
                    break
            else:
                return
