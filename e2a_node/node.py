"""What `e2a-node serve` does, apart from the wire: keep voices loaded, share slots among jobs.

`NodeService` is the peer's domain logic; `e2a_node.rpc.server` only translates gRPC calls to
these methods. A node keeps every engine it loaded (per voice) between jobs, so the second
book with the same voice starts at once. It has a fixed number of slots (one engine working
one lease each); a job gets the slots that are free when it starts, and a node with none free
answers busy instead of queueing work it would start late.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from e2a_node import __version__
from e2a_node.errors import E2AError
from e2a_node.node_info import NodeInfo
from e2a_node.synth import ENGINES, all_voices, engine_module, load_engine
from e2a_node.synth.base import Engine, VoiceTraits
from e2a_node.voice_bundle import VoiceBundle, settings_on_this_node
from e2a_node.worker import LeaseRunner, Outbox, calibrate

log = logging.getLogger(__name__)


@dataclass
class Admission:
    """The answer to a handshake or a job start."""

    accepted: bool
    reason: str = ""
    traits: VoiceTraits | None = None
    speed: float = 0.0


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


class _Voice:
    """Engines loaded for one voice: `idle` ones can be lent to a job."""

    def __init__(self, traits: VoiceTraits, speed: float) -> None:
        self.traits = traits
        self.speed = speed
        self.idle: list[Engine] = []
        self.lent = 0  # engines working for jobs now


class JobSession:
    """One leader's job on this node: a LeaseRunner on the slots lent to it."""

    def __init__(self, service: "NodeService", key: tuple, engines: list[Engine], outbox: Outbox) -> None:
        self.service = service
        self.key = key
        self.engines = engines
        self.runner = LeaseRunner(engines, outbox, service.executor)

    async def close(self) -> None:
        await self.runner.close()
        self.service._release(self.key, self.engines)


class NodeService:
    def __init__(self, *, name: str, device: str = "cpu", slots: int = 1, threads: int | None = None,
                 state_dir: Path, node_id: str | None = None) -> None:
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
        self.executor = ThreadPoolExecutor(slots + 1, thread_name_prefix="e2a-node")
        self._voices: dict[tuple, _Voice] = {}
        self._busy = 0
        self._jobs = 0
        self._speed = 0.0
        self._load_lock = asyncio.Lock()

    def info(self) -> NodeInfo:
        from e2a_node.rpc import PROTOCOL_VERSION

        return NodeInfo(node_id=self.node_id, name=self.name, protocol_version=PROTOCOL_VERSION,
                        software_version=__version__, engines=self.engines, device=self.device,
                        slots=self.slots, busy_slots=self._busy, speed=self._speed, jobs=self._jobs,
                        address=self.address)

    async def admit(self, protocol_version: int, bundle: VoiceBundle, expected_fingerprint: str) -> Admission:
        """Can this node speak for a job with this voice? Loads (and keeps) the voice to find out."""
        from e2a_node.rpc import PROTOCOL_VERSION

        if protocol_version != PROTOCOL_VERSION:
            return Admission(False, f"protocol version {protocol_version} (leader) != {PROTOCOL_VERSION} (node "
                                    f"{self.name}, e2a {__version__}); run the same e2a version on every node")
        engine = bundle.settings.engine
        if engine not in self.engines:
            have = ", ".join(sorted(self.engines)) or "none"
            return Admission(False, f"engine {engine!r} is not installed on node {self.name} (it has: {have})")
        try:
            voice = await self._voice(bundle)
        except E2AError as exc:
            return Admission(False, f"node {self.name} cannot load the voice: {exc}")
        except Exception as exc:  # an engine's own error while loading
            log.debug("voice load failed", exc_info=True)
            return Admission(False, f"node {self.name} cannot load the voice: {type(exc).__name__}: {exc}")
        if expected_fingerprint and voice.traits.fingerprint != expected_fingerprint:
            return Admission(False, f"node {self.name} has a different {engine} voice (fingerprint "
                                    f"{voice.traits.fingerprint[:18]}… vs the leader's {expected_fingerprint[:18]}…): "
                                    "a different voice file or engine version would change the audio")
        return Admission(True, traits=voice.traits, speed=voice.speed)

    async def open_job(self, protocol_version: int, bundle: VoiceBundle, expected_fingerprint: str,
                       slots_wanted: int, outbox: Outbox) -> tuple[Admission, JobSession | None]:
        admission = await self.admit(protocol_version, bundle, expected_fingerprint)
        if not admission.accepted:
            return admission, None
        free = self.slots - self._busy
        if free <= 0:
            return Admission(False, f"busy: all {self.slots} slot(s) of node {self.name} are working for other jobs"), None
        take = min(free, slots_wanted) if slots_wanted else free
        self._busy += take  # reserve before loading, so two jobs cannot take the same slot
        try:
            engines = await self._take_engines(bundle, take)
        except BaseException:
            self._busy -= take
            raise
        self._jobs += 1
        return admission, JobSession(self, bundle.key, engines, outbox)

    def _release(self, key: tuple, engines: list[Engine]) -> None:
        self._busy -= len(engines)
        self._jobs -= 1
        voice = self._voices.get(key)
        if voice is not None:
            voice.lent -= len(engines)
            voice.idle.extend(engines)

    async def _voice(self, bundle: VoiceBundle) -> _Voice:
        async with self._load_lock:
            voice = self._voices.get(bundle.key)
            if voice is None:
                self._forget_idle_voices()
                engine = await self._load(bundle)
                loop = asyncio.get_running_loop()
                speed = await loop.run_in_executor(self.executor, calibrate, engine)
                voice = _Voice(VoiceTraits.of(engine), speed)
                voice.idle.append(engine)
                self._voices[bundle.key] = voice
                self._speed = speed
                log.info("loaded %s voice, %.0f chars/s per slot", bundle.settings.engine, speed)
            return voice

    async def _take_engines(self, bundle: VoiceBundle, count: int) -> list[Engine]:
        voice = await self._voice(bundle)
        async with self._load_lock:
            while len(voice.idle) < count:
                voice.idle.append(await self._load(bundle))
            taken, voice.idle = voice.idle[:count], voice.idle[count:]
            voice.lent += len(taken)
            return taken

    async def _load(self, bundle: VoiceBundle) -> Engine:
        settings = settings_on_this_node(bundle, self.state_dir / "clips", self.device, self.threads)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, load_engine, settings)

    def _forget_idle_voices(self) -> None:
        """Before loading another voice, drop voices no job is using (big models share one GPU)."""
        for key, voice in list(self._voices.items()):
            if voice.lent == 0:
                del self._voices[key]


def default_slots(device: str, engine: str = "piper") -> int:
    """One slot per core (up to 4) for Piper on a CPU: separate one-thread voices use cores
    better than one voice with many threads (measured 1.89x vs 1.47x on 2 cores). One slot for
    Coqui models (each slot is a copy of a model of up to 2 GB) and on a GPU."""
    if device.startswith("cuda") or engine != "piper":
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def default_threads(slots: int) -> int | None:
    """ONNX/torch threads per slot: the cores shared out (None = the engine's own default)."""
    if slots <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // slots)
