"""Language tags: from whatever a book or a user gives us to the codes our text tools use.

Books declare their language as BCP 47 tags ("en-US", "fr", "pt-BR"), sometimes with an
underscore ("en_GB") or as an ISO 639-2 code ("eng", "fre"). `base_language` reduces any of
these to the two-letter primary subtag that the rest of `e2a_node.text` keys its rules on
(three-letter codes through `e2a_node.iso639`; one it does not know passes through, and so
gets each tool's default behaviour); anything missing or unreadable counts as English.
"""

from __future__ import annotations

import re

from e2a_node import iso639

DEFAULT_LANGUAGE = "en"

_PRIMARY = re.compile(r"[A-Za-z]{2,3}")


def base_language(tag: str | None) -> str:
    """The lower-case primary language of a tag: "en-US" -> "en", "fr_FR" -> "fr", None -> "en".

    "und" (undetermined), "mul" (multiple), empty or malformed tags give the default, "en".
    """
    if not tag:
        return DEFAULT_LANGUAGE
    primary = re.split(r"[-_\s.@]", tag.strip(), maxsplit=1)[0]
    if not _PRIMARY.fullmatch(primary):
        return DEFAULT_LANGUAGE
    primary = iso639.two_letter(primary.lower())
    return DEFAULT_LANGUAGE if primary in iso639.SPECIAL_CODES else primary


def region(tag: str | None) -> str | None:
    """The upper-case region subtag of a tag if it has one: "fr-CH" -> "CH", "en" -> None."""
    if not tag:
        return None
    for part in re.split(r"[-_]", tag.strip())[1:]:
        if re.fullmatch(r"[A-Za-z]{2}|\d{3}", part):
            return part.upper()
    return None
