"""Text for speech: normalisation for TTS engines, sentence splitting, segment length caps.

    normalize(text, language, numbers=True) -> str      what the engine should read
    speak_title(title, language, numbers=True) -> str   a chapter title as spoken
    segment_paragraphs(paragraphs, language, max_chars) -> [(text, Pause)]
    split_sentences(text, language) -> [str]
    is_speakable(text) -> bool                          has a letter or digit
    base_language(tag) -> str                           "en-US" -> "en", None -> "en"

Layering: imports only `layout` (the Pause kinds) from e2a (tests/test_layering.py).
"""

from e2a_node.text.lang import base_language
from e2a_node.text.normalize import clean_unicode, normalize, speak_title
from e2a_node.text.segment import is_speakable, segment_paragraphs, split_long_sentence, split_sentences

__all__ = [
    "base_language",
    "clean_unicode",
    "is_speakable",
    "normalize",
    "segment_paragraphs",
    "speak_title",
    "split_long_sentence",
    "split_sentences",
]
