"""Plain text (.txt, .md) -> Book.

Decoding: a BOM decides (UTF-8, UTF-16, UTF-32); otherwise UTF-8, then cp1252, then latin-1.

Paragraphs are blocks separated by blank lines, their hard-wrapped lines joined with spaces
(a file with no blank lines at all has one paragraph per line).

Chapters start at heading lines: a block of one line such as "Chapter 12", "CHAPTER XII.",
"Chapter 3: The Title", "Chapter the Third", "Part I", "Book Two", "Letter 4", "Prologue",
"Epilogue", "Preface", "Introduction"; or a Markdown `#`/`##` line. A "Chapter N" line may
also open a block ("Chapter 1" followed directly by text). When a bare "Chapter N" heading is
followed by a one-line title ("CHAPTER I." / "THE TITLE"), the two make the chapter title.
Text before the first heading becomes a chapter titled by the file name if it has any;
without headings the whole text is one chapter titled by the file name. A heading followed
by nothing (a "Part One" right before "Chapter 1", contents lines) makes no chapter.

In .md/.markdown files inline syntax is removed too (emphasis markers, link targets, images,
list bullets, quote markers, rules), so it is not spoken.

A Project Gutenberg header and licence (outside the "*** START/END OF THE PROJECT
GUTENBERG EBOOK" markers) are skipped unless `include_all`.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ..errors import BookError
from .common import collapse, drop_repeated_title, prettify_stem
from .limits import MAX_TEXT_FILE_BYTES, check_book_size, check_text_chars, read_capped
from .model import Book, Chapter

_CARDINALS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred"
).split()
_ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth "
    "thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth hundredth last final"
).split()
_WORD = "(?:" + "|".join(_ORDINALS + _CARDINALS) + ")"
_ROMAN = r"(?=[MDCLXVI])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_NUMBER = rf"(?:\d{{1,4}}|{_ROMAN}|(?:the\s+)?{_WORD}(?:[\s-]+{_WORD})?)"
_KEYWORD = r"(?:chapter|chap\.?|part|book|volume|vol\.?|section|canto|letter|act)"
_NUMBERED = re.compile(
    rf"^{_KEYWORD}\s+{_NUMBER}(?![\w'’])\.?(?:(?P<sep>\s*[:.—–-]\s*)?\s*(?P<title>\S.*))?$", re.I
)
_STANDALONE = re.compile(
    r"^(?:prologue|epilogue|preface|foreword|introduction|afterword|interlude|prelude|"
    r"postscript)\.?(?:\s*[:.—–-]\s*(?P<title>\S.*))?$",
    re.I,
)
_MARKDOWN = re.compile(r"^#{1,2}\s+(?P<title>.+?)\s*#*$")
_MARKDOWN_DEEP = re.compile(r"^#{3,6}\s+")
# Inline Markdown that would otherwise be spoken (only for .md/.markdown files).
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_LINE_PREFIX = re.compile(r"^\s{0,3}(?:>\s?)+|^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_MD_RULE = re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$")


def strip_markdown(line: str) -> str:
    """Drop Markdown syntax from one line: images, link targets, emphasis, list markers."""
    if _MD_RULE.match(line):
        return ""
    line = _MD_LINE_PREFIX.sub("", _MARKDOWN_DEEP.sub("", line))
    line = _MD_LINK.sub(r"\1", _MD_IMAGE.sub("", line))
    return _MD_EMPHASIS.sub(r"\2", line)
_GUTENBERG_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.I)
_GUTENBERG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.I)
MAX_HEADING_CHARS = 100


def decode_text(data: bytes) -> str:
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def heading_title(line: str, *, alone: bool) -> str | None:
    """The heading text when `line` is a chapter heading, else None.

    `alone`: the line is a paragraph by itself (looser patterns allowed).
    """
    line = collapse(line)
    if not line or len(line) > MAX_HEADING_CHARS:
        return None
    md = _MARKDOWN.match(line)
    if md:
        return collapse(md.group("title"))
    numbered = _NUMBERED.match(line)
    if numbered:
        title = numbered.group("title")
        # "Chapter 3 The Title" yes, "Part 2 of the plan was simple" no.
        if title and not numbered.group("sep") and not (title[0].isupper() or title[0].isdigit()):
            return None
        return line
    if alone and _STANDALONE.match(line):
        return line
    return None


def _is_bare_numbered(title: str) -> bool:
    match = _NUMBERED.match(title)
    return bool(match) and not match.group("title")


def _looks_like_title(block: list[str]) -> bool:
    """A one-line block that reads like a chapter's name rather than a sentence."""
    if len(block) != 1:
        return False
    line = collapse(block[0])
    if not line or len(line) > 80 or heading_title(line, alone=True):
        return False
    if re.search(r"[,;!?\"“”‘’]$|\.\.\.$|…$", line) or not (line[0].isupper() or line[0].isdigit()):
        return False
    if line.endswith(".") and line.upper() != line:
        return False
    words = [w for w in re.findall(r"[^\W\d_]+", line) if len(w) >= 4]
    if line.upper() == line:
        return True
    return bool(words) and sum(w[0].isupper() for w in words) / len(words) >= 0.6


