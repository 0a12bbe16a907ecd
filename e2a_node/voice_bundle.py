"""A voice as it travels from the leader to its peers.

Paths on the leader mean nothing on a peer, so the leader sends what identifies the voice
instead: a Piper voice by name (the peer finds it bundled or in its voices folder), a Coqui
model by name, and a voice-cloning clip by content: its bytes go once, in the handshake, and
the peer caches them by SHA-256; the job's start then names the clip by hash only.
Device and threads are the peer's own business. Whatever the peer loads, its fingerprint
must equal the leader's, so a peer with a different voice file is refused, never used.

A voice the leader has as files travels by content too (`voice_files`: a Piper voice's .onnx
and .onnx.json; a Coqui checkpoint folder's model file, config.json and the files they name, or
a catalogue model's folder in coqui's downloads or the Hugging Face cache). A peer that lacks them is sent them into its
voice store, or uses its own identical copy (`local_copy`), and loads the voice from there
(`settings_for_files`); the leader's paths are never used. A Coqui fingerprint names a folder's
files by name and content, or a catalogue model by name (a Hugging Face one with its files'
content), never by where they are, so it is the same on every machine.

On the peer, what arrives is checked before anything is loaded or written (`check_from_wire`):
voices and models by name only, a `model_path` only inside folders the node's operator allows,
a clip only for a voice that clones, of a known audio type and bounded size. Clips are kept in a
`ClipCache` bounded in count and bytes (least recently used go first, never one in use).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from e2a_node.errors import E2AError
from e2a_node.synth import settings_from_wire, takes_voice_clip
from e2a_node.synth.base import VoiceSettings
from e2a_node.voices.manifest import HashCache, VoiceManifest, manifest_of

log = logging.getLogger(__name__)

# A cloning clip is 6-30 s of speech: 30 s of 48 kHz stereo 16-bit WAV is 5.5 MB, so 6 MB takes
# any sensible clip (compressed ones are far smaller) and no more.
MAX_CLIP_BYTES = 6 << 20
# The cache keeps clips between jobs so a leader sends each once; ten or so full-size clips (or
# many small ones) are plenty for the voices a node serves, and a disk never fills with them.
MAX_CLIP_CACHE_BYTES = 64 << 20
MAX_CACHED_CLIPS = 64
_SHA256 = re.compile(r"[0-9a-f]{64}")
# BCP 47-ish: "en", "en-US", "pt_BR", "zh-Hans-CN"
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")


def _riff_wave(data: bytes) -> bool:
    return data[:4] in (b"RIFF", b"RIFX", b"RF64") and data[8:12] == b"WAVE"


def _mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


# The audio types a clip may be (by suffix), each with the first bytes every such file starts with.
CLIP_TYPES = {
    ".wav": _riff_wave,
    ".flac": lambda data: data[:4] == b"fLaC",
    ".ogg": lambda data: data[:4] == b"OggS",
    ".opus": lambda data: data[:4] == b"OggS",
    ".mp3": _mp3,
    ".m4a": lambda data: data[4:8] == b"ftyp",
}


@dataclass(frozen=True)
class VoiceBundle:
    settings: VoiceSettings  # engine, voice, model, model_path, language, deterministic
    clip: bytes | None = None
    clip_sha256: str = ""
    clip_suffix: str = ""
    files: VoiceManifest | None = None  # the voice as files, when the leader has them to send

    @property
    def key(self) -> tuple:
        """Identifies the voice a peer must load (a loaded engine is reused for the same key)."""
        s = self.settings
        # Files sent are found by content: where the leader keeps them does not change the voice.
        return (s.engine, s.voice, s.model, s.model_path if self.files is None else None, s.language,
                s.deterministic, self.clip_sha256, self.files.voice_id if self.files else "")

    def by_hash(self) -> "VoiceBundle":
        """The same voice with the clip named by its hash only (the peer cached the bytes)."""
        return replace(self, clip=None)


def bundle_for_peers(settings: VoiceSettings, files: VoiceManifest | None = None) -> VoiceBundle:
    """The leader's resolved settings, made portable; `files`: the voice's files (voice_files)."""
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
    return VoiceBundle(portable, clip, sha, suffix, files)


def voice_files(settings: VoiceSettings, hash_cache: HashCache | None = None) -> tuple[VoiceManifest, Path] | None:
    """The files of the leader's voice, named by content, and the folder they are in: what a node
    without them is sent. Piper voices (the .onnx and its .onnx.json); Coqui checkpoint folders
    (what loading the folder reads, `coqui.folder_files`), a catalogue model by name when it is
    downloaded where coqui keeps it (`coqui.downloaded_model_folder`: its own folder, or the
    Hugging Face cache's snapshot for hub models such as XTTS v2, links into the snapshot's blobs
    followed; a model whose licence must be accepted only when this machine's user accepted it,
    sending it to their own nodes being theirs to do then); None for other engines and Coqui
    models elsewhere or not downloaded (nothing is downloaded). E2AError (one line) for a folder
    that cannot travel, e.g. with a link out of it (out of its repo's cache folder, for a snapshot)."""
    if settings.engine == "coqui":
        return _coqui_files(settings, hash_cache)
    if settings.engine != "piper":
        return None
    from e2a_node.synth import piper

    model, config = piper.voice_files(settings.voice)
    if config.parent != model.parent:
        return None  # a layout no node could rebuild by name
    return manifest_of("piper", model.parent, [model.name, config.name], hash_cache), model.parent


def _coqui_files(settings: VoiceSettings, hash_cache: HashCache | None) -> tuple[VoiceManifest, Path] | None:
    from e2a_node.synth import coqui

    if settings.model_path:
        model_path = settings.model_path
    elif settings.model:
        folder = coqui.downloaded_model_folder(settings.model)
        if folder is None:
            return None  # not downloaded where coqui keeps it: each node gets it by name
        model_path = str(folder)
    else:
        return None
    folder, names = coqui.folder_files(model_path)
    # A Hugging Face snapshot's files are links into its repo's blobs: they may point anywhere in
    # that repo's cache folder, nowhere else. The manifest hashes what they point at, and a node
    # is sent that content as plain files.
    repo = coqui.hf_repo_folder(folder)
    real = Path(os.path.realpath(repo or folder))
    for name in names:
        if not Path(os.path.realpath(folder / name)).is_relative_to(real):
            if repo is not None:
                raise E2AError(f"coqui model folder {folder}: {name} is a link to a file outside its "
                               f"Hugging Face cache folder {repo.name}")
            raise E2AError(f"coqui model folder {folder}: {name} is a link to a file outside it")
    return manifest_of("coqui", folder, names, hash_cache), folder


def settings_for_files(bundle: VoiceBundle, folder: Path) -> VoiceSettings:
    """The settings that load the bundle's voice from this node's copy of its files in `folder`
    (checked as `check_from_wire` checks a voice by name; no `--allow-model-dir` is needed for
    them). Called with a folder that lacks the files, it checks what can be checked without them."""
    settings, files = bundle.settings, bundle.files
    assert files is not None
    if settings.language is not None and not _LANGUAGE.fullmatch(settings.language):
        raise E2AError(f"language {settings.language[:40]!r} is not a language tag (e.g. en, en-US)")
    if settings.engine != files.engine or settings.engine not in ("piper", "coqui"):
        raise E2AError(f"voice files for the {files.engine[:40]} engine are not taken for a {settings.engine[:40]} "
                       "voice (piper voices and coqui models only)")
    if settings.engine == "coqui":
        return _coqui_settings_for_files(bundle, folder)
    models = [f.path for f in files.files if f.path.endswith(".onnx")]
    if len(models) != 1 or len(files.files) != 2 or settings.model or settings.model_path \
            or not any(f.path == models[0] + ".json" for f in files.files):
        raise E2AError("a piper voice is sent as NAME.onnx and NAME.onnx.json, nothing else")
    return replace(settings, voice=str(folder / models[0]))


def _coqui_settings_for_files(bundle: VoiceBundle, folder: Path) -> VoiceSettings:
    from e2a_node.synth import coqui

    paths = {f.path for f in bundle.files.files}
    if any("/" in p for p in paths) or "config.json" not in paths or coqui.pick_model_file(paths) is None:
        raise E2AError("a coqui model is sent as the files of its folder: config.json, a model file "
                       "(model.pth, ...) and the files they name, no subfolders")
    # The leader's model_path means nothing here; its model name (if any) names what the files are.
    settings = settings_from_wire(replace(bundle.settings, model_path=str(folder)))
    here = all((folder / p).is_file() for p in paths)
    if here:
        _folder, needed = coqui.folder_files(str(folder))
        if set(needed) != paths:
            raise E2AError("the coqui model's files are not the files its folder loads "
                           f"(sent {len(paths)}, it reads {len(needed)})")
    if bundle.clip is not None or bundle.clip_sha256 or bundle.clip_suffix:
        check_clip(bundle, settings, clones=None if here else True)
    return settings


def local_copy(bundle: VoiceBundle, hash_cache: HashCache | None = None,
               model_dirs: Sequence[Path] = ()) -> Path | None:
    """The folder of this node's own copy of the bundle's voice files (its voices folder, the
    bundled voice; for Coqui, a model folder in coqui's download folder, or the leader's
    `model_path` where `model_dirs` allow it) when the files there are the very same; None when
    it has none."""
    files = bundle.files
    if files is None:
        return None
    if bundle.settings.engine == "coqui" and files.engine == "coqui":
        return _coqui_local_copy(bundle, hash_cache, model_dirs)
    if bundle.settings.engine != "piper":
        return None
    from e2a_node.synth import piper

    try:
        model, _ = piper.voice_files(piper.from_wire(bundle.settings).voice)
    except E2AError:
        return None
    return model.parent if _same_files(model.parent, files, hash_cache) else None


def _coqui_local_copy(bundle: VoiceBundle, hash_cache: HashCache | None, model_dirs: Sequence[Path]) -> Path | None:
    """The folder the leader's `model_path` names here (if allowed), else one of coqui's downloads
    (the named model's, in coqui's folder or the Hugging Face cache, else any), holding exactly
    the files."""
    from e2a_node.synth import coqui

    candidates = []
    if bundle.settings.model_path and model_dirs:
        try:
            allowed = allowed_model_path(bundle.settings.model_path, model_dirs)
            candidates.append(coqui.checkpoint_files(allowed)[0])
        except E2AError:
            pass
    root = coqui.coqui_data_dir()
    name = bundle.settings.model
    if name:
        try:
            coqui.from_wire(VoiceSettings(engine="coqui", model=name))  # a catalogue name, never a path
        except E2AError:
            return None
        candidates.append(root / name.replace("/", "--"))
        hub = coqui.downloaded_model_folder(name)  # a Hugging Face model's snapshot in the hub's cache
        if hub is not None and hub not in candidates:
            candidates.append(hub)
    else:
        try:
            candidates += sorted(p for p in root.iterdir() if p.name.startswith("tts_models--") and p.is_dir())
        except OSError:
            pass
    for folder in candidates:
        if not _same_files(folder, bundle.files, hash_cache, hash_them=False):
            continue  # sizes first: hashing a model is for a folder that may well be it
        try:
            _folder, needed = coqui.folder_files(str(folder))
        except E2AError:
            continue
        if set(needed) == {f.path for f in bundle.files.files} and _same_files(folder, bundle.files, hash_cache):
            return folder
    return None


def _same_files(folder: Path, files: VoiceManifest, hash_cache: HashCache | None, hash_them: bool = True) -> bool:
    """Whether `folder` holds the manifest's files (by size; with `hash_them`, by content too)."""
    if any(not (folder / f.path).is_file() or (folder / f.path).stat().st_size != f.size for f in files.files):
        return False
    if not hash_them:
        return True
    try:
        return manifest_of(files.engine, folder, [f.path for f in files.files], hash_cache).voice_id == files.voice_id
    except E2AError:
        return False


def check_from_wire(bundle: VoiceBundle, model_dirs: Sequence[Path] = ()) -> VoiceSettings:
    """The voice a leader sent, checked before anything is loaded or written; returns the settings
    this node would load (paths resolved here). E2AError (one line) for anything refused.

    `model_dirs`: the real paths of the folders the operator allows `model_path`s in (none: no
    `model_path` is taken)."""
    settings = bundle.settings
    if settings.language is not None and not _LANGUAGE.fullmatch(settings.language):
        raise E2AError(f"language {settings.language[:40]!r} is not a language tag (e.g. en, en-US)")
    if settings.model_path:
        settings = replace(settings, model_path=allowed_model_path(settings.model_path, model_dirs))
    settings = settings_from_wire(settings)
    if bundle.clip is not None or bundle.clip_sha256 or bundle.clip_suffix:
        check_clip(bundle, settings)
    return settings


def allowed_model_path(model_path: str, model_dirs: Sequence[Path]) -> str:
    """`model_path` from a leader as a real path inside one of `model_dirs` (a relative one is
    looked for in each); E2AError, saying the same whether or not the path exists, otherwise."""
    if not model_dirs:
        raise E2AError("this node takes no model_path from leaders (its operator can allow folders "
                       "with e2a-node serve --allow-model-dir)")
    given = Path(model_path)
    if "\x00" not in model_path:
        candidates = [given] if given.is_absolute() else [d / given for d in model_dirs]
        inside = [real for real in (Path(os.path.realpath(c)) for c in candidates)
                  if any(real.is_relative_to(d) for d in model_dirs)]
        if inside:
            return str(next((p for p in inside if p.exists()), inside[0]))
    raise E2AError("model_path is outside the folders this node allows (--allow-model-dir)")


def check_clip(bundle: VoiceBundle, settings: VoiceSettings, clones: bool | None = None) -> None:
    """A cloning clip (bytes, or its hash on a job start) is taken only for a voice that clones,
    named by a SHA-256, of a known audio type, within `MAX_CLIP_BYTES`, and arriving intact.
    `clones`: whether the voice clones, when its files are not here to tell (None: ask them)."""
    if not (takes_voice_clip(settings) if clones is None else clones):
        raise E2AError(f"this {settings.engine} voice does not clone: it takes no voice clip")
    if settings.voice:
        raise E2AError("a voice clip and a speaker name together: send one")
    if not _SHA256.fullmatch(bundle.clip_sha256):
        raise E2AError("a voice clip must be named by its SHA-256 (64 lowercase hex digits)")
    check = CLIP_TYPES.get(bundle.clip_suffix)
    if check is None:
        raise E2AError(f"voice clip type {bundle.clip_suffix[:12]!r} is not taken "
                       f"(only {', '.join(CLIP_TYPES)})")
    if bundle.clip is None:
        return
    if len(bundle.clip) > MAX_CLIP_BYTES:
        raise E2AError(f"voice clip of {len(bundle.clip) / 1e6:.1f} MB: a node takes at most "
                       f"{MAX_CLIP_BYTES / 1e6:.1f} MB (6-30 s of speech is enough)")
    if not check(bundle.clip):
        raise E2AError(f"the voice clip is not {bundle.clip_suffix} audio (its first bytes say otherwise)")
    if hashlib.sha256(bundle.clip).hexdigest() != bundle.clip_sha256:
        raise E2AError("the voice clip arrived damaged (checksum mismatch)")


class ClipCache:
    """Cloning clips kept on disk by SHA-256, at most `max_clips` and `max_bytes` together; the
    least recently used go first, never one `in_use`. The order survives restarts (file times)."""

    _NAME = re.compile(r"([0-9a-f]{64})(\.[a-z0-9]{1,8})")

    def __init__(self, folder: Path, max_bytes: int = MAX_CLIP_CACHE_BYTES, max_clips: int = MAX_CACHED_CLIPS) -> None:
        self.folder = folder
        self.max_bytes, self.max_clips = max_bytes, max_clips
        self._clips: OrderedDict[str, tuple[Path, int]] = OrderedDict()  # sha -> (file, size), oldest first
        found = []
        if folder.is_dir():
            for path in folder.iterdir():
                m = self._NAME.fullmatch(path.name)
                if m and path.is_file():
                    st = path.stat()
                    found.append((st.st_mtime, m.group(1), path, st.st_size))
                elif path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)  # a write cut short
        for _mtime, sha, path, size in sorted(found):
            self._clips[sha] = (path, size)
        self._evict(set(), 0)

    @property
    def total_bytes(self) -> int:
        return sum(size for _path, size in self._clips.values())

    def __contains__(self, sha: str) -> bool:
        return sha in self._clips

    def find(self, sha: str) -> Path:
        """The cached clip `sha`, marked as just used; E2AError when it is not here."""
        entry = self._clips.get(sha)
        if entry is None or not entry[0].is_file():
            self._clips.pop(sha, None)
            raise E2AError(f"voice clip {sha[:12]}… is not cached on this node (the leader sends it in the handshake)")
        self._clips.move_to_end(sha)
        os.utime(entry[0])
        return entry[0]

    def put(self, sha: str, suffix: str, data: bytes, in_use: Collection[str] = ()) -> Path:
        """Store a clip already checked (`check_clip`), making room by evicting unused ones."""
        if sha in self._clips:
            return self.find(sha)
        self._evict(set(in_use), len(data), incoming=1)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{sha}{suffix}"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        self._clips[sha] = (path, len(data))
        return path

    def discard(self, sha: str) -> None:
        entry = self._clips.pop(sha, None)
        if entry is not None:
            entry[0].unlink(missing_ok=True)

    def _evict(self, in_use: set[str], incoming_bytes: int, incoming: int = 0) -> None:
        def over() -> bool:
            return (len(self._clips) + incoming > self.max_clips
                    or self.total_bytes + incoming_bytes > self.max_bytes)

        for sha in [s for s in self._clips if s not in in_use]:  # oldest first
            if not over():
                return
            log.info("clip cache full: dropping clip %s…", sha[:12])
            self.discard(sha)
        if over() and incoming:
            raise E2AError("this node's voice clip cache is full of clips in use; try again when a job ends")


def settings_on_this_node(bundle: VoiceBundle, clips: ClipCache | Path, device: str, threads: int | None,
                          settings: VoiceSettings | None = None, in_use: Collection[str] = ()) -> VoiceSettings:
    """The settings a peer loads: the bundle's voice (or `settings`, what `check_from_wire` made
    of it), the clip saved locally, its own device."""
    if not isinstance(clips, ClipCache):
        clips = ClipCache(clips)
    settings = replace(settings or bundle.settings, device=device, threads=threads)
    if bundle.clip_sha256:
        if not bundle.clip:
            return replace(settings, voice=str(clips.find(bundle.clip_sha256)))
        if hashlib.sha256(bundle.clip).hexdigest() != bundle.clip_sha256:
            raise E2AError("the voice clip arrived damaged (checksum mismatch)")
        path = clips.put(bundle.clip_sha256, bundle.clip_suffix or ".wav", bundle.clip, in_use)
        settings = replace(settings, voice=str(path))
    return settings
