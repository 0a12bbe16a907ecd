"""How much a book may hold: caps on its text, its chapters and the files it is read from.

A book is user input. These caps are far above what real books need, so no real book trips
them, and far below what would exhaust a machine, so a crafted one is refused with a one-line
`BookError` instead of taking all memory:

* `MAX_BOOK_WORDS`, `MAX_BOOK_CHARS`: the text of a whole book, after extraction;
* `MAX_CHAPTERS`: the chapters of a book;
* `MAX_MARKUP_BYTES`: one (X)HTML document (an EPUB chapter file or an .html book);
* `MAX_TEXT_FILE_BYTES`: a plain-text book file.

Every loader calls `check_book_size` on the chapters it made; `check_text_chars` stops a loader
early when the text it has extracted so far is already too much; `read_capped` reads a book
file without reading past its cap.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BookError

# The longest real books are far below this: "In Search of Lost Time" has ~1.3 M words, the
# complete Shakespeare ~0.9 M, a complete Dickens ~4 M. 5 M words is ~550 hours of audio.
MAX_BOOK_WORDS = 5_000_000
# 5 M words of English are ~30 M characters. Scripts without spaces between words (Chinese,
# Japanese) are bounded by this cap rather than by the word count.
MAX_BOOK_CHARS = 50_000_000
# Books with the most table-of-contents entries: a complete poems with one entry per poem
# (Emily Dickinson: 1,775), the Bible by chapter (1,189).
MAX_CHAPTERS = 10_000
# The largest single-file books (the complete Shakespeare or a whole Bible in one HTML file)
# are 5-10 MB; a dictionary in one file ~30 MB. Parsing 64 MB of markup takes ~1 GB of memory.
MAX_MARKUP_BYTES = 64_000_000
# The largest file that can hold MAX_BOOK_CHARS characters (UTF-32: 4 bytes each).
MAX_TEXT_FILE_BYTES = 4 * MAX_BOOK_CHARS


def human_size(n: int) -> str:
    """Bytes for a message: "950 bytes", "64 MB", "1.2 GB" (decimal units)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 10 or value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"


def size_over(n: int, limit: int) -> str:
    """ "1.2 GB (limit 64 MB)"; exact bytes when `n` would round to the limit's size."""
    shown = human_size(n)
    if shown == human_size(limit):
        shown = f"{n:,} bytes"
    return f"{shown} (limit {human_size(limit)})"


def check_text_chars(name: str, chars: int) -> None:
    """Refuse a book whose text (so far: `chars`) is over MAX_BOOK_CHARS characters."""
    if chars > MAX_BOOK_CHARS:
        raise BookError(
            f"{name} has at least {chars:,} characters of text (limit {MAX_BOOK_CHARS:,}); "
            "refusing a book this large"
        )


def check_book_size(name: str, chapters) -> None:
    """Refuse a book with more than MAX_CHAPTERS chapters, MAX_BOOK_WORDS words or
    MAX_BOOK_CHARS characters. `chapters` are `model.Chapter`s."""
    if len(chapters) > MAX_CHAPTERS:
        raise BookError(
            f"{name} has {len(chapters):,} chapters (limit {MAX_CHAPTERS:,}); "
            "refusing a book this large"
        )
    words = sum(c.words for c in chapters)
    if words > MAX_BOOK_WORDS:
        raise BookError(
            f"{name} has {words:,} words (limit {MAX_BOOK_WORDS:,}); "
            "refusing a book this large"
        )
    check_text_chars(name, sum(len(p) for c in chapters for p in c.paragraphs))


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, refusing a file over `limit` bytes without reading past it.

    `what` names the kind of file in the message ("HTML books", "text books").
    """
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise BookError(f"{path.name} could not be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise BookError(f"{path.name} is larger than {human_size(limit)}, the most e2a reads of {what}")
    return data
