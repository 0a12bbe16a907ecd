"""What every e2a node and leader must agree on to talk at all: the protocol version and the port.

Kept apart from `e2a_node.rpc` (gRPC) and `e2a_node.discovery` (mDNS, static lists) so that
either may import these without depending on the other, and so that `e2a_node.node` can check a
leader's version without importing the gRPC layer that serves it.
"""

# Bump when a leader and a node of different versions could no longer work one job together.
PROTOCOL_VERSION = 2  # 2: voices travel as files (ReceiveVoice)
# What `e2a-node serve` listens on, and what a --cluster target without a port means.
DEFAULT_PORT = 50051
