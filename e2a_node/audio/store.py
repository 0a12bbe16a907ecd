"""The per-segment audio checkpoint of a job: one small WAV file per segment.

`SegmentStore(folder, sample_rate)` keeps the audio of segment `i` in
`<folder>/<i:06d>.wav` (16-bit little-endian mono PCM at the job's sample rate). The files are
the job's checkpoint: a resumed job reads the folder back and only synthesizes what is missing.

- `put` is atomic: the audio goes to a temporary file in the same folder, is fsynced, and is
  renamed onto the final name with `os.replace`, so a crash never leaves a truncated file under
  a final name. Temporary files left behind by a crash are never read and are removed when a
  store is opened on the folder.
- Results are idempotent by index: the first valid audio for an index wins. A later `put` for
  the same index (a duplicate after a steal, a backup or a lease expiry) returns False and
  leaves the stored audio untouched.
- `put` may be called from several threads at once. The folder belongs to one process (the
  job's leader); the set of stored indices is scanned once and then kept in memory.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import struct
import threading
from pathlib import Path

from e2a_node.errors import AudioError

SAMPLE_WIDTH = 2  # bytes: int16
_FINAL_RE = re.compile(r"^(\d{6,})\.wav$")
# temporary files look like ".000012.wav.<pid>.<random>.tmp"
_TEMP_RE = re.compile(r"^\.\d+\.wav\.(\d+)\.[^.]*\.tmp$")
# temporary files this process is writing right now (any store instance)
_IN_FLIGHT: set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def wav_header(sample_rate: int, n_frames: int) -> bytes:
    """The canonical 44-byte header of a 16-bit mono PCM WAV file."""
    data_size = n_frames * SAMPLE_WIDTH
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_size,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        sample_rate,
        sample_rate * SAMPLE_WIDTH,
        SAMPLE_WIDTH,
        8 * SAMPLE_WIDTH,
        b"data",
        data_size,
    )


def read_wav_info(path: Path) -> tuple[int, int, int, int, int]:
    """Parse a PCM WAV header: (channels, sample_rate, bits, data_offset, data_size).

    Raises AudioError on a file that is not a complete PCM WAV file.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            riff = f.read(12)
            if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
                raise AudioError(f"not a WAV file: {path}")
            fmt: tuple[int, int, int, int] | None = None
            pos = 12
            while True:
                head = f.read(8)
                if len(head) < 8:
                    raise AudioError(f"corrupt WAV file (no data chunk): {path}")
                cid, csize = struct.unpack("<4sI", head)
                pos += 8
                if cid == b"fmt ":
                    body = f.read(csize)
                    if len(body) < 16:
                        raise AudioError(f"corrupt WAV file (short fmt chunk): {path}")
                    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                    if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE
                        tag = struct.unpack("<H", body[24:26])[0]
                    fmt = (tag, channels, rate, bits)
                    if csize % 2:
                        f.read(1)
                    pos += csize + (csize % 2)
                elif cid == b"data":
                    if fmt is None:
                        raise AudioError(f"corrupt WAV file (data before fmt): {path}")
                    if pos + csize > size:
                        raise AudioError(f"truncated WAV file: {path}")
                    tag, channels, rate, bits = fmt
                    if tag != 1:
                        raise AudioError(f"unsupported WAV encoding (format {tag}): {path}")
                    return channels, rate, bits, pos, csize
                else:
                    f.seek(csize + (csize % 2), os.SEEK_CUR)
                    pos += csize + (csize % 2)
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # exists, owned by someone else
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    return True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SegmentStore:
    """Audio of a job's segments, one WAV file per segment index."""

    def __init__(self, folder: Path | str, sample_rate: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, not {sample_rate}")
        self.folder = Path(folder)
        self.sample_rate = int(sample_rate)
        self._lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioError(f"cannot create {self.folder}: {exc.strerror or exc}") from exc
        self._indices: set[int] = self._scan()

    # -- paths -----------------------------------------------------------------------------

    def path(self, index: int) -> Path:
        """The final file name of segment `index`."""
        return self.folder / f"{index:06d}.wav"

    def _scan(self) -> set[int]:
        found: set[int] = set()
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            raise AudioError(f"cannot read {self.folder}: {exc.strerror or exc}") from exc
        for entry in entries:
            m = _FINAL_RE.match(entry.name)
            if m:
                found.add(int(m.group(1)))
                continue
            t = _TEMP_RE.match(entry.name)
            if t is None:
                continue
            pid = int(t.group(1))
            if pid == os.getpid():
                with _IN_FLIGHT_LOCK:
                    busy = entry.name in _IN_FLIGHT
            else:
                busy = _pid_alive(pid)
            if not busy:
                # left behind by a crashed writer (never a result): remove it
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
        return found

    # -- reading ---------------------------------------------------------------------------

    def has(self, index: int) -> bool:
        with self._lock:
            return index in self._indices

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.has(index)

    def indices(self) -> set[int]:
        """The indices that have audio (a copy)."""
        with self._lock:
            return set(self._indices)

    def __len__(self) -> int:
        with self._lock:
            return len(self._indices)

    def _info(self, index: int) -> tuple[int, int]:
        """(data_offset, n_frames) of a stored segment, after checking its format."""
        if not self.has(index):
            raise AudioError(f"no audio stored for segment {index}")
        path = self.path(index)
        channels, rate, bits, offset, size = read_wav_info(path)
        if channels != 1 or bits != 8 * SAMPLE_WIDTH or rate != self.sample_rate:
            raise AudioError(
                f"segment {index} audio is {rate} Hz, {channels} channel(s), {bits}-bit; "
                f"this job needs {self.sample_rate} Hz mono 16-bit ({path})"
            )
        return offset, size // SAMPLE_WIDTH

    def frames(self, index: int) -> int:
        """Number of samples stored for segment `index`."""
        return self._info(index)[1]

    def seconds(self, index: int) -> float:
        """Duration of segment `index` in seconds."""
        return self.frames(index) / self.sample_rate

    def get(self, index: int) -> bytes:
        """The PCM of segment `index` (int16 LE mono, no header)."""
        buf = bytearray(self.frames(index) * SAMPLE_WIDTH)
        self.read_into(index, memoryview(buf))
        return bytes(buf)

    def read_into(self, index: int, out: memoryview) -> int:
        """Read segment `index`'s PCM into `out` (a writable byte buffer of exactly its size).

        Returns the number of samples. Used by the assembler to fill a chapter without copies.
        """
        offset, n = self._info(index)
        out = out.cast("B") if out.format != "B" else out
        if len(out) != n * SAMPLE_WIDTH:
            raise AudioError(f"segment {index}: buffer of {len(out)} bytes for {n} samples")
        path = self.path(index)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                got = f.readinto(out)
        except OSError as exc:
            raise AudioError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if got != len(out):
            raise AudioError(f"truncated WAV file: {path}")
        return n

    # -- writing ---------------------------------------------------------------------------

    def discard(self, index: int) -> bool:
        """Delete segment `index`'s audio (found to be wrong); False if it had none."""
        with self._lock:
            if index not in self._indices:
                return False
            self._indices.discard(index)
            try:
                os.unlink(self.path(index))
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise AudioError(f"cannot delete segment {index} from {self.folder}: {exc.strerror or exc}") from exc
        _fsync_dir(self.folder)
        return True

    def put(self, index: int, pcm: bytes) -> bool:
        """Store segment `index`'s audio; False (and no change) if it already has audio."""
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"segment index must be a non-negative int, not {index!r}")
        data = memoryview(pcm).cast("B")
        if len(data) % SAMPLE_WIDTH:
            raise AudioError(f"segment {index}: PCM has an odd number of bytes ({len(data)})")
        if self.has(index):
            return False
        while True:
            tmp = self.folder / f".{index:06d}.wav.{os.getpid()}.{secrets.token_hex(6)}.tmp"
            try:
                with _IN_FLIGHT_LOCK:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                    _IN_FLIGHT.add(tmp.name)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise AudioError(f"cannot write to {self.folder}: {exc.strerror or exc}") from exc
        try:
            return self._commit(index, fd, tmp, data)
        finally:
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.discard(tmp.name)

    def _commit(self, index: int, fd: int, tmp: Path, data: memoryview) -> bool:
        """Write, fsync and rename one temporary file onto the final name (unless taken)."""
        final = self.path(index)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(wav_header(self.sample_rate, len(data) // SAMPLE_WIDTH))
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with self._lock:
                # first valid audio wins: never replace a result that is already there
                if index in self._indices or final.exists():
                    self._indices.add(index)
                    os.unlink(tmp)
                    return False
                os.replace(tmp, final)
                self._indices.add(index)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            reason = (
                "no space left on device"
                if exc.errno == errno.ENOSPC
                else (exc.strerror or str(exc))
            )
            raise AudioError(f"cannot write segment {index} to {self.folder}: {reason}") from exc
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(self.folder)
        return True
