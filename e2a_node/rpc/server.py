"""The gRPC servicer of a node: translates Handshake / Work / Status to `NodeService` calls.

A Work stream lives as long as the leader's job: the first message must be JobStart, answered
by Ready (or Busy, and the stream ends); then a reader task carries Assign / Revoke /
StealRequest to the job's session while a writer task sends the session's results from a
bounded `StreamOutbox`, with a heartbeat every second. The handler is a plain coroutine (not a
generator), so a client that resets the stream at any point cancels it where it waits and the
`finally` gives the job's slots back at once.

The node bounds what any leader, buggy or not, can hold: a stream ends (with a status saying
why) when its leader sends no JobStart in time, gives no work for `IDLE_SECONDS`, reads nothing
for as long, or asks past a job's bounds; the outbox waits for its reader instead of growing;
voice loads are rate limited (RESOURCE_EXHAUSTED). Every text sent to the other side goes
through `public`, which takes the node's filesystem paths out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import grpc

from e2a_node.clusterkey import Identity
from e2a_node.errors import E2AError
from e2a_node.node import JobSession, NodeService, WorkRefused
from e2a_node.rpc import CHUNK_BYTES, MAX_CONCURRENT_RPCS, SERVER_OPTIONS
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.rpc.boundary import UNPARSED, lenient, public
from e2a_node.rpc.codec import bundle_from_pb, info_to_pb, needs_to_pb, traits_to_pb
from e2a_node.rpc.voice_server import VoiceHandlers
from e2a_node.worker import WorkItem

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
# A job whose leader gives it no work (no lease in progress, no Assign) for this long, or reads
# nothing of what it is sent for this long, loses its stream and its slots. A working leader
# assigns again within a second of a lease ending and reads continuously; a minute is far past
# any pause of a healthy one (the scheduler's leases expire after 10 s of silence).
IDLE_SECONDS = 60.0
# A leader sends JobStart as it opens the stream; a silent stream holds an RPC for no more.
FIRST_MESSAGE_SECONDS = 10.0
# The outgoing queue of one stream: slots wait before their next sentence once it holds this
# much audio (8 MB is ~3 min of 22 kHz speech, many sentences in flight per slot: all the
# pipelining a reader needs) or this many messages (bounds heartbeats, replies, empty audio).
OUTBOX_BYTES = 8 << 20
OUTBOX_MESSAGES = 1024
_END = object()


# ---------------------------------------------------------------------------------------------
# The bounded outgoing queue


@dataclass
class OutboxStats:
    """What the servicer's outboxes saw (for tests and logs): the most they ever held."""

    peak_bytes: int = 0
    peak_messages: int = 0
    heartbeats_skipped: int = 0


