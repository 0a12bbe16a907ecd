"""No text is lost on real books: the segmentation invariant over every paragraph of the corpus.

Paragraphs are extracted crudely here (zipfile + lxml: the text of every <p> of every XHTML
file; for a fixed-layout page with no <p>, the SVG <text> lines of the page as one paragraph),
so that this test depends on nothing but e2a_node.text. The raw-text checks take ~12 s; the
same after `normalize` is marked slow.
"""

from __future__ import annotations

import re
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from e2a_node.text import normalize

from tests.test_text_segment import check_invariant

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
BOOKS = sorted(CORPUS.glob("*.epub")) if CORPUS.is_dir() else []

XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"

pytestmark = pytest.mark.skipif(not BOOKS, reason=f"no test corpus at {CORPUS}")


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=None)
def book_text(path: Path) -> tuple[str, tuple[str, ...]]:
    """(language, paragraphs) of an EPUB."""
    language = "en"
    paragraphs: list[str] = []
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    with zipfile.ZipFile(path) as book:
        for name in sorted(book.namelist()):
            lower = name.lower()
            if lower.endswith(".opf"):
                found = re.search(rb"<dc:language[^>]*>\s*([^<\s]+)", book.read(name))
                if found:
                    language = found.group(1).decode()
            if not lower.endswith((".xhtml", ".html", ".htm")):
                continue
            root = etree.fromstring(book.read(name), parser)
            if root is None:
                continue
            found_p = False
            for p in root.iter(f"{XHTML}p", "p"):
                found_p = True
                text = _collapse("".join(p.itertext()))
                if text:
                    paragraphs.append(text)
            if not found_p:
                lines = [_collapse("".join(t.itertext())) for t in root.iter(f"{SVG}text")]
                page = " ".join(line for line in lines if line)
                if page:
                    paragraphs.append(page)
    return language, tuple(paragraphs)


def test_corpus_is_readable():
    for book in BOOKS:
        language, paragraphs = book_text(book)
        assert len(paragraphs) >= 10, book.name
    languages = {book.name: book_text(book)[0] for book in BOOKS}
    assert any(lang.startswith("fr") for lang in languages.values()), languages


@pytest.mark.parametrize("max_chars", [250, 400])
@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_no_text_lost(book, max_chars):
    language, paragraphs = book_text(book)
    check_invariant(list(paragraphs), language, max_chars)


@pytest.mark.slow  # ~16 s more
@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_no_text_lost_after_normalize(book):
    """As the job planner uses it: normalize each paragraph, then segment."""
    language, paragraphs = book_text(book)
    for numbers in (True, False):
        normalized = [normalize(p, language, numbers=numbers) for p in paragraphs]
        assert all("  " not in p for p in normalized)
        check_invariant(normalized, language, 250)
