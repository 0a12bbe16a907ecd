"""Find and run ffmpeg: the one on PATH, else the static build shipped by imageio-ffmpeg.

Only `ffmpeg` is used, never `ffprobe` (imageio-ffmpeg does not ship it).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import threading

from e2a_node.errors import AudioError


@functools.cache
def ffmpeg_path() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - imageio-ffmpeg is a hard dependency
        raise AudioError(
            "ffmpeg not found: install it (apt install ffmpeg) or `pip install imageio-ffmpeg`"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


# Lines ffmpeg prints after the real cause of a failure; they say that it failed, not why.
_GENERIC = re.compile(
    r"^(Conversion failed|Error opening (input|output) files?|Error opening output file|"
    r"Task finished with error|Terminating thread|Error sending frames|Nothing was written|"
    r"Error applying encoder options|Error setting option|Error while (filtering|decoding|"
    r"processing)|Could not write header|Exiting normally|Error closing)",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+", re.IGNORECASE)


def error_line(stderr: str, returncode: int) -> str:
    """The line of ffmpeg's stderr that best says why it failed (the first specific one)."""
    lines = [_PREFIX.sub("", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in lines:
        if not _GENERIC.match(ln):
            return ln
    return lines[-1] if lines else f"ffmpeg exited with status {returncode}"


def run_ffmpeg(args: list[str], *, what: str = "ffmpeg") -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg quietly with `args`; AudioError with ffmpeg's reason if it fails."""
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        reason = error_line(proc.stderr.decode("utf-8", "replace"), proc.returncode)
        raise AudioError(f"{what} failed: {reason}")
    return proc


@functools.cache
def _encoders(path: str) -> frozenset[str]:
    try:
        proc = subprocess.run(
            [path, "-hide_banner", "-nostdin", "-encoders"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg ({path}): {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise AudioError(
            "ffmpeg -encoders failed: "
            + error_line(proc.stderr.decode("utf-8", "replace"), proc.returncode)
        )
    names = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        m = re.match(r"^\s*[VASDFXB.]{6}\s+(\S+)", line)
        if m and m.group(1) != "=":
            names.add(m.group(1))
    return frozenset(names)


def encoders() -> frozenset[str]:
    """Names of the encoders the ffmpeg in use was built with (e.g. aac, libmp3lame, libopus)."""
    return _encoders(ffmpeg_path())


@functools.cache
def version_line() -> str:
    """The first line of `ffmpeg -version` (its build: encoded bytes differ between builds)."""
    proc = run_ffmpeg(["-version"], what="ffmpeg -version")
    return proc.stdout.decode("utf-8", "replace").partition("\n")[0].strip()


def run_ffmpeg_fed(args: list[str], chunks, *, what: str = "ffmpeg") -> None:
    """Run ffmpeg with `args`, writing `chunks` (bytes-like) to its standard input as it reads
    them (its input "pipe:0"); AudioError with ffmpeg's reason if it fails."""
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}") from exc
    # ffmpeg says little at -loglevel error, but read it on the side so a full pipe never blocks it
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        for chunk in chunks:
            proc.stdin.write(chunk)
    except BrokenPipeError:  # ffmpeg stopped reading: its reason is on stderr
        pass
    except BaseException:  # the input failed (or an interrupt): no half-fed output
        proc.kill()
        proc.wait()
        raise
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    returncode = proc.wait()
    reader.join()
    if returncode != 0:
        reason = error_line(b"".join(err).decode("utf-8", "replace"), returncode)
        raise AudioError(f"{what} failed: {reason}")
