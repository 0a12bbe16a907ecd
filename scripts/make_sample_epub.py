#!/usr/bin/env python3
"""Build samples/aesop-fables.epub, the small public-domain book the demo command converts.

Text: four fables from "Aesop's Fables", translated by George Fyler Townsend (1867), public
domain (Project Gutenberg eBook #21). The EPUB is EPUB 3 with a nav document, an NCX for
EPUB 2 readers, and a PNG cover drawn here, so the demo exercises chapters, tags and cover.
The zip is written with fixed timestamps, so rebuilding gives the same bytes.

Usage: python scripts/make_sample_epub.py [OUTPUT]
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

TITLE = "Four Fables of Aesop"
AUTHOR = "Aesop"
TRANSLATOR = "George Fyler Townsend"

FABLES = [
    (
        "The Wolf and the Lamb",
        [
            "A Wolf, meeting with a Lamb astray from the fold, resolved not to lay violent hands on "
            "him, but to find some plea to justify to the Lamb the Wolf's right to eat him. He thus "
            "addressed him: \u201cSirrah, last year you grossly insulted me.\u201d",
            "\u201cIndeed,\u201d bleated the Lamb in a mournful tone of voice, \u201cI was not then "
            "born.\u201d Then said the Wolf, \u201cYou feed in my pasture.\u201d \u201cNo, good "
            "sir,\u201d replied the Lamb, \u201cI have not yet tasted grass.\u201d Again said the "
            "Wolf, \u201cYou drink of my well.\u201d \u201cNo,\u201d exclaimed the Lamb, \u201cI "
            "never yet drank water, for as yet my mother's milk is both food and drink to me.\u201d",
            "Upon which the Wolf seized him and ate him up, saying, \u201cWell! I won't remain "
            "supperless, even though you refute every one of my imputations.\u201d",
            "The tyrant will always find a pretext for his tyranny.",
        ],
    ),
    (
        "The Hare and the Tortoise",
        [
            "A Hare one day ridiculed the short feet and slow pace of the Tortoise, who replied, "
            "laughing: \u201cThough you be swift as the wind, I will beat you in a race.\u201d",
            "The Hare, believing her assertion to be simply impossible, assented to the proposal; "
            "and they agreed that the Fox should choose the course and fix the goal. On the day "
            "appointed for the race the two started together. The Tortoise never for a moment "
            "stopped, but went on with a slow but steady pace straight to the end of the course. "
            "The Hare, lying down by the wayside, fell fast asleep. At last waking up, and moving "
            "as fast as he could, he saw the Tortoise had reached the goal, and was comfortably "
            "dozing after her fatigue.",
            "Slow but steady wins the race.",
        ],
    ),
    (
        "The Fox and the Grapes",
        [
            "A famished Fox saw some clusters of ripe black grapes hanging from a trellised vine. "
            "She resorted to all her tricks to get at them, but wearied herself in vain, for she "
            "could not reach them. At last she turned away, hiding her disappointment and saying: "
            "\u201cThe Grapes are sour, and not ripe as I thought.\u201d",
        ],
    ),
    (
        "The Lion and the Mouse",
        [
            "A Lion was awakened from sleep by a Mouse running over his face. Rising up angrily, "
            "he caught him and was about to kill him, when the Mouse piteously entreated, saying: "
            "\u201cIf you would only spare my life, I would be sure to repay your kindness.\u201d "
            "The Lion laughed and let him go.",
            "It happened shortly after this that the Lion was caught by some hunters, who bound "
            "him by strong ropes to the ground. The Mouse, recognizing his roar, came and gnawed "
            "the rope with his teeth, and set him free, exclaiming: \u201cYou ridiculed the idea "
            "of my ever being able to help you, expecting to receive from me any repayment of "
            "your favor; now you know that it is possible for even a Mouse to confer benefits on "
            "a Lion.\u201d",
        ],
    ),
]

XHTML = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en" lang="en">
<head><title>{title}</title></head>
<body><section epub:type="chapter"><h2>{title}</h2>
{paragraphs}
</section></body></html>
"""


def cover_png() -> bytes:
    """A plain 600x900 cover: dark field, title block. Pillow is an e2a dependency."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 900), (38, 52, 71))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 300, 560, 600), fill=(232, 221, 196))
    draw.text((80, 400), TITLE, fill=(38, 52, 71))
    draw.text((80, 460), f"{AUTHOR}, tr. {TRANSLATOR}", fill=(38, 52, 71))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()


def build() -> dict[str, bytes]:
    files: dict[str, str | bytes] = {}
    files["mimetype"] = "application/epub+zip"
    files["META-INF/container.xml"] = (
        '<?xml version="1.0"?>\n<container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>\n"
    )
    manifest, spine, nav_items, ncx_points = [], [], [], []
    for n, (title, paragraphs) in enumerate(FABLES, start=1):
        name = f"fable{n}.xhtml"
        body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        files[f"OEBPS/{name}"] = XHTML.format(title=escape(title), paragraphs=body)
        manifest.append(f'<item id="f{n}" href="{name}" media-type="application/xhtml+xml"/>')
        spine.append(f'<itemref idref="f{n}"/>')
        nav_items.append(f'<li><a href="{name}">{escape(title)}</a></li>')
        ncx_points.append(
            f'<navPoint id="p{n}" playOrder="{n}"><navLabel><text>{escape(title)}</text>'
            f'</navLabel><content src="{name}"/></navPoint>'
        )
    files["OEBPS/nav.xhtml"] = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head><body>'
        '<nav epub:type="toc"><h1>Contents</h1><ol>' + "".join(nav_items) + "</ol></nav></body></html>\n"
    )
    files["OEBPS/toc.ncx"] = (
        '<?xml version="1.0" encoding="utf-8"?>\n<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" '
        'version="2005-1"><head><meta name="dtb:uid" content="urn:e2a:sample:aesop"/></head>'
        f"<docTitle><text>{escape(TITLE)}</text></docTitle><navMap>" + "".join(ncx_points) + "</navMap></ncx>\n"
    )
    files["OEBPS/cover.png"] = cover_png()
    files["OEBPS/content.opf"] = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:identifier id="uid">urn:e2a:sample:aesop</dc:identifier>'
        f"<dc:title>{escape(TITLE)}</dc:title><dc:creator>{AUTHOR}</dc:creator>"
        f"<dc:contributor>{TRANSLATOR}</dc:contributor><dc:language>en</dc:language>"
        "<dc:rights>Public domain</dc:rights><dc:date>1867</dc:date>"
        '<meta property="dcterms:modified">2026-01-01T00:00:00Z</meta>'
        '<meta name="cover" content="cover"/></metadata><manifest>'
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
        '<item id="cover" href="cover.png" media-type="image/png" properties="cover-image"/>'
        + "".join(manifest)
        + '</manifest><spine toc="ncx">'
        + "".join(spine)
        + "</spine></package>\n"
    )
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "samples" / "aesop-fables.epub"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in build().items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    print(out)


if __name__ == "__main__":
    main()
