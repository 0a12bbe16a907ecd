"""Text normalisation: make text safe for a TTS engine that reads characters literally.

`normalize(text, language, numbers=...)` cleans up Unicode (ligatures, invisible characters,
odd spaces), expands abbreviations and symbols an engine would misread, and, with
`numbers=True`, writes numbers out as words: cardinals, decimals, ordinals, years, money,
percentages, times. With `numbers=False` digits are left alone (for engines such as Piper,
whose espeak-ng front end reads them itself) but everything else still applies.

`speak_title(title, ...)` does the same for a chapter title, after turning a Roman numeral in
heading position into a number ("Chapter XII" -> "Chapter Twelve"): only after a word such as
Chapter/Part/Book, or when it is the whole title or its leading label ("IV", "I. A Scandal in
Bohemia"), so the pronoun "I" and words such as "MIX", "CIVIL" or "DID" stay words.

Rules exist for English and French; other languages get the Unicode cleanup, "&", and plain
integers through num2words where it knows the language. The output never has two spaces in a
row and never loses a word: whitespace runs become one space and the result is stripped.
"""

from __future__ import annotations

import re
import unicodedata
from e2a_node.text.lang import base_language
from e2a_node.text.numerals import cardinal, digits, number_language, ordinal, roman_value, year

__all__ = ["normalize", "speak_title", "clean_unicode"]

# --------------------------------------------------------------------------- Unicode

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
# Superscript letters used for French abbreviations and ordinals: "1ᵉʳ", "XIXᵉ", "Mᵐᵉ".
_SUPERSCRIPT_LETTERS = "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"
_CHAR_MAP = {ord(k): v for k, v in _LIGATURES.items()}
_CHAR_MAP.update({ord(ch): unicodedata.normalize("NFKC", ch) for ch in _SUPERSCRIPT_LETTERS})
_CHAR_MAP.update({ord("\u2010"): "-", ord("\u2011"): "-", ord("\u2044"): "/"})
# Format characters that matter for some scripts' spelling: keep them.
_KEEP_FORMAT = {"\u200c", "\u200d"}  # zero-width non-joiner / joiner (Persian, Indic, emoji)
_WS = re.compile(r"\s+")
# Underscores used as emphasis ("_word_") or blanks ("____"), not inside words (snake_case).
_UNDERSCORES = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])")


