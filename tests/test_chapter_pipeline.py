"""Chapters encoded as they complete, joined without encoding again (real ffmpeg, real worker
processes): the joined m4b decodes to the laid-out chapters end to end, sample for sample in
time; chapter marks fall where the chapters start; a resumed pipeline reuses what it encoded; a
segment made again re-encodes only its chapter; a damaged chapter file fails in one line and
leaves no file behind."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from e2a_node.audio import Tags, ffmpeg_path
from e2a_node.audio.assemble import chapter_pcm
from e2a_node.audio.chapter_files import AAC_FRAME
from e2a_node.audio.export import ChapterAudio, join_chapters
from e2a_node.audio.pipeline import ChapterPipeline
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError
from e2a_node.layout import Pause, Segment

SR = 22050
PITCHES = (220.0, 330.0, 440.0)  # one per chapter, so a shifted chapter shows


def tone(seconds: float, hz: float) -> bytes:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def book(store: SegmentStore) -> list[ChapterAudio]:
    chapters, index = [], 0
    for pos, hz in enumerate(PITCHES):
        segs = []
        for k in range(3):
            pause = Pause.CHAPTER if k == 2 else Pause.SENTENCE
            segs.append(Segment(index=index, chapter=pos, text=f"sentence {index}", pause_after=pause))
            store.put(index, tone(1.0 + 0.37 * k + 0.11 * pos, hz))
            index += 1
        chapters.append(ChapterAudio(f"Chapter {pos + 1}", segs))
    return chapters


def decode(path) -> np.ndarray:
    out = subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, "<i2")


def chapter_starts(path) -> list[tuple[int, int]]:
    meta = subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                          capture_output=True, check=True, text=True).stdout
    return [(int(s) * SR // int(b), int(e) * SR // int(b))
            for b, s, e in re.findall(r"TIMEBASE=1/(\d+)\nSTART=(\d+)\nEND=(\d+)", meta)]


def encode_and_join(chapters, store, tmp_path, name: str):
    pipeline = ChapterPipeline(chapters, store, tmp_path / "chapters", "64k", workers=2)
    try:
        pipeline.start()
        files = pipeline.finish()
    finally:
        pipeline.close()
    out = tmp_path / f"{name}.m4b"
    join_chapters(files, [c.title for c in chapters], out, sample_rate=SR, tags=Tags(title="Tones"))
    return files, out


@pytest.fixture
def store(tmp_path):
    return SegmentStore(tmp_path / "audio", SR)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float), b.astype(float)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_the_joined_book_is_the_laid_out_chapters_end_to_end_with_exact_marks(store, tmp_path):
    chapters = book(store)
    files, out = encode_and_join(chapters, store, tmp_path, "book")
    laid = [chapter_pcm(c.segments, store) for c in chapters]
    padded = [-(-len(p) // AAC_FRAME) * AAC_FRAME for p in laid]
    assert [f.samples for f in files] == padded
    got = decode(out)
    assert len(got) == sum(padded)  # the priming frame is skipped; nothing else added or lost
    at = 0
    starts = []
    for pcm, n in zip(laid, padded):
        starts.append((at, at + n))
        part = got[at : at + len(pcm)]
        assert correlation(part, pcm) > 0.99  # in time to the sample: a shift of one would drop this
        assert correlation(got[at + 1 : at + 1 + len(pcm)], pcm) < correlation(part, pcm)
        assert np.abs(got[at + len(pcm) : at + n].astype(int)).max() < 200  # the padding is silence
        at += n
    assert chapter_starts(out) == starts
    for start, _ in starts[1:]:  # the joins: a chapter's closing pause, the next one's lead-in
        assert np.abs(got[start - 2048 : start + 2048].astype(int)).max() < 200


def test_a_resumed_pipeline_reuses_its_chapters_and_a_segment_made_again_reencodes_its_chapter(store, tmp_path):
    chapters = book(store)
    files, first = encode_and_join(chapters, store, tmp_path, "first")
    stamps = [f.path.stat().st_mtime_ns for f in files]
    again, second = encode_and_join(chapters, store, tmp_path, "second")
    assert second.read_bytes() == first.read_bytes()
    assert [f.path for f in again] == [f.path for f in files]
    assert [f.path.stat().st_mtime_ns for f in again] == stamps  # not encoded again

    store.discard(4)  # chapter 2's middle sentence, made again (louder, the same length)
    store.put(4, (np.frombuffer(tone(1.0 + 0.37 + 0.11, 330.0), "<i2") // 2).astype("<i2").tobytes())
    redone, third = encode_and_join(chapters, store, tmp_path, "third")
    assert [f.path == g.path for f, g in zip(files, redone)] == [True, False, True]
    assert not files[1].path.exists()  # the stale file is gone
    assert sorted(p.name for p in (tmp_path / "chapters").iterdir()) == sorted(f.path.name for f in redone)
    assert third.read_bytes() != first.read_bytes()


def test_a_chapter_goes_to_the_workers_as_soon_as_its_last_segment_is_stored(store, tmp_path):
    chapters = book(store)
    for i in (1, 5):  # chapter 1 and 2 each miss one
        store.discard(i)
    pipeline = ChapterPipeline(chapters, store, tmp_path / "chapters", "64k", workers=1)
    try:
        pipeline.start()
        assert sorted(pipeline._futures) == [2]
        store.put(1, tone(1.37, 220.0))
        pipeline.stored(1)
        assert sorted(pipeline._futures) == [0, 2]
        pipeline._futures[0].result(timeout=60)
        with pytest.raises(AudioError, match="chapter 2 has no audio for 1 segment"):
            pipeline.finish()
        pipeline.discarded(1)  # thrown away (a lying peer's): chapter 1 waits for it again
        assert 0 not in pipeline._futures
    finally:
        pipeline.close()


def test_a_damaged_chapter_file_fails_the_join_in_one_line_and_leaves_no_file(store, tmp_path):
    chapters = book(store)
    files, _ = encode_and_join(chapters, store, tmp_path, "book")
    data = files[1].path.read_bytes()
    files[1].path.write_bytes(data[:-100])  # cut inside its last frame
    out = tmp_path / "broken.m4b"
    with pytest.raises(AudioError) as err:
        join_chapters(files, [c.title for c in chapters], out, sample_rate=SR, tags=Tags(title="Tones"))
    assert "chapter 2's file" in str(err.value) and "ADTS" in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir() if "broken" in p.name) == []

    files[1].path.write_bytes(data + data)  # frames more than its samples need
    with pytest.raises(AudioError, match="chapter 2's file has"):
        join_chapters(files, [c.title for c in chapters], out, sample_rate=SR, tags=Tags(title="Tones"))
    assert not out.exists()
