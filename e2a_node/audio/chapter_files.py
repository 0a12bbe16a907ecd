"""Encoded chapters: AAC made while the book is still being spoken, and joined into the audiobook
without encoding again.

A complete chapter is planned first (`plan_chapter`, in a worker): laid out, its loudness gain
measured (`assemble.loudness_gain`), its length padded with silence to a whole number of AAC
frames (1024 samples; chapters end in a 2 s pause, so the few ms added are never heard), and cut
into pieces of about `PIECE_SECONDS`. Each piece is then encoded on its own (`encode_piece`, in
any worker, so one long chapter uses every core) to raw ADTS. A cut lies in a pause between
sentences, on a multiple of 1024 samples from the chapter's start, with `CUT_MARGIN` samples of
digital silence on each side: an AAC frame's window reaches one frame either way, so what either
encoder sees near a cut is silence and nothing is heard where pieces meet. The cuts depend on the
layout alone, so the bytes do not depend on how many cores there are or on timing.

ffmpeg's AAC encoder starts every stream with one frame of priming, so a piece of N samples is
N/1024 + 1 frames (a frame more that some builds flush holds only what follows the piece's end,
and is dropped). The join keeps all of the book's first piece and drops the priming frame of
every later one: the joined stream is one priming frame and then exactly the chapters' samples
end to end, so chapter marks fall on the samples a one-pass encode would put them on. The MP4
says to skip the priming frame (its edit list, which ffmpeg writes when the stream starts one
frame before zero), so players start on the first sample.

A chapter's files carry a key of what it was made from (the segments' files: index, size,
modification time; the format's settings; the piece length; the ffmpeg build): the plan
(`NNNN-KEY.json`: gain, layout, cuts) and the pieces (`NNNN-KEY-PPP.aac`). An interrupted run
keeps what it encoded, a resumed one re-encodes only what is missing or was made again, and the
same segments always give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2a_node.audio import ffmpeg as _ff
from e2a_node.audio.assemble import apply_gain, chapter_layout, lay_out, loudness_gain
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError
from e2a_node.layout import Segment

AAC_FRAME = 1024  # samples in an AAC-LC frame
PRIMING_FRAMES = 1  # what ffmpeg's native AAC encoder puts before the first sample
CHAPTER_FORMATS = ("m4b", "m4a")  # single-file formats made of encoded chapters
PIECE_SECONDS = 300.0  # a chapter is encoded in pieces of about this length, in parallel
CUT_MARGIN = 2 * AAC_FRAME  # digital silence needed on each side of a cut
_KEY_VERSION = "e2a-chapter-2"


@dataclass(frozen=True)
class ChapterTask:
    """What a worker needs to plan one chapter (picklable: it crosses to another process)."""

    position: int  # the chapter's place in the book (0-based)
    segments: tuple[Segment, ...]
    store_folder: str
    sample_rate: int
    bitrate: str
    folder: str  # where chapter files go (the job folder's chapters/)
    piece_seconds: float = PIECE_SECONDS


@dataclass(frozen=True)
class ChapterPlan:
    """A planned chapter: what every piece's worker needs."""

    task: ChapterTask
    key: str
    gain: float
    samples: int  # padded to whole frames
    placements: tuple[tuple[int, int, int], ...]  # (segment index, start sample, samples)
    cuts: tuple[int, ...]  # where pieces after the first start

    @property
    def bounds(self) -> list[tuple[int, int]]:
        edges = [0, *self.cuts, self.samples]
        return list(zip(edges[:-1], edges[1:]))

    def piece_path(self, piece: int) -> Path:
        return Path(self.task.folder) / f"{self.task.position:04d}-{self.key}-{piece:03d}.aac"


@dataclass(frozen=True)
class Piece:
    path: Path
    samples: int  # a multiple of AAC_FRAME; the priming frame not counted


@dataclass(frozen=True)
class ChapterFile:
    """An encoded chapter: its pieces in order."""

    position: int
    pieces: tuple[Piece, ...]

    @property
    def samples(self) -> int:
        return sum(p.samples for p in self.pieces)

    @property
    def paths(self) -> list[Path]:
        return [p.path for p in self.pieces]


