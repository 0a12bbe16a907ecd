"""Other ebook formats through Calibre's `ebook-convert`.

MOBI/AZW/AZW3, FB2, DOCX, PDF, RTF, ODT, LIT and PDB are converted to EPUB in a temporary
directory (a subprocess with a timeout) and that EPUB is loaded; `Book.source_path` stays
the original file. Without `ebook-convert` on PATH the user is told where to get Calibre.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import BookError
from .model import Book

CALIBRE_FORMATS = frozenset(
    {".mobi", ".azw", ".azw3", ".fb2", ".docx", ".pdf", ".rtf", ".odt", ".lit", ".pdb"}
)
CONVERT_TIMEOUT_S = 900
CALIBRE_URL = "https://calibre-ebook.com/download"


def find_ebook_convert() -> str | None:
    return shutil.which("ebook-convert")


def load_with_calibre(
    path: Path,
    *,
    include_all: bool = False,
    load_epub: Callable[..., Book],
    timeout_s: float = CONVERT_TIMEOUT_S,
) -> Book:
    suffix = path.suffix.lower()
    exe = find_ebook_convert()
    if exe is None:
        raise BookError(
            f"Reading {suffix} files needs Calibre's ebook-convert on PATH ({CALIBRE_URL}), "
            "or convert the book to EPUB first"
        )
    with tempfile.TemporaryDirectory(prefix="e2a-convert-") as tmp:
        out = Path(tmp) / (path.stem + ".epub")
        try:
            proc = subprocess.run(
                [exe, str(path), str(out)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BookError(
                f"Calibre took longer than {int(timeout_s)} s to convert {path.name}; "
                "convert it to EPUB yourself and try again"
            ) from None
        except OSError as exc:
            raise BookError(f"Could not run Calibre's ebook-convert ({exc.strerror or exc})") from None
        if proc.returncode != 0 or not out.is_file():
            lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
            reason = lines[-1][:200] if lines else f"exit status {proc.returncode}"
            raise BookError(f"Calibre could not convert {path.name} to EPUB: {reason}")
        return load_epub(out, include_all=include_all, source_path=path)
