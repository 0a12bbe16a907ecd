#!/usr/bin/env python3
"""`e2a-node` with the benchmark's sleeping engine registered: what scripts/bench_cluster.py runs
as its nodes. Arguments are e2a-node's (e.g. `serve --engine bench ...`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2a_node.cli import node_main  # noqa: E402
from e2a_node.synth import bench  # noqa: E402

if __name__ == "__main__":
    bench.register()
    node_main()
