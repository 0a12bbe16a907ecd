"""Audio: the per-segment PCM store, chapter assembly and loudness, ffmpeg export and probing.

PCM is 16-bit little-endian mono at one sample rate per job. Only the `ffmpeg` binary is used
(the one on PATH, else imageio-ffmpeg's static build); never `ffprobe`.
"""

from e2a_node.audio.assemble import (
    LEAD_IN_SECONDS,
    MAX_GAIN_DB,
    PAUSE_SECONDS,
    TARGET_LUFS,
    TRUE_PEAK_DBTP,
    chapter_pcm,
    chapter_samples,
    integrated_loudness,
    normalize_in_place,
    pause_samples,
    true_peak,
)
from e2a_node.audio.export import DEFAULT_FORMAT, FORMATS, ChapterAudio, Tags, write_audiobook
from e2a_node.audio.ffmpeg import encoders, ffmpeg_path
from e2a_node.audio.probe import ProbeResult, decoded_seconds, loudness, probe
from e2a_node.audio.store import SegmentStore

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "LEAD_IN_SECONDS",
    "MAX_GAIN_DB",
    "PAUSE_SECONDS",
    "TARGET_LUFS",
    "TRUE_PEAK_DBTP",
    "ChapterAudio",
    "ProbeResult",
    "SegmentStore",
    "Tags",
    "chapter_pcm",
    "chapter_samples",
    "decoded_seconds",
    "encoders",
    "ffmpeg_path",
    "integrated_loudness",
    "loudness",
    "normalize_in_place",
    "pause_samples",
    "probe",
    "true_peak",
    "write_audiobook",
]
