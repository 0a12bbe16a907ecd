"""The coqui engine on tiny random checkpoints built by tests/fixtures_coqui.py (no downloads)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest

from e2a_node.errors import EngineError
from e2a_node.synth import coqui, load_engine, resolve_voice
from e2a_node.synth.base import VoiceSettings, segment_seed

pytest.importorskip("TTS", reason="coqui-tts not installed")

from tests.fixtures_coqui import TINY_VITS_SAMPLE_RATE  # noqa: E402

TEXT = "hello world. this is a small test."


@pytest.fixture(autouse=True)
def private_coqui_home(tmp_path, monkeypatch):
    """Never read or write the user's coqui model cache."""
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "tts_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("COQUI_TOS_AGREED", raising=False)
    return tmp_path / "tts_home" / "tts"


@pytest.fixture(scope="module")
def vits(tiny_vits):
    return load_engine(VoiceSettings(engine="coqui", model_path=str(tiny_vits), deterministic=True))


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


def test_tiny_vits_synthesizes(vits):
    assert vits.name == "coqui"
    assert vits.sample_rate == TINY_VITS_SAMPLE_RATE
    assert vits.max_chars == 250
    assert vits.normalizes_numbers is True  # its config uses english_cleaners
    assert vits.deterministic is True
    audio = vits.synthesize(TEXT, seed=1)
    assert len(audio) % 2 == 0 and len(audio) > 2 * TINY_VITS_SAMPLE_RATE // 10
    x = pcm(audio)
    assert np.abs(x).max() > 0
    assert vits.synthesize("") == b""


def test_longer_text_gives_longer_audio(vits):
    short = vits.synthesize("hello", seed=1)
    long = vits.synthesize("hello there, this sentence is a good deal longer than the first", seed=1)
    assert len(long) > len(short)


def test_same_seed_same_bytes(vits):
    a = vits.synthesize(TEXT, seed=7)
    assert vits.synthesize(TEXT, seed=7) == a
    assert vits.synthesize(TEXT, seed=8) != a  # VITS samples noise: the seed matters
    # no seed: the text's own (the one every node gives this segment), still reproducible
    assert vits.synthesize(TEXT) == vits.synthesize(TEXT) == vits.synthesize(TEXT, seed=segment_seed(TEXT))


def test_same_seed_same_bytes_across_loads_and_threads(tiny_vits, vits):
    import torch

    before = torch.get_num_threads()
    try:
        other = load_engine(
            VoiceSettings(engine="coqui", model_path=str(tiny_vits), deterministic=True, threads=1)
        )
        assert torch.get_num_threads() == 1
        assert other.synthesize(TEXT, seed=3) == vits.synthesize(TEXT, seed=3)
        assert other.fingerprint == vits.fingerprint
    finally:
        torch.set_num_threads(before)


def test_not_deterministic_without_the_flag(tiny_vits, vits):
    free = load_engine(VoiceSettings(engine="coqui", model_path=str(tiny_vits)))
    assert free.deterministic is False
    assert free.fingerprint != vits.fingerprint
    assert free.synthesize(TEXT, seed=1) != free.synthesize(TEXT, seed=1)


def test_engine_is_reused_for_many_segments(vits):
    # (words, not digits: coqui's english_cleaners spend seconds importing inflect on the first number)
    words = "one two three four five six seven eight nine ten".split()
    out = [vits.synthesize(f"segment number {w}.", seed=i) for i, w in enumerate(words)]
    assert all(len(a) > 0 for a in out)
    assert vits.synthesize("segment number one.", seed=0) == out[0]


def test_trailing_sentence_pad_is_dropped(vits):
    # coqui's Synthesizer appends 10000 zero samples after every sentence; we drop the last one
    from TTS.utils.synthesizer import PAD_SILENCE_SAMPLES

    x = pcm(vits.synthesize("hello there", seed=1))
    assert len(x) > 0
    assert np.count_nonzero(x[-PAD_SILENCE_SAMPLES:]) > 0


