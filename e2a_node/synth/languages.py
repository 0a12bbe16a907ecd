"""Language tags for voice choice: normalising them, naming them, and where to get a voice.

Books and voices spell languages many ways ("en", "en_US", "EN-gb", "eng", "zh-cn"). Everything
here works on BCP 47-ish tags normalised to ``base`` or ``base-REGION`` (lower-case base,
upper-case region). Codes and names come from `e2a_node.iso639`; the voice tables here are
deliberately tiny: enough to recommend a Piper voice that exists in rhasspy/piper-voices, offline
(`e2a voices get` and `convert --get-voice` fetch it from the catalog, e2a_node/voices/catalog.py).
"""

from __future__ import annotations

from e2a_node import iso639

XTTS_MODEL = "tts_models/multilingual/multi-dataset/xtts_v2"

# The recommended Piper voice per language, one that exists in rhasspy/piper-voices (medium quality
# where there is one). Known without the network, so an offline error can still name a voice.
_PIPER_RECOMMENDED = {
    "ar": "ar_JO-kareem-medium", "ca": "ca_ES-upc_ona-medium", "cs": "cs_CZ-jirka-medium",
    "da": "da_DK-talesyntese-medium", "de": "de_DE-thorsten-medium", "el": "el_GR-rapunzelina-low",
    "en": "en_US-lessac-medium", "es": "es_ES-davefx-medium", "fi": "fi_FI-harri-medium",
    "fr": "fr_FR-siwis-medium", "hu": "hu_HU-anna-medium", "it": "it_IT-riccardo-x_low",
    "nl": "nl_BE-nathalie-medium", "no": "no_NO-talesyntese-medium", "pl": "pl_PL-darkman-medium",
    "pt": "pt_BR-faber-medium", "ru": "ru_RU-irina-medium", "sv": "sv_SE-nst-medium",
    "tr": "tr_TR-dfki-medium", "uk": "uk_UA-ukrainian_tts-medium", "vi": "vi_VN-vais1000-medium",
    "zh": "zh_CN-huayan-medium",
}

# Languages XTTS v2 speaks (its config's `languages`, region dropped).
XTTS_LANGUAGES = (
    "en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh", "ja", "hu", "ko", "hi",
)


def normalize(tag: str | None) -> str | None:
    """``"en_us"`` -> ``"en-US"``, ``"fre"`` -> ``"fr"``, ``"zh-cn"`` -> ``"zh-CN"``; None/blank -> None."""
    if tag is None:
        return None
    parts = [p for p in tag.strip().replace("_", "-").split("-") if p]
    if not parts:
        return None
    base = iso639.two_letter(parts[0].lower())
    out = [base]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())  # region
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())  # script
        else:
            out.append(part.lower())
    return "-".join(out)


def base(tag: str | None) -> str | None:
    """The language without region or script: ``"en-GB"`` -> ``"en"``."""
    norm = normalize(tag)
    return norm.split("-")[0] if norm else None


def region(tag: str | None) -> str | None:
    norm = normalize(tag)
    if not norm:
        return None
    for part in norm.split("-")[1:]:
        if len(part) == 2 and part.isupper():
            return part
    return None


def name(tag: str | None) -> str:
    """English name of a tag's language, falling back to the tag itself."""
    b = base(tag)
    if b is None:
        return "an unknown language"
    return iso639.english_name(b) or b


def describe(tag: str | None) -> str:
    """``"French (fr)"``, for messages."""
    norm = normalize(tag)
    return f"{name(norm)} ({norm})" if norm else "an unknown language"


def recommended_piper_voice(tag: str | None) -> str | None:
    """The Piper voice to get for `tag`'s language (``"fr-CA"`` -> ``"fr_FR-siwis-medium"``), or None."""
    return _PIPER_RECOMMENDED.get(base(tag) or "")


def how_to_get_voice(tag: str | None) -> str:
    """How the user gets a voice for `tag`'s language, as a clause that follows a colon."""
    b = base(tag)
    suggestion = recommended_piper_voice(tag)
    if suggestion:
        piper = f"run `e2a voices get {suggestion}` (or convert with --get-voice, or pass --voice PATH.onnx)"
    else:
        listing = "e2a voices list --remote" + (f" {b}" if b else "")
        piper = f"find one with `{listing}` and run `e2a voices get NAME` (or pass --voice PATH.onnx)"
    if b in XTTS_LANGUAGES:
        return f"{piper}; or use XTTS (--engine coqui --model {XTTS_MODEL} --voice clip.wav --language {b})"
    return piper
