"""Text normalisation for TTS (e2a_node.text.normalize, lang, numerals): one rule per test."""

from __future__ import annotations

import random
import re

import pytest

from e2a_node.text import base_language, clean_unicode, normalize, speak_title
from e2a_node.text.numerals import number_language, roman_value


def en(text: str, numbers: bool = True) -> str:
    return normalize(text, "en-US", numbers=numbers)


def fr(text: str, numbers: bool = True) -> str:
    return normalize(text, "fr-FR", numbers=numbers)


# --------------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    "tag, base",
    [("en-US", "en"), ("en_GB", "en"), ("fr-FR", "fr"), ("FR", "fr"), ("fr", "fr"), (None, "en"), ("", "en"),
     ("zh-Hant-TW", "zh"), ("eng", "en"), ("fre", "fr"), ("und", "en"), ("??", "en"), ("pt-BR", "pt")],
)
def test_base_language(tag, base):
    assert base_language(tag) == base


def test_number_language_keeps_regional_variants_num2words_knows():
    assert number_language("fr-CH") == "fr_CH"
    assert number_language("fr-FR") == "fr"
    assert number_language("en-US") == "en"
    assert number_language("xx") is None


def test_roman_value_is_strict():
    assert roman_value("XIV") == 14
    assert roman_value("MCMLXXXIV") == 1984
    assert roman_value("I") == 1
    for word in ("IIII", "VV", "IC", "DID", "CIVIL", "MIXX", "", "xiv", "LIL"):
        assert roman_value(word) is None, word


# --------------------------------------------------------------------------- Unicode


def test_unicode_cleanup():
    assert clean_unicode("ﬁne ﬂour, oﬀ") == "fine flour, off"
    assert clean_unicode("soft\u00adly") == "softly"
    assert clean_unicode("zero\u200bwidth\ufeff") == "zerowidth"
    assert clean_unicode("a\u00a0b\u202fc\u2009d  e\n\tf") == "a b c d e f"
    assert clean_unicode("e\u0301t\u00e9") == "été"  # NFC
    assert clean_unicode("word\u2060—word") == "word—word"  # word joiner
    assert clean_unicode("\u200eleft-to-right mark") == "left-to-right mark"
    assert clean_unicode("“curly” ‘quotes’ stay") == "“curly” ‘quotes’ stay"
    assert clean_unicode("an _emphasised_ word, snake_case kept") == "an emphasised word, snake_case kept"
    # zero-width joiners spell words in some scripts: kept
    assert clean_unicode("می\u200cخواهم") == "می\u200cخواهم"


def test_unicode_cleanup_applies_without_numbers():
    assert normalize("ﬁve\u00a0\u00a0soft\u00adly 12", "en", numbers=False) == "five softly 12"


# --------------------------------------------------------------------------- English numbers


@pytest.mark.parametrize(
    "text, said",
    [
        ("I have 3 cats.", "I have three cats."),
        ("He counted 1,000,000 stars.", "He counted one million stars."),
        ("It weighs 3.5 pounds.", "It weighs three point five pounds."),
        ("Pi is 3.14.", "Pi is three point one four."),
        ("Agent 007.", "Agent zero zero seven."),
        ("The 1st, 2nd, 3rd, 4th and 21st.", "The first, second, third, fourth and twenty-first."),
        ("In 1887 he came.", "In eighteen eighty-seven he came."),
        ("In 2005 he left.", "In two thousand five he left."),
        ("Since 2010.", "Since twenty ten."),
        ("Born 1856, died 1900.", "Born eighteen fifty-six, died nineteen hundred."),
        ("From 1914–1918.", "From nineteen fourteen to nineteen eighteen."),
        ("Pages 12-15.", "Pages twelve to fifteen."),
        ("In the 1880s.", "In the eighteen eighties."),
        ("Back in ’77.", "Back in seventy-seven."),
        ("On April 27, 1890.", "On April twenty-seventh, eighteen ninety."),
        ("In 55 BC.", "In fifty-five B C."),
        ("In 55 B.C. Caesar came.", "In fifty-five B C. Caesar came."),
        ("In A.D. 1066, in 1066 A.D.", "In A D ten sixty-six, in ten sixty-six A D."),
        ("At 10:30 he rose; at 10:00 he ate; at 5:05 he slept.",
         "At ten thirty he rose; at ten o'clock he ate; at five oh five he slept."),
        ("Leave at 5 p.m. sharp.", "Leave at five P M sharp."),
        ("Half is 1/2 and 3/4 is more.", "Half is one half and three quarters is more."),
        ("It was -5 outside.", "It was minus five outside."),
        ("He lived at 221B.", "He lived at two hundred and twenty-one B."),
        ("2050 soldiers", "two thousand and fifty soldiers"),
    ],
)
def test_english_numbers(text, said):
    assert en(text) == said


