"""Sentence splitting and segment caps (e2a_node.text.segment): text is never lost or changed."""

from __future__ import annotations

import random
import re

import pytest

from e2a_node.layout import Pause
from e2a_node.text import is_speakable, segment_paragraphs, split_long_sentence, split_sentences
from e2a_node.text.segment import pysbd_language


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def check_invariant(paragraphs: list[str], language: str | None, max_chars: int) -> list[tuple[str, Pause]]:
    """The promises of segment_paragraphs, asserted; returns its result."""
    segments = segment_paragraphs(paragraphs, language, max_chars)
    texts = [text for text, _ in segments]
    for text in texts:
        assert text, "empty segment"
        assert text == collapse(text), f"segment not stripped/collapsed: {text!r}"
        assert len(text) <= max_chars, f"segment over the cap ({len(text)} > {max_chars}): {text!r}"
    joined = " ".join(texts)
    original = collapse(" ".join(paragraphs))
    # every non-whitespace character, in order
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", original)
    # and the exact text, unless a whitespace-free run longer than the cap had to be cut inside
    if all(len(run) <= max_chars for run in original.split(" ")):
        assert joined == original
    # one PARAGRAPH pause per paragraph with text, at its end
    assert [p for _, p in segments].count(Pause.PARAGRAPH) == sum(1 for p in paragraphs if p.strip())
    if segments:
        assert segments[-1][1] is Pause.PARAGRAPH
    return segments


# --------------------------------------------------------------------------- sentences


def test_english_sentences_with_abbreviations():
    text = "Mr. Holmes lived at 221B Baker St. with Dr. Watson. It was 3.5 miles away, i.e. far. He left at 5 p.m. today."
    assert split_sentences(text, "en-US") == [
        "Mr. Holmes lived at 221B Baker St. with Dr. Watson.",
        "It was 3.5 miles away, i.e. far.",
        "He left at 5 p.m. today.",
    ]


def test_french_sentences():
    text = "« Bonjour. Comment allez-vous ? » dit-il. Elle répondit : « Bien. » Puis M. Dupont arriva. Quelle joie !"
    assert split_sentences(text, "fr-FR") == [
        "« Bonjour.",
        "Comment allez-vous ? » dit-il.",
        "Elle répondit : « Bien. »",
        "Puis M. Dupont arriva.",
        "Quelle joie !",
    ]


def test_sentences_inside_an_unclosed_quotation_are_split():
    # Dialogue running on into the next paragraph has no closing mark: pysbd alone would
    # return this as one sentence.
    text = "“I could not sleep that night. A vague feeling of misfortune impressed me. My sister and I were twins."
    assert split_sentences(text, "en") == [
        "“I could not sleep that night.",
        "A vague feeling of misfortune impressed me.",
        "My sister and I were twins.",
    ]


def test_quotation_marks_go_with_their_sentence():
    text = "“Go away.” He left. ‘Yes,’ said he. “Is it?” asked Holmes. “Yes. Quite so.” I nodded."
    assert split_sentences(text, "en") == [
        "“Go away.”",
        "He left.",
        "‘Yes,’ said he.",
        "“Is it?” asked Holmes.",
        "“Yes.",
        "Quite so.”",
        "I nodded.",
    ]


def test_no_break_before_a_lower_case_word():
    assert split_sentences("“Why?” asked he. He said “Go.” and left.", "en") == [
        "“Why?” asked he.",
        "He said “Go.” and left.",
    ]


def test_split_sentences_keeps_inner_whitespace_and_drops_blank():
    assert split_sentences("", "en") == []
    assert split_sentences("  \n\t ", "en") == []
    assert split_sentences("One\nline.  Two\u00a0words.", "en") == ["One\nline.", "Two\u00a0words."]


def test_pysbd_hang_input_returns():
    # "..[111 111 ...]" sends pysbd 0.3.4 into catastrophic backtracking (pySBD issue #79)
    text = "See note..[111 111 111 111 111 111 111 111 111 111 111 111 111 111 111] Then more."
    assert "".join(split_sentences(text, "en")).replace(" ", "") == text.replace(" ", "")


def test_pysbd_language():
    assert pysbd_language("en-US") == "en"
    assert pysbd_language("fr_CA") == "fr"
    assert pysbd_language("de") == "de"
    assert pysbd_language("pt-BR") == "en"  # pysbd has no Portuguese
    assert pysbd_language(None) == "en"
    assert pysbd_language("") == "en"


