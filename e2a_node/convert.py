"""One `e2a convert` run, start to finish: book -> plan -> synthesis -> audiobook file.

Kept apart from the CLI so that tests and the cluster leader drive the same steps. The `ui`
argument receives progress (see `cli.ClickUI`); `SilentUI` suits library use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from e2a_node.audio import Tags, join_chapters, probe, write_audiobook
from e2a_node.audio.formats import DEFAULT_FORMAT, FORMAT_NAMES
from e2a_node.book import load_book
from e2a_node.errors import E2AError
from e2a_node.job import open_job_folder, parse_chapter_selection, plan_job
from e2a_node.memory import peak_rss_mb
from e2a_node.synth import MissingVoiceError, load_engine, resolve_voice
from e2a_node.synth.base import VoiceSettings, VoiceTraits
from e2a_node.voice_bundle import bundle_for_peers

log = logging.getLogger(__name__)

PEER_WAIT_SECONDS = 10.0
# --verify-peers: the share of each peer's sentences made again elsewhere and compared byte for
# byte. At 2% a peer that lies about every sentence is caught within its first ~50 sentences, and
# one that lies about 1 in 10 within ~500, for 2% extra synthesis.
VERIFY_FRACTION = 0.02
OTHERS_LOAD_SECONDS = 30.0  # --no-local: after one node is ready, how long the others may take to load


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
    # cluster mode: "auto" (mDNS) or "host:port,host:port"; None = this machine alone
    cluster: str | None = None
    use_local: bool = True  # False: the leader only coordinates (--no-local)
    mdns_interface: str | None = None
    report: Path | None = None
    slots: int | None = None  # voices working at once on this machine; None = one per core (up to 4)
    verify_peers: bool | None = None  # re-make a sample of peers' sentences; None = when deterministic
    trace: Path | None = None  # write every scheduler event and its instructions here (JSON lines)
    scheduler_factory: Callable | None = None  # None: e2a's scheduler (the benchmark passes its baseline)
    policy: str = "stealing"  # the scheduler's name, for the report
    key_file: Path | None = None  # the cluster key; None = $E2A_CLUSTER_KEY_FILE or the default file
    insecure: bool = False  # without a key, use nodes on other machines too (plain text)
    # --get-voice: called with the language (BCP 47) when no installed Piper voice speaks it; installs one
    get_voice: Callable[[str], None] | None = None


@dataclass
class ConvertResult:
    outputs: list[Path]
    audio_seconds: float
    wall_seconds: float
    synthesized: int  # segments made in this run (the rest came from an earlier run)
    segments: int
    tail_seconds: float = 0.0  # the last sentence in -> the file written
    start_seconds: float = 0.0  # the command's start -> synthesis starts (book, voices, plan)
    join_seconds: float = 0.0  # of the tail: writing the file (for m4b: joining the encoded chapters)
    worker_peak_rss_mb: float | None = None  # the largest chapter encoder's peak memory


def _add_end_to_end(path: Path, result: ConvertResult) -> None:
    """The job report (--report) gets what the user waited for: the whole command, and the tail
    after the last sentence came in."""
    import json

    from e2a_node.cluster.report import write_report

    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("could not add the end-to-end times to %s: %s", path, exc)
        return
    report["end_to_end"] = {"wall_seconds": round(result.wall_seconds, 3), "start_seconds": round(result.start_seconds, 3),
                            "tail_seconds": round(result.tail_seconds, 3), "join_seconds": round(result.join_seconds, 3),
                            "audio_seconds": round(result.audio_seconds, 3), "peak_rss_mb": peak_rss_mb(),
                            "worker_peak_rss_mb": result.worker_peak_rss_mb}
    write_report(path, report)


class SilentUI:
    def info(self, message: str) -> None:
        log.info(message)

    def start(self, total_chars: int, total_segments: int, done_segments: int) -> None:
        pass

    def advance(self, chars: int, audio_s: float) -> None:
        pass

    def retract(self, chars: int, audio_s: float) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self, text: str) -> None:
        pass


def resolve_output(book: Path, output: Path | None, fmt: str | None, split: bool) -> tuple[Path, str]:
    """Where the audiobook goes and in which format (explicit --format, else the extension)."""
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output and not split else ""
        fmt = suffix if suffix in FORMAT_NAMES else DEFAULT_FORMAT
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
    for line in book.warnings:
        ui.info(f"Warning: {line}")
    numbers = parse_chapter_selection(req.chapter_spec, len(book.chapters))
    output, fmt = resolve_output(req.book, req.output, req.fmt, req.split_chapters)
    check_writable(output if req.split_chapters else output.parent)

    settings = _resolve_voice(req, book.language)
    language = settings.language or book.language
    access = _cluster_access(req) if req.cluster else None
    discovery = _start_discovery(req) if req.cluster else None
    stack = contextlib.ExitStack()
    try:
        engines: list = []
        if req.use_local:
            engines = _load_local_voices(settings, req.slots, ui)
            traits = VoiceTraits.of(engines[0])
        else:
            traits = _traits_from_a_peer(discovery, access, settings)
        plan = plan_job(book, numbers, language, traits, req.work_dir)
        store = open_job_folder(plan, settings.to_dict(), fresh=req.fresh)
        missing = plan.missing(store)
        already = len(plan.segments) - len(missing)
        if already:
            ui.info(f"Resuming: {already} of {len(plan.segments)} sentences were saved by an earlier run.")

        pipeline = _chapter_pipeline(plan, store, fmt, req)
        if pipeline is not None:
            stack.callback(pipeline.close)
        ui.start(sum(len(s.text) for s in missing), len(plan.segments), already)
        started_at = time.monotonic()
        try:
            verdict = _synthesize(plan, store, settings, traits, engines, discovery, access, req, ui, pipeline)
        except KeyboardInterrupt:
            ui.stop()
            ui.info(f"Interrupted: {len(store.indices())} of {len(plan.segments)} sentences are saved in "
                    f"{plan.folder}. Run the same command again to resume.")
            raise
        finally:
            ui.stop()
        synthesized_at = time.monotonic()
        if discovery is not None:
            discovery.stop()
            discovery = None

        ui.info(f"Writing {fmt}…")
        tags = Tags(title=book.title, author=", ".join(book.authors), album=book.title, language=language)
        worker_peak = None
        if pipeline is not None:
            encoded = pipeline.finish()
            worker_peak = pipeline.worker_peak_rss_mb
            joined_at = time.monotonic()
            outputs = join_chapters(encoded, [ch.title for ch in plan.chapters], output,
                                    sample_rate=plan.sample_rate, fmt=fmt, tags=tags, cover=book.cover,
                                    cover_mime=book.cover_mime)
        else:
            joined_at = time.monotonic()
            outputs = write_audiobook(plan.chapters, store, output, fmt=fmt, tags=tags, cover=book.cover,
                                      cover_mime=book.cover_mime, split_chapters=req.split_chapters,
                                      bitrate=req.bitrate)
    finally:
        stack.close()
        if discovery is not None:
            discovery.stop()
    tail = time.monotonic() - synthesized_at
    join = time.monotonic() - joined_at
    audio_seconds = sum(probe(p).duration for p in outputs)
    if not req.keep_audio:
        shutil.rmtree(plan.folder, ignore_errors=True)
    result = ConvertResult(outputs, audio_seconds, time.monotonic() - t0, len(missing), len(plan.segments), tail,
                           started_at - t0, join, worker_peak)
    if req.report is not None:
        _add_end_to_end(req.report, result)
    speed = audio_seconds / result.wall_seconds if result.wall_seconds else 0.0
    where = outputs[0] if len(outputs) == 1 else f"{len(outputs)} files in {output}"
    ui.info(f"Wrote {where}: {len(plan.chapters)} chapters, {audio_seconds / 60:.1f} min of audio "
            f"in {result.wall_seconds:.1f} s ({speed:.1f}x real time).{verdict}")
    return result


def _resolve_voice(req: ConvertRequest, book_language: str | None) -> VoiceSettings:
    """The voice for the book; with `req.get_voice`, a missing Piper voice is installed first."""
    try:
        return resolve_voice(req.settings, book_language)
    except MissingVoiceError as missing:
        if req.get_voice is None:
            raise
        req.get_voice(missing.language)
    return resolve_voice(req.settings, book_language)


def _cluster_access(req: ConvertRequest):
    """The cluster key (if any) and what it allows; says once which mode the job runs in."""
    import socket

    from e2a_node.clusterkey import ClusterAccess, load_key

    access = ClusterAccess(load_key(req.key_file), req.insecure, name=f"leader {socket.gethostname()}")
    return access


def _start_discovery(req: ConvertRequest):
    from e2a_node.discovery import make_discovery

    discovery = make_discovery(req.cluster, req.mdns_interface)
    discovery.start()
    return discovery


def _traits_from_a_peer(discovery, access, settings: VoiceSettings) -> VoiceTraits:
    """With --no-local the leader loads no voice: the nodes found describe it.

    Every node found is asked at once, so each loads the voice now, in parallel, rather than
    when the job has started (the job's own handshake then finds it loaded). A node that lacks
    the voice's files is sent them first.
    """
    import asyncio

    from e2a_node.peer_checks import traits_problem
    from e2a_node.rpc.client import ask_node

    files, folder = _voice_files_for_peers(settings)
    bundle = bundle_for_peers(settings, files)

    async def handshake(client):
        admitted = await client.handshake("", bundle, "")
        if not admitted.accepted and admitted.missing and folder is not None:
            if await client.send_voice(files, folder, admitted.missing, lambda _n: None):
                admitted = await client.handshake("", bundle, "")
        return admitted

    async def ask(addr):
        admitted, why = await ask_node(addr, access, handshake)
        if admitted is None:
            return None, f"{addr.target}: {why}"
        if not admitted.accepted:
            return None, f"{addr.target}: {admitted.reason}"
        problem = traits_problem(admitted.traits)
        return (None, f"{addr.target}: {problem}") if problem else (admitted.traits, "")

    async def ask_all() -> tuple[VoiceTraits | None, list[str]]:
        pending = {asyncio.ensure_future(ask(a)) for a in discovery.wait_for(1, timeout=PEER_WAIT_SECONDS)}
        found, reasons = None, []
        deadline = None
        while pending:
            timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
            done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break  # the slow ones load while the job starts; the job's handshake waits for them
            for task in done:
                traits, why = task.result()
                found = found or traits
                if why:
                    reasons.append(why)
            if found is not None and deadline is None:
                deadline = asyncio.get_running_loop().time() + OTHERS_LOAD_SECONDS
        for task in pending:
            task.cancel()
        return found, reasons

    traits, reasons = asyncio.run(ask_all())
    if traits is None:
        refusals = [r for r in reasons if not r.endswith(("unreachable", "did not answer in time"))]
        found = f": {'; '.join(reasons)}" if reasons else f" within {PEER_WAIT_SECONDS:.0f} s"
        hint = "" if refusals else ("; start `e2a-node serve` on your machines, or name them with "
                                    "--cluster HOST:PORT,...")
        raise E2AError(f"--no-local: no e2a node could take this job{found}{hint}")
    return traits


def _voice_files_for_peers(settings: VoiceSettings):
    """The voice's files (by content) and their folder, for nodes that lack them; (None, None)
    when they cannot travel (another engine, or this machine does not have them)."""
    from e2a_node.voice_bundle import voice_files
    from e2a_node.voices.manifest import HashCache

    try:
        found = voice_files(settings, HashCache.default())
    except E2AError as exc:
        log.info("the voice's files will not be sent to nodes: %s", exc)
        return None, None
    return found if found is not None else (None, None)


def _load_local_voices(settings: VoiceSettings, slots: int | None, ui) -> list:
    """This machine's voices: one per slot, each on its share of the cores.

    Several one-thread voices use a CPU better than one voice with many threads (measured 1.89x
    against 1.47x on 2 cores), and one-thread voices are what --deterministic needs anyway.
    """
    from e2a_node.node import default_slots, default_threads

    cores = os.cpu_count() or 1
    if slots is None:
        slots = max(1, cores // settings.threads) if settings.threads else default_slots(settings.device, settings.engine)
    threads = settings.threads or default_threads(slots)
    ui.info(f"Loading the {settings.engine} voice ({slots} slot{'s' if slots > 1 else ''})…")
    return [load_engine(replace(settings, threads=threads)) for _ in range(slots)]


def _chapter_pipeline(plan, store, fmt: str, req: ConvertRequest):
    """Chapters encoded during synthesis, for one m4b/m4a (None for other outputs: they are
    written at the end, see audio.export)."""
    from e2a_node.audio.chapter_files import CHAPTER_FORMATS
    from e2a_node.audio.formats import FORMATS
    from e2a_node.audio.pipeline import ChapterPipeline

    if fmt not in CHAPTER_FORMATS or req.split_chapters:
        return None
    pipeline = ChapterPipeline(plan.chapters, store, plan.folder / "chapters", req.bitrate or FORMATS[fmt].bitrate)
    pipeline.start()
    return pipeline


def _synthesize(plan, store, settings, traits, engines, discovery, access, req: ConvertRequest, ui,
                pipeline=None) -> str:
    """Synthesize every missing sentence with this machine's voices and, in cluster mode, the
    nodes the discovery finds; both go through the same driver and scheduler. Only a cluster
    job imports gRPC (for its connector)."""
    import asyncio

    from e2a_node.cluster.driver import JobDriver, JobOptions, stealing_scheduler
    from e2a_node.cluster.report import shares_line, verification_verdict
    from e2a_node.clusterkey import ClusterAccess
    from e2a_node.scheduler import SchedulerConfig, checks_from_env
    from e2a_node.worker import calibrate

    verify = traits.deterministic if req.verify_peers is None else req.verify_peers
    if verify and discovery is not None and not traits.deterministic:
        ui.info("--verify-peers needs a deterministic voice (--deterministic): peers are not verified.")
        verify = False
    config = SchedulerConfig(verify_fraction=VERIFY_FRACTION if verify and discovery is not None else 0.0,
                             # fresh each run: a peer knows the job id, and must not know which sentences are checked
                             verify_seed=int.from_bytes(os.urandom(8), "big"),
                             more_nodes_may_join=discovery is not None)
    options = JobOptions(local_engines=engines, local_speed=calibrate(engines[0]) if engines else 0.0,
                         discovery=discovery, access=access or ClusterAccess(), scheduler=config,
                         scheduler_factory=req.scheduler_factory or stealing_scheduler, policy=req.policy,
                         report=req.report, trace=req.trace, check_invariants=checks_from_env(os.environ),
                         chapters=pipeline)
    if discovery is not None:
        from e2a_node.rpc.member import GrpcConnector

        files, folder = _voice_files_for_peers(settings)
        options.connector = GrpcConnector(job_id=plan.job_id, leader_id=options.leader_id,
                                          bundle=bundle_for_peers(settings, files), traits=traits,
                                          texts=[s.text for s in plan.segments], identity=access.identity,
                                          voice_folder=folder)
    report = asyncio.run(JobDriver(plan, store, traits, options, ui).run())
    if discovery is None:
        return ""
    ui.info(shares_line(report))
    return verification_verdict(report)
