"""Hostile books, built in the test, against the real loaders.

Each test makes the attack (a zip bomb, an entry lying about its size, entity declarations, a
book over the text or chapter caps, a chapter that cannot be parsed), checks it is refused or
contained, and then loads a real corpus book, which must still read exactly as it does
before any attack.
"""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from e2a_node.book import epub as epub_module
from e2a_node.book import load_book
from e2a_node.book.archive import MAX_ENTRIES, MAX_RATIO, RATIO_MIN_BYTES
from e2a_node.book.limits import MAX_BOOK_CHARS, MAX_BOOK_WORDS, MAX_CHAPTERS, MAX_MARKUP_BYTES
from e2a_node.errors import BookError
from tests.conftest import run_e2a
from tests.epub_parts import CONTAINER

REFERENCE_BOOK = "love-among-the-chickens.epub"


PROSE = (
    "The traveller walked all day along the dusty road, and in the evening he sat down "
    "under a tree to rest and to eat the bread he had carried since the morning."
)


def xhtml(body: str, *, title: str = "Doc", doctype: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
{doctype}<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>{title}</title></head><body>{body}</body></html>"""


def nav(labels: list[tuple[str, str]], doctype: str = "") -> str:
    items = "".join(f'<li><a href="{href}">{label}</a></li>' for href, label in labels)
    return xhtml(f'<nav epub:type="toc"><ol>{items}</ol></nav>', doctype=doctype)


def opf(hrefs: list[str], *, title: str = "Hostile Book", doctype: str = "",
        extra_items: str = "") -> str:
    manifest = "".join(
        f'<item id="d{n}" href="{h}" media-type="application/xhtml+xml"/>' for n, h in enumerate(hrefs)
    )
    spine = "".join(f'<itemref idref="d{n}"/>' for n in range(len(hrefs)))
    return f"""<?xml version="1.0" encoding="utf-8"?>
{doctype}<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:test:hostile</dc:identifier><dc:title>{title}</dc:title>
    <dc:language>en</dc:language>
  </metadata>
  <manifest>{manifest}
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>{extra_items}
  </manifest>
  <spine>{spine}</spine>
</package>"""


def write_epub(path: Path, chapters: list[tuple[str, str, str]], *, opf_text: str | None = None,
               nav_text: str | None = None, skip: tuple[str, ...] = ()) -> Path:
    """An EPUB 3 of (href, TOC label, XHTML) chapters; hrefs in `skip` are left out of the zip."""
    hrefs = [h for h, _, _ in chapters]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("OEBPS/content.opf", opf_text or opf(hrefs))
        zf.writestr("OEBPS/nav.xhtml", nav_text or nav([(h, label) for h, label, _ in chapters]))
        for href, _, text in chapters:
            if href not in skip:
                zf.writestr(f"OEBPS/{href}", text)
    return path


def chapter(title: str, *paragraphs: str) -> str:
    return xhtml(f"<h2>{title}</h2>" + "".join(f"<p>{p}</p>" for p in paragraphs), title=title)


def simple_book(path: Path) -> Path:
    return write_epub(path, [("ch1.xhtml", "One", chapter("One", PROSE)),
                             ("ch2.xhtml", "Two", chapter("Two", PROSE))])


def add_zeros(path: Path, name: str, n: int) -> None:
    """Append an entry of `n` zero bytes, streamed (never all in memory), deflated."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w") as f:
        block = bytes(1 << 20)
        left = n
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def patch_entry(path: Path, name: str, **fields: int) -> None:
    """Rewrite header fields of entry `name` in both its local header and the central
    directory: size (inflated), compressed, crc, flags, method."""
    data = bytearray(path.read_bytes())
    raw = name.encode()
    # offsets in the local header / the central directory record
    where = {"flags": (6, 8), "method": (8, 10), "crc": (14, 16), "compressed": (18, 20),
             "size": (22, 24)}
    formats = {"flags": "<H", "method": "<H", "crc": "<I", "compressed": "<I", "size": "<I"}
    found = 0
    for sig, name_at, which in ((b"PK\x03\x04", 30, 0), (b"PK\x01\x02", 46, 1)):
        pos = data.find(sig)
        while pos >= 0:
            if data[pos + name_at : pos + name_at + len(raw)] == raw:
                for field, value in fields.items():
                    struct.pack_into(formats[field], data, pos + where[field][which], value)
                found += 1
            pos = data.find(sig, pos + 4)
    assert found == 2, f"entry {name} not found in both headers"
    path.write_bytes(bytes(data))


