"""Peak resident memory of this process, for reports (Linux and macOS; None elsewhere)."""

from __future__ import annotations

import sys


def peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mb, 1)
