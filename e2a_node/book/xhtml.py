"""Text extraction from (X)HTML documents, shared by the EPUB and the HTML loaders.

`parse_markup(bytes)` parses a document robustly: strict XML first (EPUB content is XHTML),
again after cleaning the source (`clean_source`: HTML named entities such as `&nbsp;` made
numeric, references to any other entity dropped, a DOCTYPE's internal subset removed), and
finally the cleaned source with the forgiving HTML parser for tag soup. Entities are never
resolved (no XXE, no billion laughs); entity references a parser leaves in the tree are
settled the same way (`settle_entities`), so neither "&xxe;" nor a subset's "]>" is read.

`extract(root)` walks the tree and returns *blocks*: one paragraph per block element (p,
div without block children, h1-h6, li, blockquote paragraphs, td/th, dd/dt, pre, figcaption,
an SVG `<text>` ...), whitespace collapsed, empty ones dropped. Inline markup is flattened;
`<br>` becomes a space. What a listener should never hear is left out:

* script, style, head, templates, ruby annotations (`rt`/`rp`), form controls, media
  fallbacks, anything `hidden` / `aria-hidden="true"` / `display:none`;
* page numbers: `epub:type`/`role` pagebreak, Gutenberg `class="pagenum"`;
* note-reference markers: `epub:type="noteref"`, `role="doc-noteref"`, a link whose text is a
  bare number or symbol (`<a href="#n1">3</a>`, `[3]`, `*`), a `<sup>` holding such a
  marker when it links or is bracketed/symbolic (a plain `<sup>2</sup>` exponent stays);
* footnote/endnote bodies: `epub:type` footnote(s)/endnote(s)/rearnote(s)/note,
  `role` doc-footnote/doc-endnote(s), `class` footnote(s)/endnote(s);
* images (alt text is not read). Text in inline SVG `<text>` *is* read: fixed-layout books
  (sous-le-vent) keep their words there, one `<text>` per page with a `<tspan>` per line.

Each block records whether it is a heading (its h-level, 7 for other hgroup lines) and
whether it sits inside *boilerplate*: an element whose `epub:type`/`role` is imprint,
colophon, copyright-page, toc, landmarks, page-list, index, titlepage, halftitlepage,
loi/lot or (Standard Ebooks) uncopyright, or Project Gutenberg's header/footer. The loaders
drop boilerplate blocks unless asked to keep everything.

`anchors` maps element ids to the index of the first block at or after the element; ids in
`split_ids` (TOC fragment targets) also cut a paragraph in two if one straddles them.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html

from .common import collapse, join_lines

SVG_NS = "http://www.w3.org/2000/svg"
OPS_NS = "http://www.idpf.org/2007/ops"
XML_NS = "http://www.w3.org/XML/1998/namespace"

BLOCK_TAGS = frozenset(
    """address article aside blockquote body caption center dd details dialog div dl dt
    fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li
    main nav ol p pre section summary table tbody tfoot thead td th tr ul""".split()
)
SKIP_TAGS = frozenset(
    """head script style noscript template title rt rp audio video object embed iframe
    canvas button input select textarea option datalist img map area desc metadata defs
    annotation annotation-xml""".split()
)
HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}

BOILERPLATE_TYPES = frozenset(
    """imprint colophon copyright-page toc landmarks page-list index titlepage
    halftitlepage loi lot uncopyright""".split()
)
BOILERPLATE_ROLES = frozenset("doc-toc doc-index doc-colophon doc-pagelist".split())
NOTE_TYPES = frozenset(
    "footnote footnotes endnote endnotes rearnote rearnotes note notes".split()
)
NOTE_ROLES = frozenset("doc-footnote doc-endnote doc-endnotes".split())
NOTE_CLASSES = frozenset("footnote footnotes endnote endnotes".split())
PAGE_CLASSES = frozenset("pagenum page-number pagenumber pagebreak page-break".split())
NOTEREF_CLASSES = frozenset("noteref fnanchor footnote-ref footnoteref".split())

# A link whose whole text is a note marker: "3", "*", "†", "[3]", "(a)".
_LINK_MARKER = re.compile(r"^(?:\d{1,4}|[*†‡§¶‖#]+|\[[^\]\s]{1,6}\]|\([^)\s]{1,6}\))$")
# A superscript that is a marker when linked, bracketed or made of symbols.
_SUP_MARKER = re.compile(r"^[\[(]?(?:\d{1,4}|[*†‡§¶‖#]+|[a-z]|[ivxlc]{1,6})[\])]?$", re.I)
_SUP_STANDALONE = re.compile(r"^(?:[*†‡§¶‖#]+|\[[^\]\s]{1,6}\])$")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


@dataclass
class Block:
    text: str
    heading: int = 0  # 1-6 for h1-h6, 7 for other heading lines (hgroup), 0 for text
    boiler: bool = False  # inside a boilerplate section (imprint, colophon, toc ...)


@dataclass
class Extracted:
    blocks: list[Block] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)
    title: str | None = None  # <title>
    lang: str | None = None  # <html lang> / xml:lang


# ---------------------------------------------------------------------------- parsing


def decode_markup(data: bytes) -> str:
    """Bytes to text: BOM, then the declared encoding (XML or <meta>), UTF-8, cp1252."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    head = data[:2048].decode("ascii", errors="replace")
    match = re.search(r"""encoding=["']([\w.:-]+)["']|charset=["']?([\w.:-]+)""", head, re.I)
    candidates = [match.group(1) or match.group(2)] if match else []
    for codec in [*candidates, "utf-8"]:
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
# HTML named entities ("nbsp" -> "\xa0"; a few stand for two characters).
HTML_ENTITIES = {
    name[:-1]: chars for name, chars in html.entities.html5.items() if name.endswith(";")
}
_REFERENCE = re.compile(
    r"&(?:#[xX](?P<hex>[0-9A-Fa-f]{1,32})|#(?P<dec>[0-9]{1,32})|(?P<name>[^\W\d][\w.:-]{0,63}));"
)
# Characters XML does not allow (C0 controls but tab and newlines, surrogates, U+FFFE/FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_DOCTYPE = re.compile(r"<!DOCTYPE\b", re.I)
_HTML_START = re.compile(r"<html\b", re.I)


