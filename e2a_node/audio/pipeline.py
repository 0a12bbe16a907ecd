"""Chapters encoded while the book is still being spoken.

`ChapterPipeline` is told of every segment stored (and of every segment thrown away, when a peer
was found lying); as soon as a chapter has all its segments it goes to a pool of worker
processes (`chapter_files.encode_chapter`: layout, loudness, AAC), one per core, niced so that a
machine's own synthesis keeps its pace. At the end `finish` waits for what is still encoding and
gives the chapter files in book order for the join. Workers are spawned, never forked: the
leader runs gRPC threads, which do not survive a fork.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from e2a_node.audio.chapter_files import ChapterFile, ChapterTask, encode_chapter
from e2a_node.audio.export import ChapterAudio
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError

log = logging.getLogger(__name__)

WORKER_NICENESS = 10


def _lower_priority() -> None:
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # pragma: no cover - not allowed here: run at the same priority
        pass


class ChapterPipeline:
    def __init__(self, chapters: list[ChapterAudio], store: SegmentStore, folder: Path, bitrate: str,
                 workers: int | None = None) -> None:
        self.chapters, self.store, self.folder, self.bitrate = chapters, store, Path(folder), bitrate
        self.workers = max(1, min(workers or os.cpu_count() or 1, len(chapters)))  # a worker costs a start-up
        self._chapter_of = {seg.index: pos for pos, ch in enumerate(chapters) for seg in ch.segments}
        self._missing = [{s.index for s in ch.segments if not store.has(s.index)} for ch in chapters]
        self._futures: dict[int, Future] = {}
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Send the chapters already complete (an earlier run's) to the workers."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioError(f"cannot create {self.folder}: {exc.strerror or exc}") from exc
        for pos, missing in enumerate(self._missing):
            if not missing:
                self._submit(pos)

    def stored(self, index: int) -> None:
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
        future = self._futures.pop(pos, None)
        if future is not None:
            future.cancel()  # a file it still writes has another key and is never used

    def finish(self) -> list[ChapterFile]:
        """Every chapter's file, in book order, once all are encoded; AudioError if a chapter
        lacks a segment or failed to encode."""
        for pos, missing in enumerate(self._missing):
            if missing:
                raise AudioError(f"chapter {pos + 1} has no audio for {len(missing)} segment(s)")
            if pos not in self._futures:
                self._submit(pos)
        files = [self._futures[pos].result() for pos in range(len(self.chapters))]
        self._remove_stale({f.path.name for f in files})
        return files

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, pos: int) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_lower_priority)
        task = ChapterTask(pos, tuple(self.chapters[pos].segments), str(self.store.folder), self.store.sample_rate,
                           self.bitrate, str(self.folder))
        self._futures[pos] = self._pool.submit(encode_chapter, task)

    def _remove_stale(self, keep: set[str]) -> None:
        """Chapter files made from segments since made again (or by another ffmpeg)."""
        for path in self.folder.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
