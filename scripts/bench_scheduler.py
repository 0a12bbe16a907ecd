#!/usr/bin/env python3
"""Micro-benchmark of the leader's scheduler: how many events per second `handle` takes.

A synthetic book (default 100,000 sentences of 20-300 characters in 1,000 chapters of uneven
length, fixed seed) is read to the end by 32 simulated nodes of mixed speeds and slots in the
discrete-event simulator (e2a_node/scheduler/simulate.py). Only the wall time spent inside the
policy's `handle` counts toward events/s; the simulator's own work does not. Memory is a
second run of the same job under tracemalloc (which slows everything down, so it is not timed):
"peak MB" is the traced peak of that whole run (the policy plus the simulator's heap and its
per-segment bookkeeping), "policy MB" what the policy object holds right after it is built.

With --verify F the stealing policy also runs peer verification (SchedulerConfig.verify_fraction;
every simulated node is an untrusted peer, all honest): the table then says how many
sentences were made twice to compare, as a share of the book's characters.

Usage: .venv/bin/python scripts/bench_scheduler.py [--policy stealing|chapter|both]
           [--segments 100000] [--chapters 1000] [--nodes 32] [--verify 0.02] [--no-memory]
           [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import time
import tracemalloc
from pathlib import Path

from e2a_node.scheduler import Scheduler, SchedulerConfig
from e2a_node.scheduler.chapter_policy import ChapterScheduler
from e2a_node.scheduler.simulate import SimNode, simulate

SEED = 2024


def synthetic_book(segments: int, chapters: int, seed: int = SEED) -> tuple[list[int], list[int]]:
    """(chars per sentence, chapter number per sentence). Chapters vary 0.25x-1.75x in length."""
    rng = random.Random(seed)
    chars = [rng.randint(20, 300) for _ in range(segments)]
    weights = [rng.uniform(0.25, 1.75) for _ in range(chapters)]
    scale = segments / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[-1] = max(1, segments - sum(sizes[:-1]))  # absorb rounding in the last chapter
    while sum(sizes) > segments:  # (only when the rounding overshot)
        k = max(range(chapters), key=sizes.__getitem__)
        sizes[k] -= sum(sizes) - segments
    numbers = [c + 1 for c, size in enumerate(sizes) for _ in range(size)]
    return chars, numbers


def cluster(count: int, seed: int = SEED) -> list[SimNode]:
    """Nodes of 25-400 chars/s per slot (a Raspberry Pi to a desktop GPU), 1-4 slots."""
    rng = random.Random(seed + 1)
    speeds = [25.0, 50.0, 100.0, 150.0, 200.0, 400.0]
    return [SimNode(f"n{k:02d}", rng.choice(speeds), slots=rng.choice([1, 1, 2, 4]))
            for k in range(count)]


class _Timed:
    """Wraps a policy; adds the time spent in `handle` to `seconds` (and the slowest call)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.slowest = 0.0
        self.calls = 0

    def handle(self, event, now):
        t0 = time.perf_counter()
        out = self.inner.handle(event, now)
        took = time.perf_counter() - t0
        self.seconds += took
        self.calls += 1
        if took > self.slowest:
            self.slowest = took
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def factory(policy: str, numbers: list[int], holder: list):
    def build(chars, config, done):
        inner = (Scheduler(chars, config, done) if policy == "stealing"
                 else ChapterScheduler(chars, numbers, config, done))
        wrapped = _Timed(inner)
        holder.append(wrapped)
        return wrapped
    return build


def run(policy: str, chars: list[int], numbers: list[int], nodes: list[SimNode],
        config: SchedulerConfig, memory: bool) -> dict:
    holder: list[_Timed] = []
    gc.collect()
    t0 = time.perf_counter()
    result = simulate(chars, nodes, config, scheduler=factory(policy, numbers, holder))
    wall = time.perf_counter() - t0
    timed = holder[0]
    assert result.done and result.job_done_count == 1, "the job did not finish"
    assert all(c == 1 for c in result.accept_counts), "a segment was accepted twice or never"
    row = {
        "policy": policy,
        "segments": len(chars),
        "chapters": len(set(numbers)),
        "nodes": len(nodes),
        "slots": sum(n.slots for n in nodes),
        "events": result.events,
        "handle_s": round(timed.seconds, 3),
        "events_per_s": round(result.events / timed.seconds) if timed.seconds else None,
        "mean_us": round(1e6 * timed.seconds / result.events, 2),
        "slowest_ms": round(1e3 * timed.slowest, 3),
        "wall_s": round(wall, 2),
        "simulated_s": round(result.wall_time, 1),
        "efficiency": round(result.efficiency, 4),
        "redundant_chars": result.redundant_chars,
        "leases": sum(n.leases for n in result.stats.nodes),
        "steals": result.stats.steals,
        "backups": result.stats.backups,
        "verifications": result.stats.verifications,
        "verify_pct": round(100 * result.verify_chars / result.total_chars, 2),
    }
    del result, holder, timed
    if memory:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        policy_obj = factory(policy, numbers, [])(chars, config, set())
        row["policy_mb"] = round((tracemalloc.get_traced_memory()[0] - before) / 2**20, 2)
        del policy_obj
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        simulate(chars, nodes, config, scheduler=factory(policy, numbers, []))
        row["peak_mb"] = round((tracemalloc.get_traced_memory()[1] - base) / 2**20, 2)
        tracemalloc.stop()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", choices=["stealing", "chapter", "both"], default="stealing")
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--chapters", type=int, default=1_000)
    ap.add_argument("--nodes", type=int, default=32)
    ap.add_argument("--verify", type=float, default=0.0, metavar="F",
                    help="verify this fraction of the sentences (stealing policy only)")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if not 1 <= args.chapters <= args.segments:
        ap.error("need 1 <= --chapters <= --segments")

    chars, numbers = synthetic_book(args.segments, args.chapters)
    nodes = cluster(args.nodes)
    config = SchedulerConfig(verify_fraction=args.verify)
    policies = ["stealing", "chapter"] if args.policy == "both" else [args.policy]
    rows = [run(p, chars, numbers, nodes, config, not args.no_memory) for p in policies]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"book: {len(chars)} sentences ({sum(chars)} chars) in {len(set(numbers))} chapters; "
          f"{len(nodes)} nodes, {sum(n.slots for n in nodes)} slots, "
          f"{sum(n.speed * n.slots for n in nodes):.0f} chars/s in all")
    print()
    print("| policy | events | handle s | events/s | mean µs | slowest ms | policy MB | peak MB "
          "| wall s | simulated s | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['policy']} | {r['events']} | {r['handle_s']} | {r['events_per_s']} | "
              f"{r['mean_us']} | {r['slowest_ms']} | {r.get('policy_mb', '-')} | "
              f"{r.get('peak_mb', '-')} | {r['wall_s']} | {r['simulated_s']} | {r['efficiency']} |")
    if args.verify:
        for r in rows:
            print(f"{r['policy']}: {r['verifications']} verifications, "
                  f"{r['verify_pct']}% of the characters made twice")
    if args.json:
        args.json.write_text(json.dumps({"machine": platform.machine(), "cores": os.cpu_count(),
                                         "python": platform.python_version(), "results": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