def _is_xml_char(codepoint: int) -> bool:
    return codepoint in (0x9, 0xA, 0xD) or 0x20 <= codepoint <= 0xD7FF or (
        0xE000 <= codepoint <= 0xFFFD or 0x10000 <= codepoint <= 0x10FFFF
    )


def _settle_reference(match: re.Match[str]) -> str:
    """One `&...;` in the source: XML's own entities and valid character references stay,
    HTML named entities become character references, anything else goes."""
    name = match.group("name")
    if name is None:
        digits = match.group("hex") or match.group("dec")
        codepoint = int(digits, 16 if match.group("hex") else 10)
        return match.group(0) if _is_xml_char(codepoint) else ""
    if name in _XML_ENTITIES:
        return match.group(0)
    return "".join(f"&#{ord(ch)};" for ch in HTML_ENTITIES.get(name, ""))


def _subset_end(text: str, i: int) -> int | None:
    """Index just past the `]` that closes a DOCTYPE internal subset opened before `i`.

    Declarations are skipped whole, honouring quotes and comments, so a `]>` inside an entity
    value does not end the subset. None when the subset never closes.
    """
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "]":
            return i + 1
        if text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            i = n if end < 0 else end + 3
        elif text.startswith("<?", i):
            end = text.find("?>", i + 2)
            i = n if end < 0 else end + 2
        elif ch == "<":  # <!ENTITY ...>, <!ATTLIST ...>: up to the > outside quotes
            i += 1
            while i < n and text[i] != ">":
                if text[i] in "\"'":
                    end = text.find(text[i], i + 1)
                    i = n if end < 0 else end + 1
                else:
                    i += 1
            i += 1
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            i = n if end < 0 else end + 1
        else:
            i += 1
    return None


def _drop_internal_subsets(text: str) -> str:
    """`<!DOCTYPE html [<!ENTITY ...>]>` -> `<!DOCTYPE html >`: the forgiving HTML parser would
    end the DOCTYPE at the first `>` and read the rest of the subset ("]>") as text."""
    out: list[str] = []
    pos = 0
    for match in _DOCTYPE.finditer(text):
        if match.start() < pos:
            continue
        i = match.end()
        while i < len(text) and text[i] not in "[>":  # the public and system ids
            if text[i] in "\"'":
                end = text.find(text[i], i + 1)
                i = len(text) if end < 0 else end
            i += 1
        if i >= len(text) or text[i] != "[":
            continue
        end = _subset_end(text, i + 1)
        if end is None:  # never closed: drop the DOCTYPE up to the document itself
            html_start = _HTML_START.search(text, i)
            if html_start is None:
                continue
            out.append(text[pos : match.start()])
            pos = html_start.start()
            continue
        out.append(text[pos:i])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def clean_source(text: str) -> str:
    """Markup text made safe for the second and third parse: no internal DTD subset, no
    characters XML forbids, entity references settled as `_settle_reference` says."""
    return _REFERENCE.sub(_settle_reference, _NOT_XML.sub("", _drop_internal_subsets(text)))


