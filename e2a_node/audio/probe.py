"""Reading an audio file back with ffmpeg alone (imageio-ffmpeg ships no ffprobe).

- `probe(path)`: duration, sample rate, codec, chapters, tags, whether a cover is attached.
  Tags and chapters come from `ffmpeg -i FILE -f ffmetadata -` (exact chapter times); the
  streams and duration from the input description ffmpeg prints on stderr. The duration there
  has 10 ms resolution; `decoded_seconds(path)` decodes the audio and counts the samples.
- `loudness(path)`: integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's
  `ebur128=peak=true` filter (resolution 0.1).

Used by the tests and by the CLI's checks of a finished audiobook.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from e2a_node.audio import ffmpeg as _ff
from e2a_node.errors import AudioError


@dataclass
class ProbeResult:
    duration: float  # seconds, from the container (10 ms resolution)
    sample_rate: int  # of the first audio stream
    codec: str  # of the first audio stream, ffmpeg's name: aac, mp3, opus, flac, pcm_s16le
    chapters: list[tuple[float, float, str]] = field(
        default_factory=list
    )  # (start_s, end_s, title)
    tags: dict[str, str] = field(default_factory=dict)  # lower-case keys
    has_cover: bool = False


def _unescape(text: str) -> str:
    out = []
    it = iter(text)
    for ch in it:
        if ch == "\\":
            out.append(next(it, ""))
        else:
            out.append(ch)
    return "".join(out)


def _logical_lines(text: str) -> list[str]:
    """ffmetadata lines, joining a line that ends in an escaping backslash with the next one."""
    lines: list[str] = []
    buf = ""
    for line in text.split("\n"):
        buf += line
        backslashes = len(buf) - len(buf.rstrip("\\"))
        if backslashes % 2 == 1:
            buf += "\n"
            continue
        lines.append(buf)
        buf = ""
    if buf:
        lines.append(buf)
    return lines


def _split_key(line: str) -> tuple[str, str] | None:
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "=":
            return _unescape(line[:i]), _unescape(line[i + 1 :])
        i += 1
    return None


def parse_ffmetadata(text: str) -> tuple[dict[str, str], list[tuple[float, float, str]]]:
    """Global tags (lower-case keys) and chapters (start_s, end_s, title) of an ffmetadata text."""
    tags: dict[str, str] = {}
    chapters: list[tuple[float, float, str]] = []
    section = None
    chap: dict[str, str] = {}

    def close_chapter() -> None:
        if section == "CHAPTER" and chap:
            tb = Fraction(chap.get("timebase", "1/1000"))
            start = float(int(chap.get("start", "0")) * tb)
            end = float(int(chap.get("end", "0")) * tb)
            chapters.append((start, end, chap.get("title", "")))

    for line in _logical_lines(text):
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.rstrip().endswith("]"):
            close_chapter()
            section = line.strip()[1:-1].upper()
            chap = {}
            continue
        kv = _split_key(line)
        if kv is None:
            continue
        key, value = kv
        if section is None:
            tags[key.lower()] = value
        elif section == "CHAPTER":
            chap[key.lower()] = value
    close_chapter()
    return tags, chapters


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(
    r"^\s*Stream #\d+:\d+(?:\[[^\]]*\])?(?:\(([^)]*)\))?"  # index, [id], (language)
    r".*?:\s*(Audio|Video|Data|Subtitle|Attachment):\s*(.*)$"
)
_META_LINE = re.compile(r"^(\s*)([^:]*?)\s*:\s?(.*)$")


def _parse_stderr(err: str) -> dict:
    info: dict = {
        "duration": 0.0,
        "sample_rate": 0,
        "codec": "",
        "has_cover": False,
        "stream_tags": {},
    }
    for marker in ("\nOutput #", "\nStream mapping:"):  # keep the input's description only
        if marker in err:
            err = err[: err.index(marker)]
    m = _DURATION.search(err)
    if m:
        h, mi, s = m.groups()
        info["duration"] = int(h) * 3600 + int(mi) * 60 + float(s)
    lines = err.splitlines()
    audio_seen = False
    i = 0
    while i < len(lines):
        sm = _STREAM.match(lines[i])
        if sm:
            lang, kind, desc = sm.groups()
            if kind == "Video" and "(attached pic)" in desc:
                info["has_cover"] = True
            if kind == "Audio" and not audio_seen:
                audio_seen = True
                if lang and lang != "und":
                    info["stream_tags"]["language"] = lang
                info["codec"] = desc.split(",")[0].split()[0]
                rm = re.search(r"(\d+) Hz", desc)
                info["sample_rate"] = int(rm.group(1)) if rm else 0
                # the stream's "Metadata:" block (Ogg keeps the book's tags there)
                indent = len(lines[i]) - len(lines[i].lstrip())
                j = i + 1
                key = ""
                if j < len(lines) and lines[j].strip() == "Metadata:":
                    j += 1
                    while j < len(lines):
                        line = lines[j]
                        if len(line) - len(line.lstrip()) <= indent + 2:
                            break
                        mm = _META_LINE.match(line)
                        if mm and mm.group(2):
                            key = mm.group(2).strip().lower()
                            info["stream_tags"][key] = mm.group(3)
                        elif mm and key:  # continuation of a value with several lines
                            info["stream_tags"][key] += "\n" + mm.group(3)
                        j += 1
        i += 1
    return info


def probe(path: Path | str) -> ProbeResult:
    """Describe an audio file. Raises AudioError if ffmpeg cannot read it."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"no such file: {path}")
    cmd = [
        _ff.ffmpeg_path(),
        "-nostdin",
        "-hide_banner",
        "-copyts",
        "-i",
        "file:" + str(path.resolve()),
        "-fflags",
        "+bitexact",
        "-f",
        "ffmetadata",
        "-",
    ]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg: {exc.strerror or exc}") from exc
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AudioError(f"cannot read {path}: {_ff.error_line(err, proc.returncode)}")
    tags, chapters = parse_ffmetadata(proc.stdout.decode("utf-8", "replace"))
    info = _parse_stderr(err)
    for key, value in info["stream_tags"].items():
        tags.setdefault(key, value)
    return ProbeResult(
        duration=info["duration"],
        sample_rate=info["sample_rate"],
        codec=info["codec"],
        chapters=chapters,
        tags=tags,
        has_cover=info["has_cover"],
    )


