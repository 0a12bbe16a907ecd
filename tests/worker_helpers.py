"""A LeaseRunner's test doubles: an engine the test steps one segment at a time, an outbox that
records what the runner said (tests/test_worker.py, tests/test_lease_contract.py)."""

from __future__ import annotations

import threading


class GatedEngine:
    """Speaks a segment (its text is its index) only when the test releases `gate`; the indices
    in `fail` raise. `started` lists the texts begun, `in_progress` the one under way."""

    sample_rate = 16000

    def __init__(self, fail: frozenset[int] | set[int] = frozenset()) -> None:
        self.fail = fail
        self.gate = threading.Semaphore(0)
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.in_progress: int | None = None
        self.done = 0

    def synthesize(self, text: str, seed=None) -> bytes:
        with self.lock:
            self.started.append(text)
            self.in_progress = int(text)
        try:
            if not self.gate.acquire(timeout=10):
                raise TimeoutError("the test never let this segment finish")
            if int(text) in self.fail:
                raise RuntimeError("engine error")
            return b"\x01\x00" * 100
        finally:
            with self.lock:
                self.in_progress = None
                self.done += 1


class RecordingOutbox:
    """An Outbox keeping what the runner said, as (kind, ...) tuples in `log`."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    async def room(self) -> None:
        pass

    def audio(self, lease, index, pcm, synth_seconds):
        self.log.append(("audio", lease, index))

    def failed(self, lease, index, error):
        self.log.append(("failed", lease, index))

    def steal_reply(self, steal_id, stop_at):
        self.log.append(("steal", steal_id, stop_at))

    def revoke_ack(self, lease):
        self.log.append(("revoked", lease))
