"""Export: chapters of stored segment audio -> one audiobook file (or one file per chapter).

`write_audiobook` lays the chapters out one at a time (`assemble.chapter_pcm`, so memory is
bounded by the longest chapter) into one raw PCM temporary file next to the output, writes an
ffmetadata file with the tags and one chapter mark per chapter, and runs ffmpeg once:

    ffmpeg -f s16le -ar SR -ac 1 -i raw -f ffmetadata -i meta [-i cover]
           -map 0:a -map_metadata 1 -map_chapters 1 [-map 2:v -c:v copy -disposition attached_pic]
           -c:a CODEC -b:a RATE -fflags +bitexact -flags:a +bitexact -f MUXER .NAME.part-PID

then renames the finished file onto the output name, so an interrupted export never leaves a
file that looks finished, and the same store always gives a byte-identical file.

Formats (their table is `e2a_node.audio.formats`): m4b (AAC in MP4, chapters, cover; the
default), m4a (the same, not marked as an audiobook), mp3 (libmp3lame, ID3v2.3 with CHAP frames
and APIC cover), opus (libopus in Ogg at 48 kHz, chapters as comments, no cover), flac (cover as
picture block, no chapters), wav (PCM, tags only). A JPEG or PNG cover is used as it is; GIF,
WebP and BMP are converted to PNG by ffmpeg; a cover ffmpeg cannot read is skipped with a
warning rather than failing the export.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from e2a_node import iso639
from e2a_node.audio import ffmpeg as _ff
from e2a_node.audio.assemble import chapter_pcm
from e2a_node.audio.chapter_files import AAC_FRAME, CHAPTER_FORMATS, PRIMING_FRAMES, ChapterFile, joined_frames
from e2a_node.audio.chapter_files import marks as chapter_marks
from e2a_node.audio.formats import DEFAULT_FORMAT, FORMAT_NAMES, FORMATS, Format
from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError
from e2a_node.layout import Segment

log = logging.getLogger(__name__)


@dataclass
class ChapterAudio:
    """One chapter of the audiobook: its title (the chapter mark) and its segments in order."""

    title: str
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Tags:
    """Book-level tags written into the audiobook."""

    title: str
    author: str = ""
    album: str | None = None  # defaults to the title
    genre: str = "Audiobook"
    language: str | None = None  # ISO 639-1 ("en") or 639-2 ("eng")
    year: int | str | None = None
    comment: str | None = None


def language3(lang: str | None) -> str | None:
    """A three-letter ISO 639-2 code for `lang` ("en", "en-US", "eng"), or None if unknown."""
    if not lang:
        return None
    base = re.split(r"[-_]", lang.strip().lower())[0]
    if len(base) == 3 and base.isalpha():
        return base
    return iso639.three_letter(base)


# -- ffmetadata ------------------------------------------------------------------------------


def ffmeta_escape(text: str) -> str:
    """Escape a key or value for an ffmetadata file (= ; # \\ and newlines get a backslash)."""
    text = str(text).replace("\x00", "")
    out = []
    for ch in text:
        if ch in "=;#\\\n":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def ffmetadata(
    tags: dict[str, str], chapters: Sequence[tuple[int, int, str]], sample_rate: int
) -> str:
    """The text of an ffmetadata file: global tags, then chapters (start, end in samples)."""
    lines = [";FFMETADATA1"]
    for key, value in tags.items():
        if value is not None and str(value) != "":
            lines.append(f"{ffmeta_escape(key)}={ffmeta_escape(value)}")
    for start, end, title in chapters:
        lines += [
            "[CHAPTER]",
            f"TIMEBASE=1/{sample_rate}",
            f"START={start}",
            f"END={end}",
            f"title={ffmeta_escape(_one_line(title))}",
        ]
    return "\n".join(lines) + "\n"


def _book_tags(tags: Tags, fmt: Format) -> dict[str, str]:
    lang = tags.language
    if lang and fmt.language3:
        lang = language3(lang) or lang
    out = {
        "title": _one_line(tags.title),
        "artist": _one_line(tags.author),
        "album_artist": _one_line(tags.author),
        "album": _one_line(tags.album if tags.album else tags.title),
        "genre": _one_line(tags.genre),
        "language": lang or "",
        "date": str(tags.year) if tags.year is not None else "",
        "comment": tags.comment or "",
    }
    if fmt.ext == "m4b":
        out["media_type"] = "2"  # MP4 'stik' atom: Audiobook
    return out


# -- cover -----------------------------------------------------------------------------------


def _sniff_image(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    return None


def _cover_kind(cover: bytes, cover_mime: str | None) -> str | None:
    kind = _sniff_image(cover)
    if kind is None:
        log.warning("cover image skipped: not a JPEG, PNG, GIF, WebP or BMP image (%s)", cover_mime)
    return kind


def _write_cover(temps: _Temps, cover: bytes, kind: str) -> tuple[Path, str] | None:
    """The cover as a JPEG or PNG file (containers take those); GIF/WebP/BMP become PNG.

    Returns (file, "jpeg" | "png"), or None (with a warning) if ffmpeg cannot read the image.
    """
    path = temps.new("cover", "." + kind)
    path.write_bytes(cover)
    source = ["-f", f"{kind}_pipe", "-i", _ffpath(path), "-frames:v", "1"]
    try:
        if kind in ("jpeg", "png"):  # used as it is; check that it decodes
            _ff.run_ffmpeg([*source, "-f", "null", "-"], what="reading the cover")
            return path, kind
        png = temps.new("cover", ".png")
        _ff.run_ffmpeg(
            [
                "-y",
                *source,
                "-c:v",
                "png",
                "-fflags",
                "+bitexact",
                "-flags:v",
                "+bitexact",
                "-f",
                "image2",
                "-update",
                "1",
                _ffpath(png),
            ],
            what="converting the cover",
        )
        return png, "png"
    except AudioError as exc:
        log.warning("cover image skipped: %s", exc)
        return None


# -- files -----------------------------------------------------------------------------------


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "not a directory"
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return (exc.strerror or str(exc)).lower()


def _writable_dir(folder: Path) -> None:
    """Create `folder` if needed and check that files can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".e2a-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AudioError(f"cannot write to {folder}: {_reason(exc)}") from exc


class _Temps:
    """Temporary files next to the output; all removed on exit (success or failure)."""

    def __init__(self, folder: Path, stem: str) -> None:
        self.folder = folder
        self.stem = stem[:80]  # room for the suffixes within the 255-byte name limit
        self.paths: list[Path] = []

    def new(self, kind: str, suffix: str = "") -> Path:
        """A new empty file `.<stem>.<kind>-<pid>-<random><suffix>`, mode 0666 less the umask."""
        for _ in range(100):
            path = self.folder / f".{self.stem}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise AudioError(f"cannot write to {self.folder}: {_reason(exc)}") from exc
            os.close(fd)
            self.paths.append(path)
            return path
        raise AudioError(f"cannot create a temporary file in {self.folder}")

    def __enter__(self) -> _Temps:
        return self

    def __exit__(self, *exc: object) -> None:
        for path in self.paths:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as err:  # pragma: no cover - best effort
                log.warning("could not remove temporary file %s: %s", path, err)


def _ffpath(path: Path) -> str:
    # "file:" so that names with ':' are never taken for a protocol
    return "file:" + os.path.abspath(path)


def _write_pcm(f, pcm: np.ndarray, path: Path) -> None:
    try:
        f.write(memoryview(np.ascontiguousarray(pcm, dtype="<i2")).cast("B"))
    except OSError as exc:
        raise AudioError(f"cannot write to {path.parent}: {_reason(exc)}") from exc


def _encode(
    *,
    raw: Path,
    meta: Path,
    cover_file: Path | None,
    cover_kind: str | None,
    sample_rate: int,
    fmt: Format,
    bitrate: str | None,
    language: str | None,
    part: Path,
) -> None:
    args = ["-y", "-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", _ffpath(raw)]
    args += ["-f", "ffmetadata", "-i", _ffpath(meta)]
    if cover_file is not None:
        args += ["-f", f"{cover_kind}_pipe", "-i", _ffpath(cover_file)]
    args += ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1" if fmt.chapters else "-1"]
    if cover_file is not None:
        args += ["-map", "2:v", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    args += ["-c:a", fmt.codec]
    if fmt.bitrate:
        args += ["-b:a", bitrate or fmt.bitrate]
    lang3 = language3(language)
    if lang3 and fmt.muxer == "ipod":
        args += ["-metadata:s:a:0", f"language={lang3}"]
    args += list(fmt.extra)
    args += ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-flags:v", "+bitexact"]
    args += ["-f", fmt.muxer, _ffpath(part)]
    _ff.run_ffmpeg(args, what=f"encoding {fmt.ext}")


def _finish(part: Path, output: Path) -> None:
    try:
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, output)
    except OSError as exc:
        raise AudioError(f"cannot write {output}: {_reason(exc)}") from exc


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_filename(title: str, max_bytes: int = 120) -> str:
    """`title` made safe as a file name on Linux, macOS and Windows file systems."""
    name = unicodedata.normalize("NFC", str(title))
    name = _UNSAFE.sub(" ", name)
    name = " ".join(name.split()).strip(" .")
    encoded = name.encode("utf-8")
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", "ignore").rstrip(" .")
    return name


def _split_folder(output: Path) -> Path:
    if output.suffix.lower().lstrip(".") in FORMATS and not output.is_dir():
        return output.with_suffix("")
    return output


# -- the export ------------------------------------------------------------------------------


def write_audiobook(
    chapters: list[ChapterAudio],
    store: SegmentStore,
    output: Path,
    *,
    fmt: str = DEFAULT_FORMAT,
    tags: Tags,
    cover: bytes | None = None,
    cover_mime: str | None = None,
    split_chapters: bool = False,
    bitrate: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Encode the chapters into `output` (or, with split_chapters, one file per chapter in the
    folder `output`, or `output` without its extension). Returns the files written.

    Raises AudioError if the output folder is not writable (before any work), if a segment's
    audio is missing, if this ffmpeg lacks the encoder, or if ffmpeg fails; no finished-looking
    file and no temporary file is left behind on failure.
    """
    spec = FORMATS.get(fmt.lower().lstrip(".")) if fmt else None
    if spec is None:
        raise AudioError(f"unknown audio format {fmt!r}: choose one of {', '.join(FORMAT_NAMES)}")
    if not chapters:
        raise AudioError("nothing to export: the book has no chapters")
    output = Path(output)
    folder = _split_folder(output) if split_chapters else output.parent
    _writable_dir(folder)
    if not split_chapters and output.is_dir():
        raise AudioError(f"cannot write {output}: it is a directory")
    if spec.codec not in _ff.encoders():
        raise AudioError(
            f"this ffmpeg ({_ff.ffmpeg_path()}) has no {spec.codec} encoder, needed for "
            f"{spec.ext}: "
            f"install an ffmpeg built with it, or choose another format"
        )
    cover_kind = _cover_kind(cover, cover_mime) if (cover and spec.cover) else None
    missing = [s.index for ch in chapters for s in ch.segments if not store.has(s.index)]
    if missing:
        raise AudioError(
            f"{len(missing)} segment(s) have no audio yet (first: segment {missing[0]})"
        )
    job = _Job(
        store, spec, _book_tags(tags, spec), tags.language, cover, cover_kind, bitrate, progress
    )
    try:
        if split_chapters:
            return _write_split(job, chapters, folder)
        return _write_one(job, chapters, output)
    except OSError as exc:  # writing temporary files next to the output
        raise AudioError(f"cannot write to {folder}: {_reason(exc)}") from exc


@dataclass
class _Job:
    store: SegmentStore
    spec: Format
    book_tags: dict[str, str]
    language: str | None
    cover: bytes | None
    cover_kind: str | None
    bitrate: str | None
    progress: Callable[[int, int], None] | None

    def cover_file(self, temps: _Temps) -> tuple[Path | None, str | None]:
        if not (self.cover and self.cover_kind):
            return None, None
        converted = _write_cover(temps, self.cover, self.cover_kind)
        return converted if converted else (None, None)

    def encode(
        self,
        temps: _Temps,
        raw: Path,
        meta: Path,
        cover: tuple[Path | None, str | None],
        target: Path,
    ) -> None:
        part = temps.new("part")
        _encode(
            raw=raw,
            meta=meta,
            cover_file=cover[0],
            cover_kind=cover[1],
            sample_rate=self.store.sample_rate,
            fmt=self.spec,
            bitrate=self.bitrate,
            language=self.language,
            part=part,
        )
        _finish(part, target)


def _write_one(job: _Job, chapters: list[ChapterAudio], output: Path) -> list[Path]:
    total = len(chapters)
    with _Temps(output.parent, output.name) as temps:
        raw = temps.new("raw")
        marks: list[tuple[int, int, str]] = []  # chapter start, end (samples), title
        pos = 0
        with open(raw, "wb") as f:
            for i, ch in enumerate(chapters):
                pcm = chapter_pcm(ch.segments, job.store)
                _write_pcm(f, pcm, raw)
                marks.append((pos, pos + len(pcm), ch.title))
                pos += len(pcm)
                del pcm
                if job.progress:
                    job.progress(i + 1, total)
        meta = temps.new("meta", ".txt")
        meta.write_text(ffmetadata(job.book_tags, marks, job.store.sample_rate), encoding="utf-8")
        job.encode(temps, raw, meta, job.cover_file(temps), output)
    return [output]


def _write_split(job: _Job, chapters: list[ChapterAudio], folder: Path) -> list[Path]:
    total = len(chapters)
    width = max(2, len(str(total)))
    written: list[Path] = []
    with _Temps(folder, "e2a") as temps:
        cover = job.cover_file(temps)
        for i, ch in enumerate(chapters):
            name = safe_filename(ch.title) or f"Chapter {i + 1}"
            target = folder / f"{i + 1:0{width}d} - {name}.{job.spec.ext}"
            raw = temps.new("raw")
            with open(raw, "wb") as f:
                pcm = chapter_pcm(ch.segments, job.store)
                _write_pcm(f, pcm, raw)
                n = len(pcm)
                del pcm
            tags = dict(job.book_tags, title=_one_line(ch.title), track=f"{i + 1}/{total}")
            meta = temps.new("meta", ".txt")
            meta.write_text(
                ffmetadata(tags, [(0, n, ch.title)], job.store.sample_rate), encoding="utf-8"
            )
            job.encode(temps, raw, meta, cover, target)
            for p in (raw, meta):
                p.unlink()
                temps.paths.remove(p)
            written.append(target)
            if job.progress:
                job.progress(i + 1, total)
    return written


def join_chapters(
    chapters: Sequence[ChapterFile],
    titles: Sequence[str],
    output: Path,
    *,
    sample_rate: int,
    fmt: str = DEFAULT_FORMAT,
    tags: Tags,
    cover: bytes | None = None,
    cover_mime: str | None = None,
) -> list[Path]:
    """Write `output` (m4b or m4a) from encoded chapters (`chapter_files`), copying their AAC
    frames: no encode. Chapter marks, tags and cover as `write_audiobook` writes them."""
    spec = FORMATS[fmt]
    if spec.ext not in CHAPTER_FORMATS:
        raise AudioError(f"{fmt} is not made from encoded chapters")
    output = Path(output)
    _writable_dir(output.parent)
    cover_kind = _cover_kind(cover, cover_mime) if cover else None
    priming = f"-{PRIMING_FRAMES * AAC_FRAME / sample_rate:.6f}"  # the stream starts a frame before 0
    with _Temps(output.parent, output.name) as temps:
        meta = temps.new("meta", ".txt")
        meta.write_text(ffmetadata(_book_tags(tags, spec), chapter_marks(chapters, titles), sample_rate),
                        encoding="utf-8")
        cover_file, kind = (_write_cover(temps, cover, cover_kind) or (None, None)) if cover_kind else (None, None)
        part = temps.new("part")
        args = ["-y", "-itsoffset", priming, "-f", "aac", "-i", "pipe:0", "-f", "ffmetadata", "-i", _ffpath(meta)]
        if cover_file is not None:
            args += ["-f", f"{kind}_pipe", "-i", _ffpath(cover_file)]
        args += ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
        if cover_file is not None:
            args += ["-map", "2:v", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
        args += ["-c:a", "copy"]
        lang3 = language3(tags.language)
        if lang3:
            args += ["-metadata:s:a:0", f"language={lang3}"]
        args += ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-flags:v", "+bitexact"]
        args += ["-f", spec.muxer, _ffpath(part)]
        _ff.run_ffmpeg_fed(args, (frame for frame in joined_frames(chapters)), what=f"writing {spec.ext}")
        _finish(part, output)
    return [output]