class StreamOutbox:
    """A job's results as PeerMessages waiting for the stream's writer, bounded by bytes of audio
    and by count: `room()` waits while either bound is reached. Replies and errors are never
    refused (their senders waited for room first); heartbeats are skipped when it is full."""

    def __init__(self, max_bytes: int = OUTBOX_BYTES, max_messages: int = OUTBOX_MESSAGES, sample_rate: int = 0,
                 stats: OutboxStats | None = None) -> None:
        self.max_bytes, self.max_messages = max_bytes, max_messages
        self.sample_rate = sample_rate
        self.stats = stats or OutboxStats()
        self._queue: deque[tuple[object, int]] = deque()
        self.queued_bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self._items = asyncio.Event()
        self._waiting_since: float | None = None  # the oldest queued message has waited since then

    # -- the Outbox protocol (e2a_node.worker)

    async def room(self) -> None:
        while not self._has_room():
            await self._room.wait()

    def audio(self, lease: int, index: int, pcm: bytes, synth_seconds: float) -> None:
        chunks = [pcm[i:i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)] or [b""]
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            self._put(pb.PeerMessage(audio=pb.AudioChunk(
                lease=lease, index=index, pcm=chunk, last=last, sample_rate=self.sample_rate,
                synth_seconds=synth_seconds if last else 0.0)), len(chunk))

    def failed(self, lease: int, index: int, error: str) -> None:
        self._put(pb.PeerMessage(error=pb.SegmentError(lease=lease, index=index, error=public(error))))

    def steal_reply(self, steal_id: int, stop_at: int) -> None:
        self._put(pb.PeerMessage(steal_reply=pb.StealReply(steal_id=steal_id, stop_at=stop_at)))

    def revoke_ack(self, lease: int) -> None:
        self._put(pb.PeerMessage(revoke_ack=pb.RevokeAck(lease=lease)))

    # -- the stream's side

    def offer_heartbeat(self, leases: list[int]) -> None:
        if not self._has_room():
            self.stats.heartbeats_skipped += 1
            return
        self._put(pb.PeerMessage(heartbeat=pb.Heartbeat(leases=leases)))

    def finish(self) -> None:
        """The writer ends the stream after what is queued now."""
        self._put(_END)

    async def next(self) -> object:
        """The oldest message (left queued until `sent`), or _END."""
        while not self._queue:
            self._items.clear()
            await self._items.wait()
        return self._queue[0][0]

    def sent(self) -> None:
        _msg, size = self._queue.popleft()
        self.queued_bytes -= size
        self._waiting_since = time.monotonic() if self._queue else None
        self._update()

    def stalled_seconds(self, now: float) -> float:
        """How long the oldest queued message has waited for the writer (0 when none waits)."""
        return 0.0 if self._waiting_since is None else now - self._waiting_since

    def _has_room(self) -> bool:
        return self.queued_bytes < self.max_bytes and len(self._queue) < self.max_messages

    def _put(self, msg: object, size: int = 0) -> None:
        if not self._queue:
            self._waiting_since = time.monotonic()
        self._queue.append((msg, size))
        self.queued_bytes += size
        self.stats.peak_bytes = max(self.stats.peak_bytes, self.queued_bytes)
        self.stats.peak_messages = max(self.stats.peak_messages, len(self._queue))
        self._items.set()
        self._update()

    def _update(self) -> None:
        if self._has_room():
            self._room.set()
        else:
            self._room.clear()


# ---------------------------------------------------------------------------------------------
# The servicer


@dataclass(frozen=True)
class StreamLimits:
    """How long a Work stream may wait for its leader, and how much it queues for it."""

    idle_seconds: float = IDLE_SECONDS
    first_message_seconds: float = FIRST_MESSAGE_SECONDS
    outbox_bytes: int = OUTBOX_BYTES
    outbox_messages: int = OUTBOX_MESSAGES


class NodeServicer(node_pb2_grpc.NodeServicer):
    def __init__(self, service: NodeService, limits: StreamLimits = StreamLimits(),
                 identity: Identity | None = None) -> None:
        """`identity`: the node's cluster identity, for fetching voices from other members."""
        self.service = service
        self.limits = limits
        self.voices = VoiceHandlers(service, limits.idle_seconds, limits.first_message_seconds, identity)
        self.outbox_stats = OutboxStats()
        self.streams: set[_WorkStream] = set()  # open now

    async def Status(self, request, context):
        return info_to_pb(self.service.info())

    async def Handshake(self, request, context):
        if request is UNPARSED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request did not parse")
        try:
            bundle = bundle_from_pb(request.settings)
        except E2AError as exc:  # a voice manifest that breaks the rules
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, public(str(exc)))
        try:
            admission = await self.service.admit(request.protocol_version, bundle, request.expected_fingerprint)
        except Exception as exc:  # a bug: one line to the leader (no paths), the traceback here
            log.exception("handshake failed")
            await context.abort(grpc.StatusCode.INTERNAL, public(f"the node failed: {type(exc).__name__}: {exc}"))
        if admission.limited:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, public(admission.reason))
        reply = pb.HandshakeReply(info=info_to_pb(self.service.info()), accepted=admission.accepted,
                                  reason=public(admission.reason), speed=admission.speed)
        if admission.traits is not None:
            reply.traits.CopyFrom(traits_to_pb(admission.traits))
        reply.missing.extend(needs_to_pb(admission.missing))
        return reply

    async def ReceiveVoice(self, request_iterator, context):
        return await self.voices.receive(request_iterator, context)

    async def ServeVoice(self, request, context):  # gRPC wants the handler itself a generator
        async for piece in self.voices.serve(request, context):
            yield piece

    async def FetchVoice(self, request, context):
        async for progress in self.voices.fetch(request, context):
            yield progress

    async def Work(self, request_iterator, context):
        requests = aiter(request_iterator)
        try:
            first = await asyncio.wait_for(anext(requests, None), self.limits.first_message_seconds)
        except asyncio.TimeoutError:
            first = None
            details = f"no JobStart within {self.limits.first_message_seconds:g} s of opening the stream"
            await context.abort(grpc.StatusCode.ABORTED, details)

        if first is None or first is UNPARSED or first.WhichOneof("kind") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a Work stream must begin with JobStart")
        stream = _WorkStream(self, context, requests)
        self.streams.add(stream)
        try:
            end = await stream.run(first.start)
        except grpc.aio.BaseError:  # the call itself ended (the client left): grpc's to handle
            raise
        except Exception as exc:  # a bug: one line to the leader (no paths), the traceback here
            log.exception("job %s failed", stream.job_id)
            end = grpc.StatusCode.INTERNAL, f"the node failed: {type(exc).__name__}: {exc}"
        finally:
            self.streams.discard(stream)
            await stream.close()
        if end is not None:
            log.info("job %s: stream ended: %s", stream.job_id, end[1])
            await context.abort(end[0], public(end[1]))


