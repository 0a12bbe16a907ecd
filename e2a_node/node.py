"""What `e2a-node serve` does, apart from the wire: keep voices loaded, share slots among jobs.

`NodeService` is the peer's domain logic; `e2a_node.rpc.server` only translates gRPC calls to
these methods. A node keeps every engine it loaded (per voice) between jobs, so the second
book with the same voice starts at once. It has a fixed number of slots (one engine working
one lease each); a job gets the slots that are free when it starts, and a node with none free
answers busy instead of queueing work it would start late.

Every leader is treated as possibly buggy. A voice that is loaded answers at once: loads run
one task per voice (shared by everyone asking for it), at most `PARALLEL_LOADS` at a time, in
their own threads, and never under a lock that lookups need. Anything that is not a lookup of a
loaded voice is checked first (`check_from_wire`) and then costs a token of a bucket
(`VOICE_LOADS_PER_SECOND`), so a flood of handshakes is a trickle of loads. Idle voices make
way only for a voice that did load, and never for a load that fails. A voice is pinned while an
admission uses it, so no other job's load can evict it half-way. A job's `JobSession`
bounds what its leader can queue (`MAX_SEGMENTS_PER_ASSIGN`, `MAX_PENDING_SEGMENTS`, leases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from e2a_node import __version__
from e2a_node.errors import E2AError
from e2a_node.node_info import NodeInfo
from e2a_node.synth import ENGINES, all_voices, engine_module, load_engine
from e2a_node.synth.base import Engine, VoiceSettings, VoiceTraits
from e2a_node.voice_bundle import (ClipCache, VoiceBundle, check_from_wire, local_copy, settings_for_files,
                                   settings_on_this_node)
from e2a_node.voices.manifest import HashCache, VoiceFile, VoiceManifest
from e2a_node.voices.store import VoiceStore, VoiceStoreError
from e2a_node.wire import PROTOCOL_VERSION
from e2a_node.worker import MAX_SEGMENT_CHARS, LeaseRunner, Outbox, WorkItem, calibrate

log = logging.getLogger(__name__)

# One Assign is one lease: about 20 s of one slot's work (the scheduler's target), a few hundred
# sentences even on a fast GPU; 8,192 leaves a wide margin and keeps one message's work bounded.
MAX_SEGMENTS_PER_ASSIGN = 8192
# Segments queued for one job and not started yet, over all its leases: the scheduler gives a
# node one lease per slot, so four full Assigns is far beyond what a working leader queues.
MAX_PENDING_SEGMENTS = 4 * MAX_SEGMENTS_PER_ASSIGN
# Leases held at once per slot of a job: one working plus one given right after a revoke or
# steal is what a leader does; 8 is slack for bursts, and bounds the runs a leader can queue.
MAX_LEASES_PER_SLOT = 8
# Voice loads (anything but a lookup of a loaded voice): a leader asks each node once per job,
# so 10 at once covers several leaders starting together, and 2 per second after that is far
# more than real use while keeping a flood of handshakes to a trickle of loads.
VOICE_LOAD_BURST = 10
VOICE_LOADS_PER_SECOND = 2.0
# Loads at once: more would only fight for the same disk, cores and GPU memory.
PARALLEL_LOADS = 2
# Room for voices leaders send (--voice-store-limit): a dozen Piper voices or a few XTTS models.
DEFAULT_VOICE_STORE_BYTES = 20 << 30
# Voices this node sends other nodes at once (ServeVoice); more wait for another source.
MAX_UPLOADS = 2


@dataclass
class Admission:
    """The answer to a handshake or a job start. `limited`: refused only for now (too many loads)."""

    accepted: bool
    reason: str = ""
    traits: VoiceTraits | None = None
    speed: float = 0.0
    limited: bool = False
    missing: list[tuple[str, int]] = field(default_factory=list)  # the voice's files it lacks first


class _VoiceMissing(Exception):
    """The voice cannot be loaded yet: `admission` says what to send first (or to wait)."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission


class WorkRefused(E2AError):
    """A leader asked a job for more than a node takes (its stream should end with this line)."""


