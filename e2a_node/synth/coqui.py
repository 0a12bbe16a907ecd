"""Coqui TTS (the ``coqui-tts`` fork): VITS, Tacotron, YourTTS, XTTS ... on CPU or CUDA.

Optional: ``pip install 'e2a[coqui]'``. What ``VoiceSettings`` means here:

* ``model_path``: a local checkpoint folder with ``config.json`` and a model file
  (``model.pth``, ``best_model.pth``, ``checkpoint*.pth``, ...); XTTS folders also hold ``vocab.json``.
  The files its config names (speakers, language ids, speaker encoder) are taken from the
  folder when it holds a file of that name, so a folder loads the same wherever it was moved
  (`folder_files` lists what a load reads, for sending a folder to other nodes).
* ``model``: a coqui model name such as ``tts_models/en/ljspeech/vits`` or
  ``tts_models/multilingual/multi-dataset/xtts_v2``; downloaded on first use, into coqui's data
  folder or, for models on the Hugging Face hub (XTTS, ...), the hub's cache.
  With ``model_path`` too: that model, its files in that folder (a node loads a leader's
  download so, `downloaded_model_folder`), fingerprinted as the name is (a hub model by its
  name and the content of the files it loads, either way).
* ``voice``: for cloning models (XTTS, YourTTS) a reference clip in any format ffmpeg reads;
  for multi-speaker models a speaker name; ignored by single-speaker models.
* ``language``: for multilingual models (XTTS: en, fr, de, ...).
* ``device``: cpu, cuda or cuda:N. ``threads``: torch intra-op threads (process-wide).
* ``deterministic``: VITS and XTTS sample noise; with this set, every `synthesize` call seeds
  torch/random/numpy from its ``seed`` (or the text), so the same text gives the same bytes on
  the same hardware and library versions.

Reference clips are decoded with soundfile, or ffmpeg (`e2a_node.audio.ffmpeg.ffmpeg_path`) for
other formats, never torchaudio: the PyPI torchaudio wheel cannot load audio on CPU-only
machines. For the same reason XTTS conditioning latents are computed here from the decoded
samples instead of through ``Xtts.get_conditioning_latents`` (which calls ``torchaudio.load``).

Heavy imports (torch, TTS) happen inside `load` only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2a_node.errors import EngineError
from e2a_node.synth import languages
from e2a_node.synth.base import VoiceInfo, VoiceSettings, segment_seed
from e2a_node.synth.files import file_sha256

NAME = "coqui"
INSTALL_HINT = "the coqui engine needs coqui-tts: pip install 'e2a[coqui]'"
DEFAULT_MAX_CHARS = 250  # coqui's own sentence splitter targets this; XTTS's English limit too
_MODEL_FILE_NAMES = ("model.pth", "best_model.pth", "model_file.pth", "model_file.pth.tar", "checkpoint.pth")
# Names another node may send: a catalogue model is tts_models/LANG/DATASET/MODEL, each part made
# of these characters (e.g. "zh-CN", "vits--neon", "xtts_v1.1"), never "." or ".."; a speaker is a
# name of the model's (e.g. "Ana Florence", "p225"), never a path.
_WIRE_MODEL_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
_WIRE_SPEAKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.'+-]{0,99}")
# Text cleaners that spell out digits before synthesis (TTS/tts/utils/text/cleaners.py).
_NUMBER_CLEANERS = {"english_cleaners", "phoneme_cleaners", "italian_cleaners"}
# Files a checkpoint folder's loader reads by name, whatever its config says (XTTS's tokenizer and
# speakers; the speakers files coqui's trainer writes); load() fingerprints them.
_FOLDER_EXTRAS = ("vocab.json", "speakers_xtts.pth", "speakers.pth", "speakers.json")
# Config fields (at the top or in model_args) naming other files a model loads; coqui's downloader
# points them into the model's folder (TTS/utils/manage.py::_update_paths), as absolute paths.
_FILE_FIELDS = ("speakers_file", "speaker_file", "d_vector_file", "language_ids_file",
                "speaker_encoder_model_path", "speaker_encoder_config_path")

_SEEDED = threading.Lock()  # held by every deterministic synthesize call in this process


# ---------------------------------------------------------------------------------------------
# Light helpers: no torch, no TTS import


def available() -> bool:
    return importlib.util.find_spec("TTS") is not None


def coqui_data_dir() -> Path:
    """Where coqui keeps downloaded models; mirrors ``trainer.io.get_user_data_dir("tts")``
    (importing trainer costs ~2 s of torch import)."""
    if os.environ.get("TTS_HOME"):
        root = Path(os.environ["TTS_HOME"]).expanduser()
    elif os.environ.get("XDG_DATA_HOME"):
        root = Path(os.environ["XDG_DATA_HOME"]).expanduser()
    elif sys.platform == "darwin":
        root = Path("~/Library/Application Support/").expanduser()
    elif sys.platform == "win32":  # pragma: no cover
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        root = Path.home() / ".local" / "share"
    return root / "tts"


def _models_catalogue() -> dict[str, Any]:
    """coqui's bundled model catalogue (TTS/.models.json), read without importing TTS."""
    spec = importlib.util.find_spec("TTS")
    if spec is None or not spec.submodule_search_locations:
        return {}
    for location in spec.submodule_search_locations:
        path = Path(location) / ".models.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
    return {}