def refused(path: Path, *needles: str) -> str:
    with pytest.raises(BookError) as err:
        load_book(path)
    message = str(err.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def texts(book) -> list[str]:
    """Everything a listener could hear or see: titles, authors, paragraphs."""
    return [book.title, *book.authors, *book.skipped,
            *(t for c in book.chapters for t in (c.title, *c.paragraphs))]


@pytest.fixture(scope="module")
def reference(corpus):
    """The reference corpus book as it reads before any attack."""
    return load_book(corpus / REFERENCE_BOOK)


def still_reads_fully(corpus: Path, reference) -> None:
    book = load_book(corpus / REFERENCE_BOOK)
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        (c.title, c.paragraphs) for c in reference.chapters
    ]
    assert book.cover == reference.cover and book.warnings == [] and len(book.chapters) > 20


# ------------------------------------------------------------------------- zip layer


def test_zip_bomb_chapter_is_refused_before_it_is_read(tmp_path, corpus, reference, monkeypatch):
    path = write_epub(tmp_path / "bomb.epub", [("ch1.xhtml", "One", chapter("One", PROSE)),
                                               ("ch2.xhtml", "Two", "")], skip=("ch2.xhtml",))
    # The bomb: a chapter of one byte over the markup cap, ~60 kB on disk.
    add_zeros(path, "OEBPS/ch2.xhtml", MAX_MARKUP_BYTES + 1)
    assert path.stat().st_size < 1_000_000

    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    message = refused(path, "bomb.epub: entry OEBPS/ch2.xhtml inflates to 64,000,001 bytes "
                            "(limit 64 MB); refusing a possible zip bomb")
    assert opened == [], f"read {opened} before refusing: {message}"
    monkeypatch.undo()
    still_reads_fully(corpus, reference)


def test_highly_compressed_entries_are_refused(tmp_path, corpus, reference):
    # One image of zeros: small enough for the size cap, but ~1000:1.
    one = simple_book(tmp_path / "image.epub")
    add_zeros(one, "OEBPS/images/cover.png", 10 * RATIO_MIN_BYTES)
    refused(one, "image.epub: entry OEBPS/images/cover.png inflates ", f"(limit {MAX_RATIO}:1)",
            "zip bomb")
    # The same split into many entries each under the ratio threshold.
    many = simple_book(tmp_path / "many.epub")
    for n in range(40):
        add_zeros(many, f"OEBPS/fonts/f{n}.otf", RATIO_MIN_BYTES - 1)
    refused(many, "many.epub: its files inflate ", "together", f"(limit {MAX_RATIO}:1)")
    still_reads_fully(corpus, reference)


def test_entry_lying_about_its_size_costs_no_more_than_it_declares(tmp_path, corpus, reference):
    """An entry declaring a small size that really inflates to 100 MB is read in bounded
    memory: cut at its declared size (and refused as corrupt when its CRC does not match)."""
    text = chapter("Two", "Only this much was declared.").encode()
    for crc_matches in (True, False):
        path = write_epub(tmp_path / f"lie-{crc_matches}.epub",
                          [("ch1.xhtml", "One", chapter("One", PROSE))])
        nav_and_opf = {"OEBPS/content.opf": opf(["ch1.xhtml", "ch2.xhtml"]),
                       "OEBPS/nav.xhtml": nav([("ch1.xhtml", "One"), ("ch2.xhtml", "Two")])}
        with zipfile.ZipFile(path) as zf:
            members = {i.filename: zf.read(i) for i in zf.infolist()}
        members.update({k: v.encode() for k, v in nav_and_opf.items()})
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, data in members.items():
                zf.writestr(member, data)
            with zf.open("OEBPS/ch2.xhtml", "w") as f:
                f.write(text)
                for _ in range(100):
                    f.write(bytes(1 << 20))
        patch_entry(path, "OEBPS/ch2.xhtml", size=len(text),
                    crc=zlib.crc32(text) if crc_matches else 12345)

        tracemalloc.start()
        try:
            if crc_matches:
                book = load_book(path)
            else:
                refused(path, f"lie-{crc_matches}.epub is not a valid EPUB (corrupt")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 40_000_000, f"reading took {peak:,} bytes"
        if crc_matches:
            assert [(c.title, c.paragraphs) for c in book.chapters] == [
                ("One", [PROSE]), ("Two", ["Only this much was declared."])
            ]
    still_reads_fully(corpus, reference)


