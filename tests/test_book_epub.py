"""EPUB loading on small EPUBs built in the test (zipfile in tmp_path)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from e2a_node.book import load_book
from e2a_node.errors import BookError
from tests.epub_parts import CONTAINER


LOREM = (
    "The quick brown fox jumps over the lazy dog while the patient narrator keeps "
    "reading every single word of this rather long sentence aloud to the listener."
)


def xhtml(body: str, *, title: str = "Doc", body_attrs: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en">
<head><title>{title}</title><style>p {{ color: red; }}</style></head>
<body{body_attrs}>{body}</body></html>"""


def nav_doc(items: str, landmarks: str = "") -> str:
    lm = f'<nav epub:type="landmarks"><ol>{landmarks}</ol></nav>' if landmarks else ""
    return xhtml(f'<nav epub:type="toc" id="toc"><h1>Contents</h1><ol>{items}</ol></nav>{lm}')


def li(href: str, label: str, children: str = "", *, hidden: bool = False, attrs: str = "") -> str:
    hidden_attr = ' hidden="hidden"' if hidden else ""
    sub = f"<ol{hidden_attr}>{children}</ol>" if children else ""
    return f'<li><a href="{href}"{attrs}>{label}</a>{sub}</li>'


def write_epub(
    path: Path,
    docs: list[tuple[str, str]],  # (href, xhtml) in spine order
    *,
    nav: str | None = None,
    ncx: str | None = None,
    nonlinear: tuple[str, ...] = (),
    not_in_spine: tuple[str, ...] = (),
    metadata: str = '<dc:title>Test Book</dc:title><dc:creator>Ann Author</dc:creator>'
    "<dc:language>en</dc:language>",
    extra_items: list[tuple[str, str, str, str, bytes]] = (),  # id, href, media type, props, data
    guide: str = "",
    version: str = "3.0",
    extra_zip: dict[str, bytes | str] | None = None,
) -> Path:
    manifest, spine = [], []
    for n, (href, _) in enumerate(docs):
        manifest.append(f'<item id="d{n}" href="{href}" media-type="application/xhtml+xml"/>')
        if href not in not_in_spine:
            linear = ' linear="no"' if href in nonlinear else ""
            spine.append(f'<itemref idref="d{n}"{linear}/>')
    if nav is not None:
        manifest.append(
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        )
    if ncx is not None:
        manifest.append('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>')
    for item_id, href, mtype, props, _ in extra_items:
        prop = f' properties="{props}"' if props else ""
        manifest.append(f'<item id="{item_id}" href="{href}" media-type="{mtype}"{prop}/>')
    toc_attr = ' toc="ncx"' if ncx is not None else ""
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="{version}" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:identifier id="uid">urn:test:1</dc:identifier>{metadata}
  </metadata>
  <manifest>{"".join(manifest)}</manifest>
  <spine{toc_attr}>{"".join(spine)}</spine>
  {f"<guide>{guide}</guide>" if guide else ""}
