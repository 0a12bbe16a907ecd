"""A voice named by its content: its engine and its files (path, size, SHA-256), one voice id.

A voice is the files an engine loads: a Piper voice is NAME.onnx and NAME.onnx.json, a Coqui
model a folder (checkpoint, config.json, speakers and vocab files). Two nodes have the same voice
exactly when they have the same `voice_id`, whatever the files are called on either machine.

The voice id is the hex SHA-256 of this encoding (all integers big-endian, every string UTF-8 and
preceded by its length, so no two manifests encode alike):

    b"e2a-voice-manifest-v1\\n"
    u32 len(engine)  engine
    u32 number of files
    for each file, sorted by path (code point order):
        u32 len(path)  path      relative, POSIX ("/" between folders)
        u64 size
        u32 len(sha256)  sha256  64 lowercase hex digits

`manifest_of` builds a manifest from files on this machine, hashing them in 1 MiB reads; a
`HashCache` remembers what it hashed by (real path, size, mtime_ns, inode) so a 1.8 GB model is
not hashed again on every conversion. A file rewritten in place within one mtime tick, keeping
its size, would keep its old hash: nodes receiving it check every byte, so the worst case is a
refused transfer, never a wrong voice.

`check_manifest` takes a manifest from the network, where anything may arrive: it holds every
field to the rules below and refuses the rest with an `E2AError` of one line. Besides the plain
path rules, a top-level `manifest.json` and names ending in `.part` are refused: the voice store
gives those names to its own files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from e2a_node.errors import E2AError

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
MAX_FILES = 64
MAX_PATH_PARTS = 4
MAX_PATH_LENGTH = 256
MAX_FILE_BYTES = 8 << 30
MAX_TOTAL_BYTES = 16 << 30
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Names the voice store uses itself (see store.py): a voice may not bring files called so.
STORE_MANIFEST = "manifest.json"
PART_SUFFIX = ".part"

_ENGINE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_PATH_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ENCODING_TAG = b"e2a-voice-manifest-v1\n"


@dataclass(frozen=True)
class VoiceFile:
    """One file of a voice: `path` relative to the voice's folder, in POSIX form."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class VoiceManifest:
    """An engine and the files it loads, kept sorted by path (the order never changes the id)."""

    engine: str
    files: tuple[VoiceFile, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(sorted(self.files, key=lambda f: f.path)))

    @cached_property
    def voice_id(self) -> str:
        """Hex SHA-256 of the canonical encoding described in this module's docstring."""
        parts = [_ENCODING_TAG, _string(self.engine), struct.pack(">I", len(self.files))]
        for f in self.files:
            parts += [_string(f.path), struct.pack(">Q", f.size), _string(f.sha256)]
        return hashlib.sha256(b"".join(parts)).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def held_bytes(self, missing: Iterable[tuple[str, int]]) -> int:
        """Bytes a node holds when it still needs `missing`: (path, offset it holds) pairs."""
        sizes = {f.path: f.size for f in self.files}
        return self.total_bytes - sum(sizes[path] - offset for path, offset in missing)

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine,
                "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VoiceManifest:
        """The manifest `to_dict` gave, its shape checked (E2AError); `check_manifest` checks the rest."""
        if not isinstance(d, Mapping):
            raise E2AError("a voice manifest must be an object with an engine and files")
        engine, files = d.get("engine"), d.get("files")
        if not isinstance(engine, str):
            raise E2AError(f"voice engine {_show(engine)} is not a string")
        if not isinstance(files, (list, tuple)):
            raise E2AError("a voice manifest's files must be a list")
        if len(files) > MAX_FILES:  # before looking at each: a hostile list may be huge
            raise E2AError(f"a voice manifest lists {len(files)} files; it may list at most {MAX_FILES}")
        return cls(engine, tuple(_file_from_dict(f) for f in files))


