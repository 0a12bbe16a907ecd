"""The committed gRPC stubs are what scripts/gen_proto.sh makes from proto/e2a/v1/node.proto."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

STUBS = ["node_pb2.py", "node_pb2.pyi", "node_pb2_grpc.py"]


def test_committed_stubs_are_current(tmp_path):
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)], check=True,
                   env={**os.environ, "PYTHON": sys.executable}, capture_output=True)
    for name in STUBS:
        fresh = (tmp_path / name).read_text()
        committed = (ROOT / "e2a_node" / "rpc" / name).read_text()
        assert fresh == committed, f"e2a_node/rpc/{name} is stale: run bash scripts/gen_proto.sh and commit"