class _WorkStream:
    """One Work stream after its JobStart: the session, its outbox and the tasks that serve them."""

    def __init__(self, servicer: NodeServicer, context, requests) -> None:
        self.service = servicer.service
        self.limits = servicer.limits
        self.context = context
        self.requests = requests
        self.outbox = StreamOutbox(self.limits.outbox_bytes, self.limits.outbox_messages,
                                   stats=servicer.outbox_stats)
        self.session: JobSession | None = None
        self.job_id = ""
        self._tasks: list[asyncio.Task] = []
        self._end: asyncio.Future | None = None

    async def run(self, start: pb.JobStart) -> tuple[grpc.StatusCode, str] | None:
        """Serve the job; returns how the stream must end (None: normally)."""
        self.job_id = start.job_id[:64]
        try:
            bundle = bundle_from_pb(start.settings)
        except E2AError as exc:
            return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        admission, self.session = await self.service.open_job(
            start.protocol_version, bundle, start.expected_fingerprint, start.slots_wanted, self.outbox)
        if self.session is None:
            if admission.limited:
                return grpc.StatusCode.RESOURCE_EXHAUSTED, admission.reason
            await self.context.write(pb.PeerMessage(busy=pb.Busy(reason=public(admission.reason))))
            return None
        self.outbox.sample_rate = admission.traits.sample_rate
        log.info("job %s from leader %s: %d slot(s)", self.job_id, start.leader_id[:64], self.session.runner.slots)
        await self.context.write(pb.PeerMessage(ready=pb.Ready(
            traits=traits_to_pb(admission.traits), slots=self.session.runner.slots, speed=admission.speed)))
        self._end = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(work()) for work in (self._read, self._write, self._heartbeat, self._watch)]
        return await self._end

    async def close(self) -> None:
        """Stop the tasks and give the job's slots back (on every way out of `run`)."""
        for task in self._tasks:
            task.cancel()
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            if self.session is not None:
                await self.session.close()
            log.info("job %s ended", self.job_id)

    def _finish(self, end: tuple[grpc.StatusCode, str] | None) -> None:
        if self._end is not None and not self._end.done():
            self._end.set_result(end)

    async def _read(self) -> None:
        session = self.session
        try:
            async for msg in self.requests:
                if msg is UNPARSED:
                    self._finish((grpc.StatusCode.INVALID_ARGUMENT, "a message from the leader did not parse"))
                    return
                kind = msg.WhichOneof("kind")
                if kind == "assign":
                    segments = msg.assign.segments
                    session.check_assign(msg.assign.lease, len(segments))  # before building the items
                    session.assign(msg.assign.lease, [WorkItem(s.index, s.text, s.seed) for s in segments])
                elif kind == "revoke":
                    await self.outbox.room()  # each answer waits for room, so a reader that
                    session.revoke(msg.revoke.lease)  # never reads cannot queue them without end
                elif kind == "steal":
                    await self.outbox.room()
                    session.steal(msg.steal.steal_id, msg.steal.lease, msg.steal.split_at)
        except WorkRefused as exc:
            self._finish((grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)))
            return

        except asyncio.CancelledError:
            raise
        except Exception:  # the call broke under the reader (client gone): nothing left to serve
            log.debug("job %s: reading failed", self.job_id, exc_info=True)
            self._finish(None)
            return
        self.outbox.finish()  # the leader is done writing: send what is queued, then end

    async def _write(self) -> None:
        try:
            while True:
                msg = await self.outbox.next()
                if msg is _END:
                    break
                await self.context.write(msg)
                self.outbox.sent()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("job %s: writing failed", self.job_id, exc_info=True)
        self._finish(None)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self.outbox.offer_heartbeat(self.session.runner.active_leases())

    async def _watch(self) -> None:
        idle = self.limits.idle_seconds
        while True:
            await asyncio.sleep(min(1.0, idle / 4))
            now = time.monotonic()
            if self.session.idle_seconds(now) > idle:
                self._finish((grpc.StatusCode.ABORTED, f"no work for {idle:g} s: node {self.service.name} "
                                                       "ended the job's stream to free its slots"))
            elif self.outbox.stalled_seconds(now) > idle:
                self._finish((grpc.StatusCode.ABORTED, f"the leader read nothing for {idle:g} s: node "
                                                       f"{self.service.name} ended the job's stream to free its slots"))


