"""The audiobook formats e2a writes: one table, read by the exporter and the command line.

Kept apart from `e2a_node.audio.export` (numpy, scipy) and free of imports, so that the command
line can list the formats (`--format`'s choices) without loading the audio stack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    ext: str
    muxer: str  # ffmpeg's -f
    codec: str  # ffmpeg's -c:a
    bitrate: str | None  # None: lossless, a --bitrate is ignored
    cover: bool
    chapters: bool
    language3: bool = False  # the container's language tag is ISO 639-2 (MP4, ID3 TLAN)
    extra: tuple[str, ...] = ()  # more ffmpeg output options


FORMATS: dict[str, Format] = {
    "m4b": Format("m4b", "ipod", "aac", "64k", cover=True, chapters=True, language3=True),
    "m4a": Format("m4a", "ipod", "aac", "64k", cover=True, chapters=True, language3=True),
    "mp3": Format("mp3", "mp3", "libmp3lame", "64k", cover=True, chapters=True, language3=True,
                  extra=("-id3v2_version", "3")),
    "opus": Format("opus", "opus", "libopus", "32k", cover=False, chapters=True, extra=("-ar", "48000")),
    "flac": Format("flac", "flac", "flac", None, cover=True, chapters=False),
    "wav": Format("wav", "wav", "pcm_s16le", None, cover=False, chapters=False),
}
FORMAT_NAMES = tuple(FORMATS)  # in the order users see them: --format's choices, error messages
DEFAULT_FORMAT = "m4b"
