"""Working leases: the loop that turns assigned runs of segments into audio, one slot at a time.

Both sides of the cluster use it: a peer (`e2a-node serve`) runs one per job it works for,
and the leader runs one for its own local worker. It speaks in plain Python (no protobuf):
`assign` / `revoke` / `steal` come in, and results go out through an `Outbox`.

A slot is one loaded engine working one lease at a time, in index order. Synthesis runs in a
thread (engines are blocking), so the asyncio loop stays free to answer heartbeats and steal
requests while a long sentence is being spoken. Before each sentence a slot waits for room in
the outbox (`Outbox.room`), so a reader that falls behind slows the slots instead of growing a
queue; with `max_chars` set, a segment longer than that is reported as failed and never reaches
the engine (a peer sets it: one overlong segment can take gigabytes).

Steal rule (the victim's half of the request/confirm exchange): the victim never starts an
index >= `stop_at`, and `stop_at` is the requested split unless it is already working at or
past it, in which case it is the index after the one in progress. Audio already sent is never
taken back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from e2a_node.synth.base import Engine

log = logging.getLogger(__name__)

NOTHING_TO_GIVE = 2**32 - 1  # a steal reply for a lease already finished or unknown
# The longest segment a node speaks whatever its engine claims: Piper's memory grows roughly
# quadratically with length (400 chars ~0.6 GB, 2,000 ~2.9 GB), and no engine e2a ships plans
# segments past 400 characters (Coqui's configs say 250 or so), so 1,000 leaves room for an
# engine with a longer limit while bounding what one segment can cost.
MAX_SEGMENT_CHARS = 1000
CALIBRATION_TEXT = (
    "It was a bright cold day in April, and the clocks were striking thirteen. The hallway "
    "smelt of boiled cabbage and old rag mats, and at one end of it a coloured poster had been "
    "tacked to the wall."
)


@dataclass(frozen=True)
class WorkItem:
    index: int
    text: str
    seed: int


class Outbox(Protocol):
    """Where a runner's results go (a gRPC stream on a peer, the scheduler on the leader).

    `room` returns once the outbox can take another sentence's results (a bounded outbox waits
    for its reader); the other methods never block.
    """

    async def room(self) -> None: ...
    def audio(self, lease: int, index: int, pcm: bytes, synth_seconds: float) -> None: ...
    def failed(self, lease: int, index: int, error: str) -> None: ...
    def steal_reply(self, steal_id: int, stop_at: int) -> None: ...
    def revoke_ack(self, lease: int) -> None: ...


@dataclass
class _Run:
    lease: int
    items: list[WorkItem]
    stop: int  # never start an index >= stop
    current: int | None = None  # index being synthesized now
    revoked: bool = False
    started: bool = False
    remaining: int = 0  # items not yet started (or skipped)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class LeaseRunner:
    """Works the leases given to it on `engines` (one slot each).

    `max_chars`: segments longer than this are failed without reaching the engine (None: no check).
    """

    def __init__(self, engines: Sequence[Engine], outbox: Outbox, executor: ThreadPoolExecutor | None = None,
                 *, max_chars: int | None = None):
        if not engines:
            raise ValueError("a runner needs at least one engine")
        self.engines = list(engines)
        self.outbox = outbox
        self.max_chars = max_chars
        self._closed = False
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(len(self.engines), thread_name_prefix="e2a-synth")
        self._runs: dict[int, _Run] = {}
        self._pending: asyncio.Queue[_Run] = asyncio.Queue()
        self._slots = [asyncio.create_task(self._slot(engine)) for engine in self.engines]

    @property
    def slots(self) -> int:
        return len(self.engines)

    def active_leases(self) -> list[int]:
        return list(self._runs)

    def pending_segments(self) -> int:
        """Segments assigned and not yet started, over every lease."""
        return sum(run.remaining for run in self._runs.values())

    def assign(self, lease: int, items: Sequence[WorkItem]) -> None:
        items = sorted(items, key=lambda it: it.index)
        if not items:
            return
        run = _Run(lease, items, stop=items[-1].index + 1, remaining=len(items))
        self._runs[lease] = run
        self._pending.put_nowait(run)

    def revoke(self, lease: int) -> None:
        run = self._runs.get(lease)
        if run is not None:
            run.revoked = True
            if not run.started:
                self._finish(run)
        self.outbox.revoke_ack(lease)

    def steal(self, steal_id: int, lease: int, split_at: int) -> None:
        run = self._runs.get(lease)
        if run is None or run.revoked:
            self.outbox.steal_reply(steal_id, NOTHING_TO_GIVE)
            return
        stop_at = max(split_at, run.current + 1) if run.current is not None else split_at
        run.stop = min(run.stop, stop_at)
        self.outbox.steal_reply(steal_id, stop_at)

    async def close(self) -> None:
        """Stop every slot; the segment in progress finishes in its thread but is not reported.
        Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        for task in self._slots:
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        if self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)

    def _finish(self, run: _Run) -> None:
        if self._runs.get(run.lease) is run:
            del self._runs[run.lease]
        run.remaining = 0
        run.done.set()

    async def _slot(self, engine: Engine) -> None:
        loop = asyncio.get_running_loop()
        while True:
            run = await self._pending.get()
            if run.done.is_set():
                continue
            run.started = True
            try:
                for item in run.items:
                    if run.revoked or item.index >= run.stop:
                        break
                    await self.outbox.room()
                    if run.revoked or item.index >= run.stop:  # decided while we waited
                        break
                    run.remaining -= 1
                    if self.max_chars is not None and len(item.text) > self.max_chars:
                        self.outbox.failed(run.lease, item.index, f"segment of {len(item.text)} characters: "
                                                                  f"this voice takes at most {self.max_chars}")
                        continue
                    run.current = item.index
                    t0 = time.monotonic()
                    try:
                        pcm = await loop.run_in_executor(self.executor, engine.synthesize, item.text, item.seed)
                    except Exception as exc:  # one bad segment must not end the lease
                        log.warning("segment %d failed: %s", item.index, exc)
                        self.outbox.failed(run.lease, item.index, f"{type(exc).__name__}: {exc}")
                        continue
                    finally:
                        run.current = None
                    self.outbox.audio(run.lease, item.index, pcm, time.monotonic() - t0)
            finally:
                self._finish(run)


def calibrate(engine: Engine) -> float:
    """Characters per second this engine speaks on this machine (one slot), measured once."""
    engine.synthesize(CALIBRATION_TEXT[:40], None)  # warm-up: first call pays one-off costs
    t0 = time.perf_counter()
    engine.synthesize(CALIBRATION_TEXT, None)
    return len(CALIBRATION_TEXT) / max(time.perf_counter() - t0, 1e-3)
