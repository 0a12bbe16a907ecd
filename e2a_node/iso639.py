"""ISO 639 language codes and English names: the one table of languages that e2a reads.

Each row is a language e2a can name: its two-letter ISO 639-1 code (the code e2a works in), its
three-letter ISO 639-2/T code (what MP4 and ID3 language tags want), its English name (for
messages), and the other three-letter codes books carry for it (ISO 639-2/B such as "fre",
ISO 639-3 such as "cmn"). What each part does with a code stays with it: `e2a_node.text.lang`
(the default language, the code the text rules key on), `e2a_node.synth.languages` (BCP 47
tags, voice suggestions) and `e2a_node.audio.export` (container tags).

Dependency-free, so any of them may import it.
"""

from __future__ import annotations

from typing import NamedTuple


class Language(NamedTuple):
    code: str  # ISO 639-1; ISO 639-2 where there is none ("mul")
    code3: str  # ISO 639-2/T
    name: str  # English
    aliases: tuple[str, ...] = ()  # other three-letter codes for it


LANGUAGES: tuple[Language, ...] = (
    Language("ar", "ara", "Arabic"),
    Language("bg", "bul", "Bulgarian"),
    Language("bn", "ben", "Bengali"),
    Language("ca", "cat", "Catalan"),
    Language("cs", "ces", "Czech", ("cze",)),
    Language("cy", "cym", "Welsh", ("wel",)),
    Language("da", "dan", "Danish"),
    Language("de", "deu", "German", ("ger",)),
    Language("el", "ell", "Greek", ("gre",)),
    Language("en", "eng", "English"),
    Language("eo", "epo", "Esperanto"),
    Language("es", "spa", "Spanish"),
    Language("et", "est", "Estonian"),
    Language("eu", "eus", "Basque", ("baq",)),
    Language("fa", "fas", "Persian", ("per",)),
    Language("fi", "fin", "Finnish"),
    Language("fr", "fra", "French", ("fre",)),
    Language("ga", "gle", "Irish"),
    Language("gl", "glg", "Galician"),
    Language("he", "heb", "Hebrew"),
    Language("hi", "hin", "Hindi"),
    Language("hr", "hrv", "Croatian"),
    Language("hu", "hun", "Hungarian"),
    Language("hy", "hye", "Armenian", ("arm",)),
    Language("id", "ind", "Indonesian"),
    Language("is", "isl", "Icelandic", ("ice",)),
    Language("it", "ita", "Italian"),
    Language("ja", "jpn", "Japanese"),
    Language("ka", "kat", "Georgian", ("geo",)),
    Language("kk", "kaz", "Kazakh"),
    Language("ko", "kor", "Korean"),
    Language("la", "lat", "Latin"),
    Language("lb", "ltz", "Luxembourgish"),
    Language("lt", "lit", "Lithuanian"),
    Language("lv", "lav", "Latvian"),
    Language("mk", "mkd", "Macedonian", ("mac",)),
    Language("ml", "mal", "Malayalam"),
    Language("ms", "msa", "Malay", ("may",)),
    Language("nb", "nob", "Norwegian Bokmål"),
    Language("ne", "nep", "Nepali"),
    Language("nl", "nld", "Dutch", ("dut",)),
    Language("nn", "nno", "Norwegian Nynorsk"),
    Language("no", "nor", "Norwegian"),
    Language("pl", "pol", "Polish"),
    Language("pt", "por", "Portuguese"),
    Language("ro", "ron", "Romanian", ("rum",)),
    Language("ru", "rus", "Russian"),
    Language("sk", "slk", "Slovak", ("slo",)),
    Language("sl", "slv", "Slovenian"),
    Language("sq", "sqi", "Albanian", ("alb",)),
    Language("sr", "srp", "Serbian"),
    Language("sv", "swe", "Swedish"),
    Language("sw", "swa", "Swahili"),
    Language("ta", "tam", "Tamil"),
    Language("te", "tel", "Telugu"),
    Language("th", "tha", "Thai"),
    Language("tr", "tur", "Turkish"),
    Language("uk", "ukr", "Ukrainian"),
    Language("ur", "urd", "Urdu"),
    Language("vi", "vie", "Vietnamese"),
    Language("zh", "zho", "Chinese", ("chi", "cmn")),
    Language("mul", "mul", "multiple languages"),  # a voice that speaks many (XTTS)
)

# ISO 639-2's codes for no one language: undetermined, multiple, uncoded, no linguistic content.
SPECIAL_CODES = frozenset({"und", "mul", "mis", "zxx"})

_BY_CODE = {lang.code: lang for lang in LANGUAGES}
_BY_THREE = {three: lang for lang in LANGUAGES for three in (lang.code3, *lang.aliases)}


def two_letter(code: str) -> str:
    """The e2a code for a lower-case ISO 639 code: "fre" -> "fr", "fr" -> "fr"; unknown codes as given."""
    lang = _BY_THREE.get(code)
    return lang.code if lang else code


def three_letter(code: str) -> str | None:
    """The ISO 639-2/T code for a lower-case ISO 639-1 code ("en" -> "eng"), or None if unknown."""
    lang = _BY_CODE.get(code)
    return lang.code3 if lang else None


def english_name(code: str) -> str | None:
    """The English name for a lower-case ISO 639-1 code ("fr" -> "French"), or None if unknown."""
    lang = _BY_CODE.get(code)
    return lang.name if lang else None
