"""EPUB 2 and 3 -> Book: chapters from the table of contents, mapped onto the spine.

How a book becomes chapters
---------------------------
The spine documents are read in order and turned into one stream of paragraphs (see
`xhtml.py`). Every table-of-contents entry that becomes a chapter marks a position in that
stream (its document, plus its `#fragment` anchor when it has one). The text from one
chapter's position up to the next chapter's position belongs to the first, so:

* entries pointing at fragments inside one file split that file;
* spine documents the TOC does not name join the chapter before them;
* spine documents before the first chapter form a leading chapter only when they hold real
  text (at least 25 words outside headings) and are not boilerplate (boilerplate sections,
  or a file named like a cover/title/copyright/contents page, or a page carrying ©/ISBN/
  "All rights reserved"); it is titled from its first heading, else the book title.

Nested TOC rule
---------------
Top-level TOC entries are chapters. An entry with children is judged like this:

1. An entry without a target (an EPUB 3 `<span>` group heading, or a link into a document
   that is not read) is replaced by its children.
2. Children in a `hidden` list, and children that are only *numbered sections of the
   entry's own document* (all point into the entry's file and every label is a bare number,
   "I", "II", "3.") are merged into the entry: Sherlock Holmes' "A Scandal in Bohemia" with
   its sections I, II, III is one chapter. Numbered sections are not merged when together
   they exceed 12,000 words (a single-file "Book One" holding chapters "I" ... "XX"): then
   rule 3/4 applies and they become chapters.
3. An entry that is only a wrapper — its own text, from its target to its first child's
   target, is nothing but headings (or a paragraph repeating its label) — is replaced by its
   children, which keep their own labels ("Part One" -> its chapters; Love Among the
   Chickens' half-title "Love Among the Chickens" -> chapters I-XXIII; Children's
   Literature's "Section IV" -> its stories). The wrapper's heading is not read.
4. Otherwise (the entry has text of its own, e.g. a part introduction) the entry is a
   chapter holding that text, and its children follow as chapters, judged by the same rule.

Titles are the TOC labels with whitespace collapsed. A chapter's leading heading that
repeats the title is dropped, because the title is spoken separately. A heading that is only
a roman numeral (section numbers "I", "II") is kept as digits ("1", "2"), so a TTS engine
does not read it as the pronoun "I".

Skipped unless `include_all`
----------------------------
Non-linear spine documents (`linear="no"`), and sections that are boilerplate: `epub:type`
(or `role`) imprint, colophon, copyright-page, toc, landmarks, page-list, index, titlepage,
halftitlepage, loi, lot, uncopyright — on the body, a section, the TOC link, or an EPUB 3
landmark / EPUB 2 guide reference — or a TOC label such as "Table of Contents", "Copyright",
"Colophon", "Index". Their titles go to `Book.skipped`. (When the TOC entry marks the
boilerplate, only its own document is dropped: unnamed documents after it, such as a
dedication, are still read, titled by their own heading.) A chapter with no text is dropped.

Without a usable TOC, each spine document that starts with a heading starts a chapter
titled by that heading (documents without one join the chapter before).

Hostile and damaged books
-------------------------
The archive is checked before anything is read, and read with bounded memory
(`archive.CheckedArchive`: zip bombs, lying sizes, too many entries); only the documents and
the NCX are kept in memory. The text and chapters are capped (`limits.py`). A document that
cannot be parsed (or is missing from the archive), a spine entry naming no manifest item and
a table of contents that cannot be read are left out with one line each in `Book.warnings`.
"""

from __future__ import annotations

import os
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from ebooklib import epub as ebooklib_epub
from lxml import etree