def test_fingerprint_follows_the_checkpoint(tiny_vits, tmp_path, vits):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_vits, copy)
    same = load_engine(VoiceSettings(engine="coqui", model_path=str(copy), deterministic=True))
    assert same.fingerprint == vits.fingerprint  # content, not location
    from tests.fixtures_coqui import build_tiny_vits

    other = build_tiny_vits(tmp_path / "other", seed=1)
    different = load_engine(VoiceSettings(engine="coqui", model_path=str(other), deterministic=True))
    assert different.fingerprint != vits.fingerprint


def test_checkpoint_file_names(tiny_vits, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(tiny_vits / "config.json", folder / "config.json")
    shutil.copy(tiny_vits / "model.pth", folder / "checkpoint_900.pth")
    shutil.copy(tiny_vits / "model.pth", folder / "checkpoint_10000.pth")
    _folder, model, config = coqui.checkpoint_files(str(folder))
    assert model.name == "checkpoint_10000.pth" and config.name == "config.json"
    # a model file path works too
    assert coqui.checkpoint_files(str(folder / "checkpoint_900.pth"))[1].name == "checkpoint_900.pth"
    engine = load_engine(VoiceSettings(engine="coqui", model_path=str(folder)))
    assert engine.sample_rate == TINY_VITS_SAMPLE_RATE


def test_missing_or_incomplete_model_path(tmp_path, tiny_vits):
    with pytest.raises(EngineError, match="coqui model folder not found: .*nowhere"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(tmp_path / "nowhere")))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineError, match="has no config.json"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(empty)))
    shutil.copy(tiny_vits / "config.json", empty / "config.json")
    with pytest.raises(EngineError, match="has no model file"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(empty)))
    (empty / "model.pth").write_bytes(b"garbage")
    with pytest.raises(EngineError, match="could not load coqui model"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(empty)))


def test_no_model_at_all():
    with pytest.raises(EngineError, match="needs --model NAME or --model-path DIR"):
        load_engine(VoiceSettings(engine="coqui"))


def test_cuda_without_cuda(tiny_vits):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(EngineError, match="--device cuda: .*no CUDA"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(tiny_vits), device="cuda"))
    with pytest.raises(EngineError, match="unknown --device"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(tiny_vits), device="tpu"))