# --------------------------------------------------------------------------- long sentences

LONG = (
    "The ceremony, which was performed at St. George’s, Hanover Square, was a very quiet one, no one "
    "being present save the father of the bride, Mr. Aloysius Doran, the Duchess of Balmoral, Lord "
    "Backwater, Lord Eustace and Lady Clara St. Simon (the younger brother and sister of the "
    "bridegroom), and Lady Alicia Whittington."
)


def test_long_sentence_split_at_clause_punctuation():
    pieces = split_long_sentence(LONG, 100)
    assert " ".join(pieces) == LONG
    assert all(len(p) <= 100 for p in pieces)
    # every cut is after a comma or a closing parenthesis, none between two plain words
    assert all(p[-1] in ",)." for p in pieces)
    assert pieces[0] == "The ceremony, which was performed at St. George’s, Hanover Square,"
    assert pieces[-1] == "and Lady Alicia Whittington."


def test_clause_split_prefers_balanced_pieces():
    # 60 + 60 characters with commas at 20, 60 and 100: the middle comma gives two even halves
    words = ["aaaa"] * 24
    sentence = " ".join(words[:4]) + ", " + " ".join(words[4:12]) + ", " + " ".join(words[12:20]) + ", " + " ".join(words[20:]) + "."
    pieces = split_long_sentence(sentence, 80)
    assert len(pieces) == 2
    assert pieces[0].endswith(",") and abs(len(pieces[0]) - len(pieces[1])) < 15


def test_clause_splits_on_semicolon_dash_colon_and_closing_quote():
    for mark in (";", ":", " —", " –", ",”", "”", ")", "!", "?"):
        sentence = "word " * 12 + "end" + mark + " " + "more " * 12 + "done."
        pieces = split_long_sentence(sentence, 70)
        assert pieces[0].endswith("end" + mark), (mark, pieces)
        assert " ".join(pieces) == collapse(sentence)


def test_no_clause_mark_splits_between_words_evenly():
    sentence = " ".join(f"w{i:02d}" for i in range(50))  # 199 characters
    pieces = split_long_sentence(sentence, 100)
    assert len(pieces) == 2
    assert " ".join(pieces) == sentence
    assert abs(len(pieces[0]) - len(pieces[1])) <= 4


def test_word_longer_than_cap_is_cut_inside_only_as_last_resort():
    sentence = "short " + "x" * 25 + " tail"
    pieces = split_long_sentence(sentence, 10)
    assert all(1 <= len(p) <= 10 for p in pieces)
    assert "".join(pieces).replace(" ", "") == sentence.replace(" ", "")
    assert pieces[0] == "short"  # the cut before the long word is at the space
    assert pieces[-1].endswith("tail")


def test_no_cut_between_a_letter_and_its_combining_mark():
    sentence = ("e\u0301" * 20)  # 40 code points, 20 letters
    pieces = split_long_sentence(sentence, 7)
    assert all(len(p) <= 7 for p in pieces)
    assert all(not p[0] == "\u0301" for p in pieces)
    assert "".join(pieces) == sentence


def test_no_break_space_is_a_cut_of_last_resort():
    # French spaces before ; : ! ? » are no-break: never cut there while a normal space will do
    sentence = "« Vraiment\u00a0? » demanda-t-il\u00a0; puis il partit très loin de la maison ce soir-là."
    pieces = split_long_sentence(sentence, 40)
    assert all(len(p) <= 40 for p in pieces)
    for p in pieces:
        assert not p.startswith(("?", "»", ";")), pieces
    assert " ".join(pieces) == collapse(sentence)


def test_short_sentence_comes_back_whole_and_collapsed():
    assert split_long_sentence("  Two\n\twords.  ", 50) == ["Two words."]
    assert split_long_sentence("   ", 50) == []
    with pytest.raises(ValueError):
        split_long_sentence("text", 0)


# --------------------------------------------------------------------------- paragraphs


def test_pauses():
    paragraphs = [
        "First sentence. Second sentence.",
        "A rather long sentence, which goes on and on, until it has to be cut somewhere sensible.",
        "   ",
        "Last.",
    ]
    segments = check_invariant(paragraphs, "en", 50)
    assert segments == [
        ("First sentence.", Pause.SENTENCE),
        ("Second sentence.", Pause.PARAGRAPH),
        ("A rather long sentence, which goes on and on,", Pause.CLAUSE),
        ("until it has to be cut somewhere sensible.", Pause.PARAGRAPH),
        ("Last.", Pause.PARAGRAPH),
    ]


