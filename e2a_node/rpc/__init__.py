"""The gRPC layer: generated stubs, the servicer a node runs, and the client a leader uses.

Protobuf types stop here: `codec` translates them to and from the plain Python types the
rest of e2a uses, `server` serves a `e2a_node.node.NodeService`, and `client` gives the
leader a `PeerClient` per peer. Regenerate the stubs with `bash scripts/gen_proto.sh`.

Layering: the one home of grpc and protobuf. It depends on `cluster` (the remote member
implements `cluster.members.Member`), `node`, `scheduler` and the plain types; nothing below
imports it except the wiring (convert, serve, cluster_status) (tests/test_layering.py).
"""

from e2a_node.wire import PROTOCOL_VERSION

__all__ = ["CHANNEL_OPTIONS", "CHUNK_BYTES", "MAX_CONCURRENT_RPCS", "MAX_MESSAGE_BYTES", "PROTOCOL_VERSION",
           "SERVER_OPTIONS"]

# Audio is sent in chunks well under gRPC's default 4 MB receive limit.
CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 8 << 20

# Keepalive on both sides: a dead peer (pulled cable, frozen process) is noticed by the
# transport within ~20 s even when the application is quiet; the leases notice sooner.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
# RPCs a node serves at once (beyond: RESOURCE_EXHAUSTED). A node works at most one job per slot;
# 64 leaves room for many leaders handshaking and polling at once, and bounds the tasks and
# message buffers (up to MAX_MESSAGE_BYTES each) a flood of calls can pin.
MAX_CONCURRENT_RPCS = 64
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
    # gRPC sets SO_REUSEPORT by default: a second node on the same port would then start
    # "fine" and share the traffic. Off, so it fails with a clear "port in use" instead.
    ("grpc.so_reuseport", 0),
]
