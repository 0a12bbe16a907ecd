#!/usr/bin/env bash
# Regenerate the gRPC/protobuf stubs from proto/e2a/v1/node.proto into e2a_node/rpc/.
#   bash scripts/gen_proto.sh            # write e2a_node/rpc/node_pb2*.py (commit the result)
#   bash scripts/gen_proto.sh OUT_DIR    # write them elsewhere (the staleness test compares)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-e2a_node/rpc}"
py="${PYTHON:-.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m grpc_tools.protoc -I proto --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" proto/e2a/v1/node.proto
mkdir -p "$out"
cp "$tmp/e2a/v1/node_pb2.py" "$tmp/e2a/v1/node_pb2.pyi" "$out/"
# protoc writes an absolute import of the proto package; the stubs live inside e2a_node.rpc.
sed 's/^from e2a\.v1 import node_pb2 as/from . import node_pb2 as/' "$tmp/e2a/v1/node_pb2_grpc.py" > "$out/node_pb2_grpc.py"
echo "wrote $out/node_pb2.py, node_pb2.pyi, node_pb2_grpc.py"