def _catalogue_item(catalogue: dict[str, Any], name: str) -> dict[str, Any] | None:
    parts = name.split("/")
    if len(parts) != 4:
        return None
    node: Any = catalogue
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def from_wire(settings: VoiceSettings) -> VoiceSettings:
    """Settings another node sent, checked: the model by catalogue name, the speaker by name, never
    a path (a local `model_path` is the node's to allow, see `e2a_node.voice_bundle`)."""
    if settings.model:
        parts = settings.model.split("/")
        if (len(parts) != 4 or parts[0] != "tts_models"
                or not all(_WIRE_MODEL_PART.fullmatch(p) and ".." not in p for p in parts)):
            raise EngineError(f"coqui model {settings.model[:80]!r} is not a catalogue name "
                              "(tts_models/LANG/DATASET/MODEL)")
    voice = settings.voice
    if voice is not None and (not _WIRE_SPEAKER.fullmatch(voice) or ".." in voice or os.path.lexists(voice)):
        # load() takes a voice naming an existing file as a clip: from the wire, only names
        raise EngineError(f"coqui speaker {voice[:60]!r} is not a speaker name (a clip travels as bytes)")
    return settings


def takes_voice_clip(settings: VoiceSettings) -> bool:
    """Whether the model clones a voice from a reference clip (XTTS, YourTTS), told without loading it."""
    if settings.model_path:
        try:
            _folder, _model, config_file = checkpoint_files(settings.model_path)
            cfg = _read_json(config_file)
        except EngineError:
            return False
        args = cfg.get("model_args") if isinstance(cfg.get("model_args"), dict) else {}
        return cfg.get("model") == "xtts" or bool(args.get("speaker_encoder_config_path"))
    if settings.model:
        model = settings.model.split("/")[-1]
        return model.startswith("xtts") or model == "your_tts"
    return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise EngineError(f"invalid coqui config {path}: {e}") from None
    if not isinstance(data, dict):
        raise EngineError(f"invalid coqui config {path}: not a JSON object")
    return data


def checkpoint_files(model_path: str) -> tuple[Path, Path, Path]:
    """``--model-path`` -> (folder, model file, config.json); EngineError when something is missing."""
    given = Path(model_path).expanduser()
    if given.is_file():
        folder, model_file = given.parent, given
    elif given.is_dir():
        folder, model_file = given, None
    else:
        raise EngineError(f"coqui model folder not found: {model_path}")
    config = folder / "config.json"
    if not config.is_file():
        raise EngineError(f"coqui model folder {folder} has no config.json")
    if model_file is None:
        picked = pick_model_file(p.name for p in folder.iterdir() if p.is_file())
        if picked is None:
            raise EngineError(
                f"coqui model folder {folder} has no model file (model.pth, best_model.pth or checkpoint_N.pth)"
            )
        model_file = folder / picked
    return folder, model_file, config


def pick_model_file(names: Iterable[str]) -> str | None:
    """The model file a folder holding files `names` is loaded from (see `checkpoint_files`)."""
    names = set(names)
    for candidate in _MODEL_FILE_NAMES:
        if candidate in names:
            return candidate
    pth = [n for n in names if n.endswith(".pth")]
    checkpoints = sorted((n for n in pth if n.startswith("checkpoint")), key=_checkpoint_step)
    others = sorted(n for n in pth if not n.startswith(("speakers", "model_se")))
    if checkpoints:
        return checkpoints[-1]
    return others[0] if len(others) == 1 else None


def _checkpoint_step(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in Path(name).stem if ch.isdigit())
    return (int(digits) if digits else -1, name)


