"""The engine registry: names, explicit registration, lazy imports, voice listing, language helpers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from e2a_node.errors import EngineError
from e2a_node.synth import (
    ENGINES,
    all_voices,
    engine_module,
    languages,
    load_engine,
    register_engine,
    registered_engine,
    resolve_voice,
    unregister_engine,
)
from e2a_node.synth.base import VoiceSettings


def test_known_engines():
    assert set(ENGINES) == {"piper", "coqui"}
    assert engine_module("piper").NAME == "piper"


def test_unknown_engine_lists_the_known_ones():
    with pytest.raises(EngineError, match=r"unknown engine 'espeak' \(known: coqui, piper\)"):
        load_engine(VoiceSettings(engine="espeak"))
    with pytest.raises(EngineError, match="unknown engine"):
        resolve_voice(VoiceSettings(engine="espeak"), "en")


def test_an_engine_is_registered_explicitly_and_scoped_to_a_block():
    with registered_engine("bench", "e2a_node.synth.bench"):
        assert engine_module("bench").NAME == "bench"
        register_engine("bench", "e2a_node.synth.bench")  # the same again: nothing changes
        with registered_engine("bench", "e2a_node.synth.bench"):
            pass
        assert "bench" in ENGINES  # the inner block did not register it, so it does not remove it
    assert set(ENGINES) == {"piper", "coqui"}
    with pytest.raises(EngineError, match="unknown engine 'bench'"):
        engine_module("bench")


def test_registration_never_replaces_an_engine():
    with pytest.raises(ValueError, match="already registered as e2a_node.synth.piper"):
        register_engine("piper", "e2a_node.synth.bench")
    with pytest.raises(ValueError, match="built in"):
        unregister_engine("piper")
    with pytest.raises(ValueError):
        register_engine("", "e2a_node.synth.bench")
    unregister_engine("never-registered")  # nothing to forget
    assert ENGINES["piper"] == "e2a_node.synth.piper"


def test_importing_the_registry_is_light():
    code = (
        "import sys, e2a_node.synth, e2a_node.synth.piper, e2a_node.synth.coqui;"
        "heavy = [m for m in ('torch', 'TTS', 'onnxruntime', 'piper') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_voices_survives_a_missing_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("E2A_VOICES_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "TTS", None)  # as if coqui-tts were not installed
    voices = all_voices()
    assert [v.name for v in voices] == ["en_US-joe-medium"]
    assert voices[0].engine == "piper" and voices[0].language == "en-US"


@pytest.mark.parametrize(
    "tag, norm, base",
    [
        ("en", "en", "en"),
        ("en_us", "en-US", "en"),
        ("EN-gb", "en-GB", "en"),
        ("fre", "fr", "fr"),
        ("zh-cn", "zh-CN", "zh"),
        ("zh-Hant-TW", "zh-Hant-TW", "zh"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_language_tags(tag, norm, base):
    assert languages.normalize(tag) == norm
    assert languages.base(tag) == base


def test_language_names():
    assert languages.describe("fr") == "French (fr)"
    assert languages.describe("pt_BR") == "Portuguese (pt-BR)"
    assert languages.name("xx") == "xx"
    assert "xtts" not in languages.how_to_get_voice("sw")  # XTTS does not speak Swahili
