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


def encode_and_join(chapters, store, tmp_path, name: str, piece_seconds: float = 300.0):
    pipeline = ChapterPipeline(chapters, store, tmp_path / "chapters", "64k", workers=2, piece_seconds=piece_seconds)
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


@pytest.mark.parametrize("piece_seconds", [300.0, 1.5], ids=["whole", "pieces"])
def test_the_joined_book_is_the_laid_out_chapters_end_to_end_with_exact_marks(store, tmp_path, piece_seconds):
    chapters = book(store)
    files, out = encode_and_join(chapters, store, tmp_path, "book", piece_seconds)
    assert [len(f.pieces) for f in files] == ([1, 1, 1] if piece_seconds > 100 else [3, 3, 3])
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
    joins = [start for start, _ in starts[1:]]  # a chapter's closing pause, the next one's lead-in
    at = 0
    for f in files:  # and where a chapter's pieces meet: in a pause between sentences
        for piece in f.pieces[:-1]:
            joins.append(at + piece.samples)
            at += piece.samples
        at += f.pieces[-1].samples
    for join in joins:
        assert np.abs(got[join - 2048 : join + 2048].astype(int)).max() < 200


def test_pieces_decode_to_what_the_whole_chapter_does(store, tmp_path):
    chapters = book(store)
    _, whole = encode_and_join(chapters, store, tmp_path / "w", "whole")
    files, pieces = encode_and_join(chapters, store, tmp_path / "p", "pieces", piece_seconds=1.5)
    a, b = decode(whole), decode(pieces)
    assert len(a) == len(b) and chapter_starts(whole) == chapter_starts(pieces)
    assert correlation(a, b) > 0.999
    assert np.abs(a.astype(int) - b.astype(int)).max() < 0.05 * 32767
    again, pieces2 = encode_and_join(chapters, store, tmp_path / "q", "pieces", piece_seconds=1.5)
    assert pieces2.read_bytes() == pieces.read_bytes()  # the cuts depend on the layout alone


