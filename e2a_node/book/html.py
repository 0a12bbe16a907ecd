"""A single HTML/XHTML file -> Book, with the same text extraction as EPUB (`xhtml.py`).

Chapters split at headings: at h2 (and h1) when h2 repeats, else at h1 when h1 repeats, so a
lone `<h1>` book title above `<h2>` chapters is not a chapter of its own. Headings that follow
each other with no text between form one title ("Part One: Chapter 1"); a heading with no
text after it makes no chapter. Text before the first split heading becomes a chapter titled
by its first heading, the `<title>`, or the file name, if it has any text. No repeating
heading: the whole file is one chapter. Boilerplate sections (see `xhtml.py`; also Project
Gutenberg's header/footer) are left out unless `include_all`.

Metadata: title from `<title>` (else the first h1, else the file name), language from
`<html lang>`/`xml:lang`, authors from `<meta name="author">` / `DC.creator`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BookError
from .common import collapse, drop_repeated_title, prettify_stem, roman_heading_to_number
from .limits import MAX_MARKUP_BYTES, check_book_size, read_capped
from .model import Book, Chapter
from .xhtml import Block, extract, localname, parse_markup


def _authors(root) -> list[str]:
    out = []
    for el in root.iter():
        if localname(el) == "meta" and (el.get("name") or "").lower() in (
            "author", "dc.creator", "dcterms.creator",
        ):
            value = collapse(el.get("content") or "")
            if value:
                out.append(value)
    return list(dict.fromkeys(out))


def _chapter(title: str, blocks: list[Block]) -> Chapter | None:
    paragraphs = [b.text for b in blocks]
    drop = drop_repeated_title(title, paragraphs, [bool(b.heading) for b in blocks])
    paragraphs = [
        roman_heading_to_number(b.text) if b.heading else b.text for b in blocks[drop:]
    ]
    return Chapter(title=title, paragraphs=paragraphs) if paragraphs else None


def split_chapters(blocks: list[Block], fallback_title: str) -> list[Chapter]:
    count = {level: sum(b.heading == level for b in blocks) for level in (1, 2)}
    depth = 2 if count[2] >= 2 else 1 if count[1] >= 2 else 0
    if depth == 0:
        title = next((b.text for b in blocks if b.heading == 1), fallback_title)
        chapter = _chapter(title, blocks)
        return [chapter] if chapter else []

    sections: list[tuple[str, list[Block]]] = []
    lead: list[Block] = []
    for block in blocks:
        if 1 <= block.heading <= depth:
            if sections and not sections[-1][1]:  # consecutive headings: one title
                head = sections[-1][0]
                sep = " " if head.endswith((".", ":", "!", "?")) else ": "
                sections[-1] = (head + sep + block.text, [])
            else:
                sections.append((block.text, []))
        elif sections:
            sections[-1][1].append(block)
        else:
            lead.append(block)
    chapters = []
    if any(not b.heading for b in lead):
        title = next((b.text for b in lead if b.heading), fallback_title)
        chapter = _chapter(title, lead)
        if chapter:
            chapters.append(chapter)
    for title, body in sections:
        chapter = _chapter(title, body)
        if chapter:
            chapters.append(chapter)
    return chapters


def load_html(path: Path, *, include_all: bool = False) -> Book:
    data = read_capped(path, MAX_MARKUP_BYTES, "HTML books")
    try:
        root = parse_markup(data)
    except ValueError:
        raise BookError(f"{path.name} has no readable text") from None
    doc = extract(root)
    skipped: list[str] = []
    blocks: list[Block] = []
    in_boiler = False
    for block in doc.blocks:
        if block.boiler and not include_all:
            if not in_boiler:
                skipped.append(block.text[:80])
            in_boiler = True
            continue
        in_boiler = False
        blocks.append(block)
    first_h1 = next((b.text for b in blocks if b.heading == 1), None)
    title = doc.title or first_h1 or prettify_stem(path)
    chapters = split_chapters(blocks, doc.title or prettify_stem(path))
    if not chapters:
        raise BookError(f"{path.name} has no readable text")
    check_book_size(path.name, chapters)
    return Book(
        title=title,
        authors=_authors(root),
        language=doc.lang,
        chapters=chapters,
        source_path=path,
        skipped=skipped,
    )