def clean_unicode(text: str) -> str:
    """NFC, ligatures spelled out, invisible characters (soft hyphens, zero-width spaces, bidi
    marks, controls) removed, every kind of space and line break -> one space, stripped."""
    text = unicodedata.normalize("NFC", text).translate(_CHAR_MAP)
    if any(unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cs") for ch in text):
        text = "".join(
            ch
            for ch in text
            if ch.isspace() or ch in _KEEP_FORMAT or unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs")
        )
    text = _UNDERSCORES.sub("", text)
    return _WS.sub(" ", text).strip()


# --------------------------------------------------------------------------- helpers

_UPPER_START = re.compile(r"[\"“‘«(\[]?\s*[A-ZÀ-ÖØ-Þ]")
_GAP = re.compile(r"[\s\"'’”»›)\]}]*")


def _ends_sentence(text: str, end: int) -> bool:
    """Did the abbreviation period ending at `end` also end the sentence? Yes if only closing
    quotes or brackets follow, or those and then a capitalised word."""
    gap = _GAP.match(text, end)
    if gap.end() == len(text):
        return True
    return any(ch.isspace() for ch in gap.group()) and bool(_UPPER_START.match(text, gap.end()))


def _abbrev(pattern: str, expansion: str, *, final_period: bool = False, flags: int = 0):
    """A rule: `pattern` (whose match ends with the abbreviation's period, if any) -> expansion.

    With final_period, the period is put back when the abbreviation ended the sentence.
    """
    rx = re.compile(pattern, flags)

    def apply(text: str) -> str:
        def repl(m: re.Match) -> str:
            out = expansion
            if final_period and m.group(0).endswith(".") and _ends_sentence(m.string, m.end()):
                out += "."
            return out

        return rx.sub(repl, text)

    return apply


def _words_title(words: str, lang: str) -> str:
    """"twenty-one" -> "Twenty-One" in English; other languages only get a capital first letter."""
    if not lang.startswith("en"):
        return words[:1].upper() + words[1:]
    return " ".join("-".join(part[:1].upper() + part[1:] for part in w.split("-")) for w in words.split(" "))


def _int(s: str) -> int:
    return int(re.sub(r"[^\d]", "", s))


# Heading words after which a numeral is a chapter number.
_HEADING_WORDS = (
    "chapter|part|book|volume|section|act|scene|canto|stave|letter|episode|"
    "chapitre|partie|livre|tome|acte|scène|scene|épisode|lettre"
)
_HEADING_IN_TITLE = re.compile(
    rf"\b({_HEADING_WORDS})(\s+)([IVXLCDM]+|[ivxlcdm]+|\d+)\b(?![\w’'-])(\s+\w)?", re.IGNORECASE
)
# In running text only "Chapter" or "CHAPTER", and only upper-case numerals.
_HEADING_IN_TEXT = re.compile(
    r"\b("
    + "|".join(alt for w in _HEADING_WORDS.split("|") for alt in (w.capitalize(), w.upper()))
    + r")(\s+)([IVXLCDM]+|\d+)\b(?![\w’'-])(\s+\w)?"
)


def _numeral_value(token: str, *, allow_lower: bool) -> int | None:
    """A Roman numeral or a number of digits; lower-case Roman only when allowed."""
    if token.isdigit():
        return int(token)
    if allow_lower and token.islower():
        token = token.upper()
    if len(token) == 1 and token not in "IVX":
        return None  # "Section C", "Part D": letters, not numbers
    return roman_value(token)


def _number_as_said(n: int, lang: str | None, numbers: bool, *, title: bool) -> str:
    if not numbers or lang is None:
        return str(n)
    words = cardinal(n, lang)
    return _words_title(words, lang) if title else words


def _heading_numerals(text: str, language: str | None, numbers: bool, *, title: bool) -> str:
    """'Chapter XII' -> 'Chapter twelve' ('Twelve' in a title; 'Chapter 12' without numbers)."""
    lang = number_language(language)
    rx = _HEADING_IN_TITLE if title else _HEADING_IN_TEXT

    def repl(m: re.Match) -> str:
        token = m.group(3)
        if token in ("I", "i") and m.group(4) and m.group(4)[-1].islower():
            return m.group(0)  # "Part I think": the pronoun
        value = _numeral_value(token, allow_lower=title)
        if value is None or value > 999 or (token.isdigit() and not numbers):
            return m.group(0)
        said = _number_as_said(value, lang, numbers, title=title)
        return m.group(1) + m.group(2) + said + (m.group(4) or "")

    return rx.sub(repl, text)


# --------------------------------------------------------------------------- symbols


def _apply(text: str, rules) -> str:
    for rule in rules:
        text = rule(text)
    return text


def _sub(pattern: str, repl, flags: int = 0):
    rx = re.compile(pattern, flags)
    return lambda text: rx.sub(repl, text)


def _degree_rules(singular: str, plural: str):
    def repl(m: re.Match) -> str:
        number, scale = m.group(1), m.group(2)
        unit = singular if number in ("1", "-1", "−1") else plural
        scale_word = {"C": " Celsius", "F": " Fahrenheit"}.get(scale or "", "")
        return f"{number} {unit}{scale_word}"

    return [
        _sub(r"(\d+(?:[.,]\d+)?)\s?°(?:\s?([CF])(?![A-Za-z]))?", repl),
        _sub(r"°", f" {plural} "),
    ]


def _slash_rule(or_word: str, and_or: str):
    """"and/or" -> "and or"; "he/she" -> "he or she" (not in URLs or paths)."""
    # a whole whitespace-delimited token, so URLs and paths ("a.org/b/c") are left alone
    rx = re.compile(r"(?<!\S)([(\"“‘]*)([^\W\d_]{2,})/([^\W\d_]{2,})([)\"”’.,;:!?]*)(?!\S)")

    def repl(m: re.Match) -> str:
        a, b = m.group(2), m.group(3)
        if f"{a.lower()}/{b.lower()}" == and_or or or_word in (a.lower(), b.lower()):
            return f"{m.group(1)}{a} {b}{m.group(4)}"
        return f"{m.group(1)}{a} {or_word} {b}{m.group(4)}"

    return lambda text: rx.sub(repl, text)


def _symbol_rules(words: dict[str, str]):
    """Symbols spoken as words; `words` has and, section, sections, plus, minus, equals, times,
    number, percent, degree, degrees, or, and_or."""
    return [
        _sub(r"§§", f" {words['sections']} "),
        _sub(r"§", f" {words['section']} "),
        _sub(r"\s*&\s*", f" {words['and']} "),
        _sub(r"#\s?(?=\d)", f"{words['number']} "),
        *_degree_rules(words["degree"], words["degrees"]),
        _sub(r"\s?%", f" {words['percent']}"),
        _sub(r"\s?‰", f" {words['permille']}"),
        _sub(r"(?<=[\d\s])\+(?=[\s\d]|$)|^\+(?=\d)", f" {words['plus']} "),
        _sub(r"(?<=[\s\d(])[−](?=[\s\d])", f" {words['minus']} "),
        _sub(r"(?<=[\s\w])=(?=[\s\w])", f" {words['equals']} "),
        _sub(r"(?<=[\s\d])[×](?=[\s\d])", f" {words['times']} "),
        _slash_rule(words["or"], words["and_or"]),
    ]


# --------------------------------------------------------------------------- money


class _Currency:
    def __init__(self, one: str, many: str, sub_one: str | None, sub_many: str | None, *, few_is_one: bool = False):
        self.one, self.many, self.sub_one, self.sub_many = one, many, sub_one, sub_many
        self.few_is_one = few_is_one  # French: "1,5 euro", "0 euro"

    def unit(self, value: float, sub: bool = False) -> str:
        single = value < 2 if self.few_is_one else value == 1
        if sub:
            return (self.sub_one if single else self.sub_many) or ""
        return self.one if single else self.many


_AMOUNT_EN = r"\d{1,3}(?:,\d{3})+|\d+"
_AMOUNT_FR = r"\d{1,3}(?:[ .]\d{3})+|\d+"


def _money_rules(
    currencies: dict[str, _Currency],
    amount: str,
    decimal_sep: str,
    and_word: str,
    scales: str,
):
    """"$5.50" -> "5 dollars and 50 cents"; "5,50 €" -> "5 euros et 50 centimes". The digits
    stay digits: the number rules (or the engine) read them."""
    symbols = "".join(re.escape(s) for s in currencies)
    dec = re.escape(decimal_sep)
    before = re.compile(rf"(?<![\w{symbols}])([{symbols}])\s?({amount})(?:{dec}(\d+))?(?!\d)(?:\s({scales})\b)?")
    after = re.compile(rf"(?<![\w.,])({amount})(?:{dec}(\d+))?\s?(?:({scales})\s)?([{symbols}])(?![\w{symbols}])")

    def say(symbol: str, major: str, minor: str | None, scale: str | None) -> str:
        cur = currencies[symbol]
        value = _int(major)
        if scale:
            number = major + (decimal_sep + minor if minor else "")
            return f"{number} {scale} {cur.many}"
        if minor is None or len(minor) != 2 or cur.sub_many is None:
            number = major + (decimal_sep + minor if minor else "")
            fraction = float(f"0.{minor}") if minor else 0.0
            return f"{number} {cur.unit(value + fraction)}"
        cents = int(minor)
        if cents == 0:
            return f"{major} {cur.unit(value)}"
        if value == 0:
            return f"{cents} {cur.unit(cents, sub=True)}"
        return f"{major} {cur.unit(value)} {and_word} {cents} {cur.unit(cents, sub=True)}"

    def rules(text: str) -> str:
        text = before.sub(lambda m: say(m.group(1), m.group(2), m.group(3), m.group(4)), text)
        return after.sub(lambda m: say(m.group(4), m.group(1), m.group(2), m.group(3)), text)

    return rules


_LSD = re.compile(r"£\s?(\d+),?\s(\d{1,2})s\.?(?:\s?(\d{1,2})d\.?)?(?!\w)")
_SD = re.compile(r"(?<![\w£])()(\d{1,2})s\.(?:\s?(\d{1,2})d\.)?(?!\w)")


def _lsd_rule(text: str) -> str:
    """Pounds, shillings and pence: "£3 10s." -> "3 pounds 10 shillings", "5s. 6d." ->
    "5 shillings and 6 pence"."""

    def repl(m: re.Match) -> str:
        pounds, shillings, pence = m.group(1), m.group(2), m.group(3)
        parts = []
        if pounds:
            parts.append(f"{pounds} {'pound' if pounds == '1' else 'pounds'}")
        parts.append(f"{shillings} {'shilling' if shillings == '1' else 'shillings'}")
        if pence:
            parts[-1] += f" and {pence} {'penny' if pence == '1' else 'pence'}"
        out = " ".join(parts)
        if m.group(0).endswith(".") and _ends_sentence(m.string, m.end()):
            out += "."
        return out

    def shillings(m: re.Match) -> str:
        # "at 12s." alone: only under 20 (20s. is a pound), so "the 80s." stays a decade
        return repl(m) if int(m.group(2)) < 20 else m.group(0)

    return _SD.sub(shillings, _LSD.sub(repl, text))


# --------------------------------------------------------------------------- numbers


def _spaced(m: re.Match, words: str) -> str:
    """Words for a number, with a space against letters glued to it ("221B" -> "... B")."""
    s, a, b = m.string, m.start(), m.end()
    if a > 0 and s[a - 1].isalpha():
        words = " " + words
    if b < len(s) and s[b].isalpha():
        words = words + " "
    return words


def _integer_words(token: str, lang: str) -> str:
    plain = re.sub(r"\D", "", token)
    if len(plain) > 1 and plain.startswith("0") or len(plain) > 15:
        return digits(plain, lang)
    return cardinal(int(plain), lang)


def _decimal_words(whole: str, frac: str, lang: str, point: str) -> str:
    return f"{_integer_words(whole, lang)} {point} {digits(frac, lang) if len(frac) > 1 or frac == '0' else cardinal(int(frac), lang)}"


_MONTHS_EN = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan\\.|Feb\\.|Mar\\.|Apr\\.|Aug\\.|Sept?\\.|Oct\\.|Nov\\.|Dec\\."
)
_MONTH_NAMES_EN = "January|February|March|April|May|June|July|August|September|October|November|December"
_YEAR_BEFORE_EN = (
    r"(?:\b(?:[Ii]n|[Oo]f|[Ss]ince|[Uu]ntil|[Tt]ill|[Bb]y|[Ff]rom|[Tt]o|[Cc]irca|[Dd]uring|[Bb]efore|[Aa]fter|"
    r"[Bb]etween|[Yy]ear|[Ss]pring|[Ss]ummer|[Aa]utumn|[Ww]inter|[Ee]arly|[Ll]ate|[Mm]id)\s"
    r"|\b(?:c|ca)\.\s?|\bA\sD\s|\bAD\s"
    rf"|\b(?:{_MONTHS_EN})\s(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s)?)"
)


