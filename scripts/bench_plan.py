#!/usr/bin/env python3
"""How long planning a job takes (sentence splitting and normalisation, `e2a_node.job.plan_job`):
in this process alone and on one worker per core, for each corpus book, best of --repeat.

Both plans are checked to be the same (job id). Usage:
    .venv/bin/python scripts/bench_plan.py [--corpus ../shared/corpus] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2a_node.book import load_book  # noqa: E402
from e2a_node.job import plan_job  # noqa: E402
from e2a_node.synth import bench, load_engine  # noqa: E402
from e2a_node.synth.base import VoiceSettings, VoiceTraits  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def timed(book, traits, work: Path, workers: int | None, repeat: int) -> tuple[float, str]:
    best, job_id = float("inf"), ""
    numbers = list(range(1, len(book.chapters) + 1))
    for _ in range(repeat):
        t = time.perf_counter()
        plan = plan_job(book, numbers, book.language, traits, work, workers=workers)
        best, job_id = min(best, time.perf_counter() - t), plan.job_id
    return best, job_id


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    bench.register()
    traits = VoiceTraits.of(load_engine(VoiceSettings(engine="bench")))
    print(f"{os.cpu_count()} cores")
    print("| book | characters | one process s | one worker per core s | same plan |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(args.corpus.glob("*.epub")):
            book = load_book(path)
            chars = sum(len(par) for ch in book.chapters for par in ch.paragraphs)
            alone, id1 = timed(book, traits, Path(tmp), 1, args.repeat)
            spread, id2 = timed(book, traits, Path(tmp), None, args.repeat)
            print(f"| {path.name} | {chars:,} | {alone:.2f} | {spread:.2f} | {'yes' if id1 == id2 else 'NO'} |")


if __name__ == "__main__":
    main()