def _string(s: str) -> bytes:
    data = s.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def _show(value: object, limit: int = 60) -> str:
    """`value` as it may appear in a one-line message: repr, at most `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _file_from_dict(d: object) -> VoiceFile:
    if not isinstance(d, Mapping):
        raise E2AError("each voice file must be an object with path, size and sha256")
    path, size, sha = d.get("path"), d.get("size"), d.get("sha256")
    if not isinstance(path, str):
        raise E2AError(f"voice file path {_show(path)} is not a string")
    if not isinstance(size, int) or isinstance(size, bool):
        raise E2AError(f"voice file {_show(path)} has size {_show(size)}, not a whole number")
    if not isinstance(sha, str):
        raise E2AError(f"voice file {_show(path)} has sha256 {_show(sha)}, not a string")
    return VoiceFile(path, size, sha)


# -- checking a manifest from elsewhere ---------------------------------------------------------


def check_manifest(d: Mapping[str, Any] | VoiceManifest) -> VoiceManifest:
    """A manifest from the network (a dict as `to_dict` makes, or a VoiceManifest), held to every
    rule; E2AError with one line saying what is wrong otherwise."""
    manifest = VoiceManifest.from_dict(d.to_dict() if isinstance(d, VoiceManifest) else d)
    check_engine(manifest.engine)
    check_paths([f.path for f in manifest.files])
    for f in manifest.files:
        _check_file(f)
    total = manifest.total_bytes
    if total > MAX_TOTAL_BYTES:
        raise E2AError(f"voice files total {total} bytes; a voice may have at most {MAX_TOTAL_BYTES >> 30} GiB")
    return manifest


def check_engine(engine: str) -> None:
    if not isinstance(engine, str) or not _ENGINE.fullmatch(engine):
        raise E2AError(f"voice engine {_show(engine)} is not an engine name "
                       f"(a lowercase letter, then letters, digits or _; at most 32)")


def check_paths(paths: list[str]) -> None:
    """The rules for a voice's file paths, each one alone and all of them together."""
    if not 1 <= len(paths) <= MAX_FILES:
        raise E2AError(f"a voice manifest lists {len(paths)} files; it must list 1 to {MAX_FILES}")
    for path in paths:
        check_path(path)
    _check_distinct(paths)


def check_path(path: str) -> None:
    """One relative POSIX path of plain names, at most `MAX_PATH_PARTS` deep."""
    shown = _show(path)
    if not isinstance(path, str):
        raise E2AError(f"voice file path {shown} is not a string")
    if len(path) > MAX_PATH_LENGTH:
        raise E2AError(f"voice file path {shown} is longer than {MAX_PATH_LENGTH} characters")
    if "\\" in path:
        raise E2AError(f"voice file path {shown} has a backslash; paths use /")
    if path.startswith("/"):
        raise E2AError(f"voice file path {shown} is absolute; it must be relative to the voice's folder")
    parts = path.split("/")
    if "" in parts:
        raise E2AError(f"voice file path {shown} has an empty part")
    if ".." in parts or "." in parts:
        raise E2AError(f"voice file path {shown} has a . or .. part; it must name files inside the voice's folder")
    if len(parts) > MAX_PATH_PARTS:
        raise E2AError(f"voice file path {shown} has {len(parts)} parts; at most {MAX_PATH_PARTS}")
    for part in parts:
        if not _PATH_PART.fullmatch(part):
            raise E2AError(f"voice file path {shown}: {_show(part)} is not a plain file name "
                           f"(letters, digits, . _ -, starting with a letter or digit; at most 128)")
    if path.lower() == STORE_MANIFEST:
        raise E2AError(f"voice file path {shown} is the name the voice store gives a voice's manifest")
    if parts[-1].lower().endswith(PART_SUFFIX):
        raise E2AError(f"voice file path {shown} ends in {PART_SUFFIX}, the suffix the voice store "
                       f"gives files still arriving")


def _check_distinct(paths: list[str]) -> None:
    """No path twice, not even in another case (case-insensitive filesystems would merge them),
    and none that is also a folder of another (a file and a folder cannot share a name)."""
    seen: dict[str, str] = {}
    for path in sorted(paths):
        key = path.lower()
        if key in seen:
            other = seen[key]
            if other == path:
                raise E2AError(f"voice file path {_show(path)} is listed twice")
            raise E2AError(f"voice file paths {_show(other)} and {_show(path)} differ only in case")
        seen[key] = path
    for path in paths:
        parts = path.lower().split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise E2AError(f"voice file {_show(seen[folder])} is also a folder of {_show(path)}")


def _check_file(f: VoiceFile) -> None:
    if not 0 <= f.size <= MAX_FILE_BYTES:
        raise E2AError(f"voice file {_show(f.path)} has size {f.size}; a file may have 0 to "
                       f"{MAX_FILE_BYTES >> 30} GiB")
    if not _SHA256.fullmatch(f.sha256):
        raise E2AError(f"voice file {_show(f.path)} has sha256 {_show(f.sha256)}; "
                       f"it must be 64 lowercase hex digits")
    if f.size == 0 and f.sha256 != EMPTY_SHA256:
        raise E2AError(f"voice file {_show(f.path)} is empty but its sha256 is not that of no bytes")