_EN_ORDINAL = re.compile(r"(?<![\d.,])(\d+)(?:st|nd|rd|th|ST|ND|RD|TH)\b")
_EN_DECADE = re.compile(r"(?<![\d.,])(1[0-9]|20)(\d0)s\b")  # 1880s
_EN_SHORT_DECADE = re.compile(r"(?<![\w.,’'])[’']?()([1-9]0)s\b")  # '80s, 80s
_EN_ERA = re.compile(r"(?<![\d.,])(\d{1,4})\s?(A D|B C|BCE|CE|AD|BC)(?!\w)")
_EN_YEAR_IN_CONTEXT = re.compile(rf"({_YEAR_BEFORE_EN})(1\d{{3}}|20\d\d)(?![\d.,]\d|\d)")
_EN_MONTH_DAY = re.compile(rf"\b({_MONTH_NAMES_EN})\s(\d{{1,2}})(?![\d:.,]\d|\d|st|nd|rd|th)")
_EN_DAY_MONTH = re.compile(rf"(?<![\d.,])(\d{{1,2}})\s({_MONTH_NAMES_EN})\b")
_EN_SHORT_YEAR = re.compile(r"(?<![\w’'])[’'](\d\d)(?![\d\w’'])")  # in '77
_EN_TIME = re.compile(r"(?<![\d.,:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?:\s?([AaPp]\.?[Mm]\.?)(?!\w))?")
_EN_HOUR_AM_PM = re.compile(r"(?<![\d.,:])(1[0-2]|[1-9])\s?([AaPp]\.[Mm]\.|[AaPp][Mm](?!\w))")
_EN_FRACTION = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])")
# 1100..1999 alone read as a year (counts that size are usually written with a comma); 2000..2099
# too unless a word follows ("2050 soldiers" is a count).
_EN_BARE_YEAR = re.compile(r"(?<![\d.,])(?:1[1-9]\d\d|20\d\d(?!\s[^\W\d_]))(?![\d]|[.,]\d)")
_EN_DECIMAL = re.compile(r"(?<![\d,.])(\d{1,3}(?:,\d{3})+|\d+)\.(\d+)(?![\d]|\.\d)")
_EN_INTEGER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+")


