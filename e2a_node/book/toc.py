"""Reading an EPUB's navigation: the table of contents tree and the landmarks.

The EPUB 3 navigation document (`<nav epub:type="toc">`) is preferred; the EPUB 2 NCX
(`navMap`) is the fallback. Both become a tree of `TocEntry`: a label (whitespace collapsed),
the target document path relative to the OPF directory, an optional fragment id, and the
children. An EPUB 3 `<li>` with a `<span>` instead of a link (a group heading such as an
author's name) is an entry without a target. A child list marked `hidden` is remembered:
the book's author did not want those sub-entries shown, so they are never chapters.
Entries nested deeper than `MAX_TOC_DEPTH` levels are not read (their text stays in the
chapter of the entry above them); a TOC of more than `MAX_TOC_ENTRIES` entries is refused
(ValueError) and the loader goes on without it. Entity references in labels are settled as in `xhtml.py`.

Landmarks (EPUB 3 `<nav epub:type="landmarks">`) and the EPUB 2 `<guide>` tell which
targets are boilerplate (toc, copyright page, title page, colophon, index ...) and where the
cover page is.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lxml import etree

from .common import collapse
from .xhtml import epub_types, localname, parse_markup, roles, settle_entities

# EPUB 2 guide types and EPUB 3 landmark types that name boilerplate.
LANDMARK_BOILERPLATE = frozenset(
    """toc title-page titlepage copyright-page colophon index loi lot imprint
    halftitlepage uncopyright landmarks""".split()
)
# Real tables of contents nest 2-4 levels (part, chapter, section). Deeper levels are not
# read: they would only be merged into their parents' chapters, and deep nesting must not
# run the (recursive) readers out of stack.
MAX_TOC_DEPTH = 32
# Five times the chapters a book may have (numbered sections merged into their chapter make
# a TOC longer than the chapter list). A longer TOC is refused as unreadable (ValueError).
MAX_TOC_ENTRIES = 50_000


class _Count:
    """Entries made so far while reading one TOC; raises ValueError past MAX_TOC_ENTRIES."""

    def __init__(self) -> None:
        self.n = 0

    def take(self) -> None:
        self.n += 1
        if self.n > MAX_TOC_ENTRIES:
            raise ValueError(f"more than {MAX_TOC_ENTRIES:,} entries")


@dataclass
class TocEntry:
    label: str
    path: str | None  # document path relative to the OPF directory, or None (no target)
    fragment: str | None = None
    types: set[str] = field(default_factory=set)  # epub:type of the link itself
    children: list[TocEntry] = field(default_factory=list)
    children_hidden: bool = False

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Landmark:
    path: str
    fragment: str | None
    types: set[str]


def resolve_href(base: str, href: str | None) -> tuple[str | None, str | None]:
    """Resolve `href` found in document `base` (both OPF-relative) to (path, fragment)."""
    if not href:
        return None, None
    parts = urlsplit(href.strip())
    if parts.scheme or parts.netloc:
        return None, None
    fragment = unquote(parts.fragment) or None
    rel = unquote(parts.path)
    if not rel:
        return base, fragment
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), rel)), fragment


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in el if localname(child) == name]


def _nav_list(ol: etree._Element, base: str, count: _Count, depth: int = 1) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for li in _children(ol, "li"):
        label_el = next((c for c in li if localname(c) in ("a", "span")), None)
        sub = next((c for c in li if localname(c) in ("ol", "ul")), None)
        if label_el is None and sub is None:
            continue
        label = collapse("".join(label_el.itertext())) if label_el is not None else ""
        if not label and label_el is not None:
            label = collapse(label_el.get("title") or "")
        path = fragment = None
        types: set[str] = set()
        if label_el is not None and localname(label_el) == "a":
            path, fragment = resolve_href(base, label_el.get("href"))
            types = epub_types(label_el)
        count.take()
        entry = TocEntry(label, path, fragment, types)
        if sub is not None and depth < MAX_TOC_DEPTH:
            entry.children = _nav_list(sub, base, count, depth + 1)
            entry.children_hidden = sub.get("hidden") is not None
        entries.append(entry)
    return entries


def parse_nav(data: bytes, nav_path: str) -> tuple[list[TocEntry], list[Landmark]]:
    """The toc tree and the landmarks of an EPUB 3 navigation document."""
    root = parse_markup(data)
    toc: list[TocEntry] = []
    landmarks: list[Landmark] = []
    for nav in (el for el in root.iter() if localname(el) == "nav"):
        kinds = epub_types(nav) | {r.removeprefix("doc-") for r in roles(nav)}
        ol = next((c for c in nav.iter() if localname(c) in ("ol", "ul")), None)
        if ol is None:
            continue
        if "toc" in kinds and not toc:
            toc = _nav_list(ol, nav_path, _Count())
        elif "landmarks" in kinds:
            for a in (el for el in ol.iter() if localname(el) == "a"):
                path, fragment = resolve_href(nav_path, a.get("href"))
                if path:
                    landmarks.append(Landmark(path, fragment, epub_types(a)))
    return toc, landmarks


def parse_ncx(data: bytes, ncx_path: str) -> list[TocEntry]:
    """The toc tree of an EPUB 2 NCX file."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    root = etree.fromstring(data, parser)
    if root is None:
        return []
    settle_entities(root)
    nav_map = next((el for el in root.iter() if localname(el) == "navmap"), None)
    if nav_map is None:
        return []

    count = _Count()

    def points(parent: etree._Element, depth: int = 1) -> list[TocEntry]:
        entries = []
        for point in _children(parent, "navpoint"):
            count.take()
            label_el = next((c for c in point if localname(c) == "navlabel"), None)
            label = collapse("".join(label_el.itertext())) if label_el is not None else ""
            content = next((c for c in point if localname(c) == "content"), None)
            path, fragment = resolve_href(
                ncx_path, content.get("src") if content is not None else None
            )
            entry = TocEntry(label, path, fragment)
            if depth < MAX_TOC_DEPTH:
                entry.children = points(point, depth + 1)
            entries.append(entry)
        return entries

    return points(nav_map)


def guide_landmarks(guide: list[dict]) -> list[Landmark]:
    """EPUB 2 `<guide><reference type= href=>` entries (hrefs are OPF-relative)."""
    out = []
    for ref in guide or []:
        path, fragment = resolve_href("", ref.get("href"))
        if path:
            out.append(Landmark(path, fragment, {(ref.get("type") or "").lower()}))
    return out