from ..errors import BookError
from .archive import MAX_ENTRIES, CheckedArchive, shown
from .common import (
    collapse,
    drop_repeated_title,
    join_broken,
    norm_key,
    prettify_stem,
    roman_heading_to_number,
)
from .cover import find_cover
from .drm import check_encryption
from .limits import MAX_MARKUP_BYTES, check_book_size, check_text_chars
from .model import Book, Chapter
from .toc import LANDMARK_BOILERPLATE, Landmark, TocEntry, guide_landmarks, parse_nav, parse_ncx
from .xhtml import BOILERPLATE_TYPES, Block, Extracted, extract, parse_markup, settle_entities

DOCUMENT_TYPES = ("application/xhtml+xml", "text/html", "application/x-dtbook+xml")
BOILERPLATE_LABELS = frozenset(
    norm_key(label)
    for label in (
        "Table of Contents", "Contents", "TOC", "Copyright", "Copyright Page", "Colophon",
        "Imprint", "Index", "Title Page", "Titlepage", "Half Title", "Half-Title Page",
        "Halftitlepage", "List of Illustrations", "List of Tables", "Uncopyright",
        "Landmarks", "Sommaire", "Table des matières", "Inhalt", "Inhaltsverzeichnis",
        "Índice",
    )
)
_BOILERPLATE_FILE = re.compile(
    r"(^|[^a-z])(cover|title|titlepage|halftitle|copyright|imprint|colophon|toc|contents|nav)"
    r"([^a-z]|$)",
    re.I,
)
_COPYRIGHT_TEXT = re.compile(r"©|\bISBN\b|all rights reserved", re.I)
_BARE_NUMBER = re.compile(r"^(?:[ivxlcdm]+|\d+)\.?$", re.I)
LEADING_MIN_WORDS = 25
MAX_MERGED_WORDS = 12_000  # numbered sections are merged up to ~80 minutes of audio

Pos = tuple[int, int]  # (index in the read documents, block index)


@dataclass
class _Doc:
    path: str  # relative to the OPF directory
    data: bytes
    linear: bool
    nav: bool  # the EPUB 3 navigation document itself
    text: Extracted | None = None


@dataclass
class _Boundary:
    pos: Pos
    title: str
    entry: TocEntry | None
    discard: bool = False  # an unwrapped wrapper's own heading: not read


# ------------------------------------------------------------------------------ package


_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)
# Manifest items whose bytes the reader keeps: the documents and the NCX. Everything else
# (images, fonts, audio, video, style sheets) is left in the archive; the cover image is read
# from there when it is looked for.
_KEPT_TYPES = frozenset({*DOCUMENT_TYPES, "application/x-dtbncx+xml"})


def _open_package(
    archive: CheckedArchive, path: Path, name: str
) -> tuple[ebooklib_epub.EpubBook, _Reader]:
    """Check DRM and the container, then read the OPF package with ebooklib."""
    check_encryption(archive, name)
    if "META-INF/container.xml" not in archive:
        raise BookError(f"{name} is not a valid EPUB (no META-INF/container.xml)")
    try:
        container = etree.fromstring(
            archive.read("META-INF/container.xml"),
            etree.XMLParser(resolve_entities=False, no_network=True),
        )
    except etree.XMLSyntaxError:
        raise BookError(f"{name} is not a valid EPUB (unreadable META-INF/container.xml)") from None
    rootfile = next(
        (el.get("full-path") for el in container.iter()
         if isinstance(el.tag, str) and el.tag.endswith("rootfile") and el.get("full-path")),
        None,
    )
    if not rootfile or posixpath.normpath(rootfile) not in archive:
        raise BookError(f"{name} is not a valid EPUB (no OPF package document)")

    reader = _Reader(archive, str(path))
    try:
        book = reader.load()
    except BookError:
        raise
    except _CORRUPT as exc:
        raise BookError(f"{name} is not a valid EPUB (corrupt or not a zip archive)") from exc
    except ebooklib_epub.EpubException as exc:
        raise BookError(f"{name} is not a valid EPUB ({_one_line(exc)})") from exc
    except Exception as exc:  # noqa: BLE001 - ebooklib raises whatever its parsing hits
        # (XMLSyntaxError, or AttributeError/TypeError/KeyError on a package it cannot use)
        raise BookError(f"{name} is not a valid EPUB (unreadable OPF package document)") from exc
    return book, reader