@pytest.mark.parametrize(
    "text, said, without_numbers",
    [
        ("It cost $5.", "It cost five dollars.", "It cost 5 dollars."),
        ("It cost $1.", "It cost one dollar.", "It cost 1 dollar."),
        ("It cost $5.50.", "It cost five dollars and fifty cents.", "It cost 5 dollars and 50 cents."),
        ("Only $0.25.", "Only twenty-five cents.", "Only 25 cents."),
        ("A $1.5 million deal.", "A one point five million dollars deal.", "A 1.5 million dollars deal."),
        ("It cost £3.", "It cost three pounds.", "It cost 3 pounds."),
        ("It cost £3 10s.", "It cost three pounds ten shillings.", "It cost 3 pounds 10 shillings."),
        ("It cost 5s. 6d. a week.", "It cost five shillings and six pence a week.",
         "It cost 5 shillings and 6 pence a week."),
        ("It cost €20.", "It cost twenty euros.", "It cost 20 euros."),
        ("Up 5%.", "Up five percent.", "Up 5 percent."),
        ("Up 2.5 %.", "Up two point five percent.", "Up 2.5 percent."),
    ],
)
def test_english_money_and_percent(text, said, without_numbers):
    assert en(text) == said
    assert en(text, numbers=False) == without_numbers


def test_numbers_false_leaves_digits_alone():
    text = "In 1887 the 3rd man paid 3.5 and 1,000 at 10:30."
    assert en(text, numbers=False) == text


# --------------------------------------------------------------------------- English words


@pytest.mark.parametrize(
    "text, said",
    [
        ("Mr. Holmes and Mrs. Hudson.", "Mister Holmes and Missus Hudson."),
        ("Mr Holmes and Mrs Hudson.", "Mister Holmes and Missus Hudson."),
        ("Mr. and Mrs. Hudson.", "Mister and Missus Hudson."),
        ("Dr. Watson came.", "Doctor Watson came."),
        ("He lives on Mulholland Dr. now.", "He lives on Mulholland Drive now."),
        ("He went to St. Paul’s.", "He went to Saint Paul’s."),
        ("Lady St. Simon and Neville St. Clair.", "Lady Saint Simon and Neville Saint Clair."),
        ("He lived on Baker St. The end.", "He lived on Baker Street. The end."),
        ("He lived on Baker St.", "He lived on Baker Street."),
        ("John Smith, Jr. and John Smith, Sr. came.", "John Smith, Junior and John Smith, Senior came."),
        ("Holmes vs. Moriarty.", "Holmes versus Moriarty."),
        ("Bread, milk, etc. and more.", "Bread, milk, et cetera and more."),
        ("Bread, milk, etc. Then more.", "Bread, milk, et cetera. Then more."),
        ("Bread, milk, &c.", "Bread, milk, et cetera."),
        ("Fruit, e.g. apples, i.e. food.", "Fruit, for example apples, that is food."),
        ("Capt. Hook and Prof. Moriarty.", "Captain Hook and Professor Moriarty."),
        ("Smith & Co. Ltd.", "Smith and Company Limited."),
        ("See No. 7.", "See number seven."),
        ("Salt & pepper.", "Salt and pepper."),
        ("See § 5.", "See section five."),
        ("It was 30°.", "It was thirty degrees."),
        ("It was 1° colder at 20°C.", "It was one degree colder at twenty degrees Celsius."),
        ("Yes and/or no.", "Yes and or no."),
        ("Ask him/her.", "Ask him or her."),
        ("2 + 2 = 4", "two plus two equals four"),
        ("3 × 4", "three times four"),
        ("Chapter XII begins.", "Chapter twelve begins."),
    ],
)
def test_english_abbreviations_and_symbols(text, said):
    assert en(text) == said


def test_english_words_apply_without_numbers():
    assert en("Mr. Holmes & Dr. Watson, e.g. at 221B Baker St. in 1887.", numbers=False) == (
        "Mister Holmes and Doctor Watson, for example at 221B Baker Street in 1887."
    )
    assert en("See Chapter XII.", numbers=False) == "See Chapter 12."