def _am_pm(marker: str, m: re.Match) -> str:
    said = "A M" if marker[0] in "Aa" else "P M"
    if marker.endswith(".") and _ends_sentence(m.string, m.end()):
        said += "."
    return said


def _plural_number(words: str) -> str:
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _english_numbers(text: str, lang: str) -> str:
    def decade(m: re.Match) -> str:
        century, tens = m.group(1), m.group(2)
        words = year(int(century + tens), lang) if century else cardinal(int(tens), lang)
        return _spaced(m, _plural_number(words))

    def era(m: re.Match) -> str:
        return f"{year(int(m.group(1)), lang)} {' '.join(m.group(2).replace(' ', ''))}"

    def short_year(m: re.Match) -> str:
        tens, units = m.group(1)
        return f"oh {cardinal(int(units), lang)}" if tens == "0" else cardinal(int(m.group(1)), lang)

    def time(m: re.Match) -> str:
        hours, minutes, marker = int(m.group(1)), m.group(2), m.group(3)
        words = cardinal(hours, lang)
        if minutes == "00":
            words += "" if marker else " o'clock"
        elif minutes.startswith("0"):
            words += " oh " + cardinal(int(minutes), lang)
        else:
            words += " " + cardinal(int(minutes), lang)
        return words + (" " + _am_pm(marker, m) if marker else "")

    def fraction(m: re.Match) -> str:
        num, den = int(m.group(1)), int(m.group(2))
        if not 0 < num < den <= 10:
            return m.group(0)
        if den == 2:
            name = "half" if num == 1 else "halves"
        elif den == 4:
            name = "quarter" if num == 1 else "quarters"
        else:
            name = ordinal(den, lang) + ("" if num == 1 else "s")
        return _spaced(m, f"{cardinal(num, lang)} {name}")

    text = _EN_ORDINAL.sub(lambda m: _spaced(m, ordinal(int(m.group(1)), lang)), text)
    text = _EN_DECADE.sub(decade, text)
    text = _EN_SHORT_DECADE.sub(decade, text)
    text = _EN_ERA.sub(era, text)
    text = _EN_YEAR_IN_CONTEXT.sub(lambda m: m.group(1) + year(int(m.group(2)), lang), text)
    text = _EN_MONTH_DAY.sub(lambda m: f"{m.group(1)} {ordinal(int(m.group(2)), lang)}", text)
    text = _EN_DAY_MONTH.sub(lambda m: f"{ordinal(int(m.group(1)), lang)} {m.group(2)}", text)
    text = _EN_SHORT_YEAR.sub(short_year, text)
    text = _EN_TIME.sub(time, text)
    text = _EN_HOUR_AM_PM.sub(lambda m: f"{cardinal(int(m.group(1)), lang)} {_am_pm(m.group(2), m)}", text)
    text = _EN_FRACTION.sub(fraction, text)
    text = _EN_BARE_YEAR.sub(lambda m: _spaced(m, year(int(m.group(0)), lang)), text)
    text = _EN_DECIMAL.sub(lambda m: _spaced(m, _decimal_words(m.group(1), m.group(2), lang, "point")), text)
    return _EN_INTEGER.sub(lambda m: _spaced(m, _integer_words(m.group(0), lang)), text)


