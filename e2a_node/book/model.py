"""The in-memory book: metadata plus chapters of plain-text paragraphs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Chapter:
    title: str  # from the table of contents, as the reader sees it
    paragraphs: list[str]  # plain text, whitespace collapsed, one per block element

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


@dataclass
class Book:
    title: str
    authors: list[str]
    language: str | None  # BCP 47 as the book states it ("en", "en-US", "fr"), or None
    chapters: list[Chapter]
    source_path: Path
    cover: bytes | None = None  # raster image bytes (JPEG or PNG) when the book has one
    cover_mime: str | None = None  # "image/jpeg" or "image/png"
    skipped: list[str] = field(default_factory=list)  # titles/hrefs of sections left out
    # One line per part that was damaged or could not be read and is left out (a chapter
    # whose markup cannot be parsed, a table of contents that cannot be read ...).
    warnings: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(c.words for c in self.chapters)
