"""Sentence splitting and segment length caps: paragraphs -> (segment text, pause after it).

A segment is the unit of synthesis: one sentence, or one piece of a sentence too long for the
voice. Sentences come from pysbd (a port of the Pragmatic Segmenter, rules per language); the
pieces of a long sentence are cut at clause punctuation when possible, then between words, and
only as a last resort inside a word.

The one promise this module keeps above all others: no text is lost or changed. Joining the
segments of a list of paragraphs with single spaces gives the paragraphs joined with single
spaces, each whitespace run collapsed to one space (exactly, unless a single whitespace-free run
of characters is longer than the cap and had to be cut inside; even then every non-whitespace
character is kept in order). pysbd can drop or alter characters, so its output is only used to
decide *where* sentences start; the sentences themselves are always cut from the original text.

Two liberties are taken with pysbd, both to find more real sentence ends in fiction:

* Quotation marks are hidden from it. pysbd never splits inside a quotation, so a paragraph
  of dialogue ("I could not sleep. A vague feeling ... ", often with no closing mark because
  the speech goes on in the next paragraph) would otherwise come back as one sentence of
  2,000 characters. Each quotation mark is then given back to the sentence it belongs to
  (an opening mark to the sentence after the break, a closing one to the sentence before).
* A break before a sentence that starts in lower case is dropped (`"Why?" asked he.` is one
  sentence), and so is one before a piece made only of closing punctuation.
"""

from __future__ import annotations

import logging
import re
import unicodedata

import pysbd
from pysbd.languages import LANGUAGE_CODES

from e2a_node.layout import Pause
from e2a_node.text.lang import base_language

log = logging.getLogger(__name__)

__all__ = ["split_sentences", "segment_paragraphs", "split_long_sentence", "is_speakable", "pysbd_language"]

# Quotation marks hidden from pysbd (see the module docstring).
_QUOTES = frozenset("\"'“”‘’‚„‹›«»‟‛")
# Always opening / always closing; the others are decided by what surrounds them.
_OPENING_ONLY = frozenset("«‚„‟‛")
_CLOSING_ONLY = frozenset("»")
_OPENERS = frozenset("([{«‹“‘‚„‟‛\"'")
# Characters pysbd uses internally as placeholders; in the text it is given they would be
# turned into punctuation, so they are replaced by a plain letter first.
_PYSBD_PLACEHOLDERS = frozenset("∯♟♝ǃ♨☝ƪ⁃ᓴᓷ✂☏☉☈☇☄∮ȹȸ⎋⌬ᓸᓳᓱᓰ♭♬")
# A piece made only of these is a stray end of the previous sentence.
_TRAILING_ONLY = frozenset(".,;:!?…)]}”’»›\"'—–-")

_segmenters: dict[str, pysbd.Segmenter] = {}


def pysbd_language(language: str | None) -> str:
    """The pysbd code for a language tag; languages pysbd lacks use its English rules."""
    code = base_language(language)
    return code if code in LANGUAGE_CODES else "en"


def _segmenter(code: str) -> pysbd.Segmenter:
    seg = _segmenters.get(code)
    if seg is None:
        seg = _segmenters.setdefault(code, pysbd.Segmenter(language=code, clean=False))
    return seg


def is_speakable(text: str) -> bool:
    """True if the text has something to say: at least one letter or digit ("* * *" has none)."""
    return any(ch.isalnum() for ch in text)


# --------------------------------------------------------------------------- sentences