def test_archive_tricks_are_refused(tmp_path, corpus, reference):
    base = simple_book(tmp_path / "base.epub")

    def variant(name: str, **fields: int) -> Path:
        path = tmp_path / name
        path.write_bytes(base.read_bytes())
        patch_entry(path, "OEBPS/ch2.xhtml", **fields)
        return path

    refused(variant("method.epub", method=zipfile.ZIP_BZIP2),
            "method.epub: entry OEBPS/ch2.xhtml uses zip compression method 12")
    refused(variant("password.epub", flags=1), "entry OEBPS/ch2.xhtml is password-protected")
    # The first entry claiming the whole file as its data: it overlaps all the others.
    overlap = tmp_path / "overlap.epub"
    overlap.write_bytes(base.read_bytes())
    patch_entry(overlap, "mimetype", compressed=overlap.stat().st_size - 1)
    refused(overlap, "overlap.epub: its files claim", "entries that overlap")
    refused(variant("outside.epub", compressed=50_000_000),
            "outside.epub is not a valid EPUB (corrupt or not a zip archive)")
    # A huge declared size is refused by the size cap, whatever the data.
    refused(variant("declared.epub", size=3_000_000_000, compressed=100),
            "entry OEBPS/ch2.xhtml inflates to 3 GB (limit 64 MB)")

    crowded = simple_book(tmp_path / "crowded.epub")
    with zipfile.ZipFile(crowded, "a", zipfile.ZIP_STORED) as zf:
        for n in range(MAX_ENTRIES):
            zf.writestr(f"OEBPS/x/{n}", b"")
    with zipfile.ZipFile(crowded) as zf:
        count = len(zf.infolist())
    assert count > MAX_ENTRIES
    refused(crowded, f"crowded.epub has {count:,} files in its archive (limit {MAX_ENTRIES:,})")
    still_reads_fully(corpus, reference)


def test_manifest_listing_one_entry_many_times_is_read_once(tmp_path, corpus, reference):
    """A manifest naming one 1.5 MB document 1,000 times must not make the reader hold 1.5 GB."""
    rng = random.Random(7)
    vocabulary = sorted(set(PROSE.replace(",", "").replace(".", "").split()))
    paragraphs = [" ".join(rng.choice(vocabulary) for _ in range(25)) for _ in range(10_000)]
    big = chapter("Big", *paragraphs)
    items = "".join(
        f'<item id="dup{n}" href="big.xhtml" media-type="application/xhtml+xml"/>'
        for n in range(1_000)
    )
    path = write_epub(tmp_path / "dup.epub", [("big.xhtml", "Big", big)],
                      opf_text=opf(["big.xhtml"], extra_items=items))
    tracemalloc.start()
    try:
        book = load_book(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000_000, f"reading took {peak:,} bytes"
    assert [(c.title, len(c.paragraphs)) for c in book.chapters] == [("Big", 10_000)]
    still_reads_fully(corpus, reference)


def test_cover_image_claiming_huge_dimensions_is_not_decoded(tmp_path, corpus, reference):
    Image = pytest.importorskip("PIL.Image")
    from e2a_node.book.cover import MAX_COVER_PIXELS

    def book_with_cover(name: str, size: tuple[int, int], fmt: str):
        image = io.BytesIO()
        Image.new("P", size, 0).save(image, format=fmt)  # a few kB on disk, however large
        href = f"cover.{fmt.lower()}"
        item = (f'<item id="cover" href="{href}" media-type="image/{fmt.lower()}" '
                'properties="cover-image"/>')
        path = write_epub(tmp_path / name, [("ch1.xhtml", "One", chapter("One", PROSE))],
                          opf_text=opf(["ch1.xhtml"], extra_items=item))
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(f"OEBPS/{href}", image.getvalue())
        return load_book(path)

    huge = (8000, MAX_COVER_PIXELS // 8000 + 1)
    for fmt in ("GIF", "PNG"):  # GIF would be decoded to PNG; PNG passed on to the player
        book = book_with_cover(f"huge-{fmt}.epub", huge, fmt)
        assert book.cover is None and [c.title for c in book.chapters] == ["One"]
        assert book_with_cover(f"small-{fmt}.epub", (60, 90), fmt).cover_mime == "image/png"
    still_reads_fully(corpus, reference)


# ---------------------------------------------------------------------- entities


SUBSET = '<!DOCTYPE html [<!ENTITY xxe "SECRET"> <!ENTITY odd "a]>b">]>\n'
XHTML11 = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
           '"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n')


def test_entity_declarations_leave_nothing_behind(tmp_path, corpus, reference):
    chapters = [
        # well-formed XML that declares its entities
        ("ch1.xhtml", "One &xxe;", xhtml("<h2>One &xxe;</h2><p>Hello &xxe; world &odd;.</p>",
                                          title="One &xxe;", doctype=SUBSET)),
        # an undeclared entity too: not XML, read by the forgiving HTML parser
        ("ch2.xhtml", "Two", xhtml("<h2>Two</h2><p>Second &xxe; page &bogus; here.</p>",
                                   doctype=SUBSET)),
        # XHTML 1.1 with HTML named entities, the way many EPUB 2 books are written
        ("ch3.xhtml", "Three&nbsp;&mdash;&nbsp;End",
         xhtml("<h2>Three&nbsp;&mdash;&nbsp;End</h2><p>It&rsquo;s a&nbsp;test&hellip; &amp; "
               "&#233;t&#xE9;</p>", doctype=XHTML11)),
    ]
    labels = [(h, label) for h, label, _ in chapters]
    path = write_epub(
        tmp_path / "entities.epub", chapters,
        opf_text=opf([h for h, _, _ in chapters], title="War &xxe; Peace", doctype=SUBSET),
        nav_text=nav(labels, doctype=SUBSET),
    )
    book = load_book(path)
    for text in texts(book):
        for leftover in ("]>", "&xxe;", "&bogus;", "SECRET", "ENTITY", "&nbsp;", "a]>b"):
            assert leftover not in text, (leftover, text)
    assert book.title == "War Peace"
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("One", ["Hello world ."]),
        ("Two", ["Second page here."]),
        ("Three — End", ["It’s a test… & été"]),
    ]
    assert book.warnings == []
    still_reads_fully(corpus, reference)