def _shared_number_rules(text: str, to_word: str, minus_word: str) -> str:
    """Ranges and negative numbers, before the language's number rules."""
    text = re.sub(
        r"(?<![\d.,\-–])(\d+)(?:–|\s–\s|-)(\d+)(?![\d\-–]|[.,]\d)",
        lambda m: f"{m.group(1)} {to_word} {m.group(2)}",
        text,
    )
    text = re.sub(r"(?:^|(?<=[\s(]))-(?=\d)", f"{minus_word} ", text)
    return text


def _french_numbers(text: str, lang: str) -> str:
    def ordinal_repl(m: re.Match) -> str:
        n = int(m.group(1))
        suffix = m.group(2).lower()
        feminine = suffix in ("re", "ère", "ere", "nde")
        if suffix in ("nd", "nde") and n == 2:
            return _spaced(m, "seconde" if feminine else "second")
        return _spaced(m, ordinal(n, lang, feminine=feminine))

    def time_repl(m: re.Match) -> str:
        hours = int(m.group(1))
        words = "une" if hours == 1 else "vingt et une" if hours == 21 else cardinal(hours, lang)
        words += " heure" if hours <= 1 else " heures"
        if m.group(2):
            words += " " + cardinal(int(m.group(2)), lang)
        return words

    def decimal_repl(m: re.Match) -> str:
        return _spaced(m, _decimal_words(m.group(1), m.group(2), lang, "virgule"))

    def integer_repl(m: re.Match) -> str:
        return _spaced(m, _integer_words(m.group(0), lang))

    text = re.sub(r"(?<![\d.,])(\d+)(ère|ere|re|er|ème|eme|è|e|nde|nd)(?![\w])", ordinal_repl, text)
    text = re.sub(r"(?<![\d.,:])([01]?\d|2[0-3])\s?h\s?([0-5]\d)?(?![\w])", time_repl, text)
    text = re.sub(r"(?<![\d.,])(\d{1,3}(?:[ .]\d{3})+|\d+),(\d+)(?![\d])", decimal_repl, text)
    text = re.sub(r"(?<![\d.,])\d{1,3}(?:[ .]\d{3})+(?![\d]|,\d)|\d+", integer_repl, text)
    return text


def _generic_numbers(text: str, lang: str) -> str:
    """Languages without rules here: plain integers only; anything with separators stays."""
    return re.sub(
        r"(?<![\d.,])\d+(?![\d]|[.,]\d)",
        lambda m: _spaced(m, _integer_words(m.group(0), lang)),
        text,
    )