def _blocks(text: str) -> list[list[str]]:
    """Blank-line separated blocks of lines (or one line per block when no blank lines)."""
    lines = text.split("\n")
    has_blank = any(not ln.strip() for ln in lines[1:-1]) if len(lines) > 2 else False
    if not has_blank:
        return [[ln] for ln in lines if ln.strip()]
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _strip_gutenberg(text: str, skipped: list[str]) -> str:
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _GUTENBERG_START.match(ln.strip())), None)
    end = next((i for i, ln in enumerate(lines) if _GUTENBERG_END.match(ln.strip())), None)
    if start is None and end is None:
        return text
    if start is not None:
        skipped.append("Project Gutenberg header")
    if end is not None:
        skipped.append("Project Gutenberg licence")
    lo = start + 1 if start is not None else 0
    hi = end if end is not None and end > lo else len(lines)
    return "\n".join(lines[lo:hi])


def parse_text(
    text: str, fallback_title: str, *, include_all: bool = False, markdown: bool = False
) -> tuple[list[Chapter], list[str]]:
    """Chapters and skipped section names from decoded text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n").replace("\t", " ")
    skipped: list[str] = []
    if not include_all:
        text = _strip_gutenberg(text, skipped)

    sections: list[tuple[str, list[str]]] = [(fallback_title, [])]
    pending_title = False  # the last heading was a bare "Chapter N": a title line may follow
    for block in _blocks(text):
        first = block[0]
        title = heading_title(first, alone=len(block) == 1)
        if title is not None:
            sections.append((title, []))
            pending_title = _is_bare_numbered(title)
            block = block[1:]
            if not block:
                continue
        elif pending_title and not sections[-1][1] and _looks_like_title(block):
            head = sections[-1][0]
            sep = " " if head.endswith((".", ":")) else ": "
            sections[-1] = (head + sep + collapse(block[0]), [])
            pending_title = False
            continue
        pending_title = False
        clean = strip_markdown if markdown else (lambda ln: _MARKDOWN_DEEP.sub("", ln))
        paragraph = collapse(" ".join(clean(ln) for ln in block))
        if paragraph:
            sections[-1][1].append(paragraph)

    chapters = []
    for title, paragraphs in sections:
        drop = drop_repeated_title(title, paragraphs, [False] * len(paragraphs))
        paragraphs = paragraphs[drop:]
        if paragraphs:
            chapters.append(Chapter(title=title, paragraphs=paragraphs))
    return chapters, skipped


def load_txt(path: Path, *, include_all: bool = False) -> Book:
    data = read_capped(path, MAX_TEXT_FILE_BYTES, "text books")
    title = prettify_stem(path)
    markdown = path.suffix.lower() in (".md", ".markdown")
    text = decode_text(data)
    del data
    check_text_chars(path.name, len(text))
    chapters, skipped = parse_text(text, title, include_all=include_all, markdown=markdown)
    if not chapters:
        raise BookError(f"{path.name} has no readable text")
    check_book_size(path.name, chapters)
    return Book(
        title=title, authors=[], language=None, chapters=chapters, source_path=path,
        skipped=skipped,
    )