def _pysbd_view(text: str) -> tuple[str, list[int]]:
    """The text pysbd is given, and for each of its characters the index in `text` (-1: added).

    Quotation marks are left out; whitespace runs become one plain space (pysbd takes every
    line break for a sentence end, and paragraphs of plain-text books are hard-wrapped);
    pysbd's placeholder characters become "x"; and a space goes before a "[" glued to the
    previous character (a period followed by "[" and many numbers sends one of pysbd's regexes
    into catastrophic backtracking: pySBD issue #79).
    """
    chars: list[str] = []
    where: list[int] = []
    prev = " "
    for i, ch in enumerate(text):
        if ch in _QUOTES:
            continue
        if ch.isspace():
            if prev != " ":
                chars.append(" ")
                where.append(i)
                prev = " "
            continue
        if ch == "[" and prev != " ":
            chars.append(" ")
            where.append(-1)
        chars.append("x" if ch in _PYSBD_PLACEHOLDERS else ch)
        where.append(i)
        prev = ch
    return "".join(chars), where


def _is_opening(text: str, k: int) -> bool:
    ch = text[k]
    if ch in _OPENING_ONLY:
        return True
    if ch in _CLOSING_ONLY:
        return False
    before = text[k - 1] if k > 0 else " "
    after = text[k + 1] if k + 1 < len(text) else " "
    return (before.isspace() or before in _OPENERS) and not after.isspace()


def _cut_between(text: str, a_end: int, b_start: int) -> int | None:
    """Where to cut between a sentence ending before `a_end` and one starting at `b_start`.

    Between them there is only whitespace and quotation marks: the cut goes before the first
    opening mark (it belongs to the next sentence), or else just before the next sentence.
    No cut (None) unless there is whitespace at the cut, so that no word is ever cut in two.
    """
    cut = b_start
    for k in range(a_end, b_start):
        if not text[k].isspace() and _is_opening(text, k):
            cut = k
            break
    if text[cut - 1].isspace() or text[cut].isspace():
        return cut
    return None


def _first_alnum(text: str) -> str:
    for ch in text:
        if ch.isalnum():
            return ch
    return ""


def _sentence_cuts(text: str, code: str) -> list[int]:
    """Indices in `text` where sentences after the first one start."""
    view, where = _pysbd_view(text)
    if not view.strip():
        return []
    try:
        # The processor alone: Segmenter.segment would also look each sentence up in the text
        # with a fresh regex (a third of its time), which the alignment below does better.
        pieces = _segmenter(code).processor(view).process()
    except Exception:  # a bug in the segmenter must not lose the book: keep one sentence
        log.warning("pysbd failed on a paragraph; keeping it as one sentence", exc_info=True)
        return []

    # pysbd's pieces are matched onto the view by their non-whitespace characters, which it
    # normally keeps exactly; a piece it altered is skipped (its start is then no cut).
    nonws = [j for j, ch in enumerate(view) if not ch.isspace()]
    flat = "".join(view[j] for j in nonws)
    starts: list[int] = []  # indices into `flat` where a piece starts
    cursor = 0
    for piece in pieces:
        p = "".join(piece.split())
        if not p:
            continue
        at = cursor if flat.startswith(p, cursor) else flat.find(p, cursor)
        if at < 0:
            continue
        if at > 0:
            starts.append(at)
        cursor = at + len(p)

    cuts: list[int] = []
    for s in starts:
        a_end = where[nonws[s - 1]] + 1
        b_start = where[nonws[s]]
        cut = _cut_between(text, a_end, b_start)
        if cut is not None and (not cuts or cut > cuts[-1]):
            cuts.append(cut)

    # Drop the cuts pysbd should not have made: before a sentence starting in lower case
    # ('"Why?" asked he.') and before a piece of nothing but closing punctuation.
    kept: list[int] = []
    bounds = cuts + [len(text)]
    for i, cut in enumerate(cuts):
        after = text[cut : bounds[i + 1]]
        if _first_alnum(after).islower():
            continue
        stripped = "".join(after.split())
        if stripped and all(ch in _TRAILING_ONLY for ch in stripped):
            continue
        kept.append(cut)
    return kept