def _roman_ordinals_fr(text: str, lang: str | None, numbers: bool) -> str:
    """'XIXe siècle' -> 'dix-neuvième siècle' ('19e' without numbers); 'François Ier' -> 'premier'."""

    def repl(m: re.Match) -> str:
        numeral, suffix = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = roman_value(numeral)
        if value is None:
            return m.group(0)
        feminine = suffix in ("re", "ère")
        if not numbers or lang is None:
            return f"{value}{suffix}"
        if value == 1:
            return "première" if feminine else "premier"
        return ordinal(value, lang)

    return re.sub(r"\b(?:(I)(er|re|ère)|([IVXLC]{2,}|[VX])(e|ème))\b", repl, text)


# --------------------------------------------------------------------------- English


def _saint_or_street(text: str) -> str:
    """"St." before a capitalised name is Saint ("St. Simon"); after one it is Street ("Baker St.")."""
    not_names = {
        "The", "A", "An", "He", "She", "It", "I", "We", "They", "You", "This", "That", "There", "Then",
        "But", "And", "Or", "So", "In", "On", "At", "As", "If", "When", "His", "Her", "Our", "My", "Their",
    }
    rx = re.compile(r"\b(St|ST)(?![\w’'-])(\.?)(?=(\s+)(\S+)|)")

    def repl(m: re.Match) -> str:
        following = m.group(4) or ""
        followed_by_name = bool(re.match(r"[\"“‘]?[A-Z]", following)) and following.strip("\"“‘.,;:!?") not in not_names
        if m.group(2) and m.string[m.end() : m.end() + 1] in ("—", "–", "-"):
            followed_by_name = True  # "Mr. Neville St.—Oh, come": the name was cut short
        before = m.string[: m.start()].rstrip()
        prev_word = before.split(" ")[-1] if before else ""
        after_name = bool(re.match(r"[A-Z0-9]", prev_word)) and not before.endswith((".", "!", "?", "“", "\""))
        if not m.group(2) and not (followed_by_name or after_name):
            return m.group(0)  # a bare "St" that is neither
        if followed_by_name or not after_name:
            word = "Saint"
            period = ""
        else:
            word = "Street"
            period = "." if m.group(2) and _ends_sentence(m.string, m.end()) else ""
        return (word.upper() if m.group(1) == "ST" else word) + period

    return rx.sub(repl, text)


def _doctor_or_drive(text: str) -> str:
    rx = re.compile(r"\b(Dr|DR)(?![\w’'-])(\.?)(?=\s+(\S+)|)")

    def repl(m: re.Match) -> str:
        following = m.group(3) or ""
        followed_by_name = bool(re.match(r"[\"“‘]?[A-Z]", following))
        before = m.string[: m.start()].rstrip()
        prev_word = before.split(" ")[-1] if before else ""
        after_name = bool(re.match(r"[A-Z]", prev_word)) and not before.endswith((".", "!", "?"))
        if not followed_by_name and not m.group(2):
            return m.group(0)
        if after_name and not followed_by_name:
            word = "Drive" + ("." if m.group(2) and _ends_sentence(m.string, m.end()) else "")
        else:
            word = "Doctor"
        return word.upper() if m.group(1) == "DR" else word

    return rx.sub(repl, text)


def _en_abbreviation_rules():
    titles = {
        "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Messrs": "Messieurs", "Prof": "Professor",
        "Rev": "Reverend", "Capt": "Captain", "Col": "Colonel", "Gen": "General", "Lt": "Lieutenant",
        "Sgt": "Sergeant", "Hon": "Honourable", "Gov": "Governor", "Mt": "Mount", "Mme": "Madame",
        "Mlle": "Mademoiselle",
    }
    upper_too = {"Mr", "Mrs", "Messrs", "Prof", "Capt", "Lt", "Sgt"}
    rules = []
    for abbr, full in titles.items():
        variants = [(abbr, full), (abbr.upper(), full.upper())] if abbr in upper_too else [(abbr, full)]
        for a, f in variants:
            # a title before a name, with or without its period: "Mr. Holmes", "Mr Holmes",
            # "Mr. and Mrs. Hudson"
            rules.append(_abbrev(rf"\b{a}\b\.?(?=\s+[\"“‘(]?[A-ZÀ-ÖØ-Þ]|\s+(?:and|&)\s)", f))
    rules += [
        _doctor_or_drive,
        _saint_or_street,
        _abbrev(r"&c\.", "et cetera", final_period=True),
        _abbrev(r"\betc\.|\betc\b", "et cetera", final_period=True),
        _abbrev(r"\be\.\s?g\.(?!\w)", "for example"),
        _abbrev(r"\bi\.\s?e\.(?!\w)", "that is"),
        _abbrev(r"\bviz\.", "namely"),
        _abbrev(r"\bcf\.", "compare"),
        _abbrev(r"\bvs\.|\bvs\b", "versus"),
        _abbrev(r"\bJr\.", "Junior", final_period=True),
        _abbrev(r"\bSr\.", "Senior", final_period=True),
        _abbrev(r"\bEsq\.", "Esquire", final_period=True),
        _abbrev(r"(?<=& )Co\.(?=\s(?:Ltd|Inc)\b)|(?<=and )Co\.(?=\s(?:Ltd|Inc)\b)", "Company"),
        _abbrev(r"(?<=& )Co\.|(?<=and )Co\.", "Company", final_period=True),
        _abbrev(r"\bLtd\.", "Limited", final_period=True),
        _abbrev(r"\bBros\.", "Brothers", final_period=True),
        _abbrev(r"\bInc\.", "Incorporated", final_period=True),
        _abbrev(r"(?<![\w.])A\.D\.", "A D", final_period=True),
        _abbrev(r"(?<![\w.])B\.C\.", "B C", final_period=True),
        _abbrev(r"\bNos\.(?=\s?\d)", "numbers "),
        _abbrev(r"\b[Nn]o\.(?=\s?\d)", "number "),
        _abbrev(r"\bpp\.(?=\s?\d)", "pages "),
        _abbrev(r"\bp\.(?=\s?\d)", "page "),
        _abbrev(r"\bvol\.(?=\s?\d)|\bVol\.(?=\s?\d)", "volume "),
    ]
    return rules


