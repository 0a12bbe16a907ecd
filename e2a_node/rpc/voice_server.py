"""A node's side of voices travelling: the ReceiveVoice, ServeVoice and FetchVoice handlers.

- ReceiveVoice: a leader pushes the voice files this node said it lacks.
- ServeVoice: another member asks for files of a voice this node holds (its voice store, or a
  voice of its own it loaded by content); only files the voice's manifest names, at most
  MAX_UPLOADS at once, paced by `--voice-upload-rate`. A file sent whole is hashed as it goes:
  one that no longer matches is dropped here (the receiver's own check refuses it).
- FetchVoice: a leader asks this node to fetch a voice from another member (host:port) with its
  own cluster identity, and streams the progress back. Whatever the source sends goes through
  the voice store's checks (offsets, sizes, SHA-256); a source that fails ends the call with
  UNAVAILABLE or DATA_LOSS, and the leader picks another.

Every wait is bounded (the first message, each next piece, the leader's deadline), and a caller
that goes away mid-stream cancels the handler where it waits: files close, the upload slot and
the store's reservation are given back.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time

import grpc

from e2a_node.clusterkey import Identity
from e2a_node.errors import E2AError
from e2a_node.node import MAX_UPLOADS, NodeService, WorkRefused
from e2a_node.rpc import CHUNK_BYTES
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc.boundary import UNPARSED, public
from e2a_node.rpc.client import PeerClient
from e2a_node.rpc.codec import MAX_NEEDS, clean, manifest_from_pb
from e2a_node.voices.store import VoiceStoreError

PROGRESS_SECONDS = 0.5
_TARGET = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}")
_VOICE_ID = re.compile(r"[0-9a-f]{64}")


class VoiceHandlers:
    def __init__(self, service: NodeService, idle_seconds: float, first_message_seconds: float,
                 identity: Identity | None) -> None:
        self.service = service
        self.idle, self.first_message = idle_seconds, first_message_seconds
        self.identity = identity  # how this node proves itself to the member it fetches from

    async def receive(self, request_iterator, context):
        """A leader sends the voice files this node said it lacks (see NodeService.receive_voice)."""
        requests = aiter(request_iterator)
        try:
            first = await asyncio.wait_for(anext(requests, None), self.first_message)
        except asyncio.TimeoutError:
            first = None
        if first is None or first is UNPARSED or not first.HasField("manifest"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a voice must begin with its manifest")
        try:
            files = manifest_from_pb(first.manifest)
        except E2AError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, public(str(exc)))

        async def pieces():
            msg = first
            while msg is not None:
                if msg is UNPARSED or len(msg.data) > CHUNK_BYTES:
                    raise E2AError(f"a piece of the voice over {CHUNK_BYTES} bytes, or one that did not parse")
                yield msg.path, msg.offset, msg.data
                try:
                    msg = await asyncio.wait_for(anext(requests, None), self.idle)
                except asyncio.TimeoutError:
                    raise E2AError(f"the voice stopped arriving for {self.idle:g} s") from None

        try:
            complete = await self.service.receive_voice(files, pieces())
        except WorkRefused as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, public(str(exc)))
        except E2AError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, public(str(exc)))
        return pb.VoiceReceipt(complete=complete)

    async def serve(self, request, context):
        """Send parts of the files of a voice this node holds."""
        if request is UNPARSED or not _VOICE_ID.fullmatch(request.voice_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a voice is asked for by its voice id")
        if len(request.needs) > MAX_NEEDS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_NEEDS} files of a voice")
        service = self.service
        if service.uploads >= MAX_UPLOADS:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"node {service.name} is sending voices to {service.uploads} nodes already")
        service.uploads += 1
        pace = _Pace(service.upload_rate)
        try:
            for need in request.needs:
                try:
                    f, wanted = service.voice_file(request.voice_id, need.path)
                except (VoiceStoreError, OSError) as exc:
                    await context.abort(grpc.StatusCode.NOT_FOUND, public(f"node {service.name}: {exc}"))
                with f:
                    if need.offset > wanted.size:
                        await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                            f"{clean(need.path, 80)} has {wanted.size} bytes, not {need.offset}")
                    f.seek(need.offset)
                    hasher = hashlib.sha256() if need.offset == 0 else None
                    offset = need.offset
                    while True:  # the last piece of a file is short (empty for an empty file)
                        data = await asyncio.to_thread(f.read, min(CHUNK_BYTES, wanted.size - offset))
                        if hasher is not None:
                            hasher.update(data)
                        yield pb.VoiceData(path=need.path, offset=offset, data=data)
                        offset += len(data)
                        await pace.sent(len(data))
                        if offset >= wanted.size or not data:
                            break
                    if hasher is not None and offset == wanted.size and hasher.hexdigest() != wanted.sha256:
                        service.drop_damaged_voice(request.voice_id, need.path)
        finally:
            service.uploads -= 1

    async def fetch(self, request, context):
        """Fetch a voice's missing files from another member, saying how far it got."""
        if request is UNPARSED or not _TARGET.fullmatch(request.source):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a voice is fetched from a member's host:port")
        try:
            files = manifest_from_pb(request.manifest)
        except E2AError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, public(str(exc)))
        service, source = self.service, clean(request.source_name, 64) or request.source
        if files.engine not in service.engines:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"engine {clean(files.engine, 40)!r} is not installed on node {service.name}")
        try:
            needs = service.voice_needs(files)
        except E2AError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, public(str(exc)))
        total = files.total_bytes
        if not needs:
            yield pb.FetchProgress(held=total, total=total, complete=True)
            return
        client = PeerClient(request.source, self.identity)
        received = 0

        async def counted():
            nonlocal received
            async for path, offset, data in client.voice_pieces(files.voice_id, needs, self.idle):
                received += len(data)
                yield path, offset, data

        task = asyncio.create_task(service.receive_voice(files, counted()))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=PROGRESS_SECONDS)
                held = service.receiving_bytes(files.voice_id)
                if held is not None:
                    yield pb.FetchProgress(held=held, total=total, received=received)
            if task.exception() is not None:  # what came, for the leader's count, before the error
                yield pb.FetchProgress(held=_held(service, files), total=total, received=received)
            try:
                complete = task.result()
            except WorkRefused as exc:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, public(str(exc)))
            except VoiceStoreError as exc:  # the source's bytes were refused: a hash, an offset, a size
                await context.abort(grpc.StatusCode.DATA_LOSS, public(f"from {source}: {exc}"))
            except grpc.aio.AioRpcError as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    public(f"{source} stopped sending the voice: {client.describe(exc)}"))
            except E2AError as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, public(f"{source}: {exc}"))
            if not complete:
                await context.abort(grpc.StatusCode.UNAVAILABLE, public(f"{source} sent only part of the voice"))
            yield pb.FetchProgress(held=total, total=total, complete=True, received=received)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await client.close()


def _held(service: NodeService, files) -> int:
    """Bytes of the voice this node holds now (after a fetch broke off)."""
    try:
        return files.held_bytes(service.voice_needs(files))
    except E2AError:  # no room in the store any more: nothing to resume from
        return 0


class _Pace:
    """Keeps an upload at `rate` bytes a second at most (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.start, self.total = rate, time.monotonic(), 0

    async def sent(self, n: int) -> None:
        self.total += n
        if self.rate > 0:
            ahead = self.start + self.total / self.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