def test_clause_then_sentence_pause():
    segments = check_invariant(["One, two, three, four, five, six, seven, eight. Nine."], "en", 30)
    pauses = [p for _, p in segments]
    assert pauses[-2:] == [Pause.SENTENCE, Pause.PARAGRAPH]
    assert set(pauses[:-2]) == {Pause.CLAUSE}
    assert segments[-2][0].endswith("eight.")


def test_short_sentences_are_not_merged():
    segments = segment_paragraphs(["No. “Yes,” said he. Go."], "en", 400)
    assert [t for t, _ in segments] == ["No.", "“Yes,” said he.", "Go."]


def test_unspeakable_segments_are_kept():
    segments = check_invariant(["* * *", "—", "Text."], "en", 100)
    assert [t for t, _ in segments] == ["* * *", "—", "Text."]
    assert [is_speakable(t) for t, _ in segments] == [False, False, True]


def test_is_speakable():
    assert is_speakable("a")
    assert is_speakable("42")
    assert is_speakable("東京")
    assert is_speakable("“Oh!”")
    assert not is_speakable("")
    assert not is_speakable("* * *")
    assert not is_speakable("— … ”")


def test_empty_input():
    assert segment_paragraphs([], "en", 100) == []
    assert segment_paragraphs(["", " \n "], "fr", 100) == []


def test_cap_of_one_character():
    check_invariant(["Ab c."], "en", 1)


# --------------------------------------------------------------------------- property test

_WORDS = (
    "the a and of to in he she it was said Holmes Watson café naïve Ærø Zoë Привет мир 東京 "
    "Mr. Mrs. Dr. St. e.g. i.e. etc. U.S.A. p.m. No. vs. Jr. M. Mme 3.5 1,000 1887 221B 5% $5 "
    "£3 10s. 1st 2e XIVe don’t ’Tis o’clock well-known self-evident and/or"
).split()
_PUNCT_AFTER = ["", "", "", "", ",", ",", ";", ":", " —", "—", " –", "…", "...", "!", "?", ".", "?!", ")", "]"]
_OPEN = ["“", "‘", "\"", "'", "« ", "(", "["]
_CLOSE = ["”", "’", "\"", "'", " »", ")", "]"]
_SPACES = [" "] * 30 + ["  ", "\n", "\t", "\u00a0", "\u202f", " \n "]
_ENDINGS = [".", ".", ".", "!", "?", "…", ".”", "!”", "?’", ".)", " !", " ?", "", ".’ ”", "?\""]
_ODD = ["* * *", "—", "∯", "♨", "..[111 111 111 111 111 111 111 111]", "[12]", "x" * 70, "http://example.com/a/b", "&"]


def _random_sentence(rng: random.Random) -> str:
    n = rng.choice([1, 2, 3, 5, 8, 15, 25, 40, 80])
    parts = []
    for _ in range(n):
        word = rng.choice(_WORDS) if rng.random() > 0.03 else rng.choice(_ODD)
        if rng.random() < 0.08:
            word = rng.choice(_OPEN) + word
        word += rng.choice(_PUNCT_AFTER) if rng.random() < 0.3 else ""
        if rng.random() < 0.05:
            word += rng.choice(_CLOSE)
        parts.append(word)
        parts.append(rng.choice(_SPACES))
    sentence = "".join(parts[:-1])
    sentence = sentence[0].upper() + sentence[1:] if sentence else sentence
    return sentence + rng.choice(_ENDINGS)


def _random_paragraphs(rng: random.Random) -> list[str]:
    paragraphs = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.05:
            paragraphs.append(rng.choice(["", "  ", "\n"]))
            continue
        sentences = [_random_sentence(rng) for _ in range(rng.randint(1, 5))]
        joiners = [rng.choice([" ", " ", "  ", "\n", "\u00a0", ""]) for _ in sentences]
        paragraphs.append("".join(s + j for s, j in zip(sentences, joiners)))
    return paragraphs


@pytest.mark.parametrize("seed", range(6))
def test_invariant_on_random_text(seed):
    rng = random.Random(1000 + seed)
    for _ in range(60):
        paragraphs = _random_paragraphs(rng)
        language = rng.choice(["en", "en-GB", "fr", "de", None, "xx"])
        max_chars = rng.choice([12, 40, 80, 150, 250, 400])
        check_invariant(paragraphs, language, max_chars)
