"""A node's voice store: voices received from other nodes, kept on disk within a size limit.

Layout of the store's folder (`root`, in the node's state dir):

    <voice_id>/              a complete voice: its files at their manifest paths, and
        manifest.json        its manifest (VoiceManifest.to_dict), written last: a voice-id folder
                             exists only once all its files are in and verified. The file's mtime
                             is the voice's last use, so the LRU order survives restarts.
    <voice_id>.partial/      a voice being received, or cut short (kept, to resume):
        <path>               a file that arrived whole and matched its SHA-256
        <path>.part          a file still arriving; its length is the offset to resume from
    .trash-*                 a voice being deleted (renamed first, so it is gone at once)

How a voice arrives: `receive(manifest)` reserves the voice's full size (evicting the least
recently used voices that are not in use, and cut-short partials of other voices, as needed),
then each file is written in order, in chunks, as `<path>.part`. A file that reaches its size is
hashed (incrementally while it is written from 0 in one go; read again after a resume), fsynced
and renamed to `<path>`. When every file is in, `complete()` writes manifest.json and renames the
`.partial` folder to `<voice_id>`, atomically. A `.part` may end in bytes a crash never flushed:
its hash check then fails and the file is sent again from 0.

On start, the store reads every complete voice's manifest.json and checks its files' sizes (it
does not hash them again); a voice-id folder that is not a complete voice is deleted, `.partial`
folders are kept and counted, `.trash-*` leftovers are deleted, and anything else is ignored
(neither counted nor touched: the store deletes only what it made). Files in a `.partial` folder
that its manifest does not name are deleted when that voice is received again.

Sizes use binary multiples throughout: `parse_size("1G")` is 2**30 bytes, as is "1GB" and "1GiB",
and `format_size(2**30)` is "1.0 GB" (as `du -h` and `ls -h` count).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from e2a_node.errors import E2AError
from e2a_node.voices.manifest import PART_SUFFIX, STORE_MANIFEST, VoiceFile, VoiceManifest, check_manifest, hash_file

log = logging.getLogger(__name__)

_VOICE_ID = re.compile(r"[0-9a-f]{64}")
_PARTIAL = ".partial"
_TRASH = ".trash-"
_MANIFEST_TMP = ".manifest.json.tmp"  # a name no voice file may have (it starts with a dot)
_MAX_MANIFEST_BYTES = 1 << 20
_UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGTP]?)(I?B)?\s*", re.IGNORECASE)


class VoiceStoreError(E2AError):
    """A voice cannot be stored, received or served by this node's voice store."""


def parse_size(text: str) -> int:
    """Bytes in a size such as "20G", "1.5 GB", "512MiB", "100k" or "1048576" (binary multiples:
    K = KB = KiB = 1024); ValueError with one line for anything else."""
    m = _SIZE.fullmatch(text) if isinstance(text, str) else None
    if m is None or (m.group(3) and m.group(3).upper() == "IB" and not m.group(2)):
        raise ValueError(f"{text!r:.40} is not a size (e.g. 20G, 1.5GB, 512M, 1048576)")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{text!r:.40} is not a size (e.g. 20G, 1.5GB, 512M, 1048576)") from None
    return int(number * (1024 ** _UNITS[m.group(2).upper()]))


def format_size(n: int) -> str:
    """`n` bytes for people: "512 bytes", "1.8 GB" (binary multiples, one decimal)."""
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if round(value, 1) < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} PB"


def _short(voice_id: str) -> str:
    return f"{voice_id[:12]}…"


@dataclass(frozen=True)
class StoredVoice:
    """A complete voice in the store, as a status display shows it."""

    voice_id: str
    engine: str
    total_bytes: int
    last_used: float  # seconds since the epoch
    files: tuple[str, ...]
    pins: int  # how many users hold it now (`in_use`)


@dataclass
class _Voice:
    manifest: VoiceManifest
    last_used_ns: int