def installed_engines() -> dict[str, list[str]]:
    """engine name -> voice names this machine can load (engines that fail to import are left out)."""
    found: dict[str, list[str]] = {}
    for name in ENGINES:
        try:
            module = engine_module(name)
            if getattr(module, "available", lambda: True)():
                found[name] = []
        except (ImportError, E2AError):
            continue
    for v in all_voices():
        found.setdefault(v.engine, []).append(v.name)
    return found


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class _Voice:
    """Engines loaded for one voice: `idle` ones can be lent to a job. `pins`: admissions using it
    now; a voice with engines lent or pins is never evicted."""

    def __init__(self, traits: VoiceTraits, speed: float, settings: VoiceSettings, clip_sha256: str) -> None:
        self.traits = traits
        self.speed = speed
        self.settings = settings  # what this node loads for it (for more copies)
        self.clip_sha256 = clip_sha256
        self.idle: list[Engine] = []
        self.lent = 0  # engines working for jobs now
        self.pins = 0

    @property
    def in_use(self) -> bool:
        return self.lent > 0 or self.pins > 0


class JobSession:
    """One leader's job on this node: a LeaseRunner on the slots lent to it, within bounds."""

    def __init__(self, service: "NodeService", voice: _Voice, engines: list[Engine], outbox: Outbox) -> None:
        self.service = service
        self.voice = voice
        self.engines = engines
        self.runner = LeaseRunner(engines, outbox, service.executor, max_chars=voice.traits.max_chars)
        self.max_leases = MAX_LEASES_PER_SLOT * len(engines)
        self.last_assign = time.monotonic()  # a job that never gets work is idle from its start
        self.store_pin = contextlib.ExitStack()  # its voice's files in the voice store, while it runs
        self._closed = False

    def assign(self, lease: int, items: Sequence[WorkItem]) -> None:
        """Queue a lease; WorkRefused when it would take the job past a bound."""
        self.check_assign(lease, len(items))
        self.last_assign = time.monotonic()
        self.runner.assign(lease, items)

    def check_assign(self, lease: int, count: int) -> None:
        """WorkRefused if a lease of `count` segments would take the job past a bound."""
        active = self.runner.active_leases()
        if count > MAX_SEGMENTS_PER_ASSIGN:
            raise WorkRefused(f"lease {lease} has {count} segments: a node takes at most "
                              f"{MAX_SEGMENTS_PER_ASSIGN} per Assign")
        if lease in active:
            raise WorkRefused(f"lease {lease} is already being worked: each Assign needs a new lease")
        if len(active) >= self.max_leases:
            raise WorkRefused(f"{len(active)} leases are already queued: a node takes at most {self.max_leases} "
                              f"at once for a job on {len(self.engines)} slot(s)")
        pending = self.runner.pending_segments()
        if pending + count > MAX_PENDING_SEGMENTS:
            raise WorkRefused(f"{pending} segments are already queued and lease {lease} adds {count}: "
                              f"a node queues at most {MAX_PENDING_SEGMENTS} for a job")

    def revoke(self, lease: int) -> None:
        self.runner.revoke(lease)

    def steal(self, steal_id: int, lease: int, split_at: int) -> None:
        self.runner.steal(steal_id, lease, split_at)

    def idle_seconds(self, now: float) -> float:
        """How long the job has had no lease in progress and no new work (0 while it has some)."""
        if self.runner.active_leases():
            return 0.0
        return max(0.0, now - self.last_assign)

    async def close(self) -> None:
        """Stop the job and give its slots back; closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.runner.close()
        finally:
            self.store_pin.close()
            self.service._release(self.voice, self.engines)


class NodeService:
    def __init__(self, *, name: str, device: str = "cpu", slots: int = 1, threads: int | None = None,
                 state_dir: Path, node_id: str | None = None, model_dirs: Sequence[Path] = (),
                 loader: Callable[[VoiceSettings], Engine] = load_engine,
                 load_rate: float = VOICE_LOADS_PER_SECOND, load_burst: int = VOICE_LOAD_BURST,
                 voice_store_bytes: int = DEFAULT_VOICE_STORE_BYTES, upload_rate: float = 0.0) -> None:
        """`model_dirs`: folders a leader's `model_path` may point into (none: no model_path is
        taken); `loader` loads an engine (a test may slow it down); `upload_rate`: bytes a second
        this node sends voices to other nodes at most (0: as fast as it can)."""
        if slots < 1:
            raise E2AError("--slots must be at least 1")
        self.name = name
        self.device = device
        self.slots = slots
        self.threads = threads
        self.state_dir = state_dir
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.address = ""
        self.engines = installed_engines()
        self.model_dirs = [_allowed_dir(d) for d in model_dirs]
        self.clips = ClipCache(state_dir / "clips")
        self.voice_store = VoiceStore(state_dir / "voices", voice_store_bytes)
        self.hash_cache = HashCache(state_dir / "voice-hashes.json")
        self._receiving: dict[str, list[int]] = {}  # voice id -> [bytes held, total] while it arrives
        self._held: dict[str, tuple[VoiceManifest, Path]] = {}  # voices found outside the store, to serve
        self.uploads = 0  # ServeVoice streams now
        self.upload_rate = upload_rate
        self.executor = ThreadPoolExecutor(slots + 1, thread_name_prefix="e2a-node")
        self._load_executor = ThreadPoolExecutor(PARALLEL_LOADS, thread_name_prefix="e2a-load")
        self._loader = loader
        self._load_slots = asyncio.Semaphore(PARALLEL_LOADS)
        self._load_budget = TokenBucket(load_rate, load_burst)
        self._voices: dict[tuple, _Voice] = {}
        self._loading: dict[tuple, asyncio.Task] = {}  # key -> the one task loading that voice
        self._busy = 0
        self._jobs = 0
        self._speed = 0.0

    def info(self) -> NodeInfo:
        used, limit = self.voice_store.usage()
        return NodeInfo(node_id=self.node_id, name=self.name, protocol_version=PROTOCOL_VERSION,
                        software_version=__version__, engines=self.engines, device=self.device,
                        slots=self.slots, busy_slots=self._busy, speed=self._speed, jobs=self._jobs,
                        address=self.address, voice_store_bytes=used, voice_store_limit=limit,
                        receiving_bytes=sum(held for held, _ in self._receiving.values()),
                        receiving_total=sum(total for _, total in self._receiving.values()))

    async def admit(self, protocol_version: int, bundle: VoiceBundle, expected_fingerprint: str) -> Admission:
        """Can this node speak for a job with this voice? Loads (and keeps) the voice to find out."""
        admission, voice = await self._admitted_voice(protocol_version, bundle, expected_fingerprint)
        if voice is not None:
            voice.pins -= 1
        return admission

    async def open_job(self, protocol_version: int, bundle: VoiceBundle, expected_fingerprint: str,
                       slots_wanted: int, outbox: Outbox) -> tuple[Admission, JobSession | None]:
        """Admit the job and lend it free slots; on any way out but a session, nothing stays taken."""
        admission, voice = await self._admitted_voice(protocol_version, bundle, expected_fingerprint)
        if voice is None:
            return admission, None
        try:
            free = self.slots - self._busy
            if free <= 0:
                return Admission(False, f"busy: all {self.slots} slot(s) of node {self.name} are working for "
                                        "other jobs"), None
            take = min(free, slots_wanted) if slots_wanted else free
            self._busy += take  # reserve before loading, so two jobs cannot take the same slot
            try:
                engines = await self._take_engines(voice, take)
            except Exception as exc:  # no engine free and no copy would load
                log.debug("voice copy failed", exc_info=True)
                return Admission(False, f"node {self.name} cannot load the voice for another slot: "
                                        f"{type(exc).__name__}: {exc}"), None
            finally:
                self._busy -= take
            self._busy += len(engines)
            self._jobs += 1
            session = JobSession(self, voice, engines, outbox)
            if bundle.files is not None and self.voice_store.find(bundle.files.voice_id) is not None:
                # the store keeps a voice a job uses (more copies may load from its files)
                with contextlib.suppress(E2AError):
                    session.store_pin.enter_context(self.voice_store.in_use(bundle.files.voice_id))
            return admission, session
        finally:
            voice.pins -= 1

    def _release(self, voice: _Voice, engines: list[Engine]) -> None:
        self._busy -= len(engines)
        self._jobs -= 1
        voice.lent -= len(engines)
        voice.idle.extend(engines)

    # ------------------------------------------------------------------ admission and loading

    async def _admitted_voice(self, protocol_version: int, bundle: VoiceBundle,
                              expected_fingerprint: str) -> tuple[Admission, _Voice | None]:
        """The admission and, when accepted, the voice pinned for the caller (who unpins it)."""
        if protocol_version != PROTOCOL_VERSION:
            return Admission(False, f"protocol version {protocol_version} (leader) != {PROTOCOL_VERSION} (node "
                                    f"{self.name}, e2a {__version__}); run the same e2a version on every node"), None
        engine = bundle.settings.engine
        if engine not in self.engines:
            have = ", ".join(sorted(self.engines)) or "none"
            return Admission(False, f"engine {engine[:40]!r} is not installed on node {self.name} (it has: {have})"), None
        voice = self._voices.get(bundle.key)
        if voice is not None:
            voice.pins += 1
        else:
            try:
                local = await self._settings_for(bundle)
            except _VoiceMissing as exc:
                return exc.admission, None
            except E2AError as exc:
                return Admission(False, f"node {self.name} cannot load the voice: {exc}"), None
            if not self._load_budget.take():
                return Admission(False, f"node {self.name} is asked to load too many voices (at most "
                                        f"{VOICE_LOADS_PER_SECOND:g} a second); try again in a few seconds",
                                 limited=True), None
            try:
                voice = await self._pinned_load(bundle, local)
            except E2AError as exc:
                return Admission(False, f"node {self.name} cannot load the voice: {exc}"), None
            except Exception as exc:  # an engine's own error while loading
                log.debug("voice load failed", exc_info=True)
                return Admission(False, f"node {self.name} cannot load the voice: {type(exc).__name__}: {exc}"), None
        if expected_fingerprint and voice.traits.fingerprint != expected_fingerprint:
            voice.pins -= 1
            return Admission(False, f"node {self.name} has a different {engine} voice (fingerprint "
                                    f"{voice.traits.fingerprint[:18]}… vs the leader's {expected_fingerprint[:18]}…): "
                                    "a different voice file or engine version would change the audio"), None
        return Admission(True, traits=voice.traits, speed=voice.speed), voice

    async def _settings_for(self, bundle: VoiceBundle) -> VoiceSettings:
        """What this node loads for the bundle's voice: its own copy of the voice's files (the
        store, or the same files in its voices folder), else the voice by name. _VoiceMissing
        (with the files to send) when the leader has files this node lacks."""
        if bundle.files is None:
            return check_from_wire(bundle, self.model_dirs)
        files = bundle.files
        folder = self.voice_store.find(files.voice_id)
        if folder is None:
            loop = asyncio.get_running_loop()  # hashing a voice (once: the cache keeps it) takes a while
            folder = await loop.run_in_executor(self._load_executor, local_copy, bundle, self.hash_cache,
                                                self.model_dirs)
            if folder is not None:
                self._held[files.voice_id] = (files, folder)
        if folder is not None:
            return settings_for_files(bundle, folder)
        settings_for_files(bundle, self.voice_store.root)  # a voice this node could never load: say so now
        if files.voice_id in self._receiving:
            raise _VoiceMissing(Admission(False, f"node {self.name} is receiving this voice from another leader",
                                          limited=True))
        missing = self.voice_needs(files)
        raise _VoiceMissing(Admission(False, f"node {self.name} needs the voice's files ({len(missing)} to send)",
                                      missing=missing))

    def receiving_bytes(self, voice_id: str) -> int | None:
        """Bytes held of a voice being received now; None when it is not arriving."""
        progress = self._receiving.get(voice_id)
        return progress[0] if progress is not None else None

    def voice_needs(self, files: VoiceManifest) -> list[tuple[str, int]]:
        """The voice's files this node lacks, each with the bytes it holds already (where it
        resumes); VoiceStoreError (one line) when the store has no room for the voice."""
        if self.voice_store.find(files.voice_id) is not None:
            return []
        with self.voice_store.receive(files) as receiving:  # makes room, or says why there is none
            return [(f.path, offset) for f, offset in receiving.missing()]

    def voice_file(self, voice_id: str, path: str) -> tuple[IO[bytes], VoiceFile]:
        """One file of a voice this node holds (its store, or a voice of its own it loaded by
        content), open to send to another node: only files the voice's manifest names. The caller
        closes it. VoiceStoreError (one line) when the node does not hold it."""
        manifest = self.voice_store.manifest(voice_id)
        if manifest is not None:
            f, _size = self.voice_store.serve_file(voice_id, path)
        elif voice_id in self._held:
            manifest, folder = self._held[voice_id]
            if path not in {vf.path for vf in manifest.files}:
                raise VoiceStoreError(f"the voice has no file {path[:60]!r}")
            f = open(folder.joinpath(*path.split("/")), "rb")
        else:
            raise VoiceStoreError("this node does not hold that voice")
        return f, next(vf for vf in manifest.files if vf.path == path)

    def drop_damaged_voice(self, voice_id: str, path: str) -> None:
        """A file of a voice this node holds no longer matches its hash (found while sending it):
        forget the voice, so no other node is sent it again from here."""
        log.warning("voice %s: file %s no longer matches its SHA-256; dropping it from this node",
                    voice_id[:12], path)
        self._held.pop(voice_id, None)
        self.voice_store.discard(voice_id)

    async def receive_voice(self, files: VoiceManifest, pieces) -> bool:
        """Keep what a leader sends of a voice's files (`pieces`: (path, offset, data) in order) in
        the voice store; True when the voice is complete and verified. E2AError (one line) for a
        piece the store refuses: a wrong offset, a file that fails its hash, no room."""
        if files.engine not in self.engines:
            raise E2AError(f"engine {files.engine!r} is not installed on node {self.name}")
        if files.voice_id in self._receiving:
            raise WorkRefused(f"node {self.name} is already receiving this voice")
        loop = asyncio.get_running_loop()
        with self.voice_store.receive(files) as receiving:
            held = files.held_bytes((f.path, offset) for f, offset in receiving.missing())
            progress = self._receiving[files.voice_id] = [held, files.total_bytes]
            try:
                async for path, offset, data in pieces:
                    await loop.run_in_executor(self._load_executor, receiving.write, path, offset, data)
                    progress[0] += len(data)
                if receiving.missing():
                    return False
                await loop.run_in_executor(self._load_executor, receiving.complete)
                return True
            finally:
                del self._receiving[files.voice_id]

    async def _pinned_load(self, bundle: VoiceBundle, local: VoiceSettings) -> _Voice:
        """Load the voice (or join the load already running for it) and pin it."""
        task = self._loading.get(bundle.key)
        if task is None:
            task = asyncio.create_task(self._load_voice(bundle, local))
            self._loading[bundle.key] = task
            task.add_done_callback(lambda t, key=bundle.key: self._load_done(key, t))
        loaded = await asyncio.shield(task)  # a caller that goes away leaves the load to the others
        voice = self._voices.setdefault(bundle.key, loaded)  # back in, were it evicted meanwhile
        voice.pins += 1
        return voice

    def _load_done(self, key: tuple, task: asyncio.Task) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved: every caller may have gone

    async def _load_voice(self, bundle: VoiceBundle, local: VoiceSettings) -> _Voice:
        loop = asyncio.get_running_loop()
        async with self._load_slots:
            had_clip = bundle.clip_sha256 in self.clips
            settings = settings_on_this_node(bundle, self.clips, self.device, self.threads, local,
                                             in_use=self._clips_in_use())
            try:
                try:
                    engine = await loop.run_in_executor(self._load_executor, self._loader, settings)
                except Exception as exc:
                    if "out of memory" not in str(exc).lower() or not self._forget_idle_voices():
                        raise
                    engine = await loop.run_in_executor(self._load_executor, self._loader, settings)
                speed = await loop.run_in_executor(self._load_executor, calibrate, engine)
            except BaseException:
                if bundle.clip_sha256 and not had_clip and bundle.clip_sha256 not in self._clips_in_use(bundle.key):
                    self.clips.discard(bundle.clip_sha256)  # nothing stays written for a refused voice
                raise
        traits = replace(VoiceTraits.of(engine), max_chars=min(engine.max_chars, MAX_SEGMENT_CHARS))
        voice = _Voice(traits, speed, settings, bundle.clip_sha256)
        voice.idle.append(engine)
        self._forget_idle_voices()
        self._voices[bundle.key] = voice
        self._speed = speed
        log.info("loaded %s voice, %.0f chars/s per slot", bundle.settings.engine, speed)
        return voice

    async def _take_engines(self, voice: _Voice, count: int) -> list[Engine]:
        """Up to `count` engines of `voice`, loading more copies as needed (at least one, or raises)."""
        taken: list[Engine] = []
        try:
            while len(taken) < count:
                if voice.idle:
                    taken.append(voice.idle.pop())
                    voice.lent += 1
                    continue
                try:
                    engine = await self._load_copy(voice)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if not taken:
                        raise
                    log.warning("could not load another copy of the voice: working on %d slot(s)", len(taken),
                                exc_info=True)
                    break
                taken.append(engine)
                voice.lent += 1
        except BaseException:
            voice.lent -= len(taken)
            voice.idle.extend(taken)
            raise
        return taken

    async def _load_copy(self, voice: _Voice) -> Engine:
        async def load() -> Engine:
            async with self._load_slots:
                return await asyncio.get_running_loop().run_in_executor(self._load_executor, self._loader,
                                                                        voice.settings)

        task = asyncio.create_task(load())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # the thread goes on loading: keep what it makes for the next job with this voice
            task.add_done_callback(lambda t: voice.idle.append(t.result())
                                   if not t.cancelled() and t.exception() is None else None)
            raise

    def _clips_in_use(self, but: tuple | None = None) -> set[str]:
        """Clips of loaded voices and of loads under way (but the load of voice `but`)."""
        loading = {key[-1] for key in self._loading if key != but}
        return ({v.clip_sha256 for v in self._voices.values()} | loading) - {""}

    def _forget_idle_voices(self) -> bool:
        """Drop the voices no job is using; True if there were some. A new voice that loaded does
        this (big models share one GPU), and a load short of memory does it and tries again; a
        load that fails (a junk name) never costs a working voice its place."""
        idle = [key for key, voice in self._voices.items() if not voice.in_use]
        for key in idle:
            del self._voices[key]
        return bool(idle)


def _allowed_dir(folder: Path) -> Path:
    real = Path(os.path.realpath(Path(folder).expanduser()))
    if not real.is_dir():
        raise E2AError(f"--allow-model-dir {folder}: not a folder")
    return real


def default_slots(device: str, engine: str = "piper") -> int:
    """One slot per core (up to 4) for Piper on a CPU: separate one-thread voices use cores
    better than one voice with many threads (measured 1.89x vs 1.47x on 2 cores). One slot for
    Coqui models (each slot is a copy of a model of up to 2 GB) and on a GPU."""
    if device.startswith("cuda") or engine != "piper":
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def default_threads(slots: int) -> int | None:
    """Inference threads per slot when none are asked for, on a node and on the leader alike.

    Several slots share the cores out (at least one thread each), so their voices do not fight
    over them. One slot gets None, the engine's own default, rather than `os.cpu_count()`:
    ONNX Runtime then runs one thread per physical core with thread affinity (cpu_count also
    counts hyperthreads), and torch honours OMP_NUM_THREADS / MKL_NUM_THREADS when the user set
    them (set_num_threads would override them, for the whole process).
    """
    if slots <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // slots)
