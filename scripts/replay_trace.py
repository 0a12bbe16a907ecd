#!/usr/bin/env python3
"""Replay a scheduler trace (e2a_node/scheduler/trace.py) and say whether today's scheduler
gives the same answers to the same events.

A trace is written by the driver (JobOptions.trace) or by the simulator (simulate(trace=...)).

Usage: .venv/bin/python scripts/replay_trace.py FILE
Exit status: 0 every instruction identical; 1 a difference (the first one is printed, with how
many lines differ); 2 the file is not a trace.
"""

from __future__ import annotations

import argparse
import sys

from e2a_node.scheduler.trace import TraceError, read, replay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", help="a trace file (JSON lines)")
    args = parser.parse_args(argv)
    try:
        _, steps = read(args.trace)
        mismatches = replay(args.trace)
    except (OSError, TraceError) as exc:
        print(f"replay_trace: {exc}", file=sys.stderr)
        return 2
    if not mismatches:
        print(f"{args.trace}: {len(steps)} events, every instruction identical")
        return 0
    print(f"{args.trace}: {len(mismatches)} of {len(steps)} lines differ; the first:")
    print(mismatches[0])
    return 1


if __name__ == "__main__":
    sys.exit(main())
