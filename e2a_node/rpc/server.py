"""The gRPC servicer of a node: translates Handshake / Work / Status to `NodeService` calls.

A Work stream lives as long as the leader's job: the first message must be JobStart, answered
by Ready (or Busy, and the stream ends); then a reader task carries Assign / Revoke /
StealRequest to the job's LeaseRunner while this generator yields the runner's results and a
heartbeat every second. The stream ending, either way, returns the job's slots.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from e2a_node.errors import E2AError
from e2a_node.node import NodeService
from e2a_node.rpc import CHUNK_BYTES, SERVER_OPTIONS
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.rpc.codec import bundle_from_pb, info_to_pb, traits_to_pb
from e2a_node.worker import WorkItem

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
_END = object()


class StreamOutbox:
    """The LeaseRunner's results as PeerMessages on the stream's outgoing queue."""

    def __init__(self, queue: asyncio.Queue, sample_rate: int = 0) -> None:
        self.queue = queue
        self.sample_rate = sample_rate

    def audio(self, lease: int, index: int, pcm: bytes, synth_seconds: float) -> None:
        chunks = [pcm[i:i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)] or [b""]
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            self.queue.put_nowait(pb.PeerMessage(audio=pb.AudioChunk(
                lease=lease, index=index, pcm=chunk, last=last, sample_rate=self.sample_rate,
                synth_seconds=synth_seconds if last else 0.0)))

    def failed(self, lease: int, index: int, error: str) -> None:
        self.queue.put_nowait(pb.PeerMessage(error=pb.SegmentError(lease=lease, index=index, error=error[:500])))

    def steal_reply(self, steal_id: int, stop_at: int) -> None:
        self.queue.put_nowait(pb.PeerMessage(steal_reply=pb.StealReply(steal_id=steal_id, stop_at=stop_at)))

    def revoke_ack(self, lease: int) -> None:
        self.queue.put_nowait(pb.PeerMessage(revoke_ack=pb.RevokeAck(lease=lease)))


class NodeServicer(node_pb2_grpc.NodeServicer):
    def __init__(self, service: NodeService) -> None:
        self.service = service

    async def Status(self, request, context):
        return info_to_pb(self.service.info())

    async def Handshake(self, request, context):
        admission = await self.service.admit(request.protocol_version, bundle_from_pb(request.settings),
                                             request.expected_fingerprint)
        reply = pb.HandshakeReply(info=info_to_pb(self.service.info()), accepted=admission.accepted,
                                  reason=admission.reason, speed=admission.speed)
        if admission.traits is not None:
            reply.traits.CopyFrom(traits_to_pb(admission.traits))
        return reply

    async def Work(self, request_iterator, context):
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("kind") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a Work stream must begin with JobStart")
        start = first.start
        queue: asyncio.Queue = asyncio.Queue()
        outbox = StreamOutbox(queue)
        admission, session = await self.service.open_job(
            start.protocol_version, bundle_from_pb(start.settings), start.expected_fingerprint,
            start.slots_wanted, outbox)
        if session is None:
            yield pb.PeerMessage(busy=pb.Busy(reason=admission.reason))
            return
        outbox.sample_rate = admission.traits.sample_rate
        log.info("job %s from leader %s: %d slot(s)", start.job_id, start.leader_id, session.runner.slots)
        yield pb.PeerMessage(ready=pb.Ready(traits=traits_to_pb(admission.traits), slots=session.runner.slots,
                                            speed=admission.speed))
        reader = asyncio.create_task(self._read(request_iterator, session, queue))
        beat = asyncio.create_task(self._heartbeat(session, queue))
        try:
            while True:
                msg = await queue.get()
                if msg is _END:
                    break
                yield msg
        finally:
            reader.cancel()
            beat.cancel()
            await session.close()
            log.info("job %s ended", start.job_id)

    async def _read(self, request_iterator, session, queue: asyncio.Queue) -> None:
        runner = session.runner
        try:
            async for msg in request_iterator:
                kind = msg.WhichOneof("kind")
                if kind == "assign":
                    runner.assign(msg.assign.lease, [WorkItem(s.index, s.text, s.seed) for s in msg.assign.segments])
                elif kind == "revoke":
                    runner.revoke(msg.revoke.lease)
                elif kind == "steal":
                    runner.steal(msg.steal.steal_id, msg.steal.lease, msg.steal.split_at)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass
        finally:
            queue.put_nowait(_END)

    async def _heartbeat(self, session, queue: asyncio.Queue) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            queue.put_nowait(pb.PeerMessage(heartbeat=pb.Heartbeat(leases=session.runner.active_leases())))


async def start_server(service: NodeService, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Start serving `service`; returns the server and the port it bound (port 0 picks one)."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    node_pb2_grpc.add_NodeServicer_to_server(NodeServicer(service), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise E2AError(f"cannot listen on {host}:{port} (is another node using that port?)")
    await server.start()
    return server, bound
