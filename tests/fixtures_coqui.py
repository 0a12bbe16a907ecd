"""A tiny random VITS checkpoint for testing the coqui engine offline.

Coqui's real models download from a hub these machines cannot reach, so tests build a
1.5M-parameter VITS from a config (characters, no phonemizer, no discriminator), save it the way
coqui's trainer does (``model.pth`` holding ``{"model": state_dict, "config": ...}`` plus
``config.json``) and load it through the same code path as any local checkpoint. It speaks noise,
not words: good for shapes, rates, determinism and error handling, not for listening.

``tiny_xtts`` does the same for XTTS (a 1-layer GPT with a 40-token audio cap, plus XTTS's
fixed-size HiFi-GAN decoder and speaker encoder: 23M parameters, ~90 MB, ~20 s to build, load and
speak once), so the voice-cloning path runs end to end offline.

tests/conftest.py registers this file as a plugin (``pytest_plugins = ["tests.fixtures_coqui"]``),
so any test can ask for ``tiny_vits`` / ``tiny_xtts`` / ``voice_clip``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_VITS_SAMPLE_RATE = 16000  # deliberately not 22050, so tests see the config's rate is used


def build_tiny_vits(folder: Path, sample_rate: int = TINY_VITS_SAMPLE_RATE, seed: int = 0) -> Path:
    """Write a tiny random VITS checkpoint (model.pth + config.json) into `folder`; return it."""
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(seed)
    characters = CharactersConfig(
        characters_class="TTS.tts.models.vits.VitsCharacters",
        pad="<PAD>",
        eos="<EOS>",
        bos="<BOS>",
        blank="<BLNK>",
        characters="abcdefghijklmnopqrstuvwxyz",
        punctuations="!'(),-.:;? ",
        phonemes=None,
        is_unique=True,
        is_sorted=True,
    )
    args = VitsArgs(
        hidden_channels=32,
        hidden_channels_ffn_text_encoder=64,
        num_layers_text_encoder=2,
        num_layers_posterior_encoder=2,
        num_layers_flow=2,
        upsample_initial_channel_decoder=32,
        init_discriminator=False,
    )
    config = VitsConfig(
        use_phonemes=False,
        characters=characters,
        model_args=args,
        text_cleaner="english_cleaners",
        audio=BaseAudioConfig(sample_rate=sample_rate),
    )
    model = Vits(config)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


@pytest.fixture(scope="session")
def tiny_vits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny VITS checkpoint (built once per test session); skips without coqui-tts."""
    pytest.importorskip("TTS", reason="coqui-tts not installed")
    return build_tiny_vits(tmp_path_factory.mktemp("tiny_vits"))


XTTS_LANGUAGES = ["en", "fr"]


def build_tiny_xtts(folder: Path, seed: int = 0, audio_tokens: int | None = None) -> Path:
    """Write a tiny random XTTS checkpoint (model.pth, config.json, vocab.json) into `folder`.

    A random GPT emits its stop token within a few of its 34 audio tokens, so readings are a
    fraction of a second: too short for a leader's check of a peer's audio against its text.
    `audio_tokens=N` removes the stop token from what the GPT can choose, so every reading is N
    tokens (N x 1024 samples at 24 kHz: 150 tokens are 6.4 s, plausible for 4 to 250 characters)."""
    import torch
    from tokenizers import Tokenizer, models
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder.mkdir(parents=True, exist_ok=True)
    # XTTS's tokenizer prefixes "[lang]" and turns spaces into "[SPACE]"; characters map 1:1.
    special = ["[STOP]", "[UNK]", "[SPACE]", "[START]", *(f"[{lang}]" for lang in XTTS_LANGUAGES)]
    chars = list("abcdefghijklmnopqrstuvwxyz.,!?'-:;")
    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(special + chars)}, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(special)
    tokenizer.save(str(folder / "vocab.json"))

    args = XttsArgs(
        gpt_layers=1,
        gpt_n_model_channels=64,
        gpt_n_heads=2,
        gpt_max_audio_tokens=audio_tokens or 40,  # caps generation
        decoder_input_dim=64,
        gpt_num_audio_tokens=34,
        gpt_start_audio_token=32,
        gpt_stop_audio_token=33,
    )
    config = XttsConfig(model_args=args, languages=list(XTTS_LANGUAGES))
    torch.manual_seed(seed)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
    model.init_models()  # size the GPT's text embedding to the vocabulary
    if audio_tokens:
        with torch.no_grad():
            model.gpt.mel_head.bias[args.gpt_stop_audio_token] = -1e4
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


def write_voice_clip(path: Path, seconds: float = 4.0, sample_rate: int = 16000) -> Path:
    """A synthetic 'voice': a 220 Hz tone with a 3 Hz tremolo, as 16-bit wav."""
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(str(path), wave.astype("float32"), sample_rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def tiny_xtts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny XTTS checkpoint (built once per test session); skips without coqui-tts."""
    pytest.importorskip("TTS", reason="coqui-tts not installed")
    return build_tiny_xtts(tmp_path_factory.mktemp("tiny_xtts"))


@pytest.fixture(scope="session")
def voice_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s, 16 kHz mono wav to clone from."""
    return write_voice_clip(tmp_path_factory.mktemp("clip") / "clip.wav")