def _file_refs(cfg: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Where `cfg` names a file the model loads besides its checkpoint: (dict, key) pairs, each
    holding a path or a list of paths."""
    refs = []
    for section in (cfg, cfg.get("model_args")):
        if isinstance(section, dict):
            refs += [(section, key) for key in _FILE_FIELDS if section.get(key)]
    audio = cfg.get("audio")
    if isinstance(audio, dict) and audio.get("stats_path"):
        refs.append((audio, "stats_path"))
    return refs


def _ref_values(value: Any) -> list[str]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]


def _ref_name(value: str) -> str:
    """The file name at the end of a path a config names (written on any system)."""
    return value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _in_folder(folder: Path, value: str) -> Path | None:
    """The file of the folder a config's path names (by its file name), when the folder has one."""
    name = _ref_name(value)
    if not name or name in (".", ".."):
        return None
    candidate = folder / name
    return candidate if candidate.is_file() else None


def folder_files(model_path: str) -> tuple[Path, list[str]]:
    """The checkpoint folder `model_path` names and the files in it that loading it reads (its model
    file, config.json, the vocab and speakers files, the files its config names), as a node that
    is sent them must have them. EngineError (one line) when loading it reads a file outside the
    folder, or one a node does not take from another machine."""
    folder, model_file, config_file = checkpoint_files(model_path)
    cfg = _read_json(config_file)
    names = {model_file.name, config_file.name}
    if cfg.get("model") == "xtts":
        if model_file.name != "model.pth":
            raise EngineError(f"XTTS folder {folder}: XTTS loads model.pth from its folder, not {model_file.name}")
        if not (folder / "vocab.json").is_file():
            raise EngineError(f"XTTS folder {folder} has no vocab.json (its tokenizer must be in the folder to travel)")
    names |= {n for n in _FOLDER_EXTRAS if (folder / n).is_file()}
    for section, key in _file_refs(cfg):
        for value in _ref_values(section[key]):
            inside = _in_folder(folder, value)
            if inside is not None:
                if key == "stats_path":
                    raise EngineError(f"coqui model folder {folder}: its {inside.name} is read with pickle, "
                                      "which no node takes from another machine")
                names.add(inside.name)
            elif Path(value).expanduser().exists():
                raise EngineError(f"coqui model folder {folder}: its config.json names {value[:120]}, outside the "
                                  "folder (copy that file into the folder)")
    if pick_model_file(names) != model_file.name:
        raise EngineError(f"coqui model folder {folder}: {model_file.name} is not the model file a folder of "
                          "these files is loaded from (name it model.pth)")
    return folder, sorted(names)


def _config_for_folder(folder: Path, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """`cfg` with every file it names pointed at the folder's file of that name (where the folder
    has one), so a folder loads the same wherever it is; None when nothing changes."""
    patched = json.loads(json.dumps(cfg))
    changed = False
    for section, key in _file_refs(patched):
        value = section[key]
        values = [str(_in_folder(folder, v) or v) if isinstance(v, str) and v else v
                  for v in (value if isinstance(value, list) else [value])]
        new = values if isinstance(value, list) else values[0]
        if new != value:
            section[key] = new
            changed = True
    return patched if changed else None


def hf_hub_cache() -> Path:
    """Where huggingface_hub keeps its downloads, coqui's Hugging Face models among them (coqui's
    ModelManager calls ``snapshot_download(repo_id)`` with no cache folder): its
    ``constants.HF_HUB_CACHE`` when this process has imported it (read from the environment then),
    else the same from the environment now: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub,
    XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and getattr(constants, "HF_HUB_CACHE", None):
        return Path(constants.HF_HUB_CACHE)

    def expand(value: str) -> Path:
        return Path(os.path.expandvars(os.path.expanduser(value)))

    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(key):
            return expand(os.environ[key])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return expand(home) / "hub"


_HF_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_HF_COMMIT = re.compile(r"[0-9a-f]{40}")
# Catalogue models coqui loads by code of their own, not as a checkpoint folder (manage.py, api.py)
_SPECIAL_MODELS = ("tortoise-v2", "bark", "knnvc")


def hf_repo_folder(folder: Path) -> Path | None:
    """The Hugging Face cache folder of one repo (``models--OWNER--NAME``) when `folder` is one of
    its snapshots (``.../models--OWNER--NAME/snapshots/COMMIT``, whose files are links into the
    repo folder's ``blobs``); None for any other folder."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent
    return None


def _hf_snapshot(repo_id: str) -> Path | None:
    """The snapshot of `repo_id` in the Hugging Face cache that a load by name with no network
    uses: the commit ``refs/main`` names (what ``snapshot_download`` returns offline, and what
    it points ``refs/main`` at after downloading); None when there is none."""
    if not _HF_REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        return None
    repo = hf_hub_cache() / ("models--" + repo_id.replace("/", "--"))
    try:
        commit = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not _HF_COMMIT.fullmatch(commit):
        return None
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def tos_agreed(name: str) -> bool:
    """Whether this machine's user accepted catalogue model `name`'s licence to download it: the
    marker coqui's downloader writes when they answer its question (``tos_agreed.txt`` in
    `coqui_data_dir()`/tts_models--LANG--DATASET--MODEL). COQUI_TOS_AGREED=1 leaves no marker
    and does not count here: it is a setting of one process, not a record of the user's answer."""
    return (coqui_data_dir() / name.replace("/", "--") / "tos_agreed.txt").is_file()


def downloaded_model_folder(name: str) -> Path | None:
    """The folder coqui's downloader keeps catalogue model `name` in, when the model is there and
    loading that folder loads what loading the name does: a model of its own (no separate
    vocoder, not one coqui loads by special code), the same checkpoint file picked. None
    otherwise; nothing is downloaded.

    A model from a GitHub release is in its ModelManager's output path,
    `coqui_data_dir()`/tts_models--LANG--DATASET--MODEL. A Hugging Face one (its catalogue item
    has a ``repo_id``: XTTS v2, ...) is in the hub's cache (`hf_hub_cache`), as the snapshot
    ``refs/main`` names; its files are links into the repo's ``blobs``. A model whose licence
    must be accepted first (``tos_required``: XTTS's CPML) is found only when the user accepted
    it on this machine (`tos_agreed`): sending the files on to their own nodes is theirs to do
    then, and the nodes load them without asking again."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "tts_models" or not all(_WIRE_MODEL_PART.fullmatch(p) for p in parts):
        return None
    item = _catalogue_item(_models_catalogue(), name)
    if item is None or item.get("default_vocoder") or parts[3] in _SPECIAL_MODELS or "fairseq" in name \
            or "openvoice" in name:
        return None
    if item.get("tos_required") and not tos_agreed(name):
        return None
    if "github_rls_url" in item:  # coqui's downloader takes the release first
        folder = coqui_data_dir() / "--".join(parts)
        if "snapshots" in folder.parts:
            return None  # "snapshots" in the path would make the download look like a Hugging Face one
    elif isinstance(item.get("repo_id"), str):
        folder = _hf_snapshot(item["repo_id"])
        if folder is None:
            return None
    else:
        return None
    if not (folder / "config.json").is_file():
        return None
    # The file coqui's downloader loads (TTS/utils/manage.py::_find_files): the one of these it
    # finds, else the only *.pt* anywhere under the folder.
    named = [n for n in ("model_file.pth", "model_file.pth.tar", "model.pth", "checkpoint.pth")
             if (folder / n).is_file()]
    if not named:
        found = [p for p in folder.rglob("*.pt*") if p.is_file()]
        named = [found[0].name] if len(found) == 1 and found[0].parent == folder else []
    try:
        picked = checkpoint_files(str(folder))[1].name
    except EngineError:
        return None
    return folder if named == [picked] else None


def _files_identity(folder: Path) -> dict[str, str] | None:
    """The files loading checkpoint folder `folder` reads (`folder_files`), by name and content:
    config.json with the paths it names cut to their file names (coqui's downloader writes this
    machine's paths into it), the others as they are. None when the folder could not travel."""
    try:
        folder, names = folder_files(str(folder))
    except EngineError:
        return None
    ident = {}
    for name in names:
        path = folder / name
        if name == "config.json":
            cfg = _read_json(path)
            for section, key in _file_refs(cfg):
                value = section[key]
                section[key] = [_ref_name(v) for v in _ref_values(value)] if isinstance(value, list) \
                    else _ref_name(value) if isinstance(value, str) else value
            ident[name] = "config:" + hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()
        else:
            ident[name] = file_sha256(path)
    return ident


def _config_languages(cfg: dict[str, Any]) -> list[str] | None:
    if cfg.get("model") == "xtts":
        return list(cfg.get("languages") or languages.XTTS_LANGUAGES)
    langs = cfg.get("languages")
    if isinstance(langs, list) and langs:
        return [str(x) for x in langs]
    datasets = cfg.get("datasets") or []
    found = {d.get("language") for d in datasets if isinstance(d, dict) and d.get("language")}
    if len(found) == 1:
        return [found.pop()]
    if cfg.get("use_phonemes") and cfg.get("phoneme_language"):
        return [cfg["phoneme_language"]]
    return None


def voice_languages(settings: VoiceSettings) -> list[str] | None:
    """What the chosen model speaks (normalised tags), without loading it; None when unknown."""
    if settings.model_path:
        _folder, _model, config = checkpoint_files(settings.model_path)
        langs = _config_languages(_read_json(config))
    elif settings.model:
        parts = settings.model.split("/")
        if len(parts) != 4:
            return None
        if "xtts" in parts[3]:
            langs = list(languages.XTTS_LANGUAGES)
        elif parts[1] == "multilingual":
            return None
        else:
            langs = [parts[1]]
    else:
        return None
    if langs is None:
        return None
    return [languages.normalize(x) or x for x in langs]


def voices() -> list[VoiceInfo]:
    """Coqui models already downloaded on this machine (never the remote catalogue)."""
    if not available():
        return []
    catalogue = _models_catalogue()
    found: dict[str, VoiceInfo] = {}
    root = coqui_data_dir()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or not folder.name.startswith("tts_models--"):
                continue
            if not any(folder.glob("*.pth")) and not (folder / "config.json").is_file():
                continue  # an empty folder left by a download that went to the HF cache or failed
            name = folder.name.replace("--", "/")
            found[name] = _model_info(catalogue, name)
    # Models the catalogue fetches from the Hugging Face hub live in its cache instead.
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - coqui-tts depends on it
        try_to_load_from_cache = None
    if try_to_load_from_cache is not None:
        for lang, datasets in (catalogue.get("tts_models") or {}).items():
            for dataset, models in datasets.items():
                for model, item in models.items():
                    repo = item.get("repo_id") if isinstance(item, dict) else None
                    name = f"tts_models/{lang}/{dataset}/{model}"
                    if not repo or name in found:
                        continue
                    try:
                        cached = try_to_load_from_cache(repo, "config.json")
                    except Exception:  # a malformed cache must not break `e2a voices`
                        cached = None
                    if isinstance(cached, str):
                        found[name] = _model_info(catalogue, name)
    return list(found.values())


def _model_info(catalogue: dict[str, Any], name: str) -> VoiceInfo:
    item = _catalogue_item(catalogue, name) or {}
    lang = name.split("/")[1]
    tag = "mul" if lang == "multilingual" else (languages.normalize(lang) or lang)
    desc = item.get("description", "") if isinstance(item, dict) else ""
    return VoiceInfo(NAME, name, tag, str(desc).strip().splitlines()[0] if desc else "downloaded")


# ---------------------------------------------------------------------------------------------
# Reference clips


def clip_samples(path: Path, sample_rate: int):
    """Decode a clip of any format to mono float32 numpy samples at `sample_rate`."""
    import numpy as np

    try:
        import soundfile as sf

        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        if sr == sample_rate:
            return np.ascontiguousarray(mono, dtype=np.float32)
    except Exception:  # not a format libsndfile reads: let ffmpeg decode it
        pass
    from e2a_node.audio.ffmpeg import ffmpeg_path

    cmd = [ffmpeg_path(), "-v", "error", "-nostdin", "-i", str(path)]
    cmd += ["-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EngineError(f"could not decode voice clip {path}: {e}") from None
    if proc.returncode != 0 or not proc.stdout:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise EngineError(f"could not decode voice clip {path}: {reason[-1] if reason else 'no audio'}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass
class CoquiEngine:
    """A loaded coqui model. `synthesize` serialises calls (torch RNG state is process-wide)."""

    synthesizer: Any  # TTS.utils.synthesizer.Synthesizer
    sample_rate: int
    language: str
    deterministic: bool
    fingerprint: str
    max_chars: int
    normalizes_numbers: bool
    device: str
    name: str = NAME
    speaker: str | None = None  # speaker name for multi-speaker models
    speaker_wav: str | None = None  # decoded reference clip (wav) for models with a speaker encoder
    model_language: str | None = None  # language name as the model spells it, for multilingual models
    xtts_latents: tuple[Any, Any] | None = None  # (gpt_cond_latent, speaker_embedding)
    xtts_settings: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def synthesize(self, text: str, seed: int | None = None) -> bytes:
        if not text or not text.strip():
            return b""
        import numpy as np
        import torch

        # torch's random state is one per process: seeded calls of two engines must not interleave
        with _SEEDED if self.deterministic else self._lock:
            if self.deterministic:
                seed = segment_seed(text) if seed is None else seed & 0xFFFFFFFF
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)
            try:
                with torch.inference_mode():
                    wav = self._run(text)
            except (AssertionError, ValueError, KeyError, RuntimeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise EngineError(f"coqui could not synthesize {text[:40]!r}: {first}") from e
        audio = np.asarray(wav, dtype=np.float32).reshape(-1)
        return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

    def _run(self, text: str):
        import numpy as np

        if self.xtts_latents is not None:
            model = self.synthesizer.tts_model
            out = model.inference(
                text, self.model_language, self.xtts_latents[0], self.xtts_latents[1], **self.xtts_settings
            )
            return out["wav"]
        from TTS.utils.synthesizer import PAD_SILENCE_SAMPLES

        wav = self.synthesizer.tts(
            text=text,
            speaker_name=self.speaker,
            language_name=self.model_language,
            speaker_wav=self.speaker_wav,
            split_sentences=True,
        )
        wav = np.asarray(wav, dtype=np.float32)
        # Synthesizer.tts appends PAD_SILENCE_SAMPLES of silence after every sentence; the
        # assembler owns the pause after a segment, so drop the last one.
        if len(wav) >= PAD_SILENCE_SAMPLES and not wav[-PAD_SILENCE_SAMPLES:].any():
            wav = wav[:-PAD_SILENCE_SAMPLES]
        return wav


def _check_device(device: str) -> str:
    import torch

    dev = (device or "cpu").strip().lower()
    if dev == "cpu":
        return dev
    if dev == "cuda" or dev.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise EngineError(
                f"--device {device}: this machine's torch ({torch.__version__}) has no CUDA; use --device cpu"
            )
        index = dev.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise EngineError(f"--device {device}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 ...)")
        return dev
    if dev == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise EngineError("--device mps: not available on this machine; use --device cpu")
        return dev
    raise EngineError(f"unknown --device {device}: use cpu, cuda or cuda:N")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _download(name: str) -> tuple[Any, dict[str, Any]]:
    """Download (or find in the cache) a catalogue model; returns (paths, provenance)."""
    from TTS.api import TTS

    catalogue = _models_catalogue()
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "tts_models":
        raise EngineError(f"bad coqui model name {name!r}: expected tts_models/LANG/DATASET/MODEL")
    item = _catalogue_item(catalogue, name)
    if item is None and "fairseq" not in name:
        raise EngineError(f"unknown coqui model {name!r} (list them with: tts --list_models)")
    if item and item.get("tos_required") and os.environ.get("COQUI_TOS_AGREED") != "1":
        folder = coqui_data_dir() / name.replace("/", "--")
        if not (folder / "tos_agreed.txt").is_file():
            raise EngineError(
                f"coqui model {name} is under the Coqui Public Model License (https://coqui.ai/cpml): "
                "if you accept it, set COQUI_TOS_AGREED=1"
            )
    api = TTS(progress_bar=False)
    # coqui logs a failed download with logger.exception (a traceback on stderr when the app has
    # not configured logging); the EngineError below says the same in one line.
    manage_logger = logging.getLogger("TTS.utils.manage")
    old_level = manage_logger.level
    manage_logger.setLevel(logging.CRITICAL)
    try:
        paths = api.download_model_by_name(name)
    except EngineError:
        raise
    except Exception as e:  # requests, huggingface_hub, zip errors ... all mean the same to the user
        raise EngineError(f"could not download coqui model {name}: {_first_line(e)}") from None
    finally:
        manage_logger.setLevel(old_level)
    # a Hugging Face snapshot folder is named after the commit it holds
    revision = Path(paths[0]).parent.name if "snapshots" in Path(paths[0]).parts else ""
    return paths, _provenance(name, item, revision, str(paths[2].parent.name) if paths[2] else "")


def _from_hf(item: dict[str, Any] | None) -> bool:
    """Whether coqui downloads catalogue model `item` from the Hugging Face hub. Such a model is
    fingerprinted by its name and the content of the files its load reads (`_files_identity`),
    whether loaded by name or from a folder of those files (a node sent them), so both agree;
    a GitHub release is its name alone (its files do not change)."""
    return bool(item) and "github_rls_url" not in item and isinstance(item.get("repo_id"), str)


def _provenance(name: str, item: dict[str, Any] | None, revision: str = "", vocoder: str = "") -> dict[str, Any]:
    """What identifies a catalogue model in the fingerprint."""
    return {
        "name": name,
        "source": (item or {}).get("repo_id") or (item or {}).get("github_rls_url") or "",
        "revision": revision,
        "vocoder": vocoder,
    }


def load(settings: VoiceSettings) -> CoquiEngine:
    """Load the model `settings.model_path` or `settings.model` names; see the module docstring."""
    if not settings.model_path and not settings.model:
        downloaded = ", ".join(v.name for v in voices()) or "none"
        raise EngineError(f"the coqui engine needs --model NAME or --model-path DIR (downloaded: {downloaded})")
    # Cheap checks first: a missing folder should not wait for a torch import.
    local = checkpoint_files(settings.model_path) if settings.model_path else None
    try:
        import torch
        import TTS  # noqa: F401
        from TTS.utils.synthesizer import Synthesizer
    except ImportError as e:
        raise EngineError(f"{INSTALL_HINT} ({_first_line(e)})") from None

    device = _check_device(settings.device)
    if settings.threads is not None:
        if settings.threads < 1:
            raise EngineError(f"--threads must be 1 or more, not {settings.threads}")
        torch.set_num_threads(settings.threads)  # process-wide
    if settings.deterministic and device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)

    ident: dict[str, Any] = {
        "engine": NAME,
        "coqui_tts": _version("coqui-tts"),
        "deterministic": settings.deterministic,
    }
    config_copy = None  # a temporary config.json naming the folder's own files
    if local is not None:
        folder, model_file, config_file = local
        cfg = _read_json(config_file)
        is_xtts = cfg.get("model") == "xtts"
        if settings.model:
            # The catalogue model, its files in this folder (sent by a leader that loaded it by name
            # from its download folder): named as the name is, so every node's fingerprint agrees.
            item = _catalogue_item(_models_catalogue(), settings.model)
            ident["model"] = _provenance(settings.model, item)
            if _from_hf(item):
                ident["files"] = _files_identity(folder)
        else:
            extra = [folder / n for n in _FOLDER_EXTRAS]
            ident["files"] = {p.name: file_sha256(p) for p in [model_file, config_file, *extra] if p.is_file()}
        _precheck_xtts(settings, config_file, str(folder))
        patched = _config_for_folder(folder, cfg)
        if patched is not None:
            config_copy = tempfile.mkdtemp(prefix="e2a-coqui-config-")
            config_file = Path(config_copy) / "config.json"
            config_file.write_text(json.dumps(patched), encoding="utf-8")
        kwargs = dict(
            tts_checkpoint=str(folder if is_xtts else model_file),
            tts_config_path=str(config_file),
        )
        what = str(folder)
    else:
        paths, provenance = _download(settings.model)
        if _from_hf(_catalogue_item(_models_catalogue(), settings.model)):
            # A Hugging Face model by the content of the files it loads rather than its snapshot's
            # commit, which a node sent those files cannot know (see `_from_hf`).
            files = _files_identity(Path(paths[0]).parent)
            if files is not None:
                provenance = {**provenance, "revision": ""}
                ident["files"] = files
        ident["model"] = provenance
        model_file, config_file, vocoder_file, vocoder_config = paths
        kwargs = dict(
            tts_checkpoint=str(model_file),
            tts_config_path=str(config_file) if config_file else None,
            vocoder_checkpoint=str(vocoder_file) if vocoder_file else None,
            vocoder_config=str(vocoder_config) if vocoder_config else None,
        )
        what = settings.model
        _precheck_xtts(settings, Path(kwargs["tts_config_path"]) if kwargs["tts_config_path"] else None, what)
    try:
        synthesizer = Synthesizer(**kwargs, use_cuda=False)
        if device != "cpu":
            synthesizer.to(torch.device(device))
            synthesizer.use_cuda = device.startswith("cuda")
    except EngineError:
        raise
    except Exception as e:
        raise EngineError(f"could not load coqui model {what}: {_first_line(e)}") from None
    finally:
        if config_copy is not None:
            shutil.rmtree(config_copy, ignore_errors=True)

    model = synthesizer.tts_model
    config = synthesizer.tts_config
    is_xtts = config.get("model") == "xtts"
    engine = CoquiEngine(
        synthesizer=synthesizer,
        sample_rate=int(synthesizer.output_sample_rate),
        language="und",
        deterministic=settings.deterministic,
        fingerprint="",
        max_chars=DEFAULT_MAX_CHARS,
        normalizes_numbers=config.get("text_cleaner") in _NUMBER_CLEANERS,
        device=device,
    )

    # Language
    if is_xtts:
        supported = list(config.get("languages") or languages.XTTS_LANGUAGES)
        engine.model_language = _pick_language(settings.language or "en", supported, what)
        engine.language = languages.normalize(engine.model_language) or engine.model_language
        limit_lang = engine.model_language.split("-")[0]
        engine.max_chars = int(model.tokenizer.char_limits.get(limit_lang, DEFAULT_MAX_CHARS))
        engine.normalizes_numbers = True  # XTTS's tokenizer expands numbers per language
    else:
        manager = getattr(model, "language_manager", None)
        names = list(manager.language_names) if manager is not None and manager.num_languages > 1 else []
        if names:
            engine.model_language = _pick_language(settings.language or "en", names, what)
            engine.language = languages.normalize(engine.model_language) or engine.model_language
        else:
            spoken = (
                _config_languages(dict(config.to_dict()) if hasattr(config, "to_dict") else {})
                or ([settings.model.split("/")[1]] if settings.model else None)
            )
            tag = settings.language or (spoken[0] if spoken else None)
            engine.language = languages.normalize(tag) or "und"
        limit = config.get("max_text_len")
        if isinstance(limit, (int, float)) and 0 < limit < 10_000:
            engine.max_chars = int(limit)

    # Speaker
    voice = settings.voice
    clip = Path(voice).expanduser() if voice else None
    if clip is not None and not clip.is_file():
        clip = None
    if is_xtts:
        built_in = getattr(model, "speaker_manager", None)
        speakers = getattr(built_in, "speakers", None) or {}
        if clip is not None:
            ident["speaker_clip_sha256"] = file_sha256(clip)
            engine.xtts_latents = _xtts_latents(model, clip, config)
        elif voice and voice in speakers:
            ident["speaker"] = voice
            entry = speakers[voice]
            engine.xtts_latents = (entry["gpt_cond_latent"], entry["speaker_embedding"])
        elif voice:
            raise EngineError(f"voice clip not found and not a built-in XTTS speaker: {voice}")
        else:
            raise EngineError("XTTS needs --voice: a clip of the voice to clone (6-30 s of clean speech)")
        engine.xtts_settings = {
            k: config.get(k)
            for k in ("temperature", "length_penalty", "repetition_penalty", "top_k", "top_p")
            if config.get(k) is not None
        }
        engine.xtts_settings["enable_text_splitting"] = False
    else:
        manager = getattr(model, "speaker_manager", None)
        names = sorted(manager.speaker_names) if manager is not None and manager.num_speakers > 1 else []
        has_encoder = manager is not None and getattr(manager, "encoder", None) is not None
        if clip is not None and has_encoder:
            ident["speaker_clip_sha256"] = file_sha256(clip)
            engine.speaker_wav = _clip_as_wav(engine, clip, int(getattr(manager.encoder_ap, "sample_rate", 16000)))
        elif names:
            if voice in names:
                engine.speaker = voice
                ident["speaker"] = voice
            elif voice:
                raise EngineError(
                    f"model {what} has no speaker {voice!r} (speakers: {', '.join(names[:8])}"
                    + (", ..." if len(names) > 8 else "")
                    + ")"
                )
            else:
                raise EngineError(
                    f"model {what} has {len(names)} speakers: pass --voice NAME "
                    f"(e.g. {', '.join(names[:5])})"
                )
        # single-speaker models ignore --voice

    ident["language"] = engine.model_language
    engine.fingerprint = "coqui:" + hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return engine


def _precheck_xtts(settings: VoiceSettings, config_file: Path | None, what: str) -> None:
    """Refuse a bad XTTS voice or language from its config alone, before a 1.8 GB load."""
    if config_file is None or not config_file.is_file():
        return
    cfg = _read_json(config_file)
    if cfg.get("model") != "xtts":
        return
    _pick_language(settings.language or "en", list(cfg.get("languages") or languages.XTTS_LANGUAGES), what)
    if not settings.voice:
        raise EngineError("XTTS needs --voice: a clip of the voice to clone (6-30 s of clean speech)")
    clip = Path(settings.voice).expanduser()
    if not clip.is_file() and not (config_file.parent / "speakers_xtts.pth").is_file():
        raise EngineError(f"voice clip not found and not a built-in XTTS speaker: {settings.voice}")


def _pick_language(wanted: str, supported: list[str], what: str) -> str:
    """Map a BCP 47 tag to the model's spelling of it ("fr" -> "fr-fr", "zh" -> "zh-cn")."""
    want = languages.normalize(wanted) or wanted
    by_norm = {languages.normalize(s) or s: s for s in supported}
    if want in by_norm:
        return by_norm[want]
    same_base = [s for n, s in by_norm.items() if languages.base(n) == languages.base(want)]
    if same_base:
        return same_base[0]
    raise EngineError(
        f"model {what} does not speak {languages.describe(want)} (it speaks: {', '.join(supported)})"
    )


def _xtts_latents(model: Any, clip: Path, config: Any) -> tuple[Any, Any]:
    """What ``Xtts.get_conditioning_latents`` computes, from samples we decoded ourselves."""
    import torch

    load_sr = 22050
    samples = clip_samples(clip, load_sr)
    if samples.size < load_sr // 3:
        raise EngineError(f"voice clip {clip} is too short: give 6-30 s of speech")
    audio = torch.from_numpy(samples).unsqueeze(0).clamp_(-1, 1)
    max_ref = int(config.get("max_ref_len") or 30)
    audio = audio[:, : load_sr * max_ref].to(model.device)
    if config.get("sound_norm_refs"):
        audio = (audio / torch.abs(audio).max()) * 0.75
    with torch.inference_mode():
        speaker_embedding = model.get_speaker_embedding(audio, load_sr)
        gpt_cond_latent = model.get_gpt_cond_latents(
            audio,
            load_sr,
            length=int(config.get("gpt_cond_len") or 6),
            chunk_length=int(config.get("gpt_cond_chunk_len") or 6),
        )
    return gpt_cond_latent, speaker_embedding


def _clip_as_wav(engine: CoquiEngine, clip: Path, sample_rate: int) -> str:
    """Decode `clip` to a temporary wav that coqui's speaker encoder can read; it lives as long as `engine`."""
    import soundfile as sf

    samples = clip_samples(clip, sample_rate)
    folder = tempfile.mkdtemp(prefix="e2a-clip-")
    weakref.finalize(engine, shutil.rmtree, folder, True)
    out = os.path.join(folder, "speaker.wav")
    sf.write(out, samples, sample_rate, subtype="FLOAT")
    return out


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"