class _Reader(ebooklib_epub.EpubReader):
    """ebooklib's reader, reading through the checked archive and only what this module uses.

    Every read goes through `CheckedArchive.read` (bounded; ebooklib's own `_load` would open
    the file again with `zipfile` and read each entry whole). Only documents and the NCX are
    kept in memory (`_KEPT_TYPES`), each entry once however often the manifest lists it; other
    manifest items read as empty. A manifest entry whose file is missing reads as empty too
    (its name goes to `missing`) instead of failing the whole book. ebooklib's own TOC
    parsing (nav and NCX) is skipped, since `toc.py` reads the navigation itself, and a broken
    `<spine toc=...>` reference is ignored. Entity references in the package document are
    settled (`xhtml.settle_entities`) before its metadata is read.
    """

    def __init__(self, archive: CheckedArchive, file_name: str):
        super().__init__(file_name, {"ignore_ncx": True})
        self.archive = archive
        self.missing: set[str] = set()
        self._not_kept: set[str] = set()
        self._reads = 0
        self._read: dict[str, bytes] = {}  # a manifest may list one entry many times

    def _load(self):
        self._load_container()
        self._load_opf_file()

    def read_file(self, name):
        name = posixpath.normpath(name)
        self._reads += 1
        if self._reads > MAX_ENTRIES + 2:  # container, package, then one per manifest item
            raise BookError(
                f"{self.archive.book}: its manifest lists more than {MAX_ENTRIES:,} items "
                f"(limit {MAX_ENTRIES:,}); refusing a possible zip bomb"
            )
        if name in self._not_kept:
            return b""
        if name in self._read:
            return self._read[name]
        try:
            self._read[name] = self.archive.read(name, MAX_MARKUP_BYTES)
        except KeyError:
            if name in (posixpath.normpath(self.opf_file or ""), "META-INF/container.xml"):
                raise
            self.missing.add(name)
            return b""
        return self._read[name]

    def _load_metadata(self):
        root = self.container.getroot()
        if root is not None:
            settle_entities(root)
        super()._load_metadata()

    def _load_manifest(self):
        kept: set[str] = set()
        other: set[str] = set()
        manifest = self.container.find(f"{{{ebooklib_epub.NAMESPACES['OPF']}}}manifest")
        for item in manifest if manifest is not None else ():
            href = item.get("href") if isinstance(item.tag, str) else None
            if not href:
                continue
            names = {posixpath.normpath(posixpath.join(self.opf_dir, h))
                     for h in (href, unquote(href))}
            (kept if (item.get("media-type") or "") in _KEPT_TYPES else other).update(names)
        self._not_kept = other - kept
        super()._load_manifest()

    def _parse_ncx(self, data):  # noqa: ARG002 - see class docstring
        self.book.toc = []

    def _parse_nav(self, data, base_path, navtype="toc"):  # noqa: ARG002
        return None

    def _load_spine(self):
        try:
            super()._load_spine()
        except Exception:  # noqa: BLE001 - only the NCX lookup after the spine can fail here
            if not self.book.spine:
                raise


def _one_line(exc: Exception | None) -> str:
    text = collapse(str(exc)) if exc is not None else ""
    if isinstance(exc, ebooklib_epub.EpubException):
        text = collapse(str(exc.msg))
    return text or type(exc).__name__


def _metadata(book: ebooklib_epub.EpubBook, fallback_title: str) -> tuple[str, list[str], str | None]:
    def values(name: str) -> list[tuple[str, dict]]:
        try:
            return [(collapse(v or ""), attrs or {}) for v, attrs in book.get_metadata("DC", name)]
        except KeyError:
            return []

    main_ids = {
        attrs.get("refines", "").lstrip("#")
        for value, attrs in _opf_metas(book)
        if attrs.get("property") == "title-type" and collapse(value or "") == "main"
    }
    titles = [(v, a) for v, a in values("title") if v]
    main = [v for v, a in titles if a.get("id") in main_ids]
    title = (main or [v for v, _ in titles] or [fallback_title])[0]
    authors = list(dict.fromkeys(v for v, _ in values("creator") if v))
    language = next((v for v, _ in values("language") if v), None)
    return title, authors, language


