"""How a voice travels to peers: portable names, and a cloning clip sent once and cached by hash."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from e2a_node.errors import E2AError
from e2a_node.synth.base import VoiceSettings
from e2a_node.voice_bundle import bundle_for_peers, settings_on_this_node


def test_a_piper_voice_file_travels_by_name(tmp_path):
    bundle = bundle_for_peers(VoiceSettings(engine="piper", voice=str(tmp_path / "en_GB-alba-medium.onnx"),
                                            threads=3, device="cpu", deterministic=True))
    assert bundle.settings.voice == "en_GB-alba-medium" and bundle.clip is None
    assert bundle.settings.threads is None  # threads and device are each node's own business
    on_peer = settings_on_this_node(bundle, tmp_path / "clips", "cuda:1", 2)
    assert (on_peer.voice, on_peer.device, on_peer.threads) == ("en_GB-alba-medium", "cuda:1", 2)


def test_a_clip_is_sent_once_then_named_by_hash(tmp_path):
    clip = tmp_path / "me.WAV"
    clip.write_bytes(b"RIFF fake clip bytes")
    bundle = bundle_for_peers(VoiceSettings(engine="coqui", model="xtts", voice=str(clip)))
    assert bundle.clip == clip.read_bytes()
    assert bundle.clip_sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert bundle.settings.voice is None and bundle.clip_suffix == ".wav"

    light = bundle.by_hash()
    assert light.clip is None and light.key == bundle.key
    clips = tmp_path / "peer-clips"
    with pytest.raises(E2AError, match="not cached"):
        settings_on_this_node(light, clips, "cpu", None)  # a job start before any handshake

    first = settings_on_this_node(bundle, clips, "cpu", None)  # the handshake caches the bytes
    cached = clips / f"{bundle.clip_sha256}.wav"
    assert first.voice == str(cached) and cached.read_bytes() == clip.read_bytes()
    assert settings_on_this_node(light, clips, "cpu", None).voice == str(cached)


def test_a_damaged_clip_is_refused(tmp_path):
    clip = tmp_path / "me.wav"
    clip.write_bytes(b"original")
    bundle = bundle_for_peers(VoiceSettings(engine="coqui", model="xtts", voice=str(clip)))
    with pytest.raises(E2AError, match="damaged"):
        settings_on_this_node(replace(bundle, clip=b"tampered"), tmp_path / "clips", "cpu", None)
