"""Detecting DRM-protected EPUBs before trying to read them.

An EPUB whose `META-INF/encryption.xml` lists encrypted resources that are not fonts is
DRM-protected (Adobe ADEPT, Apple FairPlay, Readium LCP ...): its text cannot be read. Font
obfuscation (`http://www.idpf.org/2008/embedding` or Adobe's `http://ns.adobe.com/pdf/enc#RC`
applied to font files) is part of the EPUB standard and harmless, so such books load.
"""

from __future__ import annotations

import posixpath

from lxml import etree

from ..errors import BookError
from .archive import CheckedArchive

FONT_OBFUSCATION = frozenset(
    {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
)
FONT_EXTENSIONS = frozenset({".otf", ".ttf", ".ttc", ".woff", ".woff2", ".eot", ".dfont"})


def _local(el: etree._Element) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def drm_message(name: str) -> str:
    return (
        f"{name} is DRM-protected (META-INF/encryption.xml encrypts its content); e2a can't "
        "read it — remove the DRM with the tool you bought it from"
    )


def check_encryption(archive: CheckedArchive, name: str) -> None:
    """Raise BookError when the archive's encryption.xml encrypts anything but fonts."""
    member = next((n for n in archive.namelist() if n.lower() == "meta-inf/encryption.xml"), None)
    if member is None:
        return
    data = archive.read(member)
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        # Unreadable encryption manifest: we cannot tell what is encrypted; assume the worst.
        raise BookError(drm_message(name)) from None
    for encrypted in (el for el in root.iter() if _local(el) == "EncryptedData"):
        algorithm = next(
            (el.get("Algorithm", "") for el in encrypted.iter() if _local(el) == "EncryptionMethod"),
            "",
        )
        uri = next(
            (el.get("URI", "") for el in encrypted.iter() if _local(el) == "CipherReference"),
            "",
        )
        is_font = posixpath.splitext(uri.lower())[1] in FONT_EXTENSIONS
        if algorithm not in FONT_OBFUSCATION or not is_font:
            raise BookError(drm_message(name))
