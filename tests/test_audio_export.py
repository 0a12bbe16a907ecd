"""Export to m4b/m4a/mp3/opus/flac/wav through ffmpeg, checked by reading the files back."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import signal

from e2a_node.audio import ffmpeg as ff
from e2a_node.audio.assemble import LEAD_IN_SECONDS, PAUSE_SECONDS, TARGET_LUFS, TRUE_PEAK_DBTP
from e2a_node.audio.export import FORMATS, ChapterAudio, Tags, safe_filename, write_audiobook
from e2a_node.audio.probe import decoded_seconds, loudness, parse_ffmetadata, probe
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError
from e2a_node.layout import Pause, Segment

SR = 22050
TITLES = ["Chapter One: the = sign; #1", "Two \\ back\nslash"]
SEG_SECONDS = [1.0, 1.3, 0.7, 1.6, 1.1]
SEG_PAUSES = [Pause.TITLE, Pause.SENTENCE, Pause.CHAPTER, Pause.PARAGRAPH, Pause.CHAPTER]
CHAPTER_OF = [0, 0, 0, 1, 1]


def speechlike(seconds: float, seed: int, rms: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = np.clip(rng.standard_normal(n), -2.5, 2.5)
    b, a = signal.butter(2, [150 / (SR / 2), 4000 / (SR / 2)], "band")
    x = signal.lfilter(b, a, x)
    env = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.2, 0.35) * SR)
        take = min(length, n - pos)
        env[pos : pos + take] = signal.windows.tukey(length, 0.3)[:take] * rng.uniform(0.7, 1.0)
        pos += length + int(rng.uniform(0.03, 0.08) * SR)
    return np.clip(x * env * rms / np.std(x), -32768, 32767).astype(np.int16)


def image_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), (180, 40, 20)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("job")
    store = SegmentStore(folder, SR)
    segs = []
    for i, (sec, pause, ch) in enumerate(zip(SEG_SECONDS, SEG_PAUSES, CHAPTER_OF)):
        store.put(i, speechlike(sec, seed=i, rms=600 + 300 * i).tobytes())
        segs.append(Segment(i, ch, f"sentence {i}", pause))
    chapters = [
        ChapterAudio(TITLES[0], [s for s in segs if s.chapter == 0]),
        ChapterAudio(TITLES[1], [s for s in segs if s.chapter == 1]),
    ]
    return store, chapters


def expected_seconds(chapter: int | None = None) -> float:
    total = 0
    for ch in (0, 1) if chapter is None else (chapter,):
        total += round(LEAD_IN_SECONDS * SR)
        for sec, pause, c in zip(SEG_SECONDS, SEG_PAUSES, CHAPTER_OF):
            if c == ch:
                total += int(sec * SR) + round(PAUSE_SECONDS[pause] * SR)
    return total / SR


TAGS = Tags(title="The Book", author="A. Writer", language="en", year=1899, comment="made by e2a")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_encoders_available():
    have = ff.encoders()
    for name in ("aac", "libmp3lame", "flac", "pcm_s16le"):
        assert name in have


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_each_format(book, tmp_path, fmt):
    store, chapters = book
    spec = FORMATS[fmt]
    if spec.codec not in ff.encoders():
        pytest.skip(f"this ffmpeg has no {spec.codec}")
    cover = image_bytes("PNG" if fmt != "mp3" else "JPEG")
    calls = []
    out = tmp_path / f"book.{fmt}"
    paths = write_audiobook(
        chapters,
        store,
        out,
        fmt=fmt,
        tags=TAGS,
        cover=cover,
        cover_mime="image/png",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert paths == [out] and out.is_file()
    assert calls == [(1, 2), (2, 2)]
    assert leftovers(tmp_path) == []
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # not a private temp file's mode

    info = probe(out)
    assert info.codec == {"pcm_s16le": "pcm_s16le", "libmp3lame": "mp3", "libopus": "opus"}.get(
        spec.codec, spec.codec
    )
    assert info.sample_rate == (48000 if fmt == "opus" else SR)
    assert info.duration == pytest.approx(expected_seconds(), abs=0.03)
    assert decoded_seconds(out) == pytest.approx(expected_seconds(), abs=0.005)
    assert info.tags["title"] == "The Book"
    assert info.tags["artist"] == "A. Writer"
    assert info.tags["album"] == "The Book"
    assert info.tags["genre"] == "Audiobook"
    assert info.tags.get("date", "").startswith("1899")
    assert info.tags.get("language") in {"en", "eng"}
    if spec.chapters:
        assert [c[2] for c in info.chapters] == ["Chapter One: the = sign; #1", "Two \\ back slash"]
        first_end = expected_seconds(0)
        assert info.chapters[0][0] == pytest.approx(0, abs=0.002)
        assert info.chapters[0][1] == pytest.approx(first_end, abs=0.002)
        assert info.chapters[1][0] == pytest.approx(first_end, abs=0.002)
    assert info.has_cover == spec.cover
    if fmt == "m4b":
        assert info.tags.get("media_type") == "2"  # iTunes: audiobook

    again = tmp_path / f"again.{fmt}"
    write_audiobook(chapters, store, again, fmt=fmt, tags=TAGS, cover=cover, cover_mime="image/png")
    assert again.read_bytes() == out.read_bytes(), "same store, different bytes"


def test_m4b_loudness_and_true_peak(book, tmp_path):
    store, chapters = book
    out = tmp_path / "book.m4b"
    write_audiobook(chapters, store, out, fmt="m4b", tags=TAGS, cover=None, cover_mime=None)
    lufs, peak = loudness(out)
    assert lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    assert peak <= TRUE_PEAK_DBTP + 0.5
    assert not probe(out).has_cover


def test_gif_cover_is_converted(book, tmp_path):
    store, chapters = book
    out = tmp_path / "book.m4b"
    write_audiobook(
        chapters[:1],
        store,
        out,
        fmt="m4b",
        tags=TAGS,
        cover=image_bytes("GIF"),
        cover_mime="image/gif",
    )
    assert probe(out).has_cover


@pytest.mark.parametrize(
    "cover", [b"not an image", b"\xff\xd8\xff\xe0 broken jpeg", b"GIF89a broken"]
)
def test_unreadable_cover_is_skipped(book, tmp_path, cover, caplog):
    store, chapters = book
    out = tmp_path / "book.mp3"
    write_audiobook(
        chapters[:1], store, out, fmt="mp3", tags=TAGS, cover=cover, cover_mime="image/jpeg"
    )
    assert out.is_file() and not probe(out).has_cover
    assert "cover image skipped" in caplog.text
    assert leftovers(tmp_path) == []


def test_split_chapters(book, tmp_path):
    store, chapters = book
    calls = []
    paths = write_audiobook(
        chapters,
        store,
        tmp_path / "book.mp3",
        fmt="mp3",
        tags=TAGS,
        cover=image_bytes("JPEG"),
        cover_mime="image/jpeg",
        split_chapters=True,
        progress=lambda d, t: calls.append((d, t)),
    )
    folder = tmp_path / "book"
    assert paths == [
        folder / "01 - Chapter One the = sign; #1.mp3",
        folder / "02 - Two back slash.mp3",
    ]
    assert calls == [(1, 2), (2, 2)]
    assert leftovers(folder) == []
    for i, path in enumerate(paths):
        info = probe(path)
        assert info.tags["track"] == f"{i + 1}/2"
        assert info.tags["album"] == "The Book"
        assert info.tags["title"] == " ".join(TITLES[i].split())
        assert info.has_cover
        assert decoded_seconds(path) == pytest.approx(expected_seconds(i), abs=0.005)
    # into an existing folder, another format
    paths = write_audiobook(
        chapters,
        store,
        folder,
        fmt="flac",
        tags=TAGS,
        cover=None,
        cover_mime=None,
        split_chapters=True,
    )
    assert [p.name for p in paths] == [
        "01 - Chapter One the = sign; #1.flac",
        "02 - Two back slash.flac",
    ]


def test_safe_filename():
    assert safe_filename('a/b\\c:d*e?f"g<h>i|j') == "a b c d e f g h i j"
    assert safe_filename("  Trailing dots... ") == "Trailing dots"
    assert safe_filename("tab\there\nnewline") == "tab here newline"
    assert len(safe_filename("é" * 300).encode()) <= 120
    assert safe_filename("...") == ""


def fake_ffmpeg(tmp_path: Path) -> Path:
    """An ffmpeg that lists the real encoders but fails half-way through writing its output."""
    script = tmp_path / "fake-ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do last="$a"; done\n'
        f'case " $* " in *" -encoders "*) exec "{ff.ffmpeg_path()}" "$@";; esac\n'
        'case "$last" in file:*) printf "partial" > "${last#file:}";; esac\n'
        'echo "[aac @ 0x1234] Encoder exploded: disk on fire" >&2\n'
        'echo "Conversion failed!" >&2\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    return script


def test_ffmpeg_failure_leaves_nothing(book, tmp_path, monkeypatch):
    store, chapters = book
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    fake = str(fake_ffmpeg(tmp_path))
    monkeypatch.setattr(ff, "ffmpeg_path", lambda: fake)
    out = out_dir / "book.m4b"
    with pytest.raises(AudioError, match="Encoder exploded: disk on fire"):
        write_audiobook(
            chapters,
            store,
            out,
            fmt="m4b",
            tags=TAGS,
            cover=image_bytes("PNG"),
            cover_mime="image/png",
        )
    assert list(out_dir.iterdir()) == []
    # an earlier good file under the same name survives a failed export
    out.write_bytes(b"earlier audiobook")
    with pytest.raises(AudioError):
        write_audiobook(chapters, store, out, fmt="m4b", tags=TAGS, cover=None, cover_mime=None)
    assert out.read_bytes() == b"earlier audiobook"
    assert leftovers(out_dir) == []
    # split: no chapter file appears for the failed chapter, no temp file stays
    with pytest.raises(AudioError):
        write_audiobook(
            chapters,
            store,
            out_dir / "split",
            fmt="mp3",
            tags=TAGS,
            cover=None,
            cover_mime=None,
            split_chapters=True,
        )
    assert list((out_dir / "split").iterdir()) == []


def test_ffmpeg_is_false(book, tmp_path, monkeypatch):
    store, chapters = book
    false = "/bin/false" if os.path.exists("/bin/false") else "/usr/bin/false"
    monkeypatch.setattr(ff, "ffmpeg_path", lambda: false)
    with pytest.raises(AudioError, match="ffmpeg"):
        write_audiobook(
            chapters,
            store,
            tmp_path / "book.m4b",
            fmt="m4b",
            tags=TAGS,
            cover=None,
            cover_mime=None,
        )
    assert list(tmp_path.iterdir()) == []


def test_bad_bitrate_reports_ffmpegs_reason(book, tmp_path):
    store, chapters = book
    with pytest.raises(AudioError, match="bogus"):
        write_audiobook(
            chapters,
            store,
            tmp_path / "b.mp3",
            fmt="mp3",
            tags=TAGS,
            cover=None,
            cover_mime=None,
            bitrate="bogus",
        )
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder(book, tmp_path):
    store, chapters = book
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    calls = []
    for split in (False, True):
        with pytest.raises(AudioError, match=r"cannot write to .*file\.txt"):
            write_audiobook(
                chapters,
                store,
                blocker / "out.m4b",
                fmt="m4b",
                tags=TAGS,
                cover=None,
                cover_mime=None,
                split_chapters=split,
                progress=lambda d, t: calls.append(d),
            )
    assert calls == []


@pytest.mark.skipif(
    sys.platform != "linux" or not os.path.isdir("/proc/self"), reason="needs /proc"
)
def test_location_that_refuses_files(book):
    # /proc/self refuses new files even for root
    store, chapters = book
    with pytest.raises(AudioError, match="cannot write to /proc/self/e2a-out"):
        write_audiobook(
            chapters,
            store,
            Path("/proc/self/e2a-out/b.m4b"),
            fmt="m4b",
            tags=TAGS,
            cover=None,
            cover_mime=None,
        )


def test_permission_denied_message(book, tmp_path, monkeypatch):
    store, chapters = book

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(AudioError, match=r"cannot write to .*: permission denied"):
        write_audiobook(
            chapters, store, tmp_path / "b.m4b", fmt="m4b", tags=TAGS, cover=None, cover_mime=None
        )


def test_input_errors(book, tmp_path, monkeypatch):
    store, chapters = book
    with pytest.raises(AudioError, match="unknown audio format"):
        write_audiobook(
            chapters, store, tmp_path / "b.ogg", fmt="ogg", tags=TAGS, cover=None, cover_mime=None
        )
    with pytest.raises(AudioError, match="no chapters"):
        write_audiobook(
            [], store, tmp_path / "b.m4b", fmt="m4b", tags=TAGS, cover=None, cover_mime=None
        )
    missing = [ChapterAudio("x", [Segment(99, 0, "gone", Pause.CHAPTER)])]
    with pytest.raises(AudioError, match="segment 99"):
        write_audiobook(
            missing, store, tmp_path / "b.m4b", fmt="m4b", tags=TAGS, cover=None, cover_mime=None
        )
    monkeypatch.setattr(ff, "encoders", lambda: frozenset({"aac", "flac"}))
    with pytest.raises(AudioError, match="no libopus encoder"):
        write_audiobook(
            chapters, store, tmp_path / "b.opus", fmt="opus", tags=TAGS, cover=None, cover_mime=None
        )
    assert list(tmp_path.iterdir()) == []


def test_probe_errors_and_ffmetadata_parsing(tmp_path):
    bogus = tmp_path / "x.m4b"
    bogus.write_bytes(b"this is not audio")
    with pytest.raises(AudioError, match="cannot read"):
        probe(bogus)
    with pytest.raises(AudioError, match="no such file"):
        probe(tmp_path / "missing.m4b")
    text = (
        ";FFMETADATA1\ntitle=a\\=b\\;c\\#d\\\\e\nComment=line1\\\nline2\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=One\n"
        "[STREAM]\nlanguage=eng\n"
        "[CHAPTER]\nTIMEBASE=1/22050\nSTART=33075\nEND=44100\ntitle=Two\n"
    )
    tags, chapters = parse_ffmetadata(text)
    assert tags == {"title": "a=b;c#d\\e", "comment": "line1\nline2"}
    assert chapters == [(0.0, 1.5, "One"), (1.5, 2.0, "Two")]