# --------------------------------------------------------------------------------- load


def load_epub(path: Path, *, include_all: bool = False, source_path: Path | None = None) -> Book:
    source = source_path or path
    name = source.name
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            archive = CheckedArchive(zf, name, os.fstat(fh.fileno()).st_size)
            return _load(archive, path, source, include_all)
    except _CORRUPT:
        raise BookError(f"{name} is not a valid EPUB (corrupt or not a zip archive)") from None


def _load(archive: CheckedArchive, path: Path, source: Path, include_all: bool) -> Book:
    name = source.name
    book, reader = _open_package(archive, path, name)
    opf_dir = reader.opf_dir
    title, authors, language = _metadata(book, prettify_stem(source))
    warnings: list[str] = []

    def in_archive(opf_path: str) -> str:
        return posixpath.normpath(posixpath.join(opf_dir, opf_path))

    items = [it for it in book.get_items() if getattr(it, "file_name", None)]
    by_id = {it.id: it for it in items if it.id}
    by_path = {posixpath.normpath(it.file_name): it for it in items}

    # Spine documents, in reading order; a document listed twice is read once.
    docs: list[_Doc] = []
    seen: set[str] = set()
    for idref, linear in book.spine:
        item = by_id.get(idref)
        if item is None:
            warnings.append(
                f"the spine names {shown(str(idref))!r}, which is not in the manifest; "
                "it is left out"
            )
            continue
        doc_path = posixpath.normpath(item.file_name)
        if (item.media_type or "") not in DOCUMENT_TYPES or doc_path in seen:
            continue
        seen.add(doc_path)
        docs.append(_Doc(
            path=doc_path,
            data=item.content or b"",
            linear=(linear or "yes").strip().lower() != "no",
            nav=isinstance(item, ebooklib_epub.EpubNav),
        ))

    # Table of contents and landmarks.
    toc: list[TocEntry] = []
    landmarks: list[Landmark] = guide_landmarks(book.guide)
    for item in items:
        if isinstance(item, ebooklib_epub.EpubNav):
            try:
                nav_toc, nav_landmarks = parse_nav(item.content, posixpath.normpath(item.file_name))
            except (ValueError, etree.LxmlError) as exc:
                warnings.append(_unreadable_toc(in_archive(item.file_name), exc, reader))
                continue
            toc = toc or nav_toc
            landmarks += nav_landmarks
    if not toc:
        for item in items:
            if isinstance(item, ebooklib_epub.EpubNcx):
                try:
                    toc = parse_ncx(item.content, posixpath.normpath(item.file_name))
                except (ValueError, etree.LxmlError) as exc:
                    warnings.append(_unreadable_toc(in_archive(item.file_name), exc, reader))
                    toc = []
                if toc:
                    break

    skipped: list[str] = []
    labels_by_path: dict[str, str] = {}
    for top in toc:
        for entry in top.walk():
            if entry.path and entry.label:
                labels_by_path.setdefault(entry.path, entry.label)

    read_docs = []
    for doc in docs:
        if doc.linear or include_all:
            read_docs.append(doc)
        else:
            skipped.append(labels_by_path.get(doc.path, doc.path))
    split_ids: dict[str, set[str]] = {}
    for top in toc:
        for entry in top.walk():
            if entry.path and entry.fragment:
                split_ids.setdefault(entry.path, set()).add(entry.fragment)
    chars = 0
    for doc in read_docs:
        try:
            doc.text = extract(parse_markup(doc.data), split_ids.get(doc.path, set()))
        except ValueError as exc:
            doc.text = Extracted()
            full = in_archive(doc.path)
            reason = "it is missing from the archive" if full in reader.missing else _one_line(exc)
            label = labels_by_path.get(doc.path)
            part = f"chapter {label[:80]!r} ({shown(full)})" if label else f"document {shown(full)}"
            warnings.append(f"{part} could not be read: {reason[:160]}; it is left out")
        chars += sum(len(b.text) for b in doc.text.blocks)
        check_text_chars(name, chars)

    assembler = _Assembler(read_docs, landmarks, include_all, title, skipped)
    chapters = assembler.chapters(toc)
    if not chapters:
        lost = f" ({len(warnings)} part(s) left out; {warnings[0]})" if warnings else ""
        raise BookError(f"{name} has no readable text{lost}")
    check_book_size(name, chapters)

    def read_item(opf_path: str) -> bytes | None:
        """A manifest item's bytes for the cover, from the archive; None when unreadable."""
        if opf_path not in by_path:
            return None
        full = in_archive(opf_path)
        try:
            return archive.read(full)
        except KeyError:
            return None
        except _CORRUPT as exc:
            warnings.append(f"image {shown(full)} could not be read ({_one_line(exc)}); "
                            "it is not used as the cover")
            return None

    cover, cover_mime = find_cover(
        [(it.id, posixpath.normpath(it.file_name), it.media_type or "",
          set(getattr(it, "properties", []) or [])
          | ({"cover-image"} if isinstance(it, ebooklib_epub.EpubCover) else set()))
         for it in items],
        read_item,
        _meta_cover(book),
        landmarks,
        [d.path for d in docs],
    )
    return Book(
        title=title,
        authors=authors,
        language=language,
        chapters=chapters,
        source_path=source,
        cover=cover,
        cover_mime=cover_mime,
        skipped=skipped,
        warnings=warnings,
    )


