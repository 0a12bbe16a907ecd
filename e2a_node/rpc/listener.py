"""Where a node listens: gRPC on the port itself, or, with a cluster key, the TLS gate on the port
and gRPC behind it on a Unix socket in a folder only this user can open (see gate.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

import grpc

from e2a_node.clusterkey import Identity
from e2a_node.errors import E2AError
from e2a_node.rpc.gate import TlsGate
from e2a_node.rpc.server import start_server


@dataclass
class Listener:
    server: grpc.aio.Server
    port: int
    gate: TlsGate | None = None
    folder: str | None = None  # the private folder of the Unix socket

    @property
    def tls(self) -> bool:
        return self.gate is not None

    async def stop(self, grace: float = 2.0) -> None:
        try:
            if self.gate is not None:
                await self.gate.stop()
            await self.server.stop(grace=grace)
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)


async def listen(service, host: str, port: int, identity: Identity | None = None, **server_options) -> Listener:
    """Serve `service` on host:port; with `identity`, only to holders of the same cluster key."""
    if identity is None:
        server, bound = await start_server(service, host, port, **server_options)
        return Listener(server, bound)
    folder = tempfile.mkdtemp(prefix="e2a-node-")  # mode 0700: the socket is this user's only
    server = None
    try:
        sock = os.path.join(folder, "grpc.sock")
        server, _ = await start_server(service, host, port, address=f"unix:{sock}", identity=identity,
                                       **server_options)
        gate = TlsGate(identity, host, port, sock, name=service.name)
        try:
            bound = await gate.start()
        except OSError as exc:
            raise E2AError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                           "(is another node using that port?)") from None
        return Listener(server, bound, gate, folder)
    except BaseException:
        if server is not None:
            await server.stop(0)
        shutil.rmtree(folder, ignore_errors=True)
        raise
