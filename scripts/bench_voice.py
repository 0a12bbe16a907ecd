#!/usr/bin/env python3
"""Measure the default voice's speed on this machine: real-time factor on 1 and 2 threads.

Real-time factor (RTF) = synthesis seconds / audio seconds (lower is faster). Both thread
counts run in this one invocation on the same text, so the ratio between them holds even on a
noisy shared machine. The text is the sample book's segments, planned exactly as `e2a convert`
plans them.

Usage: .venv/bin/python scripts/bench_voice.py [--book PATH] [--threads 1,2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from e2a_node.book import load_book
from e2a_node.job import plan_job
from e2a_node.synth import load_engine
from e2a_node.synth.base import VoiceSettings, VoiceTraits, segment_seed

ROOT = Path(__file__).resolve().parents[1]


def measure(book_path: Path, threads: int, work: Path) -> dict:
    t0 = time.perf_counter()
    # Not --deterministic: that pins Piper to one ONNX thread (multi-threaded kernels change low
    # bits), which would make every row a one-thread row. Per-sentence seeds keep runs comparable.
    engine = load_engine(VoiceSettings(threads=threads))
    load_s = time.perf_counter() - t0
    book = load_book(book_path)
    plan = plan_job(book, list(range(1, len(book.chapters) + 1)), book.language, VoiceTraits.of(engine), work)
    audio_s = 0.0
    t0 = time.perf_counter()
    for seg in plan.segments:
        pcm = engine.synthesize(seg.text, seed=segment_seed(seg.text))
        audio_s += len(pcm) / 2 / engine.sample_rate
    synth_s = time.perf_counter() - t0
    return {"threads": threads, "load_s": round(load_s, 2), "synth_s": round(synth_s, 2),
            "audio_s": round(audio_s, 2), "rtf": round(synth_s / audio_s, 4),
            "segments": len(plan.segments), "words": book.words}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", type=Path, default=ROOT / "samples" / "aesop-fables.epub")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    rows = [measure(args.book, int(t), Path("/tmp/e2a-bench")) for t in args.threads.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    print(f"book: {args.book.name}, {rows[0]['words']} words, {rows[0]['segments']} segments, {rows[0]['audio_s'] / 60:.1f} min audio")
    print("| threads | load s | synth s | RTF | x real time | speedup vs first |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['load_s']} | {r['synth_s']} | {r['rtf']:.3f} | {1 / r['rtf']:.1f} | "
              f"{rows[0]['synth_s'] / r['synth_s']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
