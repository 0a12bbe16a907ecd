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


def test_the_node_serves_every_rpc_of_the_proto():
    from e2a_node.rpc import node_pb2 as pb
    from e2a_node.rpc.server import NodeServicer, add_servicer

    class Recorder:
        def add_generic_rpc_handlers(self, handlers):
            self.handlers = handlers

    server = Recorder()
    add_servicer(object.__new__(NodeServicer), server)
    (generic,) = server.handlers
    served = {name.rsplit("/", 1)[-1] for name in generic._method_handlers}
    assert served == set(pb.DESCRIPTOR.services_by_name["Node"].methods_by_name)
