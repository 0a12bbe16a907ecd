"""What a leader checks in what peers send back: the traits of their voice, and each sentence's audio.

A peer may be buggy or hostile, so nothing it says is taken on trust: its voice must describe a
plausible engine and match the job's voice exactly, and a sentence's audio must be well formed
and of a length a voice could have spoken that text in. (Whether the audio *says* the text is
what `--verify-peers` checks, by re-synthesising a sample elsewhere; see the scheduler.)
"""

from __future__ import annotations

from e2a_node.synth.base import VoiceTraits
from e2a_node.worker import MAX_SEGMENT_CHARS

SAMPLE_RATE_RANGE = (8_000, 48_000)  # Hz: telephone quality up to studio rate; every TTS engine fits
# The segment limit a voice may claim: real engines say 70 (XTTS, Japanese) to 400 (Piper) chars;
# above, what every node refuses to speak anyway.
MAX_CHARS_RANGE = (16, MAX_SEGMENT_CHARS)
# Speech runs ~8-20 characters a second. Allow wide margins both ways: slow voices, titles
# followed by pauses, very short segments ("I.") padded with silence, fast speaking rates.
SLOWEST_CHARS_PER_SECOND = 2.0
EXTRA_SECONDS = 5.0
FASTEST_CHARS_PER_SECOND = 40.0


def traits_problem(traits: VoiceTraits) -> str | None:
    """Why these traits can't describe a real voice, or None."""
    lo, hi = SAMPLE_RATE_RANGE
    if not lo <= traits.sample_rate <= hi:
        return f"its voice claims a sample rate of {traits.sample_rate} Hz (expected {lo}-{hi})"
    lo, hi = MAX_CHARS_RANGE
    if not lo <= traits.max_chars <= hi:
        return f"its voice claims a segment limit of {traits.max_chars} characters (expected {lo}-{hi})"
    if not traits.fingerprint or len(traits.fingerprint) > 200:
        return "its voice has no usable fingerprint"
    return None


def traits_mismatch(peer: VoiceTraits, job: VoiceTraits) -> str | None:
    """Why a peer's voice would not make this job's audio, or None when it is the same voice."""
    problem = traits_problem(peer)
    if problem:
        return problem
    for name, what in (("fingerprint", "voice"), ("sample_rate", "sample rate"), ("max_chars", "segment limit"),
                       ("normalizes_numbers", "number reading"), ("deterministic", "deterministic setting")):
        mine, theirs = getattr(job, name), getattr(peer, name)
        if mine != theirs:
            return f"its {what} differs from the job's ({str(theirs)[:40]} vs {str(mine)[:40]})"
    return None


def max_audio_seconds(text: str) -> float:
    return EXTRA_SECONDS + len(text) / SLOWEST_CHARS_PER_SECOND


def max_audio_bytes(text: str, sample_rate: int) -> int:
    """The most int16 mono PCM a plausible reading of `text` can take (the reassembly cap)."""
    return 2 * int(max_audio_seconds(text) * sample_rate + 1)


def audio_problem(pcm: bytes, text: str, sample_rate: int) -> str | None:
    """Why this audio can't be the reading of `text`, or None when it is plausible."""
    if not pcm or len(pcm) % 2:
        return "empty or malformed audio"
    seconds = len(pcm) / 2 / sample_rate
    if seconds > max_audio_seconds(text):
        return f"{seconds:.1f} s of audio for {len(text)} characters"
    if seconds < len(text) / FASTEST_CHARS_PER_SECOND:
        return f"only {seconds:.2f} s of audio for {len(text)} characters"
    return None
