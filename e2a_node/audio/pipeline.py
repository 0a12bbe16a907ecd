"""Chapters encoded while the book is still being spoken.

`ChapterPipeline` is told of every segment stored (and of every segment thrown away, when a peer
was found lying); as soon as a chapter has all its segments it goes to a pool of worker
processes, one per core, niced so that a machine's own synthesis keeps its pace: first its plan
(`chapter_files.plan_chapter`: layout, loudness gain, cuts), then each of its pieces
(`encode_piece`) as a task of its own, so the last chapter of a book is encoded on every core at
once. Tasks run in the order they are given, which is roughly book order. At the end `finish`
waits for what is still encoding and gives the chapters in book order for the join. Workers are
spawned, never forked: the leader runs gRPC threads, which do not survive a fork.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from e2a_node.audio.chapter_files import PIECE_SECONDS, ChapterFile, ChapterTask, encode_piece, plan_chapter
from e2a_node.audio.export import ChapterAudio
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError
from e2a_node.memory import peak_rss_mb

log = logging.getLogger(__name__)

WORKER_NICENESS = 10
PARENT_CHECK_SECONDS = 1.0


def _worker_start(parent: int) -> None:
    """In each worker: a lower priority, and an exit as soon as the process that started it is
    gone (a leader killed with SIGKILL cannot stop its pool, and a worker blocked waiting for
    work would otherwise live on)."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # pragma: no cover - not allowed here: run at the same priority
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _warm_up() -> None:
    """A worker's first task, given at start: import what planning a chapter needs (scipy's
    filters take about a second) while the first chapter is still being spoken."""
    import scipy.signal  # noqa: F401


def _measured(task, *args):
    """Run `task` in a worker; give its result and the worker's peak resident memory (MB)."""
    return task(*args), peak_rss_mb()


class ChapterPipeline:
    def __init__(self, chapters: list[ChapterAudio], store: SegmentStore, folder: Path, bitrate: str,
                 workers: int | None = None, piece_seconds: float = PIECE_SECONDS) -> None:
        self.chapters, self.store, self.folder, self.bitrate = chapters, store, Path(folder), bitrate
        self.piece_seconds = piece_seconds
        self.workers = max(1, workers or os.cpu_count() or 1)  # spawned at start
        self._chapter_of = {seg.index: pos for pos, ch in enumerate(chapters) for seg in ch.segments}
        self._missing = [{s.index for s in ch.segments if not store.has(s.index)} for ch in chapters]
        self._plans: dict[int, Future] = {}  # chapter -> its plan
        self._pieces: dict[int, list[Future]] = {}  # chapter -> its pieces, once planned
        self._unsplit: set[int] = set()  # planning, pieces not yet given out
        self._pool: ProcessPoolExecutor | None = None
        self.worker_peak_rss_mb: float | None = None  # the largest worker's peak, once finished

    def start(self) -> None:
        """Send the chapters already complete (an earlier run's) to the workers."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioError(f"cannot create {self.folder}: {exc.strerror or exc}") from exc
        for _ in range(self.workers):
            self._ensure_pool().submit(_warm_up)
        for pos, missing in enumerate(self._missing):
            if not missing:
                self._submit(pos)

    def stored(self, index: int) -> None:
        self._split_planned()
        pos = self._chapter_of.get(index)
        if pos is None or index not in self._missing[pos]:
            return
        self._missing[pos].discard(index)
        if not self._missing[pos]:
            self._submit(pos)

    def discarded(self, index: int) -> None:
        """A stored segment was thrown away: its chapter is encoded again once it is back."""
        pos = self._chapter_of.get(index)
        if pos is None:
            return
        self._missing[pos].add(index)
        self._unsplit.discard(pos)
        for future in [self._plans.pop(pos, None), *self._pieces.pop(pos, [])]:
            if future is not None:
                future.cancel()  # a file it still writes has another key and is never used

    def finish(self) -> list[ChapterFile]:
        """Every chapter, in book order, once all are encoded; AudioError if a chapter lacks a
        segment or failed to encode."""
        for pos, missing in enumerate(self._missing):
            if missing:
                raise AudioError(f"chapter {pos + 1} has no audio for {len(missing)} segment(s)")
            if pos not in self._plans:
                self._submit(pos)
        plans = [self._plans[pos].result() for pos in range(len(self.chapters))]  # (plan, worker peak)
        for pos, (plan, _) in enumerate(plans):
            self._split(pos, plan)
        pieces = [[f.result() for f in self._pieces[pos]] for pos in range(len(self.chapters))]
        peaks = [peak for _, peak in plans + [p for chapter in pieces for p in chapter] if peak is not None]
        self.worker_peak_rss_mb = max(peaks, default=None)
        files = [ChapterFile(pos, tuple(piece for piece, _ in chapter)) for pos, chapter in enumerate(pieces)]
        self._remove_stale({path.name for f in files for path in f.paths}
                           | {f"{pos:04d}-{plan.key}.json" for pos, (plan, _) in enumerate(plans)})
        return files

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_start, initargs=(os.getpid(),))
        return self._pool

    def _submit(self, pos: int) -> None:
        self._ensure_pool()
        task = ChapterTask(pos, tuple(self.chapters[pos].segments), str(self.store.folder), self.store.sample_rate,
                           self.bitrate, str(self.folder), self.piece_seconds)
        self._pieces.pop(pos, None)
        self._plans[pos] = self._pool.submit(_measured, plan_chapter, task)
        self._unsplit.add(pos)

    def _split_planned(self) -> None:
        """Give the workers the pieces of every chapter whose plan is done (cheap: a few checks)."""
        for pos in [p for p in self._unsplit if self._plans[p].done()]:
            future = self._plans[pos]
            if not future.cancelled() and future.exception() is None:
                self._split(pos, future.result()[0])

    def _split(self, pos: int, plan) -> None:
        self._unsplit.discard(pos)
        if pos not in self._pieces:
            self._pieces[pos] = [self._pool.submit(_measured, encode_piece, plan, k) for k in range(len(plan.bounds))]

    def _remove_stale(self, keep: set[str]) -> None:
        """Chapter files made from segments since made again (or by another ffmpeg)."""
        for path in self.folder.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
