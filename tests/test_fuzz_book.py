"""Fuzzing the book readers: whatever the bytes, a Book or a one-line E2AError, nothing else.

* the sample EPUB with its XHTML, OPF, NCX and nav entries mutated (bytes flipped, inserted,
  deleted, markup tokens spliced in) and re-zipped, so the zip layer is valid and the
  parsers are exercised; and raw byte mutations of the whole file;
* random XHTML fragments (nested elements, HTML and unknown entities, DOCTYPEs with internal
  subsets) through the XHTML parser and extractor: no entity reference or DTD remnant
  reaches the text;
* random bytes and text as .txt, .md and .html books.

`load_book` ends in a last-resort handler that turns any exception into a BookError, so a
property on `load_book` alone could not fail. The loaders are therefore called directly too:
an exception other than E2AError coming out of them is a bug that the handler would hide.

Examples are derandomized and no example database is kept, so every run (and CI) tries the
same inputs; E2A_FUZZ_EXAMPLES=5000 runs a longer hunt.
"""

from __future__ import annotations

import html
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2a_node.book import load_book
from e2a_node.book.epub import load_epub
from e2a_node.book.html import load_html
from e2a_node.book.txt import load_txt
from e2a_node.book.xhtml import extract, parse_markup
from e2a_node.errors import E2AError
from tests.conftest import SAMPLE
from tests.fuzz_helpers import mutate
from tests.fuzz_helpers import mutations as mutations_of

