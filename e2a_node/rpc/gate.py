"""The node's TLS front door: mutual TLS on the public port, plain gRPC behind it on a private socket.

    gate = TlsGate(identity, "0.0.0.0", 50051, inner="/run/.../grpc.sock", name="n1")
    port = await gate.start()

Every TCP connection must complete a TLS 1.3 handshake with a certificate from the cluster's CA
within `HANDSHAKE_SECONDS`; only then are its bytes passed, unchanged, to the gRPC server, which
listens on a Unix socket in a folder only this user can open. So nothing a stranger sends ever
reaches the HTTP/2 parser, and a refused connection gets one log line that names the address and
the reason (gRPC's own TLS could only log that some handshake failed).

Bounded: connections still in their handshake (`MAX_HANDSHAKES`), established connections
(`MAX_CONNECTIONS`), and the bytes in flight per connection (stream buffers with back pressure).
Refusal lines are rate-limited per address, so a flood cannot fill the log.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections import OrderedDict

from e2a_node.clusterkey import Identity
from e2a_node.rpc.tls import refusal, server_context

log = logging.getLogger(__name__)

HANDSHAKE_SECONDS = 10.0  # a LAN handshake takes milliseconds; a slow one is an idle socket
MAX_HANDSHAKES = 32  # connections not yet authenticated, at once
MAX_CONNECTIONS = 64  # authenticated connections (each leader keeps one per node)
CHUNK = 64 * 1024  # bytes read at a time; writers drain before reading more
COMPLAINT_SECONDS = 60.0  # one refusal line per address per minute
_COMPLAINT_MEMORY = 256


class _Complaints:
    """Rate-limits refusal lines per remote host and reason, with a bounded memory."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, float] = OrderedDict()

    def say(self, key: str, message: str) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < COMPLAINT_SECONDS:
            return
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > _COMPLAINT_MEMORY:
            self._last.popitem(last=False)
        log.warning("%s", message)


class TlsGate:
    def __init__(self, identity: Identity, host: str, port: int, inner: str, *, name: str = "") -> None:
        self.context = server_context(identity)
        self.host, self.port, self.inner, self.name = host, port, inner, name
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._handshaking = 0
        self._connected = 0
        self._complaints = _Complaints()
        self.refused = 0  # connections refused so far (for tests and status)

    async def start(self) -> int:
        """Listen; returns the bound port (port 0 picks one)."""
        infos = socket.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self._accepting = asyncio.create_task(self._accept())
        return sock.getsockname()[1]

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, addr = await loop.sock_accept(self._sock)
            peer = _label(addr)
            if self._handshaking >= MAX_HANDSHAKES or self._connected >= MAX_CONNECTIONS:
                conn.close()
                self.refused += 1
                self._complaints.say(f"{addr[0]} busy", f"refused a connection from {peer}: too many connections "
                                              f"({self._connected} open, {self._handshaking} in handshake)")
                continue
            task = asyncio.create_task(self._serve(conn, peer, addr[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket, peer: str, host: str) -> None:
        loop = asyncio.get_running_loop()
        self._handshaking += 1
        try:
            reader = asyncio.StreamReader(limit=CHUNK, loop=loop)
            transport, protocol = await asyncio.wait_for(
                loop.connect_accepted_socket(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), conn,
                                             ssl=self.context, ssl_handshake_timeout=HANDSHAKE_SECONDS),
                HANDSHAKE_SECONDS + 1)
        except (ssl.SSLError, OSError, EOFError, asyncio.TimeoutError) as exc:
            conn.close()
            self.refused += 1
            log.debug("handshake with %s failed: %r", peer, exc)
            why = refusal(exc)
            self._complaints.say(f"{host} {why}", f"refused a connection from {peer}: {why}")
            return
        finally:
            self._handshaking -= 1
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        cert = transport.get_extra_info("peercert") or {}
        who = _common_name(cert)
        log.debug("%s (%s) connected", who or "a member", peer)
        self._connected += 1
        inner_writer = None
        try:
            inner_reader, inner_writer = await asyncio.open_unix_connection(self.inner, limit=CHUNK)
            await _splice(reader, writer, inner_reader, inner_writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connected -= 1
            for w in (writer, inner_writer):
                if w is not None:
                    w.close()
            log.debug("%s (%s) disconnected", who or "a member", peer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return
        writer.write(data)
        await writer.drain()


async def _splice(r1, w1, r2, w2) -> None:
    """Copy both ways until either side ends; then both end."""
    tasks = [asyncio.create_task(_pipe(r1, w2)), asyncio.create_task(_pipe(r2, w1))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _label(addr) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _common_name(cert: dict) -> str:
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return ""