def decoded_seconds(path: Path | str) -> float:
    """Exact duration of the first audio stream: decode it and count the samples."""
    path = Path(path)
    rate = probe(path).sample_rate
    if rate <= 0:
        raise AudioError(f"no audio stream in {path}")
    cmd = [
        _ff.ffmpeg_path(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        "file:" + str(path.resolve()),
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-f",
        "s16le",
        "-",
    ]
    n = 0
    with subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            n += len(chunk)
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        rc = proc.wait()
    if rc != 0:
        raise AudioError(f"cannot decode {path}: {_ff.error_line(err, rc)}")
    return n / 2 / rate


def loudness(path: Path | str) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) of the file's first audio stream."""
    path = Path(path)
    cmd = [
        _ff.ffmpeg_path(),
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-i",
        "file:" + str(path.resolve()),
        "-map",
        "0:a:0",
        "-af",
        "ebur128=peak=true:framelog=quiet",
        "-f",
        "null",
        "-",
    ]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg: {exc.strerror or exc}") from exc
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AudioError(f"cannot measure {path}: {_ff.error_line(err, proc.returncode)}")
    summary = err[err.rfind("Summary:") :] if "Summary:" in err else err
    im = re.search(r"I:\s*(-?[\d.]+|-inf|nan)\s*LUFS", summary)
    pm = re.search(r"Peak:\s*(-?[\d.]+|-inf|nan)\s*dBFS", summary)
    if not im or not pm:
        raise AudioError(f"cannot measure {path}: no loudness summary from ffmpeg")
    return float(im.group(1)), float(pm.group(1))
