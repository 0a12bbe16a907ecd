"""Loading books: EPUB, plain text, HTML, and (through Calibre) other ebook formats.

    from e2a_node.book import load_book
    book = load_book("sherlock-holmes.epub")          # Book(title, authors, chapters ...)
    book = load_book("notes.txt", include_all=True)   # keep front/back matter too

`load_book` picks a loader by file extension:

* `.epub` -> `epub.load_epub` (chapters from the table of contents; see its docstring);
* `.txt`, `.text`, `.md`, `.markdown` -> `txt.load_txt`;
* `.html`, `.htm`, `.xhtml` -> `html.load_html`;
* `.mobi .azw .azw3 .fb2 .docx .pdf .rtf .odt .lit .pdb` -> converted to EPUB with Calibre's
  `ebook-convert` when it is on PATH (`calibre.load_with_calibre`).

Every problem a user can cause is raised as `e2a_node.errors.BookError` with one line that
names the file; no other exception escapes. A book is untrusted input: archives, text and
chapter counts are capped (`archive.py`, `limits.py`), entities are never resolved
(`xhtml.py`), and a part that cannot be read is left out with a line in `Book.warnings`.

Layering: imports only `errors` from e2a; a book knows nothing of speech or audio
(tests/test_layering.py).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BookError
from .calibre import CALIBRE_FORMATS, load_with_calibre
from .epub import load_epub
from .html import load_html
from .model import Book, Chapter
from .txt import load_txt

__all__ = ["Book", "Chapter", "BookError", "load_book", "SUPPORTED_EXTENSIONS"]

_LOADERS = {
    ".epub": load_epub,
    ".txt": load_txt,
    ".text": load_txt,
    ".md": load_txt,
    ".markdown": load_txt,
    ".html": load_html,
    ".htm": load_html,
    ".xhtml": load_html,
}
SUPPORTED_EXTENSIONS = tuple(sorted(_LOADERS)) + tuple(sorted(CALIBRE_FORMATS))


def load_book(path: str | Path, *, include_all: bool = False) -> Book:
    """Read a book file into a `Book`. Raises `BookError` with a one-line message."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BookError(f"{path}: file not found")
    if path.is_dir():
        raise BookError(f"{path} is a directory, not a book file")
    suffix = path.suffix.lower()
    try:
        if suffix in _LOADERS:
            return _LOADERS[suffix](path, include_all=include_all)
        if suffix in CALIBRE_FORMATS:
            return load_with_calibre(path, include_all=include_all, load_epub=load_epub)
    except BookError:
        raise
    except PermissionError:
        raise BookError(f"{path.name}: permission denied") from None
    except (MemoryError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the promise: one line, never a traceback
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise BookError(f"{path.name} could not be read ({type(exc).__name__}: {detail})") from exc
    kind = f"'{suffix}'" if suffix else "(the name has no extension)"
    raise BookError(
        f"{path.name}: unsupported file type {kind}; e2a reads .epub, .txt, .md, .html and, "
        f"with Calibre, {' '.join(sorted(CALIBRE_FORMATS))}"
    )
