"""Numbers as words (through num2words) and Roman numerals, for `normalize` and `speak_title`.

Only what the text rules need: cardinals, ordinals, English years, digit-by-digit reading,
and strict Roman numeral parsing (so that "DID" or "CIVIL" are never taken for numbers).
"""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import CONVERTER_CLASSES, num2words

from e2a_node.text.lang import base_language, region

__all__ = [
    "number_language",
    "cardinal",
    "ordinal",
    "year",
    "digits",
    "roman_value",
]

# Strict Roman numerals, 1..3999: M{0,3} then hundreds, tens, units in canonical form.
_ROMAN = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}

_DIGIT_WORDS = {
    "en": "zero one two three four five six seven eight nine".split(),
    "fr": "zéro un deux trois quatre cinq six sept huit neuf".split(),
}


def number_language(language: str | None) -> str | None:
    """The num2words code for a language tag ("fr-CH" -> "fr_CH", "fr-FR" -> "fr"), or None."""
    base = base_language(language)
    reg = region(language)
    if reg and f"{base}_{reg}" in CONVERTER_CLASSES:
        return f"{base}_{reg}"
    return base if base in CONVERTER_CLASSES else None


def _tidy(words: str, lang: str) -> str:
    # num2words writes "one thousand, five hundred": the comma would become a pause.
    words = words.replace(",", "")
    if lang.startswith("fr"):
        # num2words: 80th -> "quatre-vingtsième", 200th -> "deux centsième"
        words = words.replace("vingtsième", "vingtième").replace("centsième", "centième")
    return re.sub(r"\s+", " ", words).strip()


@lru_cache(maxsize=4096)
def cardinal(n: int, lang: str) -> str:
    """1887 -> "one thousand eight hundred and eighty-seven" (commas removed)."""
    return _tidy(num2words(n, lang=lang), lang)


@lru_cache(maxsize=1024)
def ordinal(n: int, lang: str, feminine: bool = False) -> str:
    """21 -> "twenty-first"; French 1 -> "premier" ("première" if feminine), 2 -> "deuxième"."""
    if lang.startswith("fr") and n == 1:
        return "première" if feminine else "premier"
    try:
        return _tidy(num2words(n, lang=lang, to="ordinal"), lang)
    except NotImplementedError:
        return cardinal(n, lang)


@lru_cache(maxsize=1024)
def year(n: int, lang: str) -> str:
    """An English year as said: 1887 -> "eighteen eighty-seven", 2005 -> "two thousand five"."""
    if not lang.startswith("en"):
        return cardinal(n, lang)
    words = num2words(n, lang=lang, to="year")
    words = words.replace(" and ", " ").replace("oh-", "oh ")
    return _tidy(words, lang)


def digits(text: str, lang: str) -> str:
    """Digit by digit: "007" -> "zero zero seven" (English words where we have no list)."""
    names = _DIGIT_WORDS.get(lang[:2])
    if names is None:
        return " ".join(cardinal(int(d), lang) for d in text)
    return " ".join(names[int(d)] for d in text)


def roman_value(numeral: str) -> int | None:
    """The value of a strict upper-case Roman numeral ("XIV" -> 14), else None ("IIII", "DID")."""
    if not numeral or not _ROMAN.fullmatch(numeral):
        return None
    total = 0
    for i, ch in enumerate(numeral):
        value = _ROMAN_VALUES[ch]
        following = _ROMAN_VALUES[numeral[i + 1]] if i + 1 < len(numeral) else 0
        total += -value if value < following else value
    return total