def chapter_key(task: ChapterTask) -> str:
    """A digest of everything the chapter's bytes depend on; changes when a segment is made again."""
    digest = hashlib.sha256(f"{_KEY_VERSION}\n{task.sample_rate}\n{task.bitrate}\n{task.piece_seconds!r}\n"
                            f"{_ff.version_line()}\n".encode())
    store = Path(task.store_folder)
    for seg in task.segments:
        st = (store / f"{seg.index:06d}.wav").stat()
        digest.update(f"{seg.index}\t{seg.pause_after.value}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def choose_cuts(placements: Sequence[tuple[int, int, int]], samples: int, piece: int) -> tuple[int, ...]:
    """Piece starts: the first frame boundary at least `piece` samples after the previous start
    with CUT_MARGIN of silence each side (the gaps between segments are silence by layout), and
    never leaving a last piece under a quarter of `piece`."""
    cuts: list[int] = []
    want = piece
    gap_start = 0  # the lead-in is silence too
    for _, start, n in placements:
        gap_end = start
        if gap_end - CUT_MARGIN >= want:
            at = max(want, gap_start + CUT_MARGIN)
            at = -(-at // AAC_FRAME) * AAC_FRAME
            if at + CUT_MARGIN <= gap_end and samples - at >= piece // 4:
                cuts.append(at)
                want = at + piece
        gap_start = start + n
    return tuple(cuts)


def frame_ends(data: bytes) -> list[int]:
    """Where each ADTS frame of `data` ends (a frame's header gives its length); AudioError if
    `data` is not whole ADTS frames."""
    ends = []
    at, size = 0, len(data)
    while at < size:
        if size - at < 7 or data[at] != 0xFF or data[at + 1] & 0xF6 != 0xF0:
            raise AudioError(f"not an ADTS frame at byte {at}")
        length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if length < 7 or at + length > size:
            raise AudioError(f"a cut ADTS frame at byte {at}")
        at += length
        ends.append(at)
    return ends


def _plan_path(task: ChapterTask, key: str) -> Path:
    return Path(task.folder) / f"{task.position:04d}-{key}.json"


def plan_chapter(task: ChapterTask) -> ChapterPlan:
    """Lay out the chapter, measure its gain and cut it into pieces (in a worker process); an
    earlier run's plan of the same key is read instead."""
    key = chapter_key(task)
    path = _plan_path(task, key)
    try:
        saved = json.loads(path.read_text())
        return ChapterPlan(task, key, float(saved["gain"]), int(saved["samples"]),
                           tuple(tuple(p) for p in saved["placements"]), tuple(saved["cuts"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none, or damaged: planned again
    store = SegmentStore(task.store_folder, task.sample_rate)
    placements, length = chapter_layout(task.segments, store)
    pcm = lay_out(placements, length, store)
    gain = loudness_gain(pcm, task.sample_rate)
    del pcm
    samples = -(-length // AAC_FRAME) * AAC_FRAME
    cuts = choose_cuts(placements, samples, max(AAC_FRAME, round(task.piece_seconds * task.sample_rate)))
    plan = ChapterPlan(task, key, gain, samples, tuple(placements), cuts)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_text(json.dumps({"gain": gain, "samples": samples, "placements": placements, "cuts": cuts}))
    os.replace(part, path)
    return plan


def _count_frames(path: Path) -> int:
    return len(frame_ends(path.read_bytes()))


def encode_piece(plan: ChapterPlan, piece: int) -> Piece:
    """Encode one piece of a planned chapter (in a worker process), unless its file is there."""
    start, end = plan.bounds[piece]
    samples = end - start
    target = plan.piece_path(piece)
    need = samples // AAC_FRAME + PRIMING_FRAMES
    if target.exists():
        try:
            if _count_frames(target) == need:
                return Piece(target, samples)
        except AudioError:
            pass
        target.unlink(missing_ok=True)  # damaged since: made again
    task = plan.task
    store = SegmentStore(task.store_folder, task.sample_rate)
    inside = [(index, at - start, n) for index, at, n in plan.placements if start <= at < end]
    pcm = lay_out(inside, samples, store)
    apply_gain(pcm, plan.gain)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    args = [_ff.ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "s16le", "-ar", str(task.sample_rate), "-ac", "1", "-i", "pipe:0",
            "-c:a", "aac", "-b:a", task.bitrate, "-fflags", "+bitexact", "-flags:a", "+bitexact",
            "-f", "adts", "file:" + str(part)]
    try:
        proc = subprocess.run(args, input=memoryview(pcm).cast("B"), capture_output=True)
        if proc.returncode != 0:
            reason = _ff.error_line(proc.stderr.decode("utf-8", "replace"), proc.returncode)
            raise AudioError(f"encoding chapter {task.position + 1} failed: {reason}")
        data = part.read_bytes()
        ends = frame_ends(data)
        if len(ends) < need:  # an encoder without its priming frame: the join would drift
            raise AudioError(f"this ffmpeg's AAC encoder made {len(ends)} frames of {samples} samples, "
                             f"not {need}")
        if len(ends) > need:  # some builds flush a frame more: past the piece's end, dropped
            part.write_bytes(data[: ends[need - 1]])
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return Piece(target, samples)


def encode_chapter(task: ChapterTask) -> ChapterFile:
    """Plan and encode a whole chapter in this process (the pipeline spreads the pieces instead)."""
    plan = plan_chapter(task)
    return ChapterFile(task.position, tuple(encode_piece(plan, k) for k in range(len(plan.bounds))))


def joined_frames(chapters: Sequence[ChapterFile]) -> Iterator[memoryview]:
    """The book's ADTS stream, a piece at a time: the first piece whole, every later one without
    its priming frame. Each piece is checked, frame by frame, before any of it is given."""
    first = True
    for chapter in chapters:
        for piece in chapter.pieces:
            try:
                data = piece.path.read_bytes()
                ends = frame_ends(data)
            except (AudioError, OSError) as exc:
                raise AudioError(f"chapter {chapter.position + 1}'s file {piece.path} is damaged: {exc}") from exc
            if len(ends) != piece.samples // AAC_FRAME + PRIMING_FRAMES:
                raise AudioError(f"chapter {chapter.position + 1}'s file has {len(ends)} AAC frames, not "
                                 f"{piece.samples // AAC_FRAME + PRIMING_FRAMES}: {piece.path}")
            yield memoryview(data) if first else memoryview(data)[ends[PRIMING_FRAMES - 1]:]
            first = False


def marks(chapters: Sequence[ChapterFile], titles: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, title) of each chapter in samples of the joined stream, after its priming."""
    out, at = [], 0
    for chapter, title in zip(chapters, titles, strict=True):
        out.append((at, at + chapter.samples, title))
        at += chapter.samples
    return out