# -- building a manifest from files here --------------------------------------------------------


def hash_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, bytes read) of the file at `path`, read in `READ_CHUNK` pieces."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def manifest_of(engine: str, root: Path, paths: Iterable[str],
                hash_cache: HashCache | None = None) -> VoiceManifest:
    """The manifest of the files at `paths` (POSIX, relative to `root`) for `engine`; E2AError if a
    file is missing or the manifest would break a rule a receiving node holds it to."""
    paths = list(paths)
    check_engine(engine)
    check_paths(paths)  # before hashing gigabytes for a manifest that would be refused anyway
    files = tuple(_describe(root, path, hash_cache) for path in paths)
    if hash_cache is not None:
        hash_cache.save()
    return check_manifest(VoiceManifest(engine, files))


def _describe(root: Path, path: str, hash_cache: HashCache | None) -> VoiceFile:
    full = root.joinpath(*path.split("/"))
    try:
        before = os.stat(full)
    except OSError:
        raise E2AError(f"voice file not found: {full}") from None
    if not os.path.isfile(full):
        raise E2AError(f"voice file is not a regular file: {full}")
    real = os.path.realpath(full)
    if hash_cache is not None and (sha := hash_cache.lookup(real, before)) is not None:
        return VoiceFile(path, before.st_size, sha)
    try:
        sha, size = hash_file(full)
        after = os.stat(full)
    except OSError as e:
        raise E2AError(f"cannot read voice file {full}: {e.strerror}") from None
    if size != before.st_size or _stamp(after) != _stamp(before):
        raise E2AError(f"voice file {full} changed while it was being hashed; try again")
    if hash_cache is not None:
        hash_cache.store(real, before, sha)
    return VoiceFile(path, size, sha)


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


class HashCache:
    """SHA-256s of local files already hashed, kept in a small JSON file, at most `max_entries`
    (the least recently used go first). A cache file that cannot be read or makes no sense is
    ignored and replaced; one that cannot be written is left as it is: never an error.

    The file: {"version": 1, "entries": {real path: [size, mtime_ns, inode, sha256, used_ns]}}."""

    VERSION = 1
    MAX_FILE_BYTES = 4 << 20

    def __init__(self, path: Path, max_entries: int = 256) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, list] | None = None  # read on first use
        self._dirty = False

    @classmethod
    def default(cls) -> HashCache:
        """The cache in the user's cache folder."""
        from platformdirs import user_cache_dir

        return cls(Path(user_cache_dir("e2a")) / "voice-hashes.json")

    def lookup(self, real_path: str, st: os.stat_result) -> str | None:
        """The SHA-256 recorded for `real_path` if the file still has the size, mtime and inode in `st`."""
        with self._lock:
            entries = self._loaded()
            entry = entries.get(real_path)
            if entry is None or tuple(entry[:3]) != _stamp(st):
                return None
            entry[4] = time.time_ns()
            self._dirty = True
            return entry[3]

    def store(self, real_path: str, st: os.stat_result, sha256: str) -> None:
        with self._lock:
            entries = self._loaded()
            entries[real_path] = [*_stamp(st), sha256, time.time_ns()]
            while len(entries) > self.max_entries:
                del entries[min(entries, key=lambda k: entries[k][4])]
            self._dirty = True

    def save(self) -> None:
        """Write the cache if it changed (atomically: a reader sees the old file or the new)."""
        with self._lock:
            if not self._dirty or self._entries is None:
                return
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps({"version": self.VERSION, "entries": self._entries}))
                os.replace(tmp, self.path)
                self._dirty = False
            except OSError as e:
                log.debug("cannot write the voice hash cache %s: %s", self.path, e)
                try:
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass

    def _loaded(self) -> dict[str, list]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, list]:
        try:
            if self.path.stat().st_size > self.MAX_FILE_BYTES:
                raise ValueError("too large")
            data = json.loads(self.path.read_text())
            entries = data["entries"] if data.get("version") == self.VERSION else {}
            good = {k: v for k, v in entries.items() if _good_entry(k, v)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:
            log.debug("ignoring the voice hash cache %s: %s", self.path, e)
            return {}
        while len(good) > self.max_entries:
            del good[min(good, key=lambda k: good[k][4])]
        return good


def _good_entry(key: object, value: object) -> bool:
    return (isinstance(key, str) and isinstance(value, list) and len(value) == 5
            and all(isinstance(n, int) and not isinstance(n, bool) for n in (*value[:3], value[4]))
            and isinstance(value[3], str) and _SHA256.fullmatch(value[3]) is not None)
