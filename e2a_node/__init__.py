"""e2a: turn ebooks into audiobooks on one machine or a peer-to-peer cluster of them."""

import os

__version__ = "0.1.0"

# gRPC's C core logs every failed TLS handshake to stderr on its own; e2a reports those itself,
# in one line that names the node and the reason (rpc/tls.py, rpc/gate.py).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