_EN_SYMBOLS = {
    "and": "and", "section": "section", "sections": "sections", "plus": "plus", "minus": "minus",
    "equals": "equals", "times": "times", "number": "number", "percent": "percent",
    "permille": "per mille", "degree": "degree", "degrees": "degrees", "or": "or", "and_or": "and/or",
}
_EN_CURRENCIES = {
    "$": _Currency("dollar", "dollars", "cent", "cents"),
    "£": _Currency("pound", "pounds", "penny", "pence"),
    "€": _Currency("euro", "euros", "cent", "cents"),
    "¥": _Currency("yen", "yen", None, None),
}


def _english(text: str, language: str | None, numbers: bool) -> str:
    lang = number_language(language) or "en"
    text = _heading_numerals(text, language, numbers, title=False)
    text = _apply(text, _EN_ABBREVIATIONS)
    text = _lsd_rule(text)
    text = _EN_MONEY(text)
    text = _apply(text, _EN_SYMBOL_RULES)
    if numbers:
        text = _shared_number_rules(text, "to", "minus")
        text = _english_numbers(text, lang)
    else:
        text = re.sub(r"(?<![\d.,\-–])(\d+)\s?–\s?(\d+)(?![\d\-–]|[.,]\d)", r"\1 to \2", text)
    return text


# --------------------------------------------------------------------------- French


def _fr_abbreviation_rules():
    capital = r"(?=[\s\u00a0]+[A-ZÀ-ÖØ-Þ])"
    return [
        _abbrev(r"\bav\.\s?J\.-C\.", "avant Jésus-Christ", final_period=True),
        _abbrev(r"\bapr\.\s?J\.-C\.", "après Jésus-Christ", final_period=True),
        _abbrev(r"\bJ\.-C\.", "Jésus-Christ", final_period=True),
        _abbrev(r"\bMM\.(?=\s)", "Messieurs"),
        _abbrev(rf"\bM\.{capital}", "Monsieur"),
        _abbrev(r"\bMmes\b\.?", "Mesdames"),
        _abbrev(r"\bMme\b\.?", "Madame"),
        _abbrev(r"\bMlles\b\.?", "Mesdemoiselles"),
        _abbrev(r"\bMlle\b\.?", "Mademoiselle"),
        _abbrev(r"\bMgr\b\.?", "Monseigneur"),
        _abbrev(rf"\bDr\b\.?{capital}", "Docteur"),
        _abbrev(rf"\bPr\b\.?{capital}", "Professeur"),
        _abbrev(rf"\bMe{capital}", "Maître"),
        _abbrev(r"\bSte(?=[\s-][A-ZÀ-ÖØ-Þ])|\bSte\.(?=\s[A-ZÀ-ÖØ-Þ])", "Sainte"),
        _abbrev(r"\bSt(?=[\s-][A-ZÀ-ÖØ-Þ])|\bSt\.(?=\s[A-ZÀ-ÖØ-Þ])", "Saint"),
        _abbrev(r"\betc\.|\betc\b", "et cetera", final_period=True),
        _abbrev(r"\bc\.-à-d\.", "c'est-à-dire"),
        _abbrev(r"\bp\.\s?ex\.", "par exemple"),
        _abbrev(r"\bcf\.", "confer"),
        _abbrev(r"\b[Nn][°º](?=\s?\d)|\b[Nn]o(?=\s?\d)", "numéro "),
        _abbrev(r"(?<=\d)\s?fr\.(?!\w)|(?<=\d)\s?F(?![\w'’])", " francs", final_period=True),
    ]


