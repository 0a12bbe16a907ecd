"""Audio: the per-segment PCM store, chapter assembly and loudness, ffmpeg export and probing.

PCM is 16-bit little-endian mono at one sample rate per job. Only the `ffmpeg` binary is used
(the one on PATH, else imageio-ffmpeg's static build); never `ffprobe`.

The names from `assemble`, `export` and `store` load on first use: the first two need numpy and
scipy (over a second to import), and the command line reads the format table (`formats`) at
startup.

Layering: imports only `errors`, `layout` and `memory` from e2a; never a book, an engine or the cluster
(tests/test_layering.py checks every package's rule).
"""

from __future__ import annotations

import importlib

from e2a_node.audio.ffmpeg import encoders, ffmpeg_path
from e2a_node.audio.formats import DEFAULT_FORMAT, FORMAT_NAMES, FORMATS
# not lazy: the function `probe` has its module's name, and a module imported before a lazy
# lookup would take the name
from e2a_node.audio.probe import ProbeResult, decoded_seconds, loudness, probe

_LAZY = {
    **dict.fromkeys(("LEAD_IN_SECONDS", "MAX_GAIN_DB", "PAUSE_SECONDS", "TARGET_LUFS", "TRUE_PEAK_DBTP",
                     "chapter_pcm", "integrated_loudness", "normalize_in_place",
                     "pause_samples", "true_peak"), "assemble"),
    **dict.fromkeys(("ChapterAudio", "Tags", "join_chapters", "write_audiobook"), "export"),
    "SegmentStore": "store",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["DEFAULT_FORMAT", "FORMATS", "FORMAT_NAMES", "ProbeResult", "SegmentStore", "decoded_seconds", "encoders",
           "ffmpeg_path", "loudness", "probe", *_LAZY]