def settle_entities(root: etree._Element) -> etree._Element:
    """Entity references left in a parsed tree (entities are never resolved, so a reference
    to a declared entity stays a node): an HTML named entity becomes its character(s), any
    other goes, its tail staying. Returns `root`."""
    for node in list(root.iter(etree.Entity)):
        parent = node.getparent()
        if parent is None:
            continue
        text = HTML_ENTITIES.get(node.name, "") + (node.tail or "")
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(node)
    return root


def parse_markup(data: bytes) -> etree._Element:
    """Parse an (X)HTML document; raises ValueError when nothing can be made of it.

    Entities are never resolved (no XXE, no billion laughs). References to HTML named
    entities come out as their characters, references to any other entity (one the
    document declares, or an unknown one) are dropped, and a DOCTYPE's internal subset never
    becomes text.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True,
        remove_pis=True, load_dtd=False,
    )
    try:
        root = etree.fromstring(data, parser)
        if root is not None:
            return settle_entities(root)
    except etree.XMLSyntaxError:
        pass
    text = clean_source(_XML_DECL.sub("", decode_markup(data), count=1))
    try:
        root = etree.fromstring(text.encode("utf-8", errors="replace"), parser)
        if root is not None:
            return settle_entities(root)
    except etree.XMLSyntaxError:
        pass
    if not text.strip():
        raise ValueError("empty document")
    try:
        return settle_entities(lxml_html.document_fromstring(text))
    except (etree.ParserError, ValueError) as exc:
        raise ValueError(f"unparseable markup: {exc}") from exc


# ----------------------------------------------------------------------------- helpers


def localname(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    if tag[:1] == "{":
        tag = tag.split("}", 1)[1]
    elif ":" in tag:  # HTML parser keeps prefixes: "svg:text", "epub:switch"
        tag = tag.split(":", 1)[1]
    return tag.lower()


def epub_types(el: etree._Element) -> set[str]:
    """epub:type tokens without vocabulary prefix ("se:uncopyright" -> "uncopyright")."""
    raw = el.get(f"{{{OPS_NS}}}type") or el.get("epub:type") or ""
    return {tok.rsplit(":", 1)[-1].lower() for tok in raw.split()}


def roles(el: etree._Element) -> set[str]:
    return {tok.lower() for tok in (el.get("role") or "").split()}


def classes(el: etree._Element) -> set[str]:
    return {tok.lower() for tok in (el.get("class") or "").split()}


def element_id(el: etree._Element) -> str | None:
    return el.get("id") or el.get(f"{{{XML_NS}}}id") or (
        el.get("name") if localname(el) == "a" else None
    )


def is_boilerplate(el: etree._Element) -> bool:
    types = epub_types(el)
    if types & BOILERPLATE_TYPES or any(t.startswith("index") for t in types):
        return True
    if roles(el) & BOILERPLATE_ROLES:
        return True
    return el.get("id") in ("pg-header", "pg-footer") or "pg-boilerplate" in classes(el)


def _text_of(el: etree._Element) -> str:
    return collapse("".join(el.itertext()))


def _has_link(el: etree._Element) -> bool:
    if any(localname(a) == "a" and a.get("href") for a in el.iter()):
        return True
    parent = el.getparent()
    while parent is not None:
        if localname(parent) == "a" and parent.get("href"):
            return True
        parent = parent.getparent()
    return False


def _never_read(el: etree._Element, tag: str) -> bool:
    """Elements whose text (not tail) is never spoken."""
    if tag in SKIP_TAGS:
        return True
    if el.get("hidden") is not None or (el.get("aria-hidden") or "").lower() == "true":
        return True
    style = el.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    types, rls, cls = epub_types(el), roles(el), classes(el)
    if "pagebreak" in types or "doc-pagebreak" in rls or cls & PAGE_CLASSES:
        return True
    if types & NOTE_TYPES or rls & NOTE_ROLES or cls & NOTE_CLASSES:
        return True
    if "noteref" in types or "doc-noteref" in rls or cls & NOTEREF_CLASSES:
        return True
    if tag == "a" and el.get("href"):
        return bool(_LINK_MARKER.match(_text_of(el)))
    if tag == "sup":
        text = _text_of(el)
        if _SUP_STANDALONE.match(text):
            return True
        return bool(_SUP_MARKER.match(text)) and _has_link(el)
    return False


# -------------------------------------------------------------------------- extraction


class _Walker:
    def __init__(self, split_ids: frozenset[str] | set[str]):
        self.split_ids = split_ids
        self.out = Extracted()
        self.buf: list[str] = []
        # context of the innermost open block: (heading level, boilerplate)
        self.heading = 0
        self.boiler = False

    def flush(self) -> None:
        if self.buf:
            text = collapse("".join(self.buf))
            self.buf = []
            if text:
                self.out.blocks.append(Block(text, self.heading, self.boiler))

    def run(self, root: etree._Element) -> None:
        """Walk the tree without recursion (iterwalk), so deep nesting cannot overflow."""
        walker = etree.iterwalk(root, events=("start", "end"))
        # per open element: (is a block, context to restore at its end, inside <svg>)
        stack: list[tuple[bool, tuple[int, bool], bool]] = []
        for event, el in walker:
            if event == "end":
                block, saved, _ = stack.pop()
                if block:
                    self.flush()
                    self.heading, self.boiler = saved
                if el is not root and el.tail:
                    self.buf.append(el.tail)
                continue
            in_svg = (stack[-1][2] if stack else False) or localname(el) == "svg" or (
                isinstance(el.tag, str) and el.tag.startswith(f"{{{SVG_NS}}}")
            )
            saved = (self.heading, self.boiler)
            block, skip = self.start(el, in_svg)
            stack.append((block, saved, in_svg))
            if skip:
                walker.skip_subtree()

    def start(self, el: etree._Element, in_svg: bool) -> tuple[bool, bool]:
        """Handle an element's start: (it opened a block, skip its subtree)."""
        tag = localname(el)
        if not tag:
            return False, True
        ident = element_id(el)
        if ident:
            if ident in self.split_ids:
                self.flush()
            self.out.anchors.setdefault(ident, len(self.out.blocks))
        if _never_read(el, tag):
            return False, True
        if in_svg and tag == "text":
            self._svg_text(el)
            return False, True
        if tag == "br":
            self.buf.append(" ")
            return False, True
        block = tag in BLOCK_TAGS or (in_svg and tag == "svg")
        if block:
            self.flush()
            if tag in HEADING_TAGS:
                self.heading = HEADING_TAGS[tag]
            elif tag == "hgroup" and not self.heading:
                self.heading = 7
            elif "heading" in roles(el) and not self.heading:
                level = el.get("aria-level") or ""
                self.heading = int(level) if level.isdigit() and 0 < int(level) < 7 else 7
            self.boiler = self.boiler or is_boilerplate(el)
        elif is_boilerplate(el) and not self.boiler:
            # An inline boilerplate wrapper still marks its own text.
            self.flush()
            self.boiler = True
            block = True
        if el.text:
            self.buf.append(el.text)
        return block, False

    def _svg_text(self, el: etree._Element) -> None:
        """One SVG <text>: a tspan with its own y/dy starts a new line."""
        self.flush()
        lines: list[list[str]] = [[el.text or ""]]
        for child in el:
            if localname(child) in ("tspan", "textpath", "a"):
                if child.get("y") is not None or (child.get("dy") or "0").strip() not in ("", "0"):
                    lines.append([])
                lines[-1].append("".join(child.itertext()))
            if child.tail:
                lines[-1].append(child.tail)
        text = join_lines(["".join(parts) for parts in lines])
        if text:
            self.out.blocks.append(Block(text, self.heading, self.boiler))


def extract(root: etree._Element, split_ids: frozenset[str] | set[str] = frozenset()) -> Extracted:
    """Blocks, anchors, <title> and language of a parsed document."""
    walker = _Walker(split_ids)
    out = walker.out
    head = next((el for el in root if localname(el) == "head"), None)
    for el in head.iter() if head is not None else ():
        if localname(el) == "title":
            out.title = collapse("".join(el.itertext())) or None
            break
    lang = root.get(f"{{{XML_NS}}}lang") or root.get("lang")
    out.lang = lang.strip() if lang and lang.strip() else None
    # Comments and processing instructions (kept by the HTML parser) go, their tails stay.
    etree.strip_tags(root, etree.Comment, etree.ProcessingInstruction)
    body = next((el for el in root.iter() if localname(el) == "body"), None)
    walker.run(body if body is not None else root)
    walker.flush()
    return out
