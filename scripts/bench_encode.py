"""The leader's AAC encode throughput on all its cores, for the encode bound of the end-to-end
benchmarks (scripts/bench_end_to_end.py, the `whole` scenario of scripts/bench_cluster.py).

`throughput(pcm, sample_rate, folder)` runs one ffmpeg per core, each encoding `seconds` of the
given audio (repeated to length) at the m4b default (AAC 64k, as the chapter pipeline does), and
returns the real-time factor of all of them together. The encode bound of a book is then its
audio seconds / that factor: no pipeline can make the file faster than the encoder on every core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from e2a_node.audio import ffmpeg_path  # noqa: E402

SECONDS = 600  # of audio per ffmpeg


def throughput(pcm: np.ndarray, sample_rate: int, folder: Path, seconds: int = SECONDS, bitrate: str = "64k") -> float:
    """Real-time factor of AAC encoding on all cores together, on `pcm` (int16 mono)."""
    need = seconds * sample_rate
    raw = Path(folder) / "throughput.raw"
    raw.write_bytes(np.tile(pcm, -(-need // len(pcm)))[:need].astype("<i2").tobytes())
    cores = os.cpu_count() or 1

    def one(k: int) -> None:
        subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-f", "s16le", "-ar", str(sample_rate), "-ac", "1",
                        "-i", str(raw), "-c:a", "aac", "-b:a", bitrate, "-f", "adts", str(Path(folder) / f"t{k}.aac")],
                       check=True)

    t = time.monotonic()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(one, range(cores)))
    elapsed = time.monotonic() - t
    for k in range(cores):
        (Path(folder) / f"t{k}.aac").unlink(missing_ok=True)
    raw.unlink(missing_ok=True)
    return cores * seconds / elapsed
