"""The benchmark engine: sleeps instead of speaking, so many nodes can share a small machine.

A cluster benchmark wants nodes of chosen, different speeds without 16 voices fighting over two
cores. This engine takes `len(text) / E2A_BENCH_CHARS_PER_SECOND` seconds of wall time per
segment (a sleep, which costs no CPU and releases the GIL) and returns int16 mono PCM as long as
a voice reading the text would make (15 characters per second of audio): a quiet tone whose
pitch comes from a hash of the text, so the same text gives the same bytes on every node and
shuffled or missing sentences still show in the assembled audio.

It exists only for the benchmark harness, which registers it as engine "bench" (`register()`) in
the processes it starts (scripts/bench_node.py, scripts/bench_leader.py); nothing else does, and
it never lists a voice. The speed is the node's, not the audio's, so the fingerprint is the same
on every node whatever its speed.

``E2A_BENCH_SAMPLE_RATE`` (read at load(), default 22050 Hz, 8000-48000) sets the audio's sample
rate, so a harness can shrink the bytes that go through gRPC and onto disk (8000 Hz is about a
third of the default) without changing how long the audio lasts. The rate is part of the
fingerprint ("bench:v1:8000"), so a leader refuses nodes that make audio at another rate.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import time
from dataclasses import dataclass

from e2a_node.errors import EngineError
from e2a_node.synth import register_engine
from e2a_node.synth.base import VoiceInfo, VoiceSettings

NAME = "bench"
SPEED_ENV = "E2A_BENCH_CHARS_PER_SECOND"  # this node's speed, read at load()
DEFAULT_CHARS_PER_SECOND = 200.0
SAMPLE_RATE_ENV = "E2A_BENCH_SAMPLE_RATE"  # the audio's sample rate, read at load()

SAMPLE_RATE = 22050  # default
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000  # rates every output format can take
MAX_CHARS = 400
SPOKEN_CHARS_PER_SECOND = 15  # how long the audio is: 22050 / 15 = 1470 samples per character
FINGERPRINT = "bench:v1"  # + ":<sample rate>"
AMPLITUDE = 300  # about -40 dBFS: audible if played, never loud


def register() -> None:
    """Make engine "bench" loadable in this process (scripts/bench_node.py, bench_leader.py)."""
    register_engine(NAME, __name__)


def available() -> bool:
    return True


def voices() -> list[VoiceInfo]:
    """None: the benchmark engine is not a voice anyone should pick."""
    return []


def voice_languages(settings: VoiceSettings) -> list[str] | None:
    return ["en"]


def _from_env(name: str, default, parse, valid, expected: str):
    """A number from environment variable `name` (default when unset); EngineError if bad."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise EngineError(f"{name} must be {expected}, not {raw!r}")
    return value


def chars_per_second_from_env() -> float:
    """The node's speed from ``E2A_BENCH_CHARS_PER_SECOND`` (default 200); EngineError if bad."""
    return _from_env(SPEED_ENV, DEFAULT_CHARS_PER_SECOND, float, lambda v: math.isfinite(v) and v > 0,
                     "a positive number of characters per second")


def sample_rate_from_env() -> int:
    """The audio's sample rate from ``E2A_BENCH_SAMPLE_RATE`` (default 22050); EngineError if bad."""
    return _from_env(SAMPLE_RATE_ENV, SAMPLE_RATE, int, lambda v: MIN_SAMPLE_RATE <= v <= MAX_SAMPLE_RATE,
                     f"a whole number of Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}")


def fingerprint_for(sample_rate: int) -> str:
    return f"{FINGERPRINT}:{sample_rate}"


def _tone_period(text: str) -> bytes:
    """One period of the text's tone: 60-99 samples (about 220-370 Hz), chosen by its hash."""
    samples = 60 + hashlib.sha256(text.encode("utf-8")).digest()[0] % 40
    values = [round(AMPLITUDE * math.sin(2 * math.pi * k / samples)) for k in range(samples)]
    return struct.pack(f"<{samples}h", *values)


@dataclass
class BenchEngine:
    """A loaded benchmark engine; `synthesize` is safe to call from several threads."""

    chars_per_second: float
    name: str = NAME
    sample_rate: int = SAMPLE_RATE
    max_chars: int = MAX_CHARS
    deterministic: bool = True
    normalizes_numbers: bool = True
    language: str = "en-US"
    fingerprint: str = fingerprint_for(SAMPLE_RATE)

    def synthesize(self, text: str, seed: int | None = None) -> bytes:
        """Sleep as long as this node would take, then return the text's tone (`seed` ignored)."""
        if not text:
            return b""
        time.sleep(len(text) / self.chars_per_second)
        period = _tone_period(text)
        size = len(text) * (self.sample_rate // SPOKEN_CHARS_PER_SECOND) * 2
        whole, rest = divmod(size, len(period))
        return period * whole + period[:rest]


def load(settings: VoiceSettings) -> BenchEngine:
    """The engine at this node's speed (``E2A_BENCH_CHARS_PER_SECOND``) and sample rate
    (``E2A_BENCH_SAMPLE_RATE``); settings are ignored."""
    rate = sample_rate_from_env()
    return BenchEngine(chars_per_second=chars_per_second_from_env(), sample_rate=rate,
                       fingerprint=fingerprint_for(rate))
