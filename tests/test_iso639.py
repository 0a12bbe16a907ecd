"""The language table (e2a_node.iso639) and the three places that read it: text rules, voice
choice and container tags agree on every code and name."""

from __future__ import annotations

import pytest

from e2a_node import iso639
from e2a_node.audio.export import language3
from e2a_node.synth import languages
from e2a_node.text import base_language


def test_every_code_is_in_one_row_only():
    codes = [lang.code for lang in iso639.LANGUAGES]
    threes = [t for lang in iso639.LANGUAGES for t in {lang.code3, *lang.aliases}]
    assert len(codes) == len(set(codes)) and len(threes) == len(set(threes))
    for lang in iso639.LANGUAGES:
        assert lang.code.islower() and len(lang.code) in (2, 3) and lang.name
        assert all(len(t) == 3 and t.isalpha() and t.islower() for t in (lang.code3, *lang.aliases))


@pytest.mark.parametrize("lang", [x for x in iso639.LANGUAGES if x.code not in iso639.SPECIAL_CODES],
                         ids=lambda x: x.code)
def test_text_voices_and_tags_read_the_same_row(lang):
    for three in (lang.code3, *lang.aliases):
        assert base_language(three) == lang.code
        assert base_language(f"{three.upper()}-XX") == lang.code
        assert languages.normalize(f"{three}_gb") == f"{lang.code}-GB"
    assert languages.name(lang.code) == lang.name
    assert languages.describe(lang.code3) == f"{lang.name} ({lang.code})"
    assert language3(lang.code) == language3(f"{lang.code}-XX") == lang.code3


def test_codes_for_no_one_language():
    assert [base_language(c) for c in sorted(iso639.SPECIAL_CODES)] == ["en"] * 4
    assert languages.normalize("mul") == "mul" and languages.name("mul") == "multiple languages"


def test_unknown_codes_pass_through():
    assert iso639.two_letter("xyz") == "xyz" and base_language("xyz") == "xyz"
    assert languages.name("xyz") == "xyz"
    assert iso639.three_letter("xx") is None and language3("xx") is None
    assert language3("fre") == "fre"  # a three-letter code is written as the book gave it