def test_external_entities_and_billion_laughs_are_not_resolved(tmp_path, corpus, reference):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "file://{secret}">')
    laughs = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10)
    )
    doctype = (f'<!DOCTYPE html [<!ENTITY xxe SYSTEM "file://{secret}"> '
               f'<!ENTITY % pe SYSTEM "file://{dtd}"> %pe; {laughs}]>\n')
    chapters = [
        ("ch1.xhtml", "One", xhtml(f"<h2>One</h2><p>A &xxe; B &leak; C &l9; D</p>",
                                   doctype=doctype)),
        ("ch2.xhtml", "Two", xhtml(f'<h2>Two</h2><p title="&l9;">{PROSE}</p>', doctype=doctype)),
    ]
    book = load_book(write_epub(tmp_path / "xxe.epub", chapters))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("One", ["A B C D"]), ("Two", [PROSE]),
    ]
    assert not any("TOP-SECRET" in t or "lol" in t for t in texts(book))
    still_reads_fully(corpus, reference)


def test_entities_in_html_and_ncx(tmp_path, corpus, reference):
    html_book = tmp_path / "page.html"
    html_book.write_text(
        SUBSET + "<html><head><title>Page &xxe;</title></head><body>"
        "<h2>First &xxe;</h2><p>Alpha &xxe; &mdash; omega &bogus;.</p>"
        "<h2>Second</h2><p>Beta&nbsp;gamma.</p></body></html>"
    )
    book = load_book(html_book)
    assert book.title == "Page"
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("First", ["Alpha — omega ."]), ("Second", ["Beta gamma."]),
    ]

    ncx = f"""<?xml version="1.0"?>
{SUBSET}<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>
<navPoint id="p1"><navLabel><text>First &xxe; part</text></navLabel><content src="ch1.xhtml"/></navPoint>
<navPoint id="p2"><navLabel><text>Second&nbsp;part</text></navLabel><content src="ch2.xhtml"/></navPoint>
</navMap></ncx>"""
    path = tmp_path / "ncx.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("OEBPS/content.opf", opf(["ch1.xhtml", "ch2.xhtml"]).replace(
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
            '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'))
        zf.writestr("OEBPS/toc.ncx", ncx)
        zf.writestr("OEBPS/ch1.xhtml", xhtml(f"<p>{PROSE}</p>"))
        zf.writestr("OEBPS/ch2.xhtml", xhtml(f"<p>{PROSE}</p>"))
    assert [c.title for c in load_book(path).chapters] == ["First part", "Second part"]
    still_reads_fully(corpus, reference)