</package>"""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("OEBPS/content.opf", opf)
        for href, text in docs:
            zf.writestr(f"OEBPS/{href}", text)
        if nav is not None:
            zf.writestr("OEBPS/nav.xhtml", nav)
        if ncx is not None:
            zf.writestr("OEBPS/toc.ncx", ncx)
        for _, href, _, _, data in extra_items:
            zf.writestr(f"OEBPS/{href}", data)
        for name, data in (extra_zip or {}).items():
            zf.writestr(name, data)
    return path


def chapter(title: str, *paras: str) -> str:
    return f"<section><h2>{title}</h2>{''.join(f'<p>{p}</p>' for p in paras)}</section>"


def titles(book) -> list[str]:
    return [c.title for c in book.chapters]


# ------------------------------------------------------------------------- structure


def test_fragment_entries_split_one_file(tmp_path):
    body = (
        '<section id="a"><h2>First Part</h2><p>Alpha one.</p><p>Alpha two.</p></section>'
        '<section id="b"><h2>Second Part</h2><p>Beta one.</p></section>'
        '<div><p>Still beta, before the next anchor.</p></div>'
        '<section id="c"><h2>Third Part</h2><p>Gamma <span id="inline">one</span>.</p></section>'
    )
    nav = nav_doc(
        li("text/all.xhtml#a", "First  Part")
        + li("text/all.xhtml#b", "Second\n Part")
        + li("text/all.xhtml#c", "Third Part")
    )
    path = write_epub(tmp_path / "frag.epub", [("text/all.xhtml", xhtml(body))], nav=nav)
    book = load_book(path)
    assert titles(book) == ["First Part", "Second Part", "Third Part"]
    assert book.chapters[0].paragraphs == ["Alpha one.", "Alpha two."]
    assert book.chapters[1].paragraphs == ["Beta one.", "Still beta, before the next anchor."]
    assert book.chapters[2].paragraphs == ["Gamma one."]
    assert (book.title, book.authors, book.language) == ("Test Book", ["Ann Author"], "en")


def test_unlisted_spine_document_joins_previous_chapter(tmp_path):
    docs = [
        ("c1.xhtml", xhtml(chapter("One", "First chapter text."))),
        ("c1b.xhtml", xhtml("<p>Continuation in a second file.</p>")),
        ("c2.xhtml", xhtml(chapter("Two", "Second chapter text."))),
    ]
    nav = nav_doc(li("c1.xhtml", "One") + li("c2.xhtml", "Two"))
    book = load_book(write_epub(tmp_path / "b.epub", docs, nav=nav))
    assert titles(book) == ["One", "Two"]
    assert book.chapters[0].paragraphs == ["First chapter text.", "Continuation in a second file."]
    assert book.chapters[1].paragraphs == ["Second chapter text."]


def test_paragraph_cut_by_a_file_break_is_joined(tmp_path):
    docs = [
        ("p1.xhtml", xhtml("<h2>One</h2><p>It was a dark and stormy</p>")),
        ("p2.xhtml", xhtml("<p>night, and the rain fell.</p><p>New paragraph.</p>")),
    ]
    book = load_book(write_epub(tmp_path / "j.epub", docs, nav=nav_doc(li("p1.xhtml", "One"))))
    assert book.chapters[0].paragraphs == [
        "It was a dark and stormy night, and the rain fell.", "New paragraph.",
    ]


def test_nonlinear_item_skipped_unless_include_all(tmp_path):
    docs = [
        ("c1.xhtml", xhtml(chapter("One", "Text one."))),
        ("extra.xhtml", xhtml(chapter("Extra Material", "Bonus text."))),
        ("c2.xhtml", xhtml(chapter("Two", "Text two."))),
    ]
    nav = nav_doc(li("c1.xhtml", "One") + li("extra.xhtml", "Extra Material") + li("c2.xhtml", "Two"))
    path = write_epub(tmp_path / "nl.epub", docs, nav=nav, nonlinear=("extra.xhtml",))
    book = load_book(path)
    assert titles(book) == ["One", "Two"]
    assert book.chapters[0].paragraphs == ["Text one."]  # not joined to the chapter before
    assert book.skipped == ["Extra Material"]
    full = load_book(path, include_all=True)
    assert titles(full) == ["One", "Extra Material", "Two"]
    assert full.skipped == []


def test_boilerplate_sections_skipped_and_recorded(tmp_path):
    docs = [
        ("title.xhtml", xhtml('<section epub:type="titlepage"><h1>Test Book</h1><p>By Ann.</p></section>')),
        ("c1.xhtml", xhtml(chapter("One", "Story text."))),
        ("colo.xhtml", xhtml("<h2>Colophon</h2><p>Set in Georgia.</p>",
                             body_attrs=' epub:type="backmatter colophon"')),
        ("unc.xhtml",
         xhtml('<section epub:type="se:uncopyright"><h2>Legal</h2><p>Public domain.</p></section>')),
        ("contents.xhtml", xhtml("<h2>Table of Contents</h2><p>One ... 1</p>")),
    ]
    nav = nav_doc(
        li("title.xhtml", "Titlepage") + li("c1.xhtml", "One") + li("colo.xhtml", "Colophon")
        + li("unc.xhtml", "Legal") + li("contents.xhtml", "Table of Contents")
    )
    path = write_epub(tmp_path / "bp.epub", docs, nav=nav)
    book = load_book(path)
    assert titles(book) == ["One"]
    assert book.skipped == ["Titlepage", "Colophon", "Legal", "Table of Contents"]
    full = load_book(path, include_all=True)
    assert titles(full) == ["Titlepage", "One", "Colophon", "Legal", "Table of Contents"]
    assert full.chapters[2].paragraphs == ["Set in Georgia."]


def test_guide_and_landmark_targets_are_boilerplate(tmp_path):
    docs = [
        ("c1.xhtml", xhtml(chapter("One", "Story text."))),
        ("legal.xhtml", xhtml("<h2>Fine Print</h2><p>All sorts of notices.</p>")),
    ]
    nav = nav_doc(
        li("c1.xhtml", "One") + li("legal.xhtml", "Fine Print"),
        landmarks='<li><a epub:type="copyright-page" href="legal.xhtml">Legal</a></li>',
    )
    book = load_book(write_epub(tmp_path / "lm.epub", docs, nav=nav))
    assert titles(book) == ["One"] and book.skipped == ["Fine Print"]


def test_text_extraction_drops_page_numbers_notes_and_markup(tmp_path):
    body = """
    <h2>One</h2>
    <p>Energy is E = mc<sup>2</sup> as<span epub:type="pagebreak" id="p5" title="5">5</span> everyone
       knows.<a epub:type="noteref" href="#n1">1</a> A second<sup><a href="notes.xhtml#n2">2</a></sup>
       and third<a href="#n3">[3]</a> and fourth<a role="doc-noteref" href="#n4">*</a> marker.</p>
    <div role="doc-pagebreak" aria-label="6">6</div>
    <p>Picture: <img src="x.png" alt="ALT TEXT NOT READ"/> done.<script>var x = "SCRIPT";</script></p>
    <div>Loose <em>div</em> text<div><p>Inner paragraph.</p></div>tail text</div>
    <ul><li>Item one</li><li>Item <b>two</b></li></ul>
    <table><tr><td>Cell A</td><td>Cell B</td></tr></table>
    <blockquote><p>Quoted line one<br/>line two</p></blockquote>
    <p>   </p>
    <p hidden="hidden">Hidden text.</p>
    <aside epub:type="footnote" id="n1"><p>FOOTNOTE BODY</p></aside>
    <section epub:type="endnotes"><ol><li id="n3">ENDNOTE BODY</li></ol></section>
    <p>Ruby <ruby>漢<rt>kan</rt></ruby> and soft\u00adhyphen and word\u2060joiner.</p>
    """
    nav = nav_doc(li("c1.xhtml", "One"))
    book = load_book(write_epub(tmp_path / "t.epub", [("c1.xhtml", xhtml(body))], nav=nav))
    assert book.chapters[0].paragraphs == [
        "Energy is E = mc2 as everyone knows. A second and third and fourth marker.",
        "Picture: done.",
        "Loose div text",
        "Inner paragraph.",
        "tail text",
        "Item one",
        "Item two",
        "Cell A",
        "Cell B",
        "Quoted line one line two",
        "Ruby 漢 and softhyphen and wordjoiner.",
    ]


def test_leading_heading_repeating_the_title_is_dropped(tmp_path):
    docs = [
        ("c1.xhtml", xhtml('<hgroup><h2>I</h2><p epub:type="title">A Letter</p></hgroup><p>Body one.</p>')),
        ("c2.xhtml", xhtml("<h2>CHAPTER TWO!</h2><p>Body two.</p>")),
        ("c3.xhtml", xhtml("<h2>Three</h2><h3>II</h3><p>Body three.</p>")),
    ]
    nav = nav_doc(li("c1.xhtml", "I: A Letter") + li("c2.xhtml", "Chapter Two") + li("c3.xhtml", "Three"))
    book = load_book(write_epub(tmp_path / "h.epub", docs, nav=nav))
    assert [c.paragraphs for c in book.chapters] == [["Body one."], ["Body two."], ["2", "Body three."]]


# ------------------------------------------------------------------------ nested TOC


def test_nested_toc_wrappers_numbered_sections_and_hidden_lists(tmp_path):
    docs = [
        ("part1.xhtml", xhtml("<h1>Part One</h1>")),
        ("ch1.xhtml", xhtml(chapter("Chapter 1", "Text of chapter one."))),
        ("ch2.xhtml", xhtml(chapter("Chapter 2", "Text of chapter two."))),
        ("part2.xhtml", xhtml("<h1>Part Two</h1><p>An introduction to the second part.</p>")),
        ("ch3.xhtml", xhtml(chapter("Chapter 3", "Text of chapter three."))),
        ("story.xhtml", xhtml(
            '<h2>A Story</h2><section id="s1"><h3>I</h3><p>Section one.</p></section>'
            '<section id="s2"><h3>II</h3><p>Section two.</p></section>')),
        ("tales.xhtml", xhtml(
            '<h2>Tales</h2><p>Some words first.</p><section id="t1"><h3>Tale A</h3><p>A text.</p>'
            '</section><section id="t2"><h3>Tale B</h3><p>B text.</p></section>')),
        ("ch4.xhtml", xhtml(chapter("Chapter 4", "Text of chapter four."))),
    ]
    nav = nav_doc(
        li("part1.xhtml", "Part One", li("ch1.xhtml", "Chapter 1") + li("ch2.xhtml", "Chapter 2"))
        + li("part2.xhtml", "Part Two", li("ch3.xhtml", "Chapter 3"))
        + li("story.xhtml", "A Story", li("story.xhtml#s1", "I") + li("story.xhtml#s2", "II"))
        + li("tales.xhtml", "Tales", li("tales.xhtml#t1", "Tale A") + li("tales.xhtml#t2", "Tale B"),
             hidden=True)
        + '<li><span>An Author Group</span><ol>' + li("ch4.xhtml", "Chapter 4") + "</ol></li>"
    )
    book = load_book(write_epub(tmp_path / "nest.epub", docs, nav=nav))
    assert titles(book) == [
        "Chapter 1", "Chapter 2", "Part Two", "Chapter 3", "A Story", "Tales", "Chapter 4",
    ]
    assert book.chapters[0].paragraphs == ["Text of chapter one."]  # "Part One" not read
    assert book.chapters[2].paragraphs == ["An introduction to the second part."]
    assert book.chapters[4].paragraphs == ["1", "Section one.", "2", "Section two."]
    assert book.chapters[5].paragraphs == ["Some words first.", "Tale A", "A text.", "Tale B", "B text."]


def test_long_numbered_sections_in_one_file_stay_chapters(tmp_path):
    long_text = " ".join([LOREM] * 200)  # ~5,400 words per section, 16,000 in all
    body = "<h1>Book One</h1>" + "".join(
        f'<section id="s{n}"><h2>{r}</h2><p>{long_text}</p></section>'
        for n, r in enumerate(["I", "II", "III"], 1)
    )
    nav = nav_doc(li("one.xhtml", "Book One", "".join(
        li(f"one.xhtml#s{n}", r) for n, r in enumerate(["I", "II", "III"], 1))))
    book = load_book(write_epub(tmp_path / "long.epub", [("one.xhtml", xhtml(body))], nav=nav))
    assert titles(book) == ["I", "II", "III"]
    assert [c.paragraphs for c in book.chapters] == [[long_text]] * 3


def test_leading_spine_documents(tmp_path):
    long_intro = "<h2>Foreword</h2>" + f"<p>{LOREM} {LOREM}</p>"
    docs = [
        ("cover.xhtml", xhtml('<img src="c.jpg" alt="Cover"/>')),
        ("front.xhtml", xhtml("<h1>Test Book</h1><p>By Ann Author.</p>")),
        ("copy.xhtml", xhtml("<p>© 2020 Somebody. All rights reserved. ISBN 978-0-00-000000-0.</p>")),
        ("intro.xhtml", xhtml(long_intro)),
        ("c1.xhtml", xhtml(chapter("One", "Story."))),
    ]
    path = write_epub(tmp_path / "lead.epub", docs, nav=nav_doc(li("c1.xhtml", "One")))
    book = load_book(path)
    assert titles(book) == ["Test Book", "One"]  # titled from the first heading
    assert book.chapters[0].paragraphs == ["By Ann Author.", "Foreword", f"{LOREM} {LOREM}"]
    assert "copy.xhtml" in book.skipped

    short = write_epub(tmp_path / "short.epub", docs[:3] + docs[4:], nav=nav_doc(li("c1.xhtml", "One")))
    assert titles(load_book(short)) == ["One"]


def test_no_toc_falls_back_to_document_headings(tmp_path):
    docs = [
        ("a.xhtml", xhtml("<h2>Opening</h2><p>First.</p>")),
        ("b.xhtml", xhtml("<p>More of the opening.</p>")),
        ("c.xhtml", xhtml("<h2>Closing</h2><p>Last.</p>")),
    ]
    book = load_book(write_epub(tmp_path / "notoc.epub", docs))
    assert titles(book) == ["Opening", "Closing"]
    assert book.chapters[0].paragraphs == ["First.", "More of the opening."]


def test_empty_chapter_dropped(tmp_path):
    docs = [
        ("c1.xhtml", xhtml(chapter("One", "Story."))),
        ("pic.xhtml", xhtml('<h2>Plate</h2><img src="p.png" alt="A plate"/>')),
    ]
    nav = nav_doc(li("c1.xhtml", "One") + li("pic.xhtml", "Plate"))
    book = load_book(write_epub(tmp_path / "e.epub", docs, nav=nav))
    assert titles(book) == ["One"]


# --------------------------------------------------------------------- EPUB 2, covers


def _image(fmt: str) -> bytes:
    pil = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    pil.new("RGB", (8, 12), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


NCX = """<?xml version="1.0" encoding="utf-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
<head/><docTitle><text>Old Book</text></docTitle>
<navMap>
  <navPoint id="p1" playOrder="1"><navLabel><text>Part the First</text></navLabel>
    <content src="text/part1.html"/>
    <navPoint id="c1" playOrder="2"><navLabel><text> Chapter
      One </text></navLabel><content src="text/ch1.html#start"/></navPoint>
    <navPoint id="c2" playOrder="3"><navLabel><text>Chapter Two</text></navLabel>
      <content src="text/ch1.html#second"/></navPoint>
  </navPoint>
