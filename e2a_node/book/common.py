"""Small text helpers shared by the book loaders.

Whitespace collapsing, the comparison key used to decide that a heading repeats a chapter
title, dropping such repeated headings, joining a paragraph that a page or file break cut in
two, and turning a file name into a presentable title.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

# Characters that carry no sound and only get in the way of matching and of TTS front ends:
# soft hyphen, zero-width space, word joiner, BOM / zero-width no-break space.
# Control characters (C0 except whitespace, DEL, C1) are dropped too.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"), None)
_INVISIBLE.update(dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0xA0)]))
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# A paragraph that ends like this is finished; anything else may continue on the next page.
_FINISHED = re.compile(r"[.!?…:;\"”»’)\]*]\s*$")


def collapse(text: str) -> str:
    """Collapse all whitespace (including no-break spaces) to single spaces and strip."""
    return " ".join(text.translate(_INVISIBLE).split())


def norm_key(text: str) -> str:
    """Case-, whitespace- and punctuation-insensitive key: "I: A Letter!" -> "i a letter"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def drop_repeated_title(title: str, paragraphs: list[str], headings: list[bool]) -> int:
    """How many leading paragraphs only repeat `title` (the title is spoken separately).

    The first paragraph is dropped when it equals the title (ignoring case, whitespace and
    punctuation). A run of leading *heading* paragraphs is dropped when together they spell
    the title ("I" + "A Letter with a Postscript" for the label "I: A Letter with a
    Postscript") or a leading part of it ("190" for "190 A Four-Leaved Clover").
    """
    key = norm_key(title)
    if not key or not paragraphs:
        return 0
    if norm_key(paragraphs[0]) == key:
        return 1
    acc = ""
    n = 0
    for text, is_heading in zip(paragraphs[:4], headings[:4], strict=False):
        if not is_heading:
            break
        candidate = (acc + " " + norm_key(text)).strip()
        if not candidate:
            n += 1
            continue
        if candidate == key:
            return n + 1
        if not key.startswith(candidate + " "):
            break
        acc = candidate
        n += 1
    # Only heading paragraphs that are a leading part of the title, then ordinary text.
    return n if n and n < len(paragraphs) and not headings[n] else 0


# Upper-case numerals up to 89 only: "MIX", "DC" or "CD" are more likely words.
_ROMAN_HEADING = re.compile(r"^(?=[LXVI])(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})\.?$")
_ROMAN_VALUES = {"L": 50, "X": 10, "V": 5, "I": 1}


def roman_heading_to_number(text: str) -> str:
    """A heading that is only a roman numeral ("II", "XIV.") as digits ("2", "14").

    Section numbers like Sherlock Holmes' "I", "II", "III" would otherwise be spoken as the
    pronoun "I" or as letters; anything else is returned unchanged.
    """
    if not _ROMAN_HEADING.match(text.strip()):
        return text
    total, prev = 0, 0
    for ch in reversed(text.strip().rstrip(".")):
        value = _ROMAN_VALUES[ch]
        total = total - value if value < prev else total + value
        prev = max(prev, value)
    return str(total)


def is_finished(paragraph: str) -> bool:
    """True when the paragraph ends with sentence-final punctuation."""
    return bool(_FINISHED.search(paragraph))


def join_broken(first: str, second: str) -> str | None:
    """Join a paragraph cut by a page/file break, or None when `second` starts a new one.

    It is a continuation when `first` does not end with final punctuation and `second`
    starts with a lower-case letter. A line-end hyphen ("res-" + "tait") is removed.
    """
    if not first or not second or is_finished(first) or not second[0].islower():
        return None
    if first.endswith("-") and len(first) > 1 and first[-2].isalpha():
        return first[:-1] + second
    return first + " " + second


def join_lines(pieces: list[str]) -> str:
    """Join lines of one paragraph, removing line-end hyphenation ("seu-" + "lement")."""
    out = ""
    for piece in pieces:
        piece = collapse(piece)
        if not piece:
            continue
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and piece[0].isalpha():
            # "res-" + "tait" -> "restait"; "Jean-" + "Hugues" -> "Jean-Hugues"
            out = (out[:-1] if piece[0].islower() else out) + piece
        elif out:
            out += " " + piece
        else:
            out = piece
    return out


def prettify_stem(path: Path) -> str:
    """A title from a file name: "the_time-machine.txt" -> "The Time Machine"."""
    stem = collapse(re.sub(r"[_\s]+|(?<=\w)[-.](?=\w)|-{2,}", " ", path.stem)) or path.name
    if stem == stem.lower():
        stem = " ".join(w[:1].upper() + w[1:] for w in stem.split())
    return stem
