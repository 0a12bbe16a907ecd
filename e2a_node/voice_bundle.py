"""A voice as it travels from the leader to its peers.

Paths on the leader mean nothing on a peer, so the leader sends what identifies the voice
instead: a Piper voice by name (the peer finds it bundled or in its voices folder), a Coqui
model by name, and a voice-cloning clip by content: its bytes go once, in the handshake, and
the peer caches them by SHA-256; the job's start then names the clip by hash only.
Device and threads are the peer's own business. Whatever the peer loads, its fingerprint
must equal the leader's, so a peer with a different voice file is refused, never used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from e2a_node.errors import E2AError
from e2a_node.synth.base import VoiceSettings


@dataclass(frozen=True)
class VoiceBundle:
    settings: VoiceSettings  # engine, voice, model, model_path, language, deterministic
    clip: bytes | None = None
    clip_sha256: str = ""
    clip_suffix: str = ""

    @property
    def key(self) -> tuple:
        """Identifies the voice a peer must load (a loaded engine is reused for the same key)."""
        s = self.settings
        return (s.engine, s.voice, s.model, s.model_path, s.language, s.deterministic, self.clip_sha256)

    def by_hash(self) -> "VoiceBundle":
        """The same voice with the clip named by its hash only (the peer cached the bytes)."""
        return replace(self, clip=None)


def bundle_for_peers(settings: VoiceSettings) -> VoiceBundle:
    """The leader's resolved settings, made portable."""
    voice = settings.voice
    clip = None
    sha = suffix = ""
    if voice and settings.engine == "piper" and voice.endswith(".onnx"):
        voice = Path(voice).name[: -len(".onnx")]
    elif voice and settings.engine == "coqui" and Path(voice).expanduser().is_file():
        path = Path(voice).expanduser()
        clip = path.read_bytes()
        sha = hashlib.sha256(clip).hexdigest()
        suffix = path.suffix.lower()
        voice = None
    portable = VoiceSettings(engine=settings.engine, voice=voice, model=settings.model,
                             model_path=settings.model_path, language=settings.language,
                             deterministic=settings.deterministic)
    return VoiceBundle(portable, clip, sha, suffix)


def settings_on_this_node(bundle: VoiceBundle, clip_dir: Path, device: str, threads: int | None) -> VoiceSettings:
    """The settings a peer loads: the bundle's voice, the clip saved locally, its own device."""
    settings = replace(bundle.settings, device=device, threads=threads)
    if bundle.clip_sha256:
        path = clip_dir / f"{bundle.clip_sha256}{bundle.clip_suffix or '.wav'}"
        if not bundle.clip:
            if not path.exists():
                raise E2AError(f"voice clip {bundle.clip_sha256[:12]}… is not cached on this node "
                               "(the leader sends it in the handshake)")
            return replace(settings, voice=str(path))
        if hashlib.sha256(bundle.clip).hexdigest() != bundle.clip_sha256:
            raise E2AError("the voice clip arrived damaged (checksum mismatch)")
        clip_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(bundle.clip)
            tmp.replace(path)
        settings = replace(settings, voice=str(path))
    return settings