</navMap></ncx>"""


def test_epub2_ncx_only_with_meta_cover_jpeg(tmp_path):
    jpeg = _image("JPEG")
    docs = [
        ("text/part1.html", xhtml("<h1>Part the First</h1>")),
        ("text/ch1.html", xhtml('<h2 id="start">Chapter One</h2><p>One &amp; only.</p>'
                                '<h2 id="second">Chapter Two</h2><p>Two.</p>')),
    ]
    path = write_epub(
        tmp_path / "old.epub", docs, ncx=NCX, version="2.0",
        metadata='<dc:title>Old Book</dc:title><dc:creator opf:role="aut">A. One</dc:creator>'
        '<dc:creator>B. Two</dc:creator><dc:language>en-US</dc:language><meta name="cover" content="img1"/>',
        extra_items=[("img1", "images/front.jpg", "image/jpeg", "", jpeg)],
    )
    book = load_book(path)
    assert titles(book) == ["Chapter One", "Chapter Two"]
    assert [c.paragraphs for c in book.chapters] == [["One & only."], ["Two."]]
    assert book.authors == ["A. One", "B. Two"] and book.language == "en-US"
    assert book.cover == jpeg and book.cover_mime == "image/jpeg"


def test_gif_cover_converted_to_png(tmp_path):
    gif = _image("GIF")
    path = write_epub(
        tmp_path / "gif.epub", [("c1.xhtml", xhtml(chapter("One", "Text.")))],
        nav=nav_doc(li("c1.xhtml", "One")),
        extra_items=[("ci", "cover.gif", "image/gif", "cover-image", gif)],
    )
    book = load_book(path)
    assert book.cover_mime == "image/png" and book.cover.startswith(b"\x89PNG")


def test_svg_cover_uses_the_raster_it_references_or_none(tmp_path):
    png = _image("PNG")
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           '<image xlink:href="art.png" width="8" height="12"/></svg>')
    common = dict(docs=[("c1.xhtml", xhtml(chapter("One", "Text.")))], nav=nav_doc(li("c1.xhtml", "One")))
    path = write_epub(tmp_path / "svg.epub", **common, extra_items=[
        ("cs", "cover.svg", "image/svg+xml", "cover-image", svg.encode()),
        ("art", "art.png", "image/png", "", png),
    ])
    book = load_book(path)
    assert book.cover == png and book.cover_mime == "image/png"

    plain_svg = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>'
    path = write_epub(tmp_path / "svg2.epub", **common,
                      extra_items=[("cs", "cover.svg", "image/svg+xml", "cover-image", plain_svg)])
    book = load_book(path)
    assert book.cover is None and book.cover_mime is None


def test_metadata_main_title_and_missing_title(tmp_path):
    meta = ('<dc:title id="t2">A Subtitle</dc:title><dc:title id="t1">Main Title</dc:title>'
            '<meta refines="#t1" property="title-type">main</meta>'
            '<meta refines="#t2" property="title-type">subtitle</meta>')
    common = dict(docs=[("c1.xhtml", xhtml(chapter("One", "Text.")))], nav=nav_doc(li("c1.xhtml", "One")))
    book = load_book(write_epub(tmp_path / "m.epub", **common, metadata=meta))
    assert (book.title, book.authors, book.language) == ("Main Title", [], None)
    book = load_book(write_epub(tmp_path / "my_little-book.epub", **common, metadata=""))
    assert book.title == "My Little Book"


# ------------------------------------------------------------------------------ DRM


ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
            xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
{entries}
</encryption>"""