_FR_SYMBOLS = {
    "and": "et", "section": "paragraphe", "sections": "paragraphes", "plus": "plus", "minus": "moins",
    "equals": "égale", "times": "fois", "number": "numéro", "percent": "pour cent", "permille": "pour mille",
    "degree": "degré", "degrees": "degrés", "or": "ou", "and_or": "et/ou",
}
_FR_CURRENCIES = {
    "€": _Currency("euro", "euros", "centime", "centimes", few_is_one=True),
    "$": _Currency("dollar", "dollars", "cent", "cents", few_is_one=True),
    "£": _Currency("livre", "livres", "penny", "pence", few_is_one=True),
}


def _french(text: str, language: str | None, numbers: bool) -> str:
    lang = number_language(language) or "fr"
    text = _heading_numerals(text, language, numbers, title=False)
    text = _apply(text, _FR_ABBREVIATIONS)
    text = _roman_ordinals_fr(text, lang, numbers)
    text = _FR_MONEY(text)
    text = _apply(text, _FR_SYMBOL_RULES)
    if numbers:
        text = _shared_number_rules(text, "à", "moins")
        text = _french_numbers(text, lang)
    else:
        text = re.sub(r"(?<![\d.,\-–])(\d+)\s?–\s?(\d+)(?![\d\-–]|[.,]\d)", r"\1 à \2", text)
    return text


# --------------------------------------------------------------------------- other languages

_AND = {"de": "und", "es": "y", "it": "e", "pt": "e", "nl": "en", "da": "og", "no": "og", "nb": "og",
        "sv": "och", "fi": "ja", "pl": "i", "ru": "и", "cs": "a", "ro": "și"}


def _generic(text: str, language: str | None, numbers: bool) -> str:
    base = base_language(language)
    if base in _AND:
        text = re.sub(r"\s*&\s*", f" {_AND[base]} ", text)
    lang = number_language(language)
    if numbers and lang is not None:
        text = _generic_numbers(text, lang)
    return text


_EN_ABBREVIATIONS = _en_abbreviation_rules()
_EN_SYMBOL_RULES = _symbol_rules(_EN_SYMBOLS)
_EN_MONEY = _money_rules(_EN_CURRENCIES, _AMOUNT_EN, ".", "and", "thousand|million|billion|trillion")
_FR_ABBREVIATIONS = _fr_abbreviation_rules()
_FR_SYMBOL_RULES = _symbol_rules(_FR_SYMBOLS)
_FR_MONEY = _money_rules(_FR_CURRENCIES, _AMOUNT_FR, ",", "et", "mille|millions?|milliards?")


# --------------------------------------------------------------------------- public


def normalize(text: str, language: str | None, *, numbers: bool = True) -> str:
    """Text as a TTS engine that reads characters literally should get it (see the module doc).

    `language` is a BCP 47 tag ("en-US", "en_GB", "fr-FR") or None (English).
    """
    text = clean_unicode(text)
    if not text:
        return ""
    base = base_language(language)
    if base == "en":
        text = _english(text, language, numbers)
    elif base == "fr":
        text = _french(text, language, numbers)
    else:
        text = _generic(text, language, numbers)
    return _WS.sub(" ", text).strip()


_WHOLE_NUMERAL = re.compile(r"([IVXLCDM]+|\d+)\.?")
_LEADING_LABEL = re.compile(r"([IVXLCDM]+|\d+)([.:])(\s+)(?=\S)")


def speak_title(title: str, language: str | None, *, numbers: bool = True) -> str:
    """A chapter title as it should be spoken.

    "Chapter XII" -> "Chapter Twelve" ("Chapter 12" with numbers=False); "IV" or "IV." ->
    "Four" ("4"); "Part II. The Return" -> "Part Two. The Return"; "I. A Scandal in Bohemia"
    -> "One. A Scandal in Bohemia". The rest goes through `normalize`.
    """
    text = clean_unicode(title)
    lang = number_language(language)
    whole = _WHOLE_NUMERAL.fullmatch(text)
    if whole:
        value = _numeral_value(whole.group(1), allow_lower=False)
        if value is not None and 0 < value <= 399:
            return _number_as_said(value, lang, numbers, title=True)
    label = _LEADING_LABEL.match(text)
    if label:
        value = _numeral_value(label.group(1), allow_lower=False)
        if value is not None and 0 < value <= 399:
            said = _number_as_said(value, lang, numbers, title=True)
            text = said + label.group(2) + label.group(3) + text[label.end() :]
    text = _heading_numerals(text, language, numbers, title=True)
    return normalize(text, language, numbers=numbers)
