"""The protocol version and the port have one home (e2a_node.wire), and the node's logic reaches
them without importing the gRPC layer that serves it."""

import json
import subprocess
import sys

from e2a_node import rpc, wire
from e2a_node.discovery import parse_targets


def test_rpc_and_discovery_use_the_wire_facts():
    assert rpc.PROTOCOL_VERSION == wire.PROTOCOL_VERSION
    assert [(t.host, t.port) for t in parse_targets("10.0.0.5")] == [("10.0.0.5", wire.DEFAULT_PORT)]


def test_node_logic_imports_neither_grpc_nor_discovery():
    code = ("import json, sys, e2a_node.node;"
            "print(json.dumps([m for m in ('e2a_node.rpc', 'grpc', 'e2a_node.discovery') if m in sys.modules]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout) == []
