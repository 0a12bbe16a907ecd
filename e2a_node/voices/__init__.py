"""Voices as files: getting them, naming them by content, keeping them, moving them.

    catalog.py    the Piper voice catalog: list what can be downloaded, download with hash checks
    manifest.py   a voice's identity: its engine and files (path, size, SHA-256), one voice id
    store.py      a node's voice store: voices received from the cluster, bounded, LRU-evicted

Layering: imports only `errors` and `synth` from e2a (tests/test_layering.py); no grpc here,
the transfer RPC lives in rpc/.
"""
