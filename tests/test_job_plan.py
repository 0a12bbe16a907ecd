"""Planning a job: a long book planned on worker processes is the same plan as one process's."""

from __future__ import annotations

import concurrent.futures

import pytest

from e2a_node import job
from e2a_node.book import load_book
from e2a_node.synth.base import VoiceTraits

TRAITS = VoiceTraits("test:v1", 22050, 400, True, True, "en-US")


def _plan(book, tmp_path, workers):
    return job.plan_job(book, list(range(1, len(book.chapters) + 1)), book.language, TRAITS, tmp_path, workers=workers)


def test_workers_give_the_same_plan(corpus, tmp_path):
    book = load_book(corpus / "love-among-the-chickens.epub")
    assert sum(len(p) for ch in book.chapters for p in ch.paragraphs) > job.PARALLEL_PLAN_CHARS
    alone = _plan(book, tmp_path, workers=1)
    spread = _plan(book, tmp_path, workers=2)
    assert spread.job_id == alone.job_id
    assert [(s.index, s.chapter, s.text, s.pause_after) for s in spread.segments] == \
        [(s.index, s.chapter, s.text, s.pause_after) for s in alone.segments]
    assert [len(c.segments) for c in spread.chapters] == [len(c.segments) for c in alone.chapters]


def test_a_short_book_starts_no_workers(corpus, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a short book was planned on worker processes")

    monkeypatch.setattr(job, "ProcessPoolExecutor", refuse)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    book = load_book(corpus / "sous-le-vent.epub")
    assert _plan(book, tmp_path, workers=4).segments


def test_one_worker_plans_in_this_process(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(job, "ProcessPoolExecutor", lambda *a, **k: pytest.fail("workers=1 started a pool"))
    book = load_book(corpus / "love-among-the-chickens.epub")
    assert _plan(book, tmp_path, workers=1).segments