def test_a_resumed_pipeline_reuses_its_chapters_and_a_segment_made_again_reencodes_its_chapter(store, tmp_path):
    chapters = book(store)
    files, first = encode_and_join(chapters, store, tmp_path, "first")
    stamps = [p.stat().st_mtime_ns for f in files for p in f.paths]
    again, second = encode_and_join(chapters, store, tmp_path, "second")
    assert second.read_bytes() == first.read_bytes()
    assert [f.paths for f in again] == [f.paths for f in files]
    assert [p.stat().st_mtime_ns for f in again for p in f.paths] == stamps  # not encoded again

    store.discard(4)  # chapter 2's middle sentence, made again (louder, the same length)
    store.put(4, (np.frombuffer(tone(1.0 + 0.37 + 0.11, 330.0), "<i2") // 2).astype("<i2").tobytes())
    redone, third = encode_and_join(chapters, store, tmp_path, "third")
    assert [f.paths == g.paths for f, g in zip(files, redone)] == [True, False, True]
    assert not files[1].paths[0].exists()  # the stale files are gone (the piece and the plan)
    kept = sorted(p.name for p in (tmp_path / "chapters").iterdir())
    assert kept == sorted({p.name for f in redone for p in f.paths} | {p.name[:-8] + ".json" for f in redone
                                                                       for p in f.paths})
    assert third.read_bytes() != first.read_bytes()


def test_a_chapter_goes_to_the_workers_as_soon_as_its_last_segment_is_stored(store, tmp_path):
    chapters = book(store)
    for i in (1, 5):  # chapter 1 and 2 each miss one
        store.discard(i)
    pipeline = ChapterPipeline(chapters, store, tmp_path / "chapters", "64k", workers=1)
    try:
        pipeline.start()
        assert sorted(pipeline._plans) == [2]
        store.put(1, tone(1.37, 220.0))
        pipeline.stored(1)
        assert sorted(pipeline._plans) == [0, 2]
        pipeline._plans[0].result(timeout=60)
        pipeline.stored(1)  # a planned chapter's pieces go out at the next segment stored
        assert sorted(pipeline._pieces) == [0, 2] or sorted(pipeline._pieces) == [0]
        with pytest.raises(AudioError, match="chapter 2 has no audio for 1 segment"):
            pipeline.finish()
        pipeline.discarded(1)  # thrown away (a lying peer's): chapter 1 waits for it again
        assert 0 not in pipeline._plans and 0 not in pipeline._pieces
    finally:
        pipeline.close()


def test_a_damaged_chapter_file_fails_the_join_in_one_line_and_leaves_no_file(store, tmp_path):
    chapters = book(store)
    files, _ = encode_and_join(chapters, store, tmp_path, "book")
    data = files[1].paths[0].read_bytes()
    files[1].paths[0].write_bytes(data[:-100])  # cut inside its last frame
    out = tmp_path / "broken.m4b"
    with pytest.raises(AudioError) as err:
        join_chapters(files, [c.title for c in chapters], out, sample_rate=SR, tags=Tags(title="Tones"))
    assert "chapter 2's file" in str(err.value) and "ADTS" in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir() if "broken" in p.name) == []

    files[1].paths[0].write_bytes(data + data)  # frames more than its samples need
    with pytest.raises(AudioError, match="chapter 2's file has"):
        join_chapters(files, [c.title for c in chapters], out, sample_rate=SR, tags=Tags(title="Tones"))
    assert not out.exists()


def test_cuts_fall_on_frame_boundaries_inside_pauses_with_silence_either_side():
    from e2a_node.audio.chapter_files import CUT_MARGIN, choose_cuts

    # segments of 10,000 samples with gaps of 6,000 (a sentence pause at 22050 Hz is 7,718)
    placements, at = [], 3000
    for index in range(40):
        placements.append((index, at, 10_000))
        at += 16_000
    cuts = choose_cuts(placements, at, piece=50_000)
    assert cuts and all(c % AAC_FRAME == 0 for c in cuts)
    edges = [0, *cuts]
    assert all(b - a >= 50_000 for a, b in zip(edges, edges[1:]))  # pieces at least the length asked
    for c in cuts:
        gap = next((start + n, nxt) for (_, start, n), (_, nxt, _) in zip(placements, placements[1:])
                   if start + n <= c < nxt)
        assert gap[0] + CUT_MARGIN <= c and c + CUT_MARGIN <= gap[1]
    assert at - cuts[-1] >= 50_000 // 4  # no sliver of a last piece
    # gaps too short for the margins: no cut at all, one piece
    tight = [(i, 100 + i * 12_000, 10_000) for i in range(40)]
    assert choose_cuts(tight, 40 * 12_000, piece=50_000) == ()


WORKERS_OF_A_KILLED_LEADER = """
import sys, time
sys.path.insert(0, {root!r})
from tests.test_chapter_pipeline import book
from e2a_node.audio.pipeline import ChapterPipeline
from e2a_node.audio.store import SegmentStore
if __name__ == "__main__":
    store = SegmentStore({folder!r}, 22050)
    pipeline = ChapterPipeline(book(store), store, {chapters!r}, "64k", workers=2)
    pipeline.start()
    pipeline.finish()
    print(" ".join(str(pid) for pid in pipeline._pool._processes), flush=True)
    time.sleep(600)
"""


def test_workers_exit_when_the_leader_is_killed(tmp_path):
    import os
    import signal
    import sys
    import time

    from tests.conftest import ROOT

    script = tmp_path / "leader.py"
    script.write_text(WORKERS_OF_A_KILLED_LEADER.format(root=str(ROOT), folder=str(tmp_path / "audio"),
                                                        chapters=str(tmp_path / "chapters")))
    leader = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in leader.stdout.readline().split()]
        assert pids
        leader.send_signal(signal.SIGKILL)  # no chance to stop its pool
        leader.wait(10)
        deadline = time.monotonic() + 10
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if os.path.exists(f"/proc/{p}") and
                     open(f"/proc/{p}/stat").read().split(") ")[1][0] != "Z"]
        assert not alive, f"workers still running after their leader was killed: {alive}"
    finally:
        leader.kill()
