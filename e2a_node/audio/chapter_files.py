"""Encoded chapters: one AAC file per chapter, made while the book is still being spoken, and
joined into the audiobook without encoding again.

A chapter is laid out and loudness-normalised (`assemble.chapter_pcm`), padded with silence to a
whole number of AAC frames (1024 samples; chapters end in a 2 s pause, so the few ms added are
never heard), and encoded by ffmpeg to raw ADTS. ffmpeg's AAC encoder starts every stream with
one frame of priming, so a chapter of N samples is N/1024 + 1 frames (a frame more that some
builds flush holds only what follows the chapter's end, and is dropped). The join keeps all of the
first chapter and drops the priming frame of every later one: the joined stream is one priming
frame and then exactly the chapters' samples end to end, so chapter marks fall on the samples a
one-pass encode would put them on. The MP4 says to skip the priming frame (its edit list, which
ffmpeg writes when the stream starts one frame before zero), so players start on the first
sample. A later chapter decodes its first frame without the frame before it; that frame is the
chapter's lead-in silence, next to the previous chapter's closing pause, so nothing is heard.

A chapter file's name carries a key of what it was made from (the segments' files: index, size,
modification time; the format's settings; the ffmpeg build): an interrupted run keeps the
chapters it encoded, a resumed one re-encodes only what is missing or was made again, and the
same segments always give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from e2a_node.audio import ffmpeg as _ff
from e2a_node.audio.assemble import chapter_pcm
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError
from e2a_node.layout import Segment

AAC_FRAME = 1024  # samples in an AAC-LC frame
PRIMING_FRAMES = 1  # what ffmpeg's native AAC encoder puts before the first sample
CHAPTER_FORMATS = ("m4b", "m4a")  # single-file formats made of encoded chapters
_KEY_VERSION = "e2a-chapter-1"


@dataclass(frozen=True)
class ChapterTask:
    """What a worker needs to encode one chapter (picklable: it crosses to another process)."""

    position: int  # the chapter's place in the book (0-based)
    segments: tuple[Segment, ...]
    store_folder: str
    sample_rate: int
    bitrate: str
    folder: str  # where chapter files go (the job folder's chapters/)


@dataclass(frozen=True)
class ChapterFile:
    position: int
    path: Path
    samples: int  # the chapter's samples, padded to whole frames (the priming frame not counted)


def chapter_key(task: ChapterTask) -> str:
    """A digest of everything the chapter's bytes depend on; changes when a segment is made again."""
    digest = hashlib.sha256(f"{_KEY_VERSION}\n{task.sample_rate}\n{task.bitrate}\n{_ff.version_line()}\n".encode())
    store = Path(task.store_folder)
    for seg in task.segments:
        st = (store / f"{seg.index:06d}.wav").stat()
        digest.update(f"{seg.index}\t{seg.pause_after.value}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def chapter_path(task: ChapterTask) -> Path:
    return Path(task.folder) / f"{task.position:04d}-{chapter_key(task)}.aac"


def frames(data: bytes) -> Iterator[memoryview]:
    """The ADTS frames of `data`, each with its header; AudioError if it is not ADTS."""
    view = memoryview(data)
    at = 0
    while at < len(view):
        if len(view) - at < 7 or view[at] != 0xFF or view[at + 1] & 0xF6 != 0xF0:
            raise AudioError(f"not an ADTS frame at byte {at}")
        length = ((view[at + 3] & 0x03) << 11) | (view[at + 4] << 3) | (view[at + 5] >> 5)
        if length < 7 or at + length > len(view):
            raise AudioError(f"a cut ADTS frame at byte {at}")
        yield view[at : at + length]
        at += length


def encode_chapter(task: ChapterTask) -> ChapterFile:
    """Encode one chapter (in a worker process), unless a file of the same key is there."""
    target = chapter_path(task)
    store = SegmentStore(task.store_folder, task.sample_rate)
    if target.exists():
        try:
            samples = (sum(1 for _ in frames(target.read_bytes())) - PRIMING_FRAMES) * AAC_FRAME
            return ChapterFile(task.position, target, samples)
        except AudioError:  # damaged since: made again
            target.unlink(missing_ok=True)
    pcm = chapter_pcm(list(task.segments), store)
    samples = -(-len(pcm) // AAC_FRAME) * AAC_FRAME
    padded = np.zeros(samples, dtype="<i2")
    padded[: len(pcm)] = pcm
    del pcm
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    args = [_ff.ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "s16le", "-ar", str(task.sample_rate), "-ac", "1", "-i", "pipe:0",
            "-c:a", "aac", "-b:a", task.bitrate, "-fflags", "+bitexact", "-flags:a", "+bitexact",
            "-f", "adts", "file:" + str(part)]
    try:
        proc = subprocess.run(args, input=memoryview(padded).cast("B"), capture_output=True)
        if proc.returncode != 0:
            reason = _ff.error_line(proc.stderr.decode("utf-8", "replace"), proc.returncode)
            raise AudioError(f"encoding chapter {task.position + 1} failed: {reason}")
        found = list(frames(part.read_bytes()))
        need = samples // AAC_FRAME + PRIMING_FRAMES
        if len(found) < need:  # an encoder without its priming frame: the join would drift
            raise AudioError(f"this ffmpeg's AAC encoder made {len(found)} frames of {samples} samples, "
                             f"not {need}")
        if len(found) > need:  # some builds flush a frame more: past the chapter's end, dropped
            part.write_bytes(b"".join(found[:need]))
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return ChapterFile(task.position, target, samples)


def joined_frames(chapters: Sequence[ChapterFile]) -> Iterator[memoryview]:
    """The book's ADTS stream: the first chapter whole, the later ones without their priming."""
    for i, chapter in enumerate(chapters):
        try:
            found = list(frames(chapter.path.read_bytes()))  # all checked before any is sent
        except (AudioError, OSError) as exc:
            raise AudioError(f"chapter {chapter.position + 1}'s file {chapter.path} is damaged: {exc}") from exc
        if len(found) != chapter.samples // AAC_FRAME + PRIMING_FRAMES:
            raise AudioError(f"chapter {chapter.position + 1}'s file has {len(found)} AAC frames, not "
                             f"{chapter.samples // AAC_FRAME + PRIMING_FRAMES}: {chapter.path}")
        yield from found if i == 0 else found[PRIMING_FRAMES:]


def marks(chapters: Sequence[ChapterFile], titles: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, title) of each chapter in samples of the joined stream, after its priming."""
    out, at = [], 0
    for chapter, title in zip(chapters, titles, strict=True):
        out.append((at, at + chapter.samples, title))
        at += chapter.samples
    return out
