"""load_book on the real EPUBs in ../shared/corpus (read in place, never copied)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from e2a_node.book import load_book

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")

SHERLOCK_STORIES = [
    "A Scandal in Bohemia",
    "The Redheaded League",
    "A Case of Identity",
    "The Boscombe Valley Mystery",
    "The Five Orange Pips",
    "The Man with the Twisted Lip",
    "The Adventure of the Blue Carbuncle",
    "The Adventure of the Speckled Band",
    "The Adventure of the Engineer’s Thumb",
    "The Adventure of the Noble Bachelor",
    "The Adventure of the Beryl Coronet",
    "The Adventure of the Copper Beeches",
]


@cache
def book(name: str, include_all: bool = False):
    return load_book(CORPUS / name, include_all=include_all)


def all_text(b) -> str:
    return "\n".join(p for c in b.chapters for p in c.paragraphs)


def test_sherlock_holmes_metadata_and_twelve_stories():
    b = book("sherlock-holmes.epub")
    assert b.title == "The Adventures of Sherlock Holmes"
    assert b.authors == ["Arthur Conan Doyle"]
    assert b.language == "en-GB"
    assert [c.title for c in b.chapters] == SHERLOCK_STORIES
    assert b.skipped == ["Titlepage", "Imprint", "Colophon", "Uncopyright"]
    assert 100_000 < b.words < 110_000  # se:word-count says 104582
    assert all(c.words > 6000 for c in b.chapters)
    assert b.source_path == CORPUS / "sherlock-holmes.epub"


def test_sherlock_holmes_text():
    b = book("sherlock-holmes.epub")
    scandal = b.chapters[0].paragraphs
    # The story heading equals the title and is not read; its sections I-III stay as numbers.
    assert scandal[0] == "1"
    assert scandal[1].startswith("To Sherlock Holmes she is always the woman. I have seldom")
    assert [p for p in scandal if p in ("1", "2", "3")] == ["1", "2", "3"]
    assert b.chapters[1].paragraphs[0].startswith("I had called upon my friend, Mr. Sherlock Holmes")
    text = all_text(b)
    assert "Standard Ebooks" not in text  # imprint, colophon, uncopyright left out
    assert "\u2060" not in text and "\u00ad" not in text
    assert "observer—excellent" in text
    assert all(p == " ".join(p.split()) and p for c in b.chapters for p in c.paragraphs)


def test_sherlock_holmes_include_all_keeps_front_and_back_matter():
    b = book("sherlock-holmes.epub", include_all=True)
    assert [c.title for c in b.chapters] == (
        ["Titlepage", "Imprint", *SHERLOCK_STORIES, "Colophon", "Uncopyright"]
    )
    assert b.skipped == []
    assert b.chapters[-1].paragraphs[0].startswith("May you do good and not evil.")


def test_sherlock_holmes_cover_is_the_raster_inside_the_svg():
    b = book("sherlock-holmes.epub")
    assert b.cover_mime == "image/jpeg"
    assert b.cover[:3] == b"\xff\xd8\xff" and len(b.cover) > 100_000


def test_love_among_the_chickens_chapters_from_toc():
    b = book("love-among-the-chickens.epub")
    titles = [c.title for c in b.chapters]
    assert len(titles) == 24
    assert titles[:4] == [
        "Dedication",
        "I: A Letter with a Postscript",
        "II: Mr. and Mrs. S. F. Ukridge",
        "III: Waterloo Station, Some Fellow-Travellers, and a Girl with Brown Hair",
    ]
    assert titles[-1] == "XXIII: After the Storm"
    assert b.skipped == ["Titlepage", "Imprint", "Colophon", "Uncopyright"]
    assert (b.title, b.authors, b.language) == ("Love Among the Chickens", ["P. G. Wodehouse"], "en-GB")
    # hgroup "I" + "A Letter with a Postscript" repeats the title: not read twice
    assert b.chapters[1].paragraphs[0].startswith("“A gentleman called to see you")
    assert b.chapters[0].paragraphs[:2] == ["To W. Townend", "Dear Bill—"]


def test_childrens_literature_nested_navigation():
    b = book("childrens-literature.epub")
    titles = [c.title for c in b.chapters]
    # "SECTION IV ..." only wraps its entries; the author <span> groups are unwrapped; the
    # hidden sub-list of "A Four-Leaved Clover" stays inside that story.
    assert len(titles) == 17
    assert titles[:5] == [
        "BIBLIOGRAPHY",
        "INTRODUCTORY",
        "190 A FOUR-LEAVED CLOVER",
        "191 THE LORD HELPETH MAN AND BEAST",
        "192 THE REAL PRINCESS",
    ]
    assert titles[-1] == "204 THE KING OF THE GOLDEN RIVER OR THE BLACK BROTHERS"
    clover = b.chapters[2].paragraphs
    assert clover[0].startswith("The rabbis of old were good story-tellers.")
    assert "1. The Rabbi and The Diadem" in clover and "4. An Eastern Garden" in clover
    assert b.authors == ["Charles Madison Curry", "Erle Elsworth Clippinger"]
    assert b.language == "en" and b.title == "Children's Literature"
    assert b.cover_mime == "image/png" and b.cover.startswith(b"\x89PNG")
    assert b.skipped == ["THE CONTENTS"]  # the nav document sits in the spine


def test_childrens_literature_has_no_page_numbers():
    b = book("childrens-literature.epub")
    bare_numbers = [p for c in b.chapters for p in c.paragraphs if re.fullmatch(r"[\d\s]+", p)]
    assert bare_numbers == []
    # pages 169-260 are marked with epub:type="pagebreak" spans, some inside sentences
    text = all_text(b)
    assert "So the Swallow plucked out the Prince's eye, and flew away" in text
    assert not re.search(r"\b(169|170|221|260)\b", text)


def test_sous_le_vent_french_fixed_layout():
    b = book("sous-le-vent.epub")
    assert b.language == "fr"
    assert b.title == "Sous le vent"
    assert b.authors == ["Jean-Bernard Pouy", "Joe G. Pinelli"]
    assert [c.title for c in b.chapters] == ["Sous le vent", "Commencer la lecture"]
    text = all_text(b)
    # SVG text lines joined, line-end hyphens removed, a sentence cut by a page joined
    assert "l’histoire restait toujours l’histoire" in text
    assert "Pas seulement en classe" in text
    assert "où le vent serait chaud" in text
    assert "ISBN" not in text  # the copyright page is boilerplate
    assert b.skipped == [  # half-title, title and copyright pages (by their epub:type)
        "Content/pageNum-1.xhtml", "Content/pageNum-3.xhtml", "Content/pageNum-4.xhtml",
    ]
    assert b.cover_mime == "image/jpeg"
