"""Plain-text loading: decoding, paragraphs, heading lines."""

from __future__ import annotations

import pytest

from e2a_node.book import load_book
from e2a_node.errors import BookError


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


NOVEL = """\
The Tale of Two Chapters
by Somebody

A short note before the first chapter,
wrapped over two lines.

Chapter 1

It was the best of times,
it was the worst of times.

A second paragraph.

CHAPTER II.

THE TITLE OF TWO

Text of two.

Chapter 3: The Third Title
Text right after the heading line.

Chapter the Fourth

Text of four.

Part II

Chapter 5 — Five

Text of five.

Epilogue

The end.
"""


def test_txt_chapters_from_heading_lines(tmp_path):
    book = load_book(write(tmp_path, "two_chapters.txt", NOVEL))
    assert book.title == "Two Chapters"
    assert (book.authors, book.language) == ([], None)
    assert [c.title for c in book.chapters] == [
        "Two Chapters",
        "Chapter 1",
        "CHAPTER II. THE TITLE OF TWO",
        "Chapter 3: The Third Title",
        "Chapter the Fourth",
        "Chapter 5 — Five",
        "Epilogue",
    ]
    assert book.chapters[0].paragraphs == [
        "The Tale of Two Chapters by Somebody",
        "A short note before the first chapter, wrapped over two lines.",
    ]
    assert book.chapters[1].paragraphs == [
        "It was the best of times, it was the worst of times.", "A second paragraph.",
    ]
    assert book.chapters[2].paragraphs == ["Text of two."]
    assert book.chapters[3].paragraphs == ["Text right after the heading line."]
    assert book.chapters[6].paragraphs == ["The end."]
    assert book.source_path.name == "two_chapters.txt"


def test_txt_without_headings_is_one_chapter(tmp_path):
    book = load_book(write(tmp_path, "my-notes.txt", "Just some text.\n\nAnother paragraph.\n"))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("My Notes", ["Just some text.", "Another paragraph."])
    ]


def test_txt_lines_without_blank_lines_are_paragraphs(tmp_path):
    book = load_book(write(tmp_path, "lines.txt", "First line.\nSecond line.\nPrologue\nThird."))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("Lines", ["First line.", "Second line."]), ("Prologue", ["Third."]),
    ]


def test_txt_markdown_headings(tmp_path):
    text = (
        "# My Book\n\n## Getting Started\n\nFirst *words* and **bold** `code`.\n\n### A detail\n\n"
        "See [the site](http://x.org) ![logo](l.png)now.\n\n- item one\n- item_two\n\n---\n\n"
        "## Next\n\n> Quoted 3 * 4 * 5.\n"
    )
    book = load_book(write(tmp_path, "guide.md", text))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("Getting Started",
         ["First words and bold code.", "A detail", "See the site now.", "item one item_two"]),
        ("Next", ["Quoted 3 * 4 * 5."]),
    ]
    # in a .txt file only the heading lines are Markdown
    plain = load_book(write(tmp_path, "guide.txt", text))
    assert plain.chapters[0].paragraphs[0] == "First *words* and **bold** `code`."


def test_txt_sentence_starting_like_a_heading_is_text(tmp_path):
    text = ("Part of the problem was the rain.\n\nBook lovers know this.\n\nChapter and verse.\n\n"
            "Part 2 of the plan was simple,\nhe thought.\n\nIntroduction of the guests took an hour.\n")
    book = load_book(write(tmp_path, "prose.txt", text))
    assert len(book.chapters) == 1 and len(book.chapters[0].paragraphs) == 5


def test_txt_decoding_cp1252_and_boms(tmp_path):
    cp = "Chapter 1\n\n\u201cQuoted,\u201d she said \u2014 caf\u00e9.\n".encode("cp1252")
    book = load_book(write(tmp_path, "cp.txt", cp))
    assert book.chapters[0].paragraphs == ["\u201cQuoted,\u201d she said \u2014 caf\u00e9."]

    bom = b"\xef\xbb\xbfHello na\xc3\xafve world.\n"
    assert load_book(write(tmp_path, "bom.txt", bom)).chapters[0].paragraphs == ["Hello naïve world."]

    utf16 = "Chapter 1\r\n\r\nWide text.\r\n".encode("utf-16")
    book = load_book(write(tmp_path, "wide.txt", utf16))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [("Chapter 1", ["Wide text."])]

    latin = b"Caf\xe9 \x81 odd byte.\n"  # 0x81 is undefined in cp1252 -> latin-1
    # (the C1 control character it decodes to is dropped)
    assert load_book(write(tmp_path, "latin.txt", latin)).chapters[0].paragraphs == ["Café odd byte."]


def test_txt_gutenberg_header_and_licence_skipped(tmp_path):
    text = (
        "The Project Gutenberg eBook of Something\n\nLicence blah.\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\n\n"
        "CHAPTER I\n\nReal text.\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\n\nMore licence.\n"
    )
    path = write(tmp_path, "pg.txt", text)
    book = load_book(path)
    assert [(c.title, c.paragraphs) for c in book.chapters] == [("CHAPTER I", ["Real text."])]
    assert book.skipped == ["Project Gutenberg header", "Project Gutenberg licence"]
    full = load_book(path, include_all=True)
    assert "Licence blah." in full.chapters[0].paragraphs and full.skipped == []


def test_txt_contents_lines_make_no_empty_chapters(tmp_path):
    text = "Contents\n\nChapter 1\n\nChapter 2\n\nChapter 1\n\nOne.\n\nChapter 2\n\nTwo.\n"
    book = load_book(write(tmp_path, "c.txt", text))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("C", ["Contents"]), ("Chapter 1", ["One."]), ("Chapter 2", ["Two."]),
    ]


def test_txt_without_text(tmp_path):
    with pytest.raises(BookError, match=r"^empty\.txt has no readable text$"):
        load_book(write(tmp_path, "empty.txt", "\n\n   \n"))