def _unreadable_toc(full: str, exc: Exception, reader: _Reader) -> str:
    reason = "it is missing from the archive" if full in reader.missing else _one_line(exc)
    return f"table of contents {shown(full)} could not be read: {reason[:160]}; it is not used"


def _opf_metas(book: ebooklib_epub.EpubBook) -> list[tuple[str | None, dict]]:
    """All OPF `<meta>` elements as (text, attributes), however ebooklib filed them.

    Depending on its version ebooklib keys them under "meta", under their `name`, or under
    None (EPUB 3 `property` metas); a `name` key is put back into the attributes.
    """
    out = []
    for key, entries in book.metadata.get(ebooklib_epub.NAMESPACES["OPF"], {}).items():
        for value, attrs in entries:
            attrs = dict(attrs or {})
            if key not in (None, "meta"):
                attrs.setdefault("name", key)
            out.append((value, attrs))
    return out


def _meta_cover(book: ebooklib_epub.EpubBook) -> str | None:
    for _value, attrs in _opf_metas(book):
        if (attrs.get("name") or "").lower() == "cover" and (attrs.get("content") or "").strip():
            return attrs["content"].strip()
    return None


# ----------------------------------------------------------------------------- assembly


class _Assembler:
    def __init__(self, docs: list[_Doc], landmarks: list[Landmark], include_all: bool,
                 book_title: str, skipped: list[str]):
        self.docs = docs
        self.index = {doc.path: i for i, doc in enumerate(docs)}
        self.include_all = include_all
        self.book_title = book_title
        self.skipped = skipped
        self.boiler_targets = {
            (lm.path, lm.fragment) for lm in landmarks if lm.types & LANDMARK_BOILERPLATE
        }

    # -- positions -------------------------------------------------------------------

    def pos(self, entry: TocEntry) -> Pos | None:
        if entry.path is None or entry.path not in self.index:
            return None
        i = self.index[entry.path]
        text = self.docs[i].text
        if entry.fragment and text is not None:
            return i, text.anchors.get(entry.fragment, 0)
        return i, 0

    def first_pos(self, entries: list[TocEntry]) -> Pos | None:
        found = []
        for entry in entries:
            p = self.pos(entry)
            if p is None and entry.children:
                p = self.first_pos(entry.children)
            if p is not None:
                found.append(p)
        return min(found) if found else None

    def blocks(self, start: Pos, end: Pos | None) -> list[tuple[int, Block]]:
        out = []
        for i in range(start[0], len(self.docs)):
            if end is not None and i > end[0]:
                break
            blocks = self.docs[i].text.blocks if self.docs[i].text else []
            lo = start[1] if i == start[0] else 0
            hi = end[1] if end is not None and i == end[0] else len(blocks)
            out.extend((i, b) for b in blocks[lo:hi])
        return out

    # -- the nested TOC rule -----------------------------------------------------------

    def only_headings(self, start: Pos, end: Pos, label: str) -> bool:
        key = norm_key(label)
        return all(
            b.heading or b.boiler or norm_key(b.text) == key for _, b in self.blocks(start, end)
        )

    def words(self, start: Pos, end: Pos | None) -> int:
        return sum(
            len(b.text.split()) for _, b in self.blocks(start, end) if not (b.heading or b.boiler)
        )

    def flatten(self, entries: list[TocEntry], out: list[_Boundary], end: Pos | None = None) -> None:
        """Turn TOC entries into chapter boundaries by the nested TOC rule (module docstring).

        `end` is where the text of these entries stops (the next entry after their parent).
        """
        starts = [self.pos(e) or self.first_pos(e.children) for e in entries]
        # ends[n]: the first start after entry n, found in one pass (not a scan per entry).
        ends: list[Pos | None] = []
        following = end
        for start in reversed(starts):
            ends.append(following)
            if start is not None:
                following = start
        ends.reverse()
        for n, entry in enumerate(entries):
            p = self.pos(entry)
            entry_end = ends[n]
            kids = [] if entry.children_hidden else entry.children
            if p is None:  # no target, or a document that is not read
                self.flatten(entry.children, out, entry_end)
                continue
            if not kids:
                out.append(_Boundary(p, entry.label, entry))
                continue
            first = self.first_pos(kids)
            if first is None:
                out.append(_Boundary(p, entry.label, entry))
                continue
            numbered = all(
                k.path == entry.path and _BARE_NUMBER.match(k.label or "") for k in kids
            )
            if numbered and self.words(p, entry_end) <= MAX_MERGED_WORDS:
                out.append(_Boundary(p, entry.label, entry))
            elif first <= p or self.only_headings(p, first, entry.label):
                out.append(_Boundary(p, entry.label, entry, discard=True))
                self.flatten(kids, out, entry_end)
            else:
                out.append(_Boundary(p, entry.label, entry))
                self.flatten(kids, out, entry_end)

    # -- chapters ----------------------------------------------------------------------

    def chapters(self, toc: list[TocEntry]) -> list[Chapter]:
        bounds: list[_Boundary] = []
        self.flatten(toc, bounds)
        if not bounds:
            bounds = self.heading_bounds()
        bounds.sort(key=lambda b: b.pos)
        unique: list[_Boundary] = []
        for b in bounds:
            if unique and unique[-1].pos == b.pos:
                if unique[-1].discard and not b.discard:
                    unique[-1] = b
                continue
            unique.append(b)

        chapters: list[Chapter] = []
        if unique and unique[0].pos > (0, 0):
            lead = self.leading_chapter(unique[0].pos)
            if lead:
                chapters.append(lead)
        for n, b in enumerate(unique):
            if b.discard:
                continue
            end = unique[n + 1].pos if n + 1 < len(unique) else None
            chapter = self.region_chapter(b, self.blocks(b.pos, end), len(chapters) + 1)
            if chapter:
                chapters.append(chapter)
        return chapters

    def heading_bounds(self) -> list[_Boundary]:
        """No usable TOC: a spine document that starts with a heading starts a chapter."""
        bounds = []
        for i, doc in enumerate(self.docs):
            blocks = [b for b in (doc.text.blocks if doc.text else []) if not b.boiler]
            if not blocks:
                continue
            if blocks[0].heading or not bounds:
                title = blocks[0].text if blocks[0].heading else (doc.text.title or self.book_title)
                bounds.append(_Boundary((i, 0), title, None))
        return bounds

    def entry_is_boilerplate(self, entry: TocEntry | None) -> bool:
        if entry is None:
            return False
        if entry.types & BOILERPLATE_TYPES:
            return True
        if (entry.path, entry.fragment) in self.boiler_targets:
            return True
        if entry.fragment is None and (entry.path, None) in self.boiler_targets:
            return True
        return norm_key(entry.label) in BOILERPLATE_LABELS

    def region_chapter(self, b: _Boundary, region: list[tuple[int, Block]], n: int) -> Chapter | None:
        title = collapse(b.title)
        if not title:
            title = next((blk.text for _, blk in region if blk.heading and not blk.boiler),
                         f"Chapter {n}")
        if not self.include_all:
            if self.entry_is_boilerplate(b.entry):
                self.skipped.append(title)
                # Only the entry's own document is boilerplate; unnamed documents after it
                # (a dedication, an epigraph) still deserve reading, under their own heading.
                rest = [(i, blk) for i, blk in region if i != b.pos[0] and not blk.boiler]
                if not rest:
                    return None
                doc_title = self.docs[rest[0][0]].text.title
                title = next((blk.text for _, blk in rest if blk.heading), None) or doc_title
                return _make_chapter(title or self.book_title, rest)
            kept = [(i, blk) for i, blk in region if not blk.boiler]
            if region and not kept:
                self.skipped.append(title)
                return None
            region = kept
        return _make_chapter(title, region)

    def leading_chapter(self, end: Pos) -> Chapter | None:
        region: list[tuple[int, Block]] = []
        for i in range(0, end[0] + 1):
            doc = self.docs[i]
            blocks = self.blocks((i, 0), end if i == end[0] else (i + 1, 0))
            if not blocks:
                continue
            texts = " ".join(b.text for _, b in blocks[:40])
            boiler_doc = (
                doc.nav
                or all(b.boiler for _, b in blocks)
                or _BOILERPLATE_FILE.search(posixpath.splitext(posixpath.basename(doc.path))[0])
                or _COPYRIGHT_TEXT.search(texts)
            )
            if not self.include_all:
                if boiler_doc:
                    heading = next((b.text for _, b in blocks if b.heading), None)
                    self.skipped.append(heading or doc.path)
                    continue
                blocks = [(j, b) for j, b in blocks if not b.boiler]
            region.extend(blocks)
        words = sum(len(b.text.split()) for _, b in region if not b.heading)
        if words < LEADING_MIN_WORDS and not (self.include_all and region):
            return None
        title = next((b.text for _, b in region if b.heading), self.book_title)
        return _make_chapter(title, region)


def _make_chapter(title: str, region: list[tuple[int, Block]]) -> Chapter | None:
    paragraphs: list[str] = []
    headings: list[bool] = []
    last_doc = None
    for doc_index, block in region:
        if (
            paragraphs and doc_index != last_doc and not block.heading and not headings[-1]
        ):
            joined = join_broken(paragraphs[-1], block.text)
            if joined is not None:
                paragraphs[-1] = joined
                last_doc = doc_index
                continue
        paragraphs.append(block.text)
        headings.append(bool(block.heading))
        last_doc = doc_index
    drop = drop_repeated_title(title, paragraphs, headings)
    paragraphs = [
        roman_heading_to_number(text) if is_heading else text
        for text, is_heading in zip(paragraphs[drop:], headings[drop:], strict=True)
    ]
    if not paragraphs:
        return None
    return Chapter(title=title, paragraphs=paragraphs)