def _enc(algorithm: str, uri: str) -> str:
    return (f'<enc:EncryptedData><enc:EncryptionMethod Algorithm="{algorithm}"/>'
            f'<enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData>')


def test_drm_encryption_of_content_is_refused(tmp_path):
    entries = _enc("http://www.idpf.org/2008/embedding", "OEBPS/fonts/a.otf") + _enc(
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc", "OEBPS/c1.xhtml")
    path = write_epub(
        tmp_path / "locked.epub", [("c1.xhtml", xhtml(chapter("One", "Text.")))],
        nav=nav_doc(li("c1.xhtml", "One")),
        extra_zip={"META-INF/encryption.xml": ENCRYPTION.format(entries=entries)},
    )
    with pytest.raises(BookError) as err:
        load_book(path)
    assert str(err.value) == (
        "locked.epub is DRM-protected (META-INF/encryption.xml encrypts its content); e2a can't "
        "read it — remove the DRM with the tool you bought it from"
    )


def test_font_obfuscation_only_is_fine(tmp_path):
    entries = _enc("http://www.idpf.org/2008/embedding", "OEBPS/fonts/a.otf") + _enc(
        "http://ns.adobe.com/pdf/enc#RC", "OEBPS/fonts/b.ttf")
    path = write_epub(
        tmp_path / "fonts.epub", [("c1.xhtml", xhtml(chapter("One", "Text.")))],
        nav=nav_doc(li("c1.xhtml", "One")),
        extra_zip={"META-INF/encryption.xml": ENCRYPTION.format(entries=entries)},
    )
    assert titles(load_book(path)) == ["One"]


def test_font_algorithm_on_a_content_file_is_drm(tmp_path):
    entries = _enc("http://www.idpf.org/2008/embedding", "OEBPS/c1.xhtml")
    path = write_epub(
        tmp_path / "odd.epub", [("c1.xhtml", xhtml(chapter("One", "Text.")))],
        nav=nav_doc(li("c1.xhtml", "One")),
        extra_zip={"META-INF/encryption.xml": ENCRYPTION.format(entries=entries)},
    )
    with pytest.raises(BookError, match="odd.epub is DRM-protected"):
        load_book(path)


# --------------------------------------------------------------------------- errors


def _one_line_error(path, match: str) -> str:
    with pytest.raises(BookError) as err:
        load_book(path)
    message = str(err.value)
    assert "\n" not in message
    assert match in message, message
    return message


def test_corrupt_and_non_zip_files(tmp_path):
    not_zip = tmp_path / "text.epub"
    not_zip.write_text("this is not a zip archive")
    assert _one_line_error(not_zip, "text.epub is not a valid EPUB (corrupt or not a zip archive)")

    good = write_epub(tmp_path / "good.epub", [("c1.xhtml", xhtml(chapter("One", LOREM * 20)))],
                      nav=nav_doc(li("c1.xhtml", "One")))
    truncated = tmp_path / "truncated.epub"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    _one_line_error(truncated, "truncated.epub is not a valid EPUB (corrupt or not a zip archive)")

    data = bytearray(good.read_bytes())
    start = data.find(LOREM[:20].encode())
    flipped = tmp_path / "flipped.epub"
    with zipfile.ZipFile(good) as zf:  # damage a stored member's bytes: CRC check fails
        info = zf.getinfo("OEBPS/c1.xhtml")
    assert info.compress_type == zipfile.ZIP_STORED and start > 0
    data[start : start + 5] = b"XXXXX"
    flipped.write_bytes(bytes(data))
    _one_line_error(flipped, "flipped.epub is not a valid EPUB (corrupt or not a zip archive)")


def test_zip_without_valid_opf(tmp_path):
    plain = tmp_path / "plain.epub"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("hello.txt", "hi")
    _one_line_error(plain, "plain.epub is not a valid EPUB (no META-INF/container.xml)")

    missing = tmp_path / "missing.epub"
    with zipfile.ZipFile(missing, "w") as zf:
        zf.writestr("META-INF/container.xml", CONTAINER)
    _one_line_error(missing, "missing.epub is not a valid EPUB (no OPF package document)")

    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("OEBPS/content.opf", "<package><metadata>oops")
    _one_line_error(broken, "broken.epub is not a valid EPUB")


def test_epub_without_text(tmp_path):
    path = write_epub(tmp_path / "pictures.epub",
                      [("c1.xhtml", xhtml('<img src="a.png" alt="Only a picture"/>'))],
                      nav=nav_doc(li("c1.xhtml", "Pictures")))
    assert _one_line_error(path, "has no readable text") == "pictures.epub has no readable text"


def test_missing_directory_and_unknown_extension(tmp_path):
    _one_line_error(tmp_path / "nope.epub", "nope.epub: file not found")
    folder = tmp_path / "folder.epub"
    folder.mkdir()
    _one_line_error(folder, "folder.epub is a directory, not a book file")
    odd = tmp_path / "book.xyz"
    odd.write_text("hello")
    _one_line_error(odd, "book.xyz: unsupported file type '.xyz'")
    comic = tmp_path / "comic.cbz"
    comic.write_bytes(b"PK")
    _one_line_error(comic, "comic.cbz: unsupported file type '.cbz'")


def test_unnamed_document_after_boilerplate_entry_is_kept(tmp_path):
    docs = [
        ("contents.xhtml", xhtml("<h2>Contents</h2><p>One .... 3</p>")),
        ("dedication.xhtml", xhtml("<h2>For Mother</h2><p>Who read to me.</p>")),
        ("c1.xhtml", xhtml(chapter("One", "Story."))),
    ]
    nav = nav_doc(li("contents.xhtml", "Table of Contents") + li("c1.xhtml", "One"))
    book = load_book(write_epub(tmp_path / "ded.epub", docs, nav=nav))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("For Mother", ["Who read to me."]), ("One", ["Story."]),
    ]
    assert book.skipped == ["Table of Contents"]


def test_tolerates_missing_manifest_file_and_broken_ncx_reference(tmp_path):
    path = tmp_path / "sloppy.epub"
    write_epub(path, [("c1.xhtml", xhtml(chapter("One", "Still readable.")))],
               extra_items=[("font", "fonts/gone.otf", "font/otf", "", b"")])
    # drop the font from the archive and point <spine toc> at an id that does not exist
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "OEBPS/fonts/gone.otf"}
    members["OEBPS/content.opf"] = members["OEBPS/content.opf"].replace(b"<spine>", b'<spine toc="nope">')
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    book = load_book(path)
    assert [(c.title, c.paragraphs) for c in book.chapters] == [("One", ["Still readable."])]
