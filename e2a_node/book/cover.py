"""Finding an EPUB's cover as a raster image (JPEG or PNG bytes).

Candidates, in order: the EPUB 3 manifest item with `properties="cover-image"`, the EPUB 2
`<meta name="cover" content="item-id">`, then image items whose id or href says "cover".
A raster candidate wins. An SVG candidate is not raster, but it may draw one: an `<image>`
inside it pointing at a package image or holding a `data:` URI (Standard Ebooks' source
covers do the latter) is taken. Failing that, the cover *page* (guide/landmark "cover", or a
spine document whose id/href says cover) is searched for an `<img>`/SVG `<image>` it shows.

JPEG and PNG are returned as they are; other raster formats (GIF, WebP, BMP, TIFF) are
converted to PNG with Pillow when it is installed, and dropped otherwise (and when they
claim more than `MAX_COVER_PIXELS`).
"""

from __future__ import annotations

import base64
import binascii
import io
import posixpath
from collections.abc import Callable
from urllib.parse import unquote

from .toc import Landmark, resolve_href
from .xhtml import localname, parse_markup

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# Real covers are 1-10 megapixels (1600x2400 is the stores' recommendation). An image that
# claims far more is not decoded: a few bytes of GIF can declare 20000x20000 pixels.
MAX_COVER_PIXELS = 50_000_000


def sniff_raster(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def normalise_raster(data: bytes | None) -> tuple[bytes | None, str | None]:
    """JPEG/PNG bytes as they are; other raster formats converted to PNG (needs Pillow).

    An image claiming more than MAX_COVER_PIXELS is dropped (with Pillow, which reads only
    the header to tell; JPEG and PNG are never decoded here).
    """
    if not data:
        return None, None
    mime = sniff_raster(data)
    as_is = (data, mime) if mime else (None, None)
    try:
        from PIL import Image  # optional dependency
    except ImportError:
        return as_is
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_COVER_PIXELS:
                return None, None
            if mime:
                return as_is
            img.seek(0)
            out = io.BytesIO()
            if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                img = img.convert("RGBA")
            img.save(out, format="PNG")
            return out.getvalue(), "image/png"
    except Image.DecompressionBombError:  # Pillow's own, far larger, pixel limit
        return None, None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on bad images
        return as_is


def _is_svg(path: str, media_type: str | None) -> bool:
    return (media_type or "").startswith("image/svg") or path.lower().endswith(".svg")


def _referenced_images(data: bytes, base: str) -> list[tuple[str | None, bytes | None]]:
    """(package path, None) or (None, inline bytes) for each image a document shows."""
    try:
        root = parse_markup(data)
    except ValueError:
        return []
    found: list[tuple[str | None, bytes | None]] = []
    for el in root.iter():
        tag = localname(el)
        if tag == "img":
            href = el.get("src")
        elif tag == "image":
            href = el.get(XLINK_HREF) or el.get("href") or el.get("xlink:href")
        else:
            continue
        if not href:
            continue
        href = href.strip()
        if href.startswith("data:"):
            header, _, payload = href.partition(",")
            if ";base64" in header:
                try:
                    found.append((None, base64.b64decode(payload, validate=False)))
                except (binascii.Error, ValueError):
                    pass
            continue
        path, _ = resolve_href(base, href)
        if path:
            found.append((path, None))
    return found


def find_cover(
    items: list[tuple[str, str, str, set[str]]],
    read: Callable[[str], bytes | None],
    meta_cover: str | None,
    landmarks: list[Landmark],
    spine_paths: list[str],
) -> tuple[bytes | None, str | None]:
    """Cover bytes and MIME type, or (None, None).

    `items` are manifest entries (id, OPF-relative path, media type, properties); `read`
    returns an item's bytes by path; `meta_cover` is the EPUB 2 `<meta name="cover">`
    content (an item id, sometimes an href).
    """
    by_id = {item_id: (path, mtype) for item_id, path, mtype, _ in items}
    by_path = {path: mtype for _, path, mtype, _ in items}
    candidates: list[str] = []
    for _, path, _mtype, props in items:
        if "cover-image" in props:
            candidates.append(path)
    if meta_cover:
        if meta_cover in by_id:
            candidates.append(by_id[meta_cover][0])
        else:
            resolved = posixpath.normpath(unquote(meta_cover))
            if resolved in by_path:
                candidates.append(resolved)
    for item_id, path, mtype, _ in items:
        if (mtype or "").startswith("image/") and (
            "cover" in (item_id or "").lower() or "cover" in path.lower()
        ):
            candidates.append(path)

    seen: set[str] = set()
    svgs: list[str] = []
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        mtype = by_path.get(path)
        if _is_svg(path, mtype):
            svgs.append(path)
            continue
        data, mime = normalise_raster(read(path))
        if data:
            return data, mime

    pages = [lm.path for lm in landmarks if "cover" in lm.types]
    pages += [p for p in spine_paths if "cover" in posixpath.basename(p).lower()]
    pages += [path for item_id, path, mtype, _ in items
              if "cover" in (item_id or "").lower() and "html" in (mtype or "")]
    for page in [*svgs, *dict.fromkeys(pages)]:
        data = read(page)
        if not data:
            continue
        for ref_path, inline in _referenced_images(data, page):
            if inline is None and ref_path is not None:
                if _is_svg(ref_path, by_path.get(ref_path)):
                    continue
                inline = read(ref_path)
            raster, mime = normalise_raster(inline)
            if raster:
                return raster, mime
    return None, None