class VoiceStore:
    """Voices on disk under `root`, together within `limit_bytes` (see the module docstring).

    Safe to call from several threads: the store's own state is guarded by one lock, and each
    `Receiving` by its own, so different voices arrive in parallel."""

    def __init__(self, root: Path, limit_bytes: int) -> None:
        if limit_bytes < 0:
            raise ValueError(f"a voice store limit cannot be negative ({limit_bytes})")
        self.root = Path(root)
        self.limit_bytes = limit_bytes
        self._lock = threading.RLock()
        self._complete: dict[str, _Voice] = {}
        self._stale: dict[str, tuple[int, int]] = {}  # partial not being received -> (bytes, last write ns)
        self._receiving: dict[str, Receiving] = {}
        self._pins: Counter[str] = Counter()
        self._clock = 0  # the last time stamp given, so stamps strictly increase
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._scan()
            self._make_room(0)  # a lowered limit takes effect at start

    # -- finding and using voices ---------------------------------------------------------------

    def find(self, voice_id: str) -> Path | None:
        """The folder of complete voice `voice_id`, its files there with their sizes (not hashed
        again); None when it is not here. Does not count as a use (see `touch`, `in_use`)."""
        with self._lock:
            return self._find(voice_id)

    def manifest(self, voice_id: str) -> VoiceManifest | None:
        """The manifest of complete voice `voice_id` (what another node needs to fetch it), or None."""
        with self._lock:
            return self._complete[voice_id].manifest if self._find(voice_id) else None

    def touch(self, voice_id: str) -> bool:
        """Mark a complete voice as just used (False when it is not here)."""
        with self._lock:
            if self._find(voice_id) is None:
                return False
            self._touch(voice_id)
            return True

    @contextmanager
    def in_use(self, voice_id: str) -> Iterator[Path]:
        """Pin a complete voice (never evicted while any pin is held) and mark it used; yields its
        folder. VoiceStoreError when it is not here."""
        with self._lock:
            folder = self._find(voice_id)
            if folder is None:
                raise VoiceStoreError(f"voice {_short(voice_id)} is not in this node's voice store")
            self._pins[voice_id] += 1
            self._touch(voice_id)
        try:
            yield folder
        finally:
            with self._lock:
                self._pins[voice_id] -= 1
                if self._pins[voice_id] <= 0:
                    del self._pins[voice_id]

    def serve_file(self, voice_id: str, path: str) -> tuple[IO[bytes], int]:
        """(an open binary file, its size) of one file of a complete voice, to send to another node.
        The caller closes it; on POSIX an open file stays readable even if the voice is evicted,
        elsewhere hold `in_use` while sending."""
        with self._lock:
            folder = self._find(voice_id)
            if folder is None:
                raise VoiceStoreError(f"voice {_short(voice_id)} is not in this node's voice store")
            wanted = [f for f in self._complete[voice_id].manifest.files if f.path == path]
            if not wanted:
                raise VoiceStoreError(f"voice {_short(voice_id)} has no file {path!r:.60}")
            return open(folder.joinpath(*path.split("/")), "rb"), wanted[0].size

    def discard(self, voice_id: str) -> bool:
        """Delete a complete voice now, pinned or not (its files were found damaged); False when
        it is not here. Loaded engines keep working; the files are gone for new loads."""
        with self._lock:
            if self._find(voice_id) is None:
                return False
            del self._complete[voice_id]
            self._trash(self.root / voice_id)
            return True

    def usage(self) -> tuple[int, int]:
        """(bytes used, limit): complete voices, cut-short partials, and the full size of each
        voice being received (its space is reserved when it starts)."""
        with self._lock:
            return self._used(), self.limit_bytes

    def voices(self) -> list[StoredVoice]:
        """The complete voices, the most recently used first."""
        with self._lock:
            found = [StoredVoice(vid, v.manifest.engine, v.manifest.total_bytes, v.last_used_ns / 1e9,
                                 tuple(f.path for f in v.manifest.files), self._pins[vid])
                     for vid, v in self._complete.items()]
        return sorted(found, key=lambda v: v.last_used, reverse=True)

    # -- receiving ------------------------------------------------------------------------------

    def receive(self, manifest: VoiceManifest | Mapping[str, Any]) -> Receiving:
        """Start (or resume) receiving the voice `manifest` describes: its space is reserved now,
        and only one `Receiving` per voice exists at a time. Use it as a context manager; leaving
        it without `complete()` keeps what arrived for a later resume. A voice already here gives
        a `Receiving` with nothing missing."""
        manifest = check_manifest(manifest)  # again: its paths are about to be joined to ours
        vid = manifest.voice_id
        with self._lock:
            if vid in self._receiving:
                raise VoiceStoreError(f"voice {_short(vid)} is already being received")
            done = self._find(vid)
            if done is None:
                self._reserve(manifest)
            receiving = Receiving(self, manifest, done)
            self._receiving[vid] = receiving
        try:
            receiving._prepare()
        except BaseException:
            receiving.close()
            raise
        return receiving

    def _reserve(self, manifest: VoiceManifest) -> None:
        vid, need = manifest.voice_id, manifest.total_bytes
        if need > self.limit_bytes:
            raise VoiceStoreError(f"voice {_short(vid)} needs {format_size(need)}; this node's voice store "
                                  f"holds at most {format_size(self.limit_bytes)} (--voice-store-limit)")
        if not self._make_room(need, keep=vid):
            free = max(0, self.limit_bytes - self._used(keep=vid))
            busy = "voices in use or being received" if self._receiving else "voices in use"
            raise VoiceStoreError(f"voice {_short(vid)} needs {format_size(need)}, but only {format_size(free)} "
                                  f"of this node's {format_size(self.limit_bytes)} voice store is free and "
                                  f"the rest holds {busy}; try again when a job ends")
        self._stale.pop(vid, None)  # its bytes are inside the reservation from now on

    def _finish(self, receiving: Receiving) -> Path:
        """Move a fully received voice into place (its manifest.json already written)."""
        vid = receiving.voice_id
        with self._lock:
            final = self.root / vid
            if os.path.lexists(final):  # a broken leftover: `receive` found no complete voice there
                self._trash(final)
            os.rename(receiving.folder, final)
            _fsync_dir(self.root)
            self._complete[vid] = _Voice(receiving.manifest, 0)
            self._touch(vid)
            receiving.reserved = 0
            return final

    def _release(self, receiving: Receiving) -> None:
        """A `Receiving` ended; what it left in its `.partial` folder (if anything) stays, counted."""
        vid = receiving.voice_id
        with self._lock:
            if self._receiving.get(vid) is receiving:
                del self._receiving[vid]
            receiving.reserved = 0
            if receiving.done is not None or not receiving.folder.is_dir():
                return
            kept, _newest = _disk_usage(receiving.folder)
            if kept:
                self._stale[vid] = (kept, self._now_ns())
            else:
                self._trash(receiving.folder)

    # -- bookkeeping (callers hold the lock) ----------------------------------------------------

    def _find(self, voice_id: str) -> Path | None:
        if not isinstance(voice_id, str) or not _VOICE_ID.fullmatch(voice_id):
            return None
        folder = self.root / voice_id
        voice = self._complete.get(voice_id)
        if voice is None and os.path.isdir(folder):
            voice = self._load(voice_id)  # put here by another store on the same folder
            if voice is not None:
                self._complete[voice_id] = voice
                self._clock = max(self._clock, voice.last_used_ns)
        if voice is None:
            return None
        if not _intact(folder, voice.manifest):
            log.warning("voice %s in the voice store is damaged (a file is missing or has the wrong size): "
                        "deleting it", _short(voice_id))
            del self._complete[voice_id]
            self._trash(folder)
            return None
        return folder

    def _touch(self, voice_id: str) -> None:
        stamp = self._now_ns()
        self._complete[voice_id].last_used_ns = stamp
        try:
            os.utime(self.root / voice_id / STORE_MANIFEST, ns=(stamp, stamp))
        except OSError as e:
            log.debug("cannot mark voice %s as used: %s", _short(voice_id), e)

    def _now_ns(self) -> int:
        self._clock = max(time.time_ns(), self._clock + 1)
        return self._clock

    def _used(self, keep: str | None = None) -> int:
        """Bytes counted against the limit; `keep`'s own partial left out (its reservation replaces it)."""
        complete = sum(v.manifest.total_bytes for v in self._complete.values())
        stale = sum(size for vid, (size, _t) in self._stale.items() if vid != keep)
        reserved = sum(r.reserved for r in self._receiving.values())
        return complete + stale + reserved

    def _make_room(self, need: int, keep: str | None = None) -> bool:
        """Evict, least recently used first, until `need` more bytes fit; False if they cannot
        (what is left is pinned or being received)."""
        candidates = sorted([(v.last_used_ns, vid, False) for vid, v in self._complete.items()
                             if not self._pins[vid]]
                            + [(t, vid, True) for vid, (_size, t) in self._stale.items() if vid != keep])
        for _t, vid, partial in candidates:
            if self._used(keep) + need <= self.limit_bytes:
                break
            if partial:
                log.info("voice store full: dropping the partly received voice %s", _short(vid))
                del self._stale[vid]
                self._trash(self.root / (vid + _PARTIAL))
            else:
                log.info("voice store full: dropping voice %s", _short(vid))
                del self._complete[vid]
                self._trash(self.root / vid)
        return self._used(keep) + need <= self.limit_bytes

    def _trash(self, folder: Path) -> None:
        """Delete `folder`, first renaming it so nothing sees it half deleted."""
        doomed = self.root / f"{_TRASH}{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, doomed)
        except FileNotFoundError:
            return
        except OSError:
            doomed = folder
        shutil.rmtree(doomed, ignore_errors=True)

    def _scan(self) -> None:
        for entry in os.scandir(self.root):
            name = entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if name.startswith(_TRASH):
                if is_dir:
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            elif is_dir and _VOICE_ID.fullmatch(name):
                voice = self._load(name)
                if voice is None:
                    log.warning("voice store: %s is not a complete voice; deleting it", name)
                    self._trash(Path(entry.path))
                else:
                    self._complete[name] = voice
                    self._clock = max(self._clock, voice.last_used_ns)
            elif is_dir and name.endswith(_PARTIAL) and _VOICE_ID.fullmatch(name[: -len(_PARTIAL)]):
                self._stale[name[: -len(_PARTIAL)]] = _disk_usage(Path(entry.path))

    def _load(self, voice_id: str) -> _Voice | None:
        """The complete voice in `root/voice_id`, if its manifest.json is sound and its files are there."""
        folder = self.root / voice_id
        marker = folder / STORE_MANIFEST
        try:
            st = marker.stat()
            if st.st_size > _MAX_MANIFEST_BYTES:
                return None
            manifest = check_manifest(json.loads(marker.read_bytes()))
        except (OSError, ValueError, E2AError):
            return None
        if manifest.voice_id != voice_id or not _intact(folder, manifest):
            return None
        return _Voice(manifest, st.st_mtime_ns)