def split_sentences(text: str, language: str | None) -> list[str]:
    """The sentences of a text, each stripped; whitespace inside them is left as it was.

    Uses pysbd's rules for the language of a BCP 47 tag ("en-US", "fr"); languages pysbd lacks,
    and None, use its English rules. No non-whitespace character is lost or changed: the
    sentences are slices of `text`, cut only at whitespace.
    """
    if not text or text.isspace():
        return []
    cuts = _sentence_cuts(text, pysbd_language(language))
    edges = [0, *cuts, len(text)]
    sentences = (text[a:b].strip() for a, b in zip(edges, edges[1:]))
    return [s for s in sentences if s]


# --------------------------------------------------------------------------- long sentences

# Kinds of cut, from best to worst; a cut's kind decides its cost.
_CLAUSE, _WORD, _WEAK, _CHAR, _BAD_CHAR = range(5)
_CLAUSE_END = frozenset(";:,—–―…!?)]}”»›")
_AMBIGUOUS_CLOSE = frozenset("'’")  # apostrophe or closing single quote
_PUNCT_BEFORE_CLOSE = frozenset(".,;:!?…—–")
_NO_BREAK_SPACES = frozenset("\u00a0\u202f\u2007")
# A piece should not start with these (they close what came before) ...
_CLOSING_PUNCT = frozenset(".,;:!?…)]}”’»›")
# ... nor end with these (they open what comes after).
_OPENING_PUNCT = frozenset("([{«‹“‘„")
_WS_RUN = re.compile(r"\s+")


def _collapse(text: str) -> tuple[str, set[int]]:
    """Whitespace runs -> one space, and the positions of the spaces that must not break."""
    text = text.strip()
    collapsed = _WS_RUN.sub(" ", text)
    no_break: set[int] = set()
    spaces = [i for i, ch in enumerate(collapsed) if ch == " "]
    for pos, run in zip(spaces, _WS_RUN.finditer(text)):
        if all(ch in _NO_BREAK_SPACES for ch in run.group()):
            no_break.add(pos)
    return collapsed, no_break


def _space_kind(c: str, p: int, no_break: set[int]) -> int:
    """The kind of a cut at the space c[p]."""
    if p in no_break:
        return _WEAK
    before, after = c[p - 1], c[p + 1]
    if after in _CLOSING_PUNCT or before in _OPENING_PUNCT:
        return _WEAK
    if before in _CLAUSE_END:
        return _CLAUSE
    if before == '"':
        return _CLAUSE  # a closing straight quote (an opening one is glued to its word)
    if before in _AMBIGUOUS_CLOSE:
        return _CLAUSE if p >= 2 and c[p - 2] in _PUNCT_BEFORE_CLOSE else _WORD
    if before == ".":
        # mid-sentence period after a lower-case word ("etc.", or a missed sentence end),
        # not after "Mr." or "U.S."
        word = c[c.rfind(" ", 0, p - 1) + 1 : p - 1].lstrip("([{«‹“‘„\"'")
        if len(word) >= 2 and word.isalpha() and word.islower():
            return _CLAUSE
    return _WORD


def _cuts_for(c: str, no_break: set[int], max_chars: int) -> list[tuple[int, int, int]]:
    """Candidate cuts as (end of the piece before, start of the piece after, kind)."""
    cuts: list[tuple[int, int, int]] = []
    spaces = [i for i, ch in enumerate(c) if ch == " "]
    breakable = [p for p in spaces if p not in no_break]
    for p in breakable:
        cuts.append((p, p + 1, _space_kind(c, p, no_break)))
    # Inside a word longer than the cap (words are separated by breakable spaces): first at
    # its no-break spaces, then inside the parts still too long, character by character.
    edges = [-1, *breakable, len(c)]
    for a, b in zip(edges, edges[1:]):
        start, end = a + 1, b
        if end - start <= max_chars:
            continue
        inner = [p for p in spaces if start < p < end]
        cuts.extend((p, p + 1, _WEAK) for p in inner)
        sub_edges = [start - 1, *inner, end]
        for sa, sb in zip(sub_edges, sub_edges[1:]):
            s0, s1 = sa + 1, sb
            if s1 - s0 <= max_chars:
                continue
            for k in range(s0 + 1, s1):
                bad = unicodedata.category(c[k]).startswith("M") or c[k] in "\u200d\ufe0f" or c[k - 1] == "\u200d"
                cuts.append((k, k, _BAD_CHAR if bad else _CHAR))
    cuts.sort()
    return cuts


