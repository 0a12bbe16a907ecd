"""The contract every TTS engine module keeps, and the settings that choose a voice.

An engine module (``piper.py``, ``coqui.py``) exposes:

    load(settings: VoiceSettings) -> Engine      # heavy imports and model loading happen here
    voices() -> list[VoiceInfo]                   # what this machine can use, for `e2a voices`

and the loaded `Engine` turns one segment of text into 16-bit mono PCM. Engines are loaded once
and reused for every segment of a job (and, on a cluster node, across jobs).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class VoiceSettings:
    """Everything that decides how a segment sounds. Part of a job's identity."""

    engine: str = "piper"
    voice: str | None = None  # piper: .onnx path or voice name; coqui: speaker clip path or speaker name
    model: str | None = None  # coqui: model name, e.g. tts_models/multilingual/multi-dataset/xtts_v2
    model_path: str | None = None  # coqui: local checkpoint folder (with config.json)
    language: str | None = None  # overrides the book's language
    device: str = "cpu"  # coqui: cpu, cuda, cuda:N
    threads: int | None = None  # ONNX/torch intra-op threads; None = engine default
    deterministic: bool = False  # reproducible output byte for byte

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VoiceInfo:
    """One voice a user can pick, as `e2a voices` lists it."""

    engine: str
    name: str  # what to pass to --voice (or --model for coqui model names)
    language: str  # BCP 47, e.g. "en-US"
    description: str = ""


class Engine(Protocol):
    name: str  # registry name, e.g. "piper"
    sample_rate: int  # Hz of the PCM that synthesize returns
    max_chars: int  # longest segment the engine handles well; the planner splits longer text
    deterministic: bool  # same text (and seed) -> same bytes
    normalizes_numbers: bool  # True when the engine reads digits itself (e.g. espeak-ng in piper)
    language: str  # BCP 47 language the loaded voice speaks, e.g. "en-US"
    fingerprint: str  # stable id of model + settings; changes when the audio would change

    def synthesize(self, text: str, seed: int | None = None) -> bytes:
        """Return int16 little-endian mono PCM at `sample_rate` for `text`.

        `seed` makes sampling engines reproducible per segment (the caller passes
        `segment_seed(text)`); engines that are deterministic anyway ignore it.
        """
        ...


def segment_seed(text: str) -> int:
    """A segment's seed (0 to 2**32 - 1) from its text alone, so a sampling engine repeats itself
    on any node, in any run, whoever assigned the segment."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class VoiceTraits:
    """What a leader needs to know about a loaded voice to plan a job (`e2a_node.job.plan_job`)
    and to check that another node's voice makes the same audio (same fingerprint)."""

    fingerprint: str
    sample_rate: int
    max_chars: int
    normalizes_numbers: bool
    deterministic: bool
    language: str

    @classmethod
    def of(cls, engine: Engine) -> "VoiceTraits":
        return cls(engine.fingerprint, engine.sample_rate, engine.max_chars, engine.normalizes_numbers,
                   engine.deterministic, engine.language)