def _load_with_timeout(settings: VoiceSettings, seconds: float = 60.0):
    """load_engine in a thread: a download that hangs offline skips the test instead of hanging it."""
    result: dict = {}

    def target():
        try:
            result["engine"] = load_engine(settings)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            result["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.skip(f"loading {settings.model} did not fail within {seconds:.0f} s offline")
    return result


def test_model_name_offline_is_a_clean_error(private_coqui_home):
    result = _load_with_timeout(VoiceSettings(engine="coqui", model="tts_models/en/ljspeech/vits"))
    if "engine" in result:
        pytest.skip("this machine can download coqui models")
    error = result["error"]
    assert isinstance(error, EngineError), error
    message = str(error)
    assert message.startswith("could not download coqui model tts_models/en/ljspeech/vits: ")
    assert "\n" not in message
    assert not (private_coqui_home / "tts_models--en--ljspeech--vits").exists()  # no half download left


def test_model_name_errors_before_any_download():
    with pytest.raises(EngineError, match="unknown coqui model 'tts_models/en/nobody/vits'"):
        load_engine(VoiceSettings(engine="coqui", model="tts_models/en/nobody/vits"))
    with pytest.raises(EngineError, match="bad coqui model name 'vits'"):
        load_engine(VoiceSettings(engine="coqui", model="vits"))
    # XTTS asks for its licence on stdin; we must not hang there
    with pytest.raises(EngineError, match="COQUI_TOS_AGREED=1"):
        load_engine(VoiceSettings(engine="coqui", model=coqui.languages.XTTS_MODEL, voice="x.wav"))


def test_model_name_from_the_cache_loads_offline(tiny_vits, private_coqui_home):
    # Lay the tiny model out the way coqui's downloader does, then ask for it by name.
    folder = private_coqui_home / "tts_models--en--ljspeech--vits"
    folder.mkdir(parents=True)
    shutil.copy(tiny_vits / "model.pth", folder / "model_file.pth")
    shutil.copy(tiny_vits / "config.json", folder / "config.json")
    (private_coqui_home / "tts_models--en--ljspeech--glow-tts").mkdir()  # empty: a failed download

    listed = coqui.voices()
    assert [v.name for v in listed] == ["tts_models/en/ljspeech/vits"]
    assert listed[0].language == "en" and listed[0].engine == "coqui"

    engine = load_engine(VoiceSettings(engine="coqui", model="tts_models/en/ljspeech/vits", deterministic=True))
    assert engine.sample_rate == TINY_VITS_SAMPLE_RATE
    assert engine.language == "en"
    assert len(engine.synthesize("hello", seed=1)) > 0
    assert engine.fingerprint.startswith("coqui:")


def test_voices_empty_without_downloads():
    assert coqui.voices() == []


def test_coqui_not_installed(monkeypatch, tiny_vits):
    monkeypatch.setitem(sys.modules, "TTS", None)  # `import TTS` now raises ImportError
    with pytest.raises(EngineError, match=r"the coqui engine needs coqui-tts: pip install 'e2a\[coqui\]'"):
        load_engine(VoiceSettings(engine="coqui", model_path=str(tiny_vits)))


def test_resolve_voice_for_coqui(tiny_vits):
    xtts = VoiceSettings(engine="coqui", model=coqui.languages.XTTS_MODEL, voice="clip.wav")
    # a multilingual model takes the book's language ...
    assert resolve_voice(xtts, "fr-FR").language == "fr-FR"
    # ... unless the user said otherwise
    assert resolve_voice(replace(xtts, language="de"), "fr").language == "de"
    # a single-language model must speak an explicit --language
    single = VoiceSettings(engine="coqui", model="tts_models/en/ljspeech/vits")
    assert resolve_voice(single, "fr") == single
    with pytest.raises(EngineError, match=r"not French \(fr\)"):
        resolve_voice(replace(single, language="fr"), None)
    local = VoiceSettings(engine="coqui", model_path=str(tiny_vits))
    assert resolve_voice(local, "en") == local


def test_clip_decoding(voice_clip, tmp_path):
    from e2a_node.audio.ffmpeg import ffmpeg_path

    x = coqui.clip_samples(voice_clip, 22050)
    assert x.dtype == np.float32 and abs(len(x) - 4 * 22050) < 200
    mp3 = tmp_path / "clip.mp3"
    subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(voice_clip), str(mp3)], check=True)
    y = coqui.clip_samples(mp3, 22050)
    assert abs(len(y) - 4 * 22050) < 0.1 * 22050  # mp3 adds padding
    assert 0.1 < np.abs(y).max() <= 1.0
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(EngineError, match="could not decode voice clip .*junk.wav"):
        coqui.clip_samples(junk, 22050)


@pytest.mark.slow
def test_tiny_xtts_clones_a_voice(tiny_xtts, voice_clip, tmp_path):
    settings = VoiceSettings(
        engine="coqui", model_path=str(tiny_xtts), voice=str(voice_clip), language="fr", deterministic=True
    )
    engine = load_engine(settings)
    assert engine.sample_rate == 24000
    assert engine.language == "fr"
    assert engine.max_chars == 273  # XTTS's French character limit
    assert engine.normalizes_numbers is True
    a = engine.synthesize("bonjour le monde.", seed=3)
    assert len(a) > 0 and len(a) % 2 == 0
    assert engine.synthesize("bonjour le monde.", seed=3) == a

    # the clip is part of the fingerprint
    other_clip = tmp_path / "other.wav"
    from tests.fixtures_coqui import write_voice_clip

    write_voice_clip(other_clip, seconds=5.0)
    other = load_engine(replace(settings, voice=str(other_clip)))
    assert other.fingerprint != engine.fingerprint

    with pytest.raises(EngineError, match="XTTS needs --voice"):
        load_engine(replace(settings, voice=None))
    with pytest.raises(EngineError, match="not a built-in XTTS speaker"):
        load_engine(replace(settings, voice="Nobody Atall"))
    with pytest.raises(EngineError, match=r"does not speak German \(de\)"):
        load_engine(replace(settings, language="de"))
