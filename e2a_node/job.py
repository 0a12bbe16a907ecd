"""A conversion job: which text gets spoken, by which voice, and where its audio is kept.

`plan_job` turns a book, a chapter selection and the voice's traits into a flat list of
`Segment`s (the unit of synthesis) and a job folder. The job's identity is a hash of the
voice's fingerprint and every segment's text, so re-running the same command finds the same
folder and resumes from the audio already there, while a changed book, voice or setting gets
a new folder. The folder's per-segment store is the checkpoint, shared by the local worker and
(later) by peers streaming audio back to the leader.

Planning a long book (sentence splitting and normalisation, pure Python) takes seconds on one
core: 3.5-3.9 s for the 553,000 characters of sherlock-holmes.epub on the development machine
(scripts/bench_plan.py). A book past `PARALLEL_PLAN_CHARS` is planned a chapter per task on
spawned worker processes, one per core (largest chapters first); the segments are the same, in
the same order.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from e2a_node.audio import ChapterAudio, SegmentStore
from e2a_node.book.model import Book, Chapter
from e2a_node.errors import E2AError
from e2a_node.layout import Pause, Segment
from e2a_node.synth.base import VoiceTraits
from e2a_node.text import is_speakable, normalize, segment_paragraphs, speak_title
from e2a_node.worker import MAX_SEGMENT_CHARS

# Bump when planning changes in a way that changes segment texts for the same book.
PLAN_VERSION = 1
# Below this many characters one process plans faster than workers start (~0.5 s each).
PARALLEL_PLAN_CHARS = 150_000


@dataclass
class JobPlan:
    book: Book
    chapter_numbers: list[int]  # 1-based, as `e2a chapters` lists them
    chapters: list[ChapterAudio]  # the selected chapters with their segments, in order
    segments: list[Segment]  # all segments of the job, index == position
    language: str | None
    sample_rate: int
    job_id: str
    folder: Path

    @property
    def store(self) -> SegmentStore:
        return SegmentStore(self.folder / "audio", self.sample_rate)

    def missing(self, store: SegmentStore) -> list[Segment]:
        done = store.indices()
        return [s for s in self.segments if s.index not in done]

    @property
    def characters(self) -> int:
        return sum(len(s.text) for s in self.segments)


def parse_chapter_selection(spec: str | None, count: int) -> list[int]:
    """'1-3,7' -> [1, 2, 3, 7]; None or 'all' -> all chapters. Numbers are 1-based."""
    if not spec or spec.strip().lower() == "all":
        return list(range(1, count + 1))
    chosen: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise E2AError(f"--chapters: cannot read {part!r}; use numbers and ranges like 1-3,7")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if lo > hi:
            raise E2AError(f"--chapters: range {part} runs backwards")
        for n in range(lo, hi + 1):
            if not 1 <= n <= count:
                raise E2AError(f"--chapters: there is no chapter {n}; this book has chapters 1-{count} (see `e2a chapters`)")
            if n not in chosen:
                chosen.append(n)
    return sorted(chosen)


def chapter_segments(chapter: Chapter, language: str | None, voice: VoiceTraits) -> list[tuple[str, Pause]]:
    """The spoken title followed by the chapter's text, normalized and cut to the voice's limit."""
    numbers = not voice.normalizes_numbers
    limit = min(voice.max_chars, MAX_SEGMENT_CHARS)  # past that no node speaks a segment
    pieces: list[tuple[str, Pause]] = []
    title = speak_title(chapter.title, language, numbers=numbers)
    for text, _pause in segment_paragraphs([title], language, limit):
        pieces.append((text, Pause.CLAUSE))
    if pieces:
        pieces[-1] = (pieces[-1][0], Pause.TITLE)
    paragraphs = [normalize(p, language, numbers=numbers) for p in chapter.paragraphs]
    pieces.extend(segment_paragraphs(paragraphs, language, limit))
    pieces = [(text, pause) for text, pause in pieces if is_speakable(text)]
    if pieces:
        pieces[-1] = (pieces[-1][0], Pause.CHAPTER)
    return pieces


def _segment_chapters(chapters: list[Chapter], language: str | None, voice: VoiceTraits,
                      workers: int | None) -> list[list[tuple[str, Pause]]]:
    """`chapter_segments` of every chapter, in order; on worker processes for a long book."""
    sizes = [sum(len(p) for p in ch.paragraphs) for ch in chapters]
    workers = min(workers or os.cpu_count() or 1, len(chapters))
    if workers < 2 or sum(sizes) < PARALLEL_PLAN_CHARS:
        return [chapter_segments(ch, language, voice) for ch in chapters]
    order = sorted(range(len(chapters)), key=lambda k: -sizes[k])
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = pool.map(chapter_segments, [chapters[k] for k in order], repeat(language), repeat(voice))
        found = dict(zip(order, done))
    return [found[k] for k in range(len(chapters))]


def plan_job(
    book: Book,
    chapter_numbers: list[int],
    language: str | None,
    voice: VoiceTraits,
    work_dir: Path,
    workers: int | None = None,
) -> JobPlan:
    """The job's segments and identity; `workers` caps the planning processes (None: one per
    core, 1: this process only)."""
    chapters: list[ChapterAudio] = []
    segments: list[Segment] = []
    selected = [book.chapters[number - 1] for number in chapter_numbers]
    for position, (chapter, pieces) in enumerate(zip(selected, _segment_chapters(selected, language, voice,
                                                                                workers))):
        mine = []
        for text, pause in pieces:
            seg = Segment(index=len(segments), chapter=position, text=text, pause_after=pause)
            segments.append(seg)
            mine.append(seg)
        chapters.append(ChapterAudio(title=chapter.title, segments=mine))
    if not segments:
        raise E2AError(f"{book.source_path.name}: the selected chapters have no text to read")

    digest = hashlib.sha256()
    digest.update(f"e2a-plan-{PLAN_VERSION}\n{voice.fingerprint}\n{voice.sample_rate}\n".encode())
    for seg in segments:
        digest.update(f"{seg.chapter}\t{seg.pause_after.value}\t{seg.text}\n".encode())
    job_id = digest.hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9]+", "-", book.source_path.stem).strip("-")[:40] or "book"
    return JobPlan(
        book=book,
        chapter_numbers=chapter_numbers,
        chapters=chapters,
        segments=segments,
        language=language,
        sample_rate=voice.sample_rate,
        job_id=job_id,
        folder=Path(work_dir) / f"{stem}-{job_id}",
    )


def open_job_folder(plan: JobPlan, settings: dict, *, fresh: bool = False) -> SegmentStore:
    """Create (or reuse) the job folder and return its store. `fresh` discards earlier audio."""
    if fresh and plan.folder.exists():
        shutil.rmtree(plan.folder)
    try:
        (plan.folder / "audio").mkdir(parents=True, exist_ok=True)
        manifest = {
            "job_id": plan.job_id,
            "book": str(plan.book.source_path),
            "title": plan.book.title,
            "chapters": plan.chapter_numbers,
            "segments": len(plan.segments),
            "sample_rate": plan.sample_rate,
            "voice": settings,
        }
        tmp = plan.folder / "job.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, plan.folder / "job.json")
    except OSError as exc:
        raise E2AError(f"cannot use work folder {plan.folder}: {exc.strerror or exc}") from exc
    return plan.store