def split_long_sentence(sentence: str, max_chars: int) -> list[str]:
    """Cut one sentence into pieces of at most `max_chars` characters, whitespace collapsed.

    Cuts are chosen, in this order of importance: as few cuts inside words as possible, then
    as few cuts between words that are not clause breaks (after , ; : — – ! ? … or a closing
    quote or bracket) as possible, then as few pieces as possible, then pieces as even in length
    as possible. A sentence that fits comes back whole.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    c, no_break = _collapse(sentence)
    if not c:
        return []
    if len(c) <= max_chars:
        return [c]
    cands = [(0, 0, -1), *_cuts_for(c, no_break, max_chars), (len(c), len(c), -1)]
    n = len(cands)
    # best[j]: cost of the best way to cut c[:end_j] into pieces, with a cut at candidate j.
    # Cost: (bad char cuts, char cuts, weak cuts, word cuts, pieces, sum of squared lengths).
    best: list[tuple[int, ...] | None] = [None] * n
    back = [0] * n
    best[0] = (0, 0, 0, 0, 0, 0)
    for j in range(1, n):
        end_j, _, kind = cands[j]
        add_bad = 1 if kind == _BAD_CHAR else 0
        add_char = 1 if kind == _CHAR else 0
        add_weak = 1 if kind == _WEAK else 0
        add_word = 1 if kind == _WORD else 0
        chosen = None
        chosen_i = 0
        for i in range(j - 1, -1, -1):
            length = end_j - cands[i][1]
            if length > max_chars:
                break
            b = best[i]
            if b is None or length <= 0:
                continue
            cost = (b[0] + add_bad, b[1] + add_char, b[2] + add_weak, b[3] + add_word, b[4] + 1, b[5] + length * length)
            if chosen is None or cost < chosen:
                chosen, chosen_i = cost, i
        best[j] = chosen
        back[j] = chosen_i
    if best[-1] is None:  # cannot happen: every gap between candidates is within the cap
        raise AssertionError("no way to cut the sentence under the cap")
    pieces: list[str] = []
    j = n - 1
    while j > 0:
        i = back[j]
        pieces.append(c[cands[i][1] : cands[j][0]])
        j = i
    pieces.reverse()
    return pieces


# --------------------------------------------------------------------------- paragraphs


def segment_paragraphs(paragraphs: list[str], language: str | None, max_chars: int) -> list[tuple[str, Pause]]:
    """Paragraphs -> segments of at most `max_chars` characters, each with the pause after it.

    One sentence per segment (never merged, so that segment texts stay stable), a sentence
    longer than the cap cut by `split_long_sentence`. The pause is CLAUSE inside a sentence,
    SENTENCE after a sentence and PARAGRAPH after a paragraph's last segment. Segments are
    stripped, non-empty, with whitespace runs collapsed to one space; nothing is dropped,
    not even segments with nothing to say (see `is_speakable`).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    out: list[tuple[str, Pause]] = []
    for paragraph in paragraphs:
        mine: list[tuple[str, Pause]] = []
        for sentence in split_sentences(paragraph, language):
            pieces = split_long_sentence(sentence, max_chars)
            mine.extend((piece, Pause.CLAUSE) for piece in pieces[:-1])
            mine.append((pieces[-1], Pause.SENTENCE))
        if mine:
            mine[-1] = (mine[-1][0], Pause.PARAGRAPH)
        out.extend(mine)
    return out