# ------------------------------------------------------------------------ text caps


def test_text_over_the_caps_is_refused(tmp_path, corpus, reference, monkeypatch):
    chars = tmp_path / "chars.txt"
    chars.write_text("word " * (MAX_BOOK_CHARS // 5 + 1))
    refused(chars, f"chars.txt has at least {MAX_BOOK_CHARS + 5:,} characters of text "
                   f"(limit {MAX_BOOK_CHARS:,}); refusing a book this large")

    paragraph = " ".join(["a"] * 1000)
    words = tmp_path / "words.txt"
    words.write_text("\n\n".join([paragraph] * (MAX_BOOK_WORDS // 1000 + 1)))
    refused(words, f"words.txt has {MAX_BOOK_WORDS + 1000:,} words (limit {MAX_BOOK_WORDS:,})")

    headings = tmp_path / "headings.md"
    headings.write_text("".join(f"# Part {n}\n\nText.\n\n" for n in range(MAX_CHAPTERS + 1)))
    refused(headings, f"headings.md has {MAX_CHAPTERS + 1:,} chapters (limit {MAX_CHAPTERS:,})")

    html_book = tmp_path / "many.html"
    html_book.write_text("<html><body>" + "".join(
        f"<h2>Part {n}</h2><p>Text.</p>" for n in range(MAX_CHAPTERS + 1)) + "</body></html>")
    refused(html_book, f"many.html has {MAX_CHAPTERS + 1:,} chapters")

    # An EPUB is refused as soon as the documents read so far hold too much text: 4 of these
    # 5 documents of ~13 M characters each (text that compresses like prose, ~4:1).
    rng = random.Random(3)
    vocabulary = sorted(set(PROSE.replace(",", "").replace(".", "").split()))
    block = "".join("<p>" + " ".join(rng.choice(vocabulary) for _ in range(200)) + "</p>"
                    for _ in range(1000))
    doc = xhtml(block * (MAX_BOOK_CHARS // 4 // len(block) + 1))
    big = tmp_path / "big.epub"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("OEBPS/content.opf", opf([f"c{n}.xhtml" for n in range(5)]))
        zf.writestr("OEBPS/nav.xhtml", nav([(f"c{n}.xhtml", f"Part {n}") for n in range(5)]))
        for n in range(5):
            zf.writestr(f"OEBPS/c{n}.xhtml", doc)
    parsed: list[int] = []
    real_parse = epub_module.parse_markup
    monkeypatch.setattr(epub_module, "parse_markup",
                        lambda data: parsed.append(len(data)) or real_parse(data))
    refused(big, "big.epub has at least ", f"characters of text (limit {MAX_BOOK_CHARS:,})")
    assert len(parsed) == 4, "the fifth document was read although the text was already too much"
    monkeypatch.undo()

    # One document, a TOC entry per anchor: too many chapters.
    body = "".join(f'<h2 id="s{n}">Section {n}</h2><p>Text.</p>' for n in range(MAX_CHAPTERS + 1))
    labels = [(f"one.xhtml#s{n}", f"Section {n}") for n in range(MAX_CHAPTERS + 1)]
    epub = write_epub(tmp_path / "anchors.epub", [("one.xhtml", "Section 0", xhtml(body))],
                      nav_text=nav(labels))
    refused(epub, f"anchors.epub has {MAX_CHAPTERS + 1:,} chapters")
    still_reads_fully(corpus, reference)


def test_deep_and_huge_tables_of_contents(tmp_path, corpus, reference):
    from e2a_node.book.toc import MAX_TOC_DEPTH, MAX_TOC_ENTRIES, parse_nav, parse_ncx

    depth = 1_000  # XML allows it; reading every level recursively overflows Python's stack
    inner = "".join(f'<ol><li><a href="ch2.xhtml">Level {n}</a>' for n in range(depth))
    inner += "</li></ol>" * depth
    deep = xhtml(f'<nav epub:type="toc"><ol><li><a href="ch1.xhtml">One</a></li>'
                 f'<li><a href="ch2.xhtml">Two</a>{inner}</li></ol></nav>')
    toc, _ = parse_nav(deep.encode(), "nav.xhtml")
    levels, entry = 0, toc[1]
    while entry.children:
        levels, entry = levels + 1, entry.children[0]
    assert levels == MAX_TOC_DEPTH - 1
    book = load_book(write_epub(tmp_path / "deep.epub", [
        ("ch1.xhtml", "One", chapter("One", PROSE)), ("ch2.xhtml", "Two", chapter("Two", PROSE)),
    ], nav_text=deep))
    assert [c.paragraphs[-1] for c in book.chapters] == [PROSE, PROSE]

    many = MAX_TOC_ENTRIES + 1
    with pytest.raises(ValueError, match=f"more than {MAX_TOC_ENTRIES:,} entries"):
        parse_nav(nav([("ch1.xhtml", "x")] * many).encode(), "nav.xhtml")
    points = '<navPoint><navLabel><text>x</text></navLabel><content src="ch1.xhtml"/></navPoint>'
    with pytest.raises(ValueError, match=f"more than {MAX_TOC_ENTRIES:,} entries"):
        parse_ncx(f"<ncx><navMap>{points * many}</navMap></ncx>".encode(), "toc.ncx")
    still_reads_fully(corpus, reference)


# -------------------------------------------------------------------------- warnings


def test_chapter_that_cannot_be_read_is_named_in_a_warning(tmp_path, corpus, reference):
    chapters = [
        ("ch1.xhtml", "Chapter One", chapter("Chapter One", PROSE)),
        ("ch2.xhtml", "Chapter Two", '<?xml version="1.0"?>\n<!-- the rest was lost -->'),
        ("ch3.xhtml", "Chapter Three", chapter("Chapter Three", PROSE)),
        ("ch4.xhtml", "Chapter Four", chapter("Chapter Four", PROSE)),
    ]
    book = load_book(write_epub(tmp_path / "damaged.epub", chapters, skip=("ch3.xhtml",)))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("Chapter One", [PROSE]), ("Chapter Four", [PROSE]),
    ]
    assert book.warnings == [
        "chapter 'Chapter Two' (OEBPS/ch2.xhtml) could not be read: unparseable markup: "
        "Document is empty; it is left out",
        "chapter 'Chapter Three' (OEBPS/ch3.xhtml) could not be read: it is missing from the "
        "archive; it is left out",
    ]

    broken_nav = write_epub(tmp_path / "nav.epub", chapters[:1],
                            nav_text="<!-- nothing here -->")
    book = load_book(broken_nav)
    assert [c.title for c in book.chapters] == ["Chapter One"]
    assert book.warnings == [
        "table of contents OEBPS/nav.xhtml could not be read: unparseable markup: Document "
        "is empty; it is not used",
    ]
    still_reads_fully(corpus, reference)


# ------------------------------------------------------------------------------ CLI


def test_cli_refuses_a_zip_bomb_in_one_line(tmp_path, corpus, reference):
    path = tmp_path / "bomb.epub"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER)
        zf.writestr("OEBPS/content.opf", opf(["ch1.xhtml"]))
        zf.writestr("OEBPS/nav.xhtml", nav([("ch1.xhtml", "One")]))
    add_zeros(path, "OEBPS/ch1.xhtml", MAX_MARKUP_BYTES + 1)
    result = run_e2a("chapters", path, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert "zip bomb" in lines[0] and "Traceback" not in result.stderr + result.stdout
    ok = run_e2a("chapters", corpus / REFERENCE_BOOK, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert f"{len(reference.chapters)} chapters" in ok.stdout
    still_reads_fully(corpus, reference)


def test_cli_names_a_chapter_it_left_out(tmp_path, corpus, reference):
    chapters = [
        ("ch1.xhtml", "Chapter One", chapter("Chapter One", PROSE)),
        ("ch2.xhtml", "Chapter Two", '<?xml version="1.0"?>\n<!-- the rest was lost -->'),
    ]
    path = write_epub(tmp_path / "damaged.epub", chapters)
    listed = run_e2a("chapters", path)
    assert listed.returncode == 0, listed.stderr
    assert "Warning: chapter 'Chapter Two' (OEBPS/ch2.xhtml) could not be read" in listed.stderr
    converted = run_e2a("convert", path, "-o", tmp_path / "out.m4b", "--work-dir", tmp_path / "work")
    assert converted.returncode == 0, converted.stderr
    assert "Warning: chapter 'Chapter Two'" in converted.stderr and (tmp_path / "out.m4b").exists()
    still_reads_fully(corpus, reference)