@dataclass
class _FileState:
    file: VoiceFile
    final: Path
    part: Path
    received: int = 0
    verified: bool = False
    hasher: Any = None  # a sha256 fed every byte from 0 in this session, or None: rehash the .part
    handle: IO[bytes] | None = None


class Receiving:
    """One voice arriving: `missing()` says where each file resumes, `write()` takes its chunks in
    order, `complete()` puts the voice in place. From `VoiceStore.receive`, as a context manager."""

    def __init__(self, store: VoiceStore, manifest: VoiceManifest, done: Path | None) -> None:
        self.manifest = manifest
        self.voice_id = manifest.voice_id
        self.folder = store.root / (self.voice_id + _PARTIAL)
        self.done = done  # the complete voice's folder, once there
        self.reserved = 0 if done is not None else manifest.total_bytes
        self._store = store
        self._lock = threading.Lock()
        self._closed = False
        self._files = {f.path: _FileState(f, self.folder.joinpath(*f.path.split("/")),
                                          self.folder.joinpath(*(f.path + PART_SUFFIX).split("/")))
                       for f in manifest.files}

    def __enter__(self) -> Receiving:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def missing(self) -> list[tuple[VoiceFile, int]]:
        """Each file not yet verified, with the bytes already received (where it resumes)."""
        with self._lock:
            if self.done is not None:
                return []
            return [(s.file, s.received) for s in self._files.values() if not s.verified]

    def write(self, path: str, offset: int, data: bytes) -> None:
        """The chunk of file `path` that starts at `offset`, which must be the bytes already
        received of it. The chunk that completes the file has it hashed: a mismatch deletes it
        (it resumes from 0) and raises VoiceStoreError; a match puts it in place."""
        with self._lock:
            state = self._writable(path)
            if offset != state.received:
                raise VoiceStoreError(f"voice file {path} has {state.received} bytes received; a chunk at "
                                      f"offset {offset} does not follow: resume from {state.received}")
            if offset + len(data) > state.file.size:
                raise VoiceStoreError(f"voice file {path} has {state.file.size} bytes; a chunk of {len(data)} "
                                      f"at offset {offset} goes beyond its end")
            if data:
                self._append(state, data)
            if state.received == state.file.size:
                self._verify(state)

    def complete(self) -> Path:
        """Put the fully received voice in place and return its folder; VoiceStoreError if a file
        is still missing."""
        with self._lock:
            if self.done is not None:
                return self.done
            if self._closed:
                raise VoiceStoreError(f"voice {_short(self.voice_id)}: this receive has ended")
            left = [s for s in self._files.values() if not s.verified]
            if left:
                first = left[0]
                raise VoiceStoreError(f"voice {_short(self.voice_id)} is not complete: {len(left)} of "
                                      f"{len(self._files)} files missing ({first.file.path}: "
                                      f"{first.received} of {first.file.size} bytes)")
            self._write_manifest()
            self.done = self._store._finish(self)
            return self.done

    def close(self) -> None:
        """End this receive (what `with` does on leaving): files close, the voice's slot frees."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for state in self._files.values():
                self._close_handle(state)
        self._store._release(self)

    # -- inside -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Take stock of what a cut-short receive left, and finish files already whole."""
        if self.done is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        _prune(self.folder, "", self._expected_files(), self._expected_folders())
        with self._lock:
            for state in self._files.values():
                self._resume(state)

    def _expected_files(self) -> set[str]:
        return {p for f in self.manifest.files for p in (f.path, f.path + PART_SUFFIX)}

    def _expected_folders(self) -> set[str]:
        return {"/".join(f.path.split("/")[:depth]) for f in self.manifest.files
                for depth in range(1, f.path.count("/") + 1)}

    def _resume(self, state: _FileState) -> None:
        size = state.file.size
        if _size_of(state.final) == size:  # verified before it was renamed there
            state.part.unlink(missing_ok=True)
            state.verified = True
            return
        if os.path.lexists(state.final):
            os.unlink(state.final)
        received = _size_of(state.part) or 0
        if received > size:
            log.info("voice file %s: discarding a .part longer than the file", state.file.path)
            state.part.unlink()
            received = 0
        state.received = received
        state.hasher = hashlib.sha256() if received == 0 else None
        if received == size:  # arrived whole before a stop, or empty: verify it now
            try:
                self._verify(state)
            except VoiceStoreError as e:
                log.info("%s", e)

    def _writable(self, path: str) -> _FileState:
        if self.done is not None:
            raise VoiceStoreError(f"voice {_short(self.voice_id)} is already complete")
        if self._closed:
            raise VoiceStoreError(f"voice {_short(self.voice_id)}: this receive has ended")
        state = self._files.get(path)
        if state is None:
            raise VoiceStoreError(f"voice {_short(self.voice_id)} has no file {path!r:.60}")
        if state.verified:
            raise VoiceStoreError(f"voice file {path} is already received and verified")
        return state

    def _append(self, state: _FileState, data: bytes) -> None:
        try:
            if state.handle is None:
                state.part.parent.mkdir(parents=True, exist_ok=True)
                state.handle = open(state.part, "ab")
            state.handle.write(data)
        except OSError as e:
            # What reached the disk is unknown: take the .part's length as it is, and hash it again.
            self._close_handle(state)
            state.received = _size_of(state.part) or 0
            state.hasher = hashlib.sha256() if state.received == 0 else None
            raise VoiceStoreError(f"voice file {state.file.path} cannot be written here: {e.strerror or e}") from None
        if state.hasher is not None:
            state.hasher.update(data)
        state.received += len(data)

    def _verify(self, state: _FileState) -> None:
        """A whole .part: hash it, then rename it into place or delete it."""
        if state.handle is None:
            state.part.parent.mkdir(parents=True, exist_ok=True)
            state.handle = open(state.part, "ab")  # an empty file may never have been opened
        state.handle.flush()
        os.fsync(state.handle.fileno())
        self._close_handle(state)
        digest = state.hasher.hexdigest() if state.hasher is not None else hash_file(state.part)[0]
        if digest != state.file.sha256:
            state.part.unlink(missing_ok=True)
            state.received, state.hasher = 0, hashlib.sha256()
            raise VoiceStoreError(f"voice file {state.file.path} of voice {_short(self.voice_id)} failed its "
                                  f"hash check; it must be sent again from offset 0")
        os.replace(state.part, state.final)
        _fsync_dir(state.final.parent)
        state.verified = True

    def _close_handle(self, state: _FileState) -> None:
        if state.handle is not None:
            handle, state.handle = state.handle, None
            try:
                handle.close()
            except OSError as e:
                log.debug("closing %s: %s", state.part, e)

    def _write_manifest(self) -> None:
        tmp = self.folder / _MANIFEST_TMP
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.manifest.to_dict(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / STORE_MANIFEST)
        _fsync_dir(self.folder)