def test_words_that_look_like_abbreviations_are_left_alone():
    text = "Stop the Drink, Strand, Drury Lane, Mrs Strong. No, no. I said no. Etcetera."
    assert en(text) == "Stop the Drink, Strand, Drury Lane, Missus Strong. No, no. I said no. Etcetera."


def test_pronoun_i_and_roman_looking_words_stay_words():
    assert en("Part I think was best. I did. MIX it, CIVIL war, DID he?") == (
        "Part I think was best. I did. MIX it, CIVIL war, DID he?"
    )


def test_urls_are_not_read_as_or():
    assert en("at standardebooks.org/ebooks/a-b/c-d.") == "at standardebooks.org/ebooks/a-b/c-d."


# --------------------------------------------------------------------------- French


@pytest.mark.parametrize(
    "text, said",
    [
        ("J’ai 3 chats.", "J’ai trois chats."),
        ("Il y a 21 ans.", "Il y a vingt et un ans."),
        ("Il y en a 3 000.", "Il y en a trois mille."),
        ("Il y en a 3\u202f000.", "Il y en a trois mille."),
        ("Il pèse 3,5 kilos.", "Il pèse trois virgule cinq kilos."),
        ("Le 1er mai, la 1re fois, la 2e fois, le 3ème jour.",
         "Le premier mai, la première fois, la deuxième fois, le troisième jour."),
        ("Le XIXe siècle.", "Le dix-neuvième siècle."),
        ("François Ier et Louis XIV.", "François premier et Louis XIV."),
        ("En 1887.", "En mille huit cent quatre-vingt-sept."),
        ("À 10h30 ou à 1 h.", "À dix heures trente ou à une heure."),
        ("Il a payé 5 €.", "Il a payé cinq euros."),
        ("Il a payé 1,50 €.", "Il a payé un euro et cinquante centimes."),
        ("Il a payé 3 000 €.", "Il a payé trois mille euros."),
        ("Une hausse de 12 %.", "Une hausse de douze pour cent."),
        ("De 1914 à 1918 ; de 1914–1918.",
         "De mille neuf cent quatorze à mille neuf cent dix-huit ; de mille neuf cent quatorze à mille neuf cent dix-huit."),
        ("Il fait -5 degrés.", "Il fait moins cinq degrés."),
    ],
)
def test_french_numbers(text, said):
    assert fr(text) == said


@pytest.mark.parametrize(
    "text, said",
    [
        ("M. Dupont et Mme Martin.", "Monsieur Dupont et Madame Martin."),
        ("Mlle Claire et MM. Dupont.", "Mademoiselle Claire et Messieurs Dupont."),
        ("Le Dr Petit arrive.", "Le Docteur Petit arrive."),
        ("Le Dr. Petit arrive.", "Le Docteur Petit arrive."),
        ("Pain, lait, etc.", "Pain, lait, et cetera."),
        ("Pain, lait, etc. Puis rien.", "Pain, lait, et cetera. Puis rien."),
        ("Pain & vin.", "Pain et vin."),
        ("Voir le § 3.", "Voir le paragraphe trois."),
        ("Le n° 5.", "Le numéro cinq."),
        ("Il fait 30 °C.", "Il fait trente degrés Celsius."),
        ("Lui et/ou elle.", "Lui et ou elle."),
        ("Il va à St-Denis et à Ste Anne.", "Il va à Saint-Denis et à Sainte Anne."),
        ("En 52 av. J.-C.", "En cinquante-deux avant Jésus-Christ."),
        ("Chapitre XII.", "Chapitre douze."),
    ],
)
def test_french_abbreviations_and_symbols(text, said):
    assert fr(text) == said


def test_french_words_that_look_like_numerals_stay():
    # "Ce" and "Le" are C+e and L+e, "M." without a name is an initial, "Me" a pronoun
    assert fr("Ce matin, Le soir. Me voici, dit M.") == "Ce matin, Le soir. Me voici, dit M."


def test_french_without_numbers():
    assert fr("M. Dupont a payé 5 € le 1er mai, soit 12 %.", numbers=False) == (
        "Monsieur Dupont a payé 5 euros le 1er mai, soit 12 pour cent."
    )
    assert fr("Le XIXe siècle.", numbers=False) == "Le 19e siècle."


# --------------------------------------------------------------------------- other languages


