"""One `e2a convert` run, start to finish: book -> plan -> synthesis -> audiobook file.

Kept apart from the CLI so that tests and the cluster leader drive the same steps. The `ui`
argument receives progress (see `cli.ClickUI`); `SilentUI` suits library use.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from e2a_node.audio import Tags, probe, write_audiobook
from e2a_node.book import load_book
from e2a_node.errors import E2AError
from e2a_node.job import open_job_folder, parse_chapter_selection, plan_job
from e2a_node.local import synthesize_missing
from e2a_node.synth import load_engine, resolve_voice
from e2a_node.synth.base import VoiceSettings

log = logging.getLogger(__name__)

FORMATS = ("m4b", "m4a", "mp3", "opus", "flac", "wav")


@dataclass
class ConvertRequest:
    book: Path
    work_dir: Path
    output: Path | None = None
    fmt: str | None = None
    chapter_spec: str | None = None
    include_all: bool = False
    settings: VoiceSettings = VoiceSettings()
    split_chapters: bool = False
    bitrate: str | None = None
    fresh: bool = False
    keep_audio: bool = False


@dataclass
class ConvertResult:
    outputs: list[Path]
    audio_seconds: float
    wall_seconds: float
    synthesized: int  # segments made in this run (the rest came from an earlier run)
    segments: int


class SilentUI:
    def info(self, message: str) -> None:
        log.info(message)

    def start(self, total_chars: int, total_segments: int, done_segments: int) -> None:
        pass

    def advance(self, chars: int, audio_s: float) -> None:
        pass

    def stop(self) -> None:
        pass


def resolve_output(book: Path, output: Path | None, fmt: str | None, split: bool) -> tuple[Path, str]:
    """Where the audiobook goes and in which format (explicit --format, else the extension)."""
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output and not split else ""
        fmt = suffix if suffix in FORMATS else "m4b"
    if output is None:
        output = book.parent / book.stem if split else book.with_suffix(f".{fmt}")
    elif not split and output.is_dir():
        output = output / f"{book.stem}.{fmt}"
    return output, fmt


def check_writable(folder: Path) -> None:
    """Fail before hours of synthesis, not after, when the output can't be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".e2a-write-test-"):
            pass
    except OSError as exc:
        raise E2AError(f"cannot write to {folder}: {exc.strerror or exc}") from exc


def run_convert(req: ConvertRequest, ui=None) -> ConvertResult:
    ui = ui or SilentUI()
    t0 = time.monotonic()
    book = load_book(req.book, include_all=req.include_all)
    numbers = parse_chapter_selection(req.chapter_spec, len(book.chapters))
    output, fmt = resolve_output(req.book, req.output, req.fmt, req.split_chapters)
    check_writable(output if req.split_chapters else output.parent)

    settings = resolve_voice(req.settings, book.language)
    language = settings.language or book.language
    ui.info(f"Loading the {settings.engine} voice…")
    engine = load_engine(settings)
    plan = plan_job(book, numbers, language, engine, req.work_dir)
    store = open_job_folder(plan, settings.to_dict(), fresh=req.fresh)
    missing = plan.missing(store)
    already = len(plan.segments) - len(missing)
    if already:
        ui.info(f"Resuming: {already} of {len(plan.segments)} sentences were saved by an earlier run.")

    ui.start(sum(len(s.text) for s in missing), len(plan.segments), already)
    try:
        synthesize_missing(plan, engine, store, on_segment=lambda seg, secs: ui.advance(len(seg.text), secs))
    except KeyboardInterrupt:
        ui.stop()
        ui.info(f"Interrupted: {len(store.indices())} of {len(plan.segments)} sentences are saved in {plan.folder}. "
                "Run the same command again to resume.")
        raise
    finally:
        ui.stop()

    ui.info(f"Writing {fmt}…")
    outputs = write_audiobook(
        plan.chapters, store, output, fmt=fmt,
        tags=Tags(title=book.title, author=", ".join(book.authors), album=book.title, language=language),
        cover=book.cover, cover_mime=book.cover_mime, split_chapters=req.split_chapters, bitrate=req.bitrate,
    )
    audio_seconds = sum(probe(p).duration for p in outputs)
    if not req.keep_audio:
        shutil.rmtree(plan.folder, ignore_errors=True)
    result = ConvertResult(outputs, audio_seconds, time.monotonic() - t0, len(missing), len(plan.segments))
    speed = audio_seconds / result.wall_seconds if result.wall_seconds else 0.0
    where = outputs[0] if len(outputs) == 1 else f"{len(outputs)} files in {output}"
    ui.info(f"Wrote {where}: {len(plan.chapters)} chapters, {audio_seconds / 60:.1f} min of audio "
            f"in {result.wall_seconds:.1f} s ({speed:.1f}x real time).")
    return result