def add_servicer(servicer: NodeServicer, server) -> None:
    """The generated registration, with deserializers that hand bad bytes to the servicer as
    UNPARSED instead of raising inside gRPC. Every RPC of the proto's service is here (a test
    compares the two)."""
    handlers = {
        "Handshake": grpc.unary_unary_rpc_method_handler(
            servicer.Handshake, request_deserializer=lenient(pb.HandshakeRequest.FromString),
            response_serializer=pb.HandshakeReply.SerializeToString),
        "Work": grpc.stream_stream_rpc_method_handler(
            servicer.Work, request_deserializer=lenient(pb.LeaderMessage.FromString),
            response_serializer=pb.PeerMessage.SerializeToString),
        "Status": grpc.unary_unary_rpc_method_handler(
            servicer.Status, request_deserializer=lenient(pb.StatusRequest.FromString),
            response_serializer=pb.NodeInfo.SerializeToString),
        "ReceiveVoice": grpc.stream_unary_rpc_method_handler(
            servicer.ReceiveVoice, request_deserializer=lenient(pb.VoiceData.FromString),
            response_serializer=pb.VoiceReceipt.SerializeToString),
        "ServeVoice": grpc.unary_stream_rpc_method_handler(
            servicer.ServeVoice, request_deserializer=lenient(pb.VoiceRequest.FromString),
            response_serializer=pb.VoiceData.SerializeToString),
        "FetchVoice": grpc.unary_stream_rpc_method_handler(
            servicer.FetchVoice, request_deserializer=lenient(pb.FetchRequest.FromString),
            response_serializer=pb.FetchProgress.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("e2a.v1.Node", handlers),))


async def start_server(service: NodeService, host: str, port: int, *, limits: StreamLimits = StreamLimits(),
                       max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
                       servicer: NodeServicer | None = None, address: str | None = None,
                       identity: Identity | None = None) -> tuple[grpc.aio.Server, int]:
    """Start serving `service`; returns the server and the port it bound (port 0 picks one).
    `servicer` (made from `service`, `limits` and `identity` when not given) lets a caller watch
    its streams; `address` ("unix:/path") replaces host:port."""
    server = grpc.aio.server(options=SERVER_OPTIONS, maximum_concurrent_rpcs=max_concurrent_rpcs)
    add_servicer(servicer or NodeServicer(service, limits, identity), server)
    where = address or f"{host}:{port}"
    try:
        bound = server.add_insecure_port(where)
    except RuntimeError:
        bound = 0
    if not bound:
        raise E2AError(f"cannot listen on {where} (is another node using that port?)")
    await server.start()
    return server, bound