def test_other_languages_get_cleanup_and_plain_integers():
    assert normalize("Ich habe 3 Katzen & 2 Hunde.", "de-DE") == "Ich habe drei Katzen und zwei Hunde."
    assert normalize("Ich habe 3 Katzen.", "de", numbers=False) == "Ich habe 3 Katzen."
    # separators mean different things per language: left for the engine
    assert normalize("Es kostet 3,50 Euro.", "de") == "Es kostet 3,50 Euro."
    # a language num2words lacks: digits stay
    assert normalize("Ni 3 ﬁ", "xx") == "Ni 3 fi"


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize(
    "title, with_numbers, without_numbers",
    [
        ("Chapter XII", "Chapter Twelve", "Chapter 12"),
        ("CHAPTER XII.", "CHAPTER Twelve.", "CHAPTER 12."),
        ("Chapter 21", "Chapter Twenty-One", "Chapter 21"),
        ("chapter iv", "chapter Four", "chapter 4"),
        ("IV", "Four", "4"),
        ("IV.", "Four", "4"),
        ("I", "One", "1"),
        ("Part II. The Return", "Part Two. The Return", "Part 2. The Return"),
        ("I. A Scandal in Bohemia", "One. A Scandal in Bohemia", "1. A Scandal in Bohemia"),
        ("Book III, Chapter I", "Book Three, Chapter One", "Book 3, Chapter 1"),
        ("Stave I: Marley’s Ghost", "Stave One: Marley’s Ghost", "Stave 1: Marley’s Ghost"),
        ("Act V, Scene ii", "Act Five, Scene Two", "Act 5, Scene 2"),
        # words, not numerals
        ("MIX", "MIX", "MIX"),
        ("CIVIL WAR", "CIVIL WAR", "CIVIL WAR"),
        ("DID", "DID", "DID"),
        ("What I Did", "What I Did", "What I Did"),
        ("I Remember", "I Remember", "I Remember"),
        ("Part I think", "Part I think", "Part I think"),
        ("Section C", "Section C", "Section C"),
        ("Chapter Mix", "Chapter Mix", "Chapter Mix"),
        ("The Year 1887", "The Year eighteen eighty-seven", "The Year 1887"),
        ("Mr. Holmes & Dr. Watson", "Mister Holmes and Doctor Watson", "Mister Holmes and Doctor Watson"),
    ],
)
def test_speak_title_english(title, with_numbers, without_numbers):
    assert speak_title(title, "en", numbers=True) == with_numbers
    assert speak_title(title, "en", numbers=False) == without_numbers


@pytest.mark.parametrize(
    "title, with_numbers, without_numbers",
    [
        ("Chapitre XII", "Chapitre Douze", "Chapitre 12"),
        ("Partie II. Le retour", "Partie Deux. Le retour", "Partie 2. Le retour"),
        ("Livre Ier", "Livre premier", "Livre 1er"),
        ("Tome III", "Tome Trois", "Tome 3"),
        ("IV", "Quatre", "4"),
    ],
)
def test_speak_title_french(title, with_numbers, without_numbers):
    assert speak_title(title, "fr-FR", numbers=True) == with_numbers
    assert speak_title(title, "fr-FR", numbers=False) == without_numbers


# --------------------------------------------------------------------------- general promises

_PLAIN = (
    "the and of a in he she it was said Holmes Watson house night door room quite little "
    "café naïve élan Zoë ça où été"
).split()


@pytest.mark.parametrize("language", ["en", "fr", "de", None])
def test_no_word_dropped_and_no_double_space(language):
    rng = random.Random(7)
    for _ in range(200):
        words = [rng.choice(_PLAIN) for _ in range(rng.randint(1, 30))]
        seps = [rng.choice([" ", "  ", "\n", "\u00a0", ", ", "; ", " — ", "… ", ". ", "! ", " “", "” "]) for _ in words]
        text = "".join(w + s for w, s in zip(words, seps))
        for numbers in (True, False):
            out = normalize(text, language, numbers=numbers)
            assert "  " not in out and out == out.strip()
            assert re.findall(r"[^\W\d_]+", out) == re.findall(r"[^\W\d_]+", text)


def test_empty_and_blank():
    assert normalize("", "en") == ""
    assert normalize(" \n\u00a0\u200b", "fr") == ""
    assert speak_title("", "en") == ""


def test_idempotent_on_normalized_text():
    text = "Mr. Holmes paid $5.50 on April 27, 1890, at 10:30, e.g. 3.5% of £3 10s. & more."
    once = en(text)
    assert en(once) == once
    once_fr = fr("M. Dupont a payé 5,50 € le 1er mai 1887 à 10h30.")
    assert fr(once_fr) == once_fr
