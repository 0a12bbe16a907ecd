"""Single HTML/XHTML files, and other formats through Calibre's ebook-convert."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import zipfile

import pytest

from e2a_node.book import calibre as calibre_mod
from e2a_node.book import load_book
from e2a_node.errors import BookError

HTML5 = """<!DOCTYPE html>
<html lang="de">
<head><meta charset="utf-8"><title>Ein Buch</title>
<meta name="author" content="Erika Muster">
<style>h1 { color: red }</style></head>
<body>
<h1>Ein Buch</h1>
<p>Vorwort&nbsp;ohne Kapitel, mit &mdash; Zeichen.
<h2>Erstes Kapitel</h2>
<p>Erster Absatz<sup><a href="#fn1">1</a></sup>.
<p>Zweiter <br> Absatz.
<h2>Zweites Kapitel</h2>
<h2>Der Titel</h2>
<p><span class="pagenum">12</span>Dritter Absatz.
<div class="footnote" id="fn1"><p>Eine Fußnote.</p></div>
<script>document.write("nope")</script>
</body></html>"""


def test_html5_split_at_repeated_h2(tmp_path):
    path = tmp_path / "buch.html"
    path.write_text(HTML5, encoding="utf-8")
    book = load_book(path)
    assert (book.title, book.authors, book.language) == ("Ein Buch", ["Erika Muster"], "de")
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("Ein Buch", ["Vorwort ohne Kapitel, mit — Zeichen."]),
        ("Erstes Kapitel", ["Erster Absatz.", "Zweiter Absatz."]),
        ("Zweites Kapitel: Der Titel", ["Dritter Absatz."]),
    ]
    assert book.cover is None and book.source_path == path


XHTML = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en-US">
<head><title>Stories</title></head>
<body>
<section epub:type="titlepage"><p>A Title Page</p></section>
<h1>First Story</h1><p>One.<a epub:type="noteref" href="#n1">1</a></p>
<h1>Second Story</h1><h2>I</h2><p>Two.</p>
<aside epub:type="footnote" id="n1"><p>Note.</p></aside>
</body></html>"""


def test_xhtml_split_at_repeated_h1(tmp_path):
    path = tmp_path / "stories.xhtml"
    path.write_text(XHTML, encoding="utf-8")
    book = load_book(path)
    assert (book.title, book.language) == ("Stories", "en-US")
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("First Story", ["One."]), ("Second Story", ["1", "Two."]),
    ]
    assert book.skipped == ["A Title Page"]
    full = load_book(path, include_all=True)
    assert full.chapters[0].paragraphs == ["A Title Page"]


def test_htm_without_repeated_headings_is_one_chapter(tmp_path):
    path = tmp_path / "essay.htm"
    path.write_bytes(
        b"<html><head><title>An Essay</title></head><body><h1>On Things</h1>"
        b"<p>Caf\xe9 society.</p><p>More.</p></body></html>"  # cp1252 bytes, no charset
    )
    book = load_book(path)
    assert book.title == "An Essay" and book.language is None
    assert [(c.title, c.paragraphs) for c in book.chapters] == [("On Things", ["Café society.", "More."])]


def test_html_without_text(tmp_path):
    path = tmp_path / "blank.html"
    path.write_text("<html><body><img src='a.png' alt='x'></body></html>")
    with pytest.raises(BookError, match=r"^blank\.html has no readable text$"):
        load_book(path)


# --------------------------------------------------------------------------- Calibre


def test_other_formats_need_calibre(tmp_path, monkeypatch):
    monkeypatch.setattr(calibre_mod.shutil, "which", lambda name: None)
    mobi = tmp_path / "book.mobi"
    mobi.write_bytes(b"BOOKMOBI")
    with pytest.raises(BookError) as err:
        load_book(mobi)
    assert str(err.value) == (
        "Reading .mobi files needs Calibre's ebook-convert on PATH "
        "(https://calibre-ebook.com/download), or convert the book to EPUB first"
    )


def _fake_ebook_convert(tmp_path, epub_bytes: bytes | None) -> str:
    """An `ebook-convert` stand-in: copies a prepared EPUB to the output path (or fails)."""
    src = tmp_path / "prepared.epub"
    if epub_bytes is not None:
        src.write_bytes(epub_bytes)
    script = tmp_path / "bin" / "ebook-convert"
    script.parent.mkdir()
    body = (
        f"import shutil, sys\nshutil.copy({str(src)!r}, sys.argv[2])\n"
        if epub_bytes is not None
        else "import sys\nsys.stderr.write('Conversion error: DRM\\n')\nsys.exit(1)\n"
    )
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script.parent)


def _tiny_epub(path) -> bytes:
    """The smallest EPUB 3 worth loading: one chapter named by a nav document."""
    doc = ('<html xmlns="http://www.w3.org/1999/xhtml"><head><title>c</title></head>'
           "<body><h2>One</h2><p>Converted text.</p></body></html>")
    nav = ('<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
           '<head><title>n</title></head><body><nav epub:type="toc"><ol>'
           '<li><a href="c1.xhtml">One</a></li></ol></nav></body></html>')
    opf = ('<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="u">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="u">x</dc:identifier>'
           "<dc:title>Converted Book</dc:title></metadata><manifest>"
           '<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
           '</manifest><spine><itemref idref="c1"/></spine></package>')
    container = ('<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                 '<rootfiles><rootfile full-path="content.opf" '
                 'media-type="application/oebps-package+xml"/></rootfiles></container>')
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", container)
        zf.writestr("content.opf", opf)
        zf.writestr("c1.xhtml", doc)
        zf.writestr("nav.xhtml", nav)
    return path.read_bytes()


@pytest.mark.skipif(os.name != "posix", reason="fake ebook-convert is a POSIX script")
def test_calibre_conversion_is_loaded_with_original_source_path(tmp_path, monkeypatch):
    epub = _tiny_epub(tmp_path / "made.epub")
    monkeypatch.setenv("PATH", _fake_ebook_convert(tmp_path, epub) + os.pathsep + os.environ["PATH"])
    assert shutil.which("ebook-convert")
    fb2 = tmp_path / "novel.fb2"
    fb2.write_text("<FictionBook/>")
    book = load_book(fb2)
    assert [(c.title, c.paragraphs) for c in book.chapters] == [("One", ["Converted text."])]
    assert book.source_path == fb2 and book.title == "Converted Book"


@pytest.mark.skipif(os.name != "posix", reason="fake ebook-convert is a POSIX script")
def test_calibre_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_ebook_convert(tmp_path, None) + os.pathsep + os.environ["PATH"])
    azw3 = tmp_path / "locked.azw3"
    azw3.write_bytes(b"x")
    with pytest.raises(BookError) as err:
        load_book(azw3)
    assert str(err.value) == "Calibre could not convert locked.azw3 to EPUB: Conversion error: DRM"