# -- filesystem helpers -------------------------------------------------------------------------


def _size_of(path: Path) -> int | None:
    """The size of the regular file at `path` (not following a link), None if there is none."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_size if os.path.isfile(path) and not os.path.islink(path) else None


def _intact(folder: Path, manifest: VoiceManifest) -> bool:
    """The voice's manifest.json and files are in `folder`, each file with its size."""
    if not (folder / STORE_MANIFEST).is_file():
        return False
    return all(_size_of(folder.joinpath(*f.path.split("/"))) == f.size for f in manifest.files)


def _disk_usage(folder: Path) -> tuple[int, int]:
    """(bytes in the regular files under `folder`, newest mtime_ns among them and the folder)."""
    total, newest = 0, os.lstat(folder).st_mtime_ns
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_size
            newest = max(newest, st.st_mtime_ns)
    return total, newest


def _prune(folder: Path, prefix: str, files: set[str], folders: set[str]) -> None:
    """Delete what under `folder` is neither one of `files` nor on the way to one (relative paths)."""
    for entry in os.scandir(folder):
        rel = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False) and rel in folders:
            _prune(Path(entry.path), rel + "/", files, folders)
        elif entry.is_file(follow_symlinks=False) and rel in files:
            continue
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; elsewhere a folder cannot be opened so)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
