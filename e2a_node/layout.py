"""What the audiobook is made of: segments (the unit of synthesis) and the pause after each.

A job's text is a flat list of `Segment`s numbered from 0. Each segment is synthesized on its
own (by the local worker or, later, by a peer) and its audio is stored under its index; the
assembler then lays the segments out in order with the pause each one asks for. The pause
lengths themselves belong to the assembler (`e2a_node.audio`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Pause(str, Enum):
    """The silence that follows a segment, from shortest to longest."""

    CLAUSE = "clause"  # a long sentence was split inside; keep the gap short
    SENTENCE = "sentence"
    PARAGRAPH = "paragraph"
    TITLE = "title"  # after the spoken chapter title
    CHAPTER = "chapter"  # after the last segment of a chapter


@dataclass(frozen=True)
class Segment:
    index: int  # position in the job, 0-based; the key of its audio in the store
    chapter: int  # position of its chapter in the job's chapter list, 0-based
    text: str
    pause_after: Pause
