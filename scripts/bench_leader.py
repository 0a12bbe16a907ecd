#!/usr/bin/env python3
"""`e2a` with the benchmark's engine registered and, with `--policy chapter`, the
one-task-per-chapter baseline as the job's scheduler: what scripts/bench_cluster.py runs as its
leader. Usage: bench_leader.py [--policy stealing|chapter] convert BOOK ...  (e2a's arguments)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2a_node.cli import main  # noqa: E402
from e2a_node.scheduler.chapter_policy import ChapterScheduler  # noqa: E402
from e2a_node.synth import bench  # noqa: E402

POLICIES = ("stealing", "chapter")


def chapter_scheduler(chars, chapters, config, done, check=None):
    return ChapterScheduler(chars, chapters, config, done=done, check=check)


if __name__ == "__main__":
    args = sys.argv[1:]
    policy = "stealing"
    if args[:1] == ["--policy"]:
        policy, args = args[1], args[2:]
        if policy not in POLICIES:
            sys.exit(f"--policy: expected one of {', '.join(POLICIES)}, not {policy!r}")
    bench.register()
    obj = {"policy": policy, "scheduler_factory": chapter_scheduler} if policy == "chapter" else {}
    main(args, obj=obj)
