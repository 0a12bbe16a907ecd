#!/usr/bin/env python3
"""What the user waits for, on one machine: the whole `e2a convert` of a book to m4b, not only
its synthesis phase.

One run of `scripts/bench_leader.py convert BOOK --engine bench` (the benchmark engine: it sleeps
len(text)/speed per sentence and makes a tone, so synthesis costs a known time and no CPU) with
--report and --keep-audio, then, on the audio that run kept, the serial export e2a did before
chapters were encoded during synthesis (`write_audiobook`: every chapter laid out, normalised
and encoded in one ffmpeg after the last sentence), timed in the same process. And the leader's
AAC encode throughput on all its cores (one ffmpeg per core on 10 minutes of the book's audio),
which gives the encode bound: the book's audio / that throughput.

Figures (results.json in --out, and printed): synthesis_s (the report's synthesis phase),
wall_s (the command), start_s (before synthesis: book, voice, plan), tail_s (last sentence in ->
file written; join_s of it, the final join), ideal_s (characters / speed),
encode_bound_s, limit_s = max(ideal, encode bound), efficiency = limit / wall, and the serial
export's seconds for comparison.

Usage: .venv/bin/python scripts/bench_end_to_end.py [--book PATH] [--chars-per-second 10000]
       [--chapters all] [--out bench-e2e] [--throughput-seconds 600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))

import bench_encode  # noqa: E402
from e2a_node.audio import Tags, write_audiobook  # noqa: E402
from e2a_node.audio.assemble import chapter_pcm  # noqa: E402
from e2a_node.book import load_book  # noqa: E402
from e2a_node.job import parse_chapter_selection, plan_job  # noqa: E402
from e2a_node.synth import bench  # noqa: E402
from e2a_node.synth.base import VoiceTraits  # noqa: E402

SAMPLE_RATE = 22050
THROUGHPUT_SECONDS = 600  # of audio per ffmpeg in the throughput measurement (--throughput-seconds)


def encode_throughput(store, chapters, folder: Path, seconds: int = THROUGHPUT_SECONDS) -> float:
    """Real-time factor of AAC 64k encoding on all cores, on the book's own audio."""
    return bench_encode.throughput(chapter_pcm(chapters[0].segments, store), SAMPLE_RATE, folder, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--book", type=Path, default=ROOT.parent / "shared" / "corpus" / "sherlock-holmes.epub")
    ap.add_argument("--chars-per-second", type=float, default=10000.0)
    ap.add_argument("--chapters", default="all")
    ap.add_argument("--out", type=Path, default=Path("bench-e2e"))
    ap.add_argument("--throughput-seconds", type=int, default=THROUGHPUT_SECONDS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, bench.SPEED_ENV: str(args.chars_per_second), bench.SAMPLE_RATE_ENV: str(SAMPLE_RATE)}
    with tempfile.TemporaryDirectory(prefix="e2a-bench-e2e-") as tmp:
        tmp = Path(tmp)
        report = tmp / "report.json"
        cmd = [sys.executable, str(ROOT / "scripts" / "bench_leader.py"), "convert", str(args.book),
               "--engine", "bench", "--slots", "1", "--chapters", args.chapters, "-o", str(tmp / "book.m4b"),
               "--work-dir", str(tmp / "work"), "--report", str(report), "--keep-audio"]
        t = time.monotonic()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - t
        rep = json.loads(report.read_text())

        book = load_book(args.book)
        numbers = parse_chapter_selection(args.chapters, len(book.chapters))
        engine = bench.BenchEngine(chars_per_second=args.chars_per_second, sample_rate=SAMPLE_RATE,
                                   fingerprint=bench.fingerprint_for(SAMPLE_RATE))
        plan = plan_job(book, numbers, book.language, VoiceTraits.of(engine), tmp / "work")
        store = plan.store
        t = time.monotonic()
        write_audiobook(plan.chapters, store, tmp / "serial.m4b", tags=Tags(title=book.title))
        serial = time.monotonic() - t
        throughput = encode_throughput(store, plan.chapters, tmp, args.throughput_seconds)

    chars = sum(len(s.text) for s in plan.segments)
    audio = rep["end_to_end"]["audio_seconds"]
    ideal = chars / args.chars_per_second
    bound = audio / throughput
    limit = max(ideal, bound)
    result = {"book": args.book.name, "chapters": len(plan.chapters), "sentences": len(plan.segments),
              "characters": chars, "audio_h": round(audio / 3600, 2), "cores": os.cpu_count(),
              "chars_per_second": args.chars_per_second, "wall_s": round(wall, 3),
              "start_s": rep["end_to_end"].get("start_seconds"), "synthesis_s": round(rep["wall_seconds"], 3),
              "tail_s": rep["end_to_end"]["tail_seconds"], "join_s": rep["end_to_end"].get("join_seconds"),
              "ideal_s": round(ideal, 3), "encode_throughput_x": round(throughput, 1),
              "encode_bound_s": round(bound, 3), "limit_s": round(limit, 3),
              "efficiency": round(limit / wall, 3), "serial_export_s": round(serial, 1)}
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