# E2A_FUZZ_EXAMPLES raises the count for a longer hunt on a developer's machine.
FUZZ = settings(
    max_examples=int(os.environ.get("E2A_FUZZ_EXAMPLES", "120")), deadline=None,
    derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Markup that steers mutations towards the parsers' interesting paths.
TOKENS = [
    b"<", b">", b"</p>", b"<p>", b"<h2>", b"</h2>", b"<div>", b"<svg><text>x</text>", b"&",
    b"&nbsp;", b"&xxe;", b"&#0;", b"&#xD800;", b"&#65;", b"<!--", b"-->", b"<![CDATA[", b"]]>",
    b'<!DOCTYPE html [<!ENTITY xxe "S]CRET">]>', b"<!DOCTYPE html [", b"\x00", b"\xff\xfe",
    b'epub:type="toc"', b'hidden=""', b' id="a"', b'href="#a"', b"<li><a href=\"x.xhtml\">",
    b"</ol>", b"<ol>", b"<navPoint>", b"</navMap>", b"<itemref idref=\"nope\"/>",
    b'<item id="x" href="../../../etc/passwd" media-type="application/xhtml+xml"/>',
    b'<?xml version="1.0" encoding="utf-16"?>', b'encoding="bogus"',
]

mutations = mutations_of(TOKENS, 1 << 20, kinds=("flip", "insert", "delete", "replace"))


def sample_members() -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(SAMPLE) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


MEMBERS = sample_members()
TEXT_MEMBERS = [
    info.filename for info, _ in MEMBERS
    if info.filename.endswith((".xhtml", ".html", ".opf", ".ncx", ".xml"))
]
ALL_MEMBERS = [info.filename for info, _ in MEMBERS]


def check_book(book) -> None:
    assert book.chapters
    for chapter in book.chapters:
        assert isinstance(chapter.title, str) and chapter.paragraphs
        for text in (chapter.title, *chapter.paragraphs):
            assert "\n" not in text and text == text.strip()
        assert all(chapter.paragraphs)
    for line in book.warnings:
        assert isinstance(line, str) and "\n" not in line


def loads_or_refuses(path: Path, loader) -> None:
    """The loader itself lets only E2AError out; load_book gives a Book or a one-line error."""
    try:
        loader(path)
    except E2AError:
        pass
    try:
        book = load_book(path)
    except E2AError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    check_book(book)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_sample_book_reads():
    """The starting point of the mutations is a good book."""
    book = load_book(SAMPLE)
    assert len(book.chapters) == 4 and not book.warnings
    assert set(TEXT_MEMBERS) >= {"META-INF/container.xml", "OEBPS/content.opf"}


@FUZZ
@given(data=st.data())
def test_mutated_entries_of_a_real_epub(workdir, data):
    targets = data.draw(st.lists(st.sampled_from(TEXT_MEMBERS) | st.sampled_from(ALL_MEMBERS),
                                 min_size=1, max_size=3, unique=True))
    changed = {name: data.draw(mutations, label=name) for name in targets}
    path = workdir / "mutated.epub"
    with zipfile.ZipFile(path, "w") as zf:
        for info, content in MEMBERS:
            if info.filename in changed:
                content = mutate(content, changed[info.filename])
            zf.writestr(info, content)
    loads_or_refuses(path, load_epub)


@FUZZ
@given(ops=mutations)
def test_raw_byte_mutations_of_a_real_epub(workdir, ops):
    path = workdir / "raw.epub"
    path.write_bytes(mutate(SAMPLE.read_bytes(), ops))
    loads_or_refuses(path, load_epub)


NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@FUZZ
@given(names=st.lists(st.text(NAME_CHARS, min_size=1, max_size=40), min_size=1, max_size=5,
                      unique=True),
       prefix=st.sampled_from(["", "../", "../../", "/", "OEBPS/../../"]))
def test_odd_entry_names(workdir, names, prefix):
    """Zip-slip names and control characters in entry names, listed in the manifest and the
    spine so the reader looks them up: a Book or a one-line error, nothing written."""
    items = "".join(
        f'<item id="odd{n}" href="{html.escape(name)}" media-type="application/xhtml+xml"/>'
        for n, name in enumerate(names)
    )
    refs = "".join(f'<itemref idref="odd{n}"/>' for n in range(len(names)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, content in MEMBERS:
            if info.filename == "OEBPS/content.opf":
                content = content.replace(b"</manifest>", items.encode() + b"</manifest>")
                content = content.replace(b"</spine>", refs.encode() + b"</spine>")
            zf.writestr(info, content)
        for name in names:
            zf.writestr(prefix + name, b"<html><body><p>Odd.</p></body></html>")
    path = workdir / "names.epub"
    path.write_bytes(buf.getvalue())
    before = sorted(p.name for p in workdir.parent.iterdir())
    loads_or_refuses(path, load_epub)
    assert sorted(p.name for p in workdir.parent.iterdir()) == before


# ---------------------------------------------------------------------- XHTML fragments

# Text never holds "]", ";" or markup characters, so "]>" and "&name;" in the output can
# only come from the DTD or entity references the document contains.
TEXT = st.text(st.characters(blacklist_characters="<>&];", blacklist_categories=("Cs",)),
               max_size=12)
ENTITIES = st.sampled_from([
    "&nbsp;", "&mdash;", "&hellip;", "&amp;", "&lt;", "&quot;", "&#233;", "&#x263A;",
    "&xxe;", "&odd;", "&bogus;", "&my-ent;", "&#0;", "&#xD800;", "&#1114112;",
])
TAGS = st.sampled_from(
    "p div span h1 h2 a sup b br li ul section svg text tspan table td head title script "
    "nav body hgroup pre figcaption".split()
)
ATTRS = st.sampled_from([
    "", ' id="x"', ' epub:type="footnote"', ' epub:type="toc"', ' hidden=""',
    ' style="display:none"', ' href="#x"', ' role="doc-noteref"', ' xml:lang="fr"',
    ' title="&odd;"', ' aria-level="3" role="heading"', ' y="1"',
])


def _element(tag: str, attrs: str, inner: list[str]) -> str:
    return f"<{tag}{attrs}>{''.join(inner)}</{tag}>"


def _elements_of(kids):
    return st.builds(_element, TAGS, ATTRS, st.lists(kids, max_size=4))


NODES = st.recursive(st.one_of(TEXT, ENTITIES), _elements_of, max_leaves=25)
DOCTYPES = st.sampled_from([
    "",
    "<!DOCTYPE html>",
    '<!DOCTYPE html [<!ENTITY xxe "S]CRET"> <!ENTITY odd "a]>b">]>',
    '<!DOCTYPE html [<!ENTITY odd "a]>b"> <!-- ]> --> <?pi ]> ?> %pe; ]>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "x[1].dtd" [<!ENTITY xxe "x">]>',
    '<!DOCTYPE html [<!ENTITY xxe "never closed">',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
    '"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">',
])
JUNK = st.sampled_from(["", "</p>", "<p", "<", "&", "<!--", "\x00", "\x0b", "<br>", "</html>"])
_REFERENCE_LEFT = re.compile(r"&#?\w+;")


@FUZZ
@given(doctype=DOCTYPES, body=st.lists(NODES, max_size=5), junk=JUNK,
       xml=st.booleans(), title=st.lists(st.one_of(TEXT, ENTITIES), max_size=3))
def test_random_xhtml_never_leaks_entities_or_dtd(doctype, body, junk, xml, title):
    ns = ' xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"'
    decl = '<?xml version="1.0" encoding="utf-8"?>\n' if xml else ""
    source = (f"{decl}{doctype}\n<html{ns if xml else ''}><head><title>{''.join(title)}"
              f"</title></head><body>{junk}{''.join(body)}</body></html>")
    try:
        root = parse_markup(source.encode("utf-8"))
    except ValueError:
        return
    out = extract(root, {"x"})
    for text in [out.title or "", *(b.text for b in out.blocks)]:
        assert "]>" not in text and "ENTITY" not in text and "S]CRET" not in text, (source, text)
        assert not _REFERENCE_LEFT.search(text), (source, text)
        assert "\n" not in text and "\x00" not in text


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_markup(data):
    try:
        root = parse_markup(data)
    except ValueError:
        return
    extract(root)


# --------------------------------------------------------------------- TXT and HTML


@FUZZ
@given(data=st.one_of(st.binary(max_size=600),
                      st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from([".txt", ".md", ".html"]))
def test_random_text_and_html_books(workdir, data, suffix):
    path = workdir / f"random{suffix}"
    path.write_bytes(data)
    loads_or_refuses(path, load_html if suffix == ".html" else load_txt)


LINES = st.sampled_from([
    "Chapter 1", "CHAPTER XII.", "# Heading", "## Sub", "Part Two", "Prologue", "",
    "*** START OF THE PROJECT GUTENBERG EBOOK X ***", "*** END OF THE PROJECT GUTENBERG EBOOK",
    "Some text that goes on.", "continued here", "[link](http://x)", "**bold**", "> quote",
    "- item", "---", "\f", "\r", "\t", "<h2>Title</h2>", "<p>Para &nbsp; &xxe;</p>",
    '<!DOCTYPE html [<!ENTITY xxe "S]CRET">]>', "<html><body>", "</body></html>",
])


@FUZZ
@given(lines=st.lists(LINES, max_size=30), suffix=st.sampled_from([".txt", ".md", ".html"]))
def test_structured_text_and_html_books(workdir, lines, suffix):
    path = workdir / f"structured{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8")
    loads_or_refuses(path, load_html if suffix == ".html" else load_txt)
