"""The leader's side of the wire: one `PeerClient` per peer, one `WorkStream` per job.

`WorkStream.events()` yields plain Python values: `cluster.members.Audio` (a whole sentence, chunks
reassembled) and the scheduler's own event types (SegmentFailed, Heartbeat, StealReply,
RevokeAck) with the node name filled in, so the leader's driver never sees protobuf.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from e2a_node.cluster.members import Audio
from e2a_node.clusterkey import MDNS_PROPERTY, ClusterAccess, Identity
from e2a_node.discovery.base import NodeAddress
from e2a_node.errors import E2AError
from e2a_node.node_info import NodeInfo
from e2a_node.rpc import CHANNEL_OPTIONS, CHUNK_BYTES, PROTOCOL_VERSION
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.rpc.codec import (bundle_to_pb, clean, info_from_pb, manifest_to_pb, needs_from_pb, needs_to_pb,
                                traits_from_pb)
from e2a_node.rpc.tls import CHANNEL_TLS_OPTIONS, channel_credentials, describe_channel_failure
from e2a_node.scheduler import Heartbeat, RevokeAck, SegmentFailed, StealReply
from e2a_node.synth.base import VoiceTraits
from e2a_node.voice_bundle import VoiceBundle
from e2a_node.voices.manifest import VoiceManifest
from e2a_node.worker import WorkItem

HANDSHAKE_TIMEOUT = 300.0  # loading a big model (XTTS) on a slow disk takes a while
STATUS_TIMEOUT = 3.0
MAX_PEER_SLOTS = 64  # more slots than any machine could feed is a lie that would starve the others
MAX_PEER_SPEED = 1e6  # chars/s per slot; 1000x a fast GPU voice
# Sentences a peer may be sending at once (one per slot, and a slot's next one starting) and the
# bytes of all those unfinished sentences together: what the leader may hold for one peer.
PARTIAL_PER_SLOT = 2
MAX_PARTIAL_BYTES = 64 << 20


class PeerMisbehaved(E2AError):
    """The peer broke the protocol in a way no honest node does; the leader drops it."""


@dataclass
class Admitted:
    info: NodeInfo
    accepted: bool
    reason: str
    traits: VoiceTraits | None
    speed: float
    missing: list[tuple[str, int]] = field(default_factory=list)  # the voice's files it lacks: (path, offset)


@dataclass
class Started:
    ready: bool
    reason: str = ""
    traits: VoiceTraits | None = None
    slots: int = 0
    speed: float = 0.0


def describe_rpc_error(exc: grpc.aio.AioRpcError, tls: bool = False) -> str:
    """One line for a failed call; `tls`: whether this side used the cluster key."""
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return describe_channel_failure(exc.details() or "", tls) or "unreachable"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "did not answer in time"
    return f"{code.name.lower()}: {exc.details()}"


def transfer_timeout(files: VoiceManifest) -> float:
    """How long sending a voice may take at most: generous, a 2 GB model at 2 MB/s plus hashing."""
    return 120.0 + files.total_bytes / 2e6


class PeerClient:
    """One node's channel: mutual TLS with `identity` (the cluster key's), else plain text."""

    def __init__(self, target: str, identity: Identity | None = None) -> None:
        self.target = target
        self.tls = identity is not None
        if identity is not None:
            self.channel = grpc.aio.secure_channel(target, channel_credentials(identity),
                                                   options=CHANNEL_OPTIONS + CHANNEL_TLS_OPTIONS)
        else:
            self.channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.stub = node_pb2_grpc.NodeStub(self.channel)

    def describe(self, exc: grpc.aio.AioRpcError) -> str:
        return describe_rpc_error(exc, self.tls)

    def key_mismatch(self, exc: grpc.aio.AioRpcError) -> str | None:
        """Why the connection failed when the cluster key explains it (retrying won't help)."""
        if exc.code() != grpc.StatusCode.UNAVAILABLE:
            return None
        return describe_channel_failure(exc.details() or "", self.tls)

    async def status(self, timeout: float = STATUS_TIMEOUT) -> NodeInfo:
        return info_from_pb(await self.stub.Status(pb.StatusRequest(), timeout=timeout))

    async def handshake(self, leader_id: str, bundle: VoiceBundle, expected_fingerprint: str,
                        timeout: float = HANDSHAKE_TIMEOUT) -> Admitted:
        reply = await self.stub.Handshake(pb.HandshakeRequest(
            protocol_version=PROTOCOL_VERSION, leader_id=leader_id, settings=bundle_to_pb(bundle),
            expected_fingerprint=expected_fingerprint), timeout=timeout)
        traits = traits_from_pb(reply.traits) if reply.accepted else None
        missing = []
        if reply.missing and not reply.accepted and bundle.files is not None:
            try:
                missing = needs_from_pb(reply.missing, bundle.files)
            except E2AError as exc:
                raise PeerMisbehaved(str(exc)) from None
        return Admitted(info_from_pb(reply.info), reply.accepted, clean(reply.reason), traits, reply.speed, missing)

    async def send_voice(self, files: VoiceManifest, folder: Path, missing: list[tuple[str, int]],
                         sent: Callable[[int], None]) -> bool:
        """Stream the `missing` parts of the voice's files from `folder` (each from the offset the
        node holds) and say how many bytes went each time (`sent`); True when the node has the
        whole voice, verified. A stream that breaks resumes next time from what arrived."""
        async def pieces():
            first = True
            for path, offset in missing:
                with open(folder / path, "rb") as f:
                    f.seek(offset)
                    while True:  # the last piece of each file is short (empty for an empty file)
                        data = await asyncio.to_thread(f.read, CHUNK_BYTES)
                        msg = pb.VoiceData(path=path, offset=offset, data=data)
                        if first:
                            msg.manifest.CopyFrom(manifest_to_pb(files))
                            first = False
                        yield msg
                        offset += len(data)
                        sent(len(data))
                        if len(data) < CHUNK_BYTES:
                            break

        receipt = await self.stub.ReceiveVoice(pieces(), timeout=transfer_timeout(files))
        return receipt.complete

    async def fetch_voice(self, files: VoiceManifest, source: str, source_name: str,
                          progress: Callable[[int, int], None]) -> bool:
        """Ask the node to fetch the voice's files it lacks from the member at `source`
        (host:port) and say, as they arrive, how many bytes of the voice it holds and how many
        came from the source (`progress(held, received)`); True when it has them all, verified.
        PeerMisbehaved when its progress makes no sense."""
        call = self.stub.FetchVoice(pb.FetchRequest(manifest=manifest_to_pb(files), source=source,
                                                    source_name=source_name), timeout=transfer_timeout(files))
        async for msg in call:
            if msg.total != files.total_bytes or msg.held > msg.total or msg.received > msg.total:
                raise PeerMisbehaved(f"it said it held {msg.held} of {msg.total} bytes of a voice of "
                                     f"{files.total_bytes} ({msg.received} received)")
            progress(msg.held, msg.received)
            if msg.complete:
                return True
        return False

    async def voice_pieces(self, voice_id: str, needs: Sequence[tuple[str, int]],
                           idle_seconds: float) -> AsyncIterator[tuple[str, int, bytes]]:
        """The parts `needs` ((path, offset) each) of a voice this member holds, as (path,
        offset, data) pieces; E2AError when it falls silent for `idle_seconds` or sends a piece
        over CHUNK_BYTES. What the pieces hold is for the receiver's store to check."""
        call = self.stub.ServeVoice(pb.VoiceRequest(voice_id=voice_id, needs=needs_to_pb(needs)))
        pieces = aiter(call)
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(anext(pieces, None), idle_seconds)
                except asyncio.TimeoutError:
                    raise E2AError(f"it stopped sending the voice for {idle_seconds:g} s") from None
                if msg is None:
                    return
                if len(msg.data) > CHUNK_BYTES:
                    raise E2AError(f"it sent a piece of {len(msg.data)} bytes (at most {CHUNK_BYTES})")
                yield msg.path, msg.offset, msg.data
        finally:
            call.cancel()

    def work(self, node: str, max_bytes: Callable[[int], int] | None = None) -> "WorkStream":
        return WorkStream(node, self.stub.Work(), max_bytes)

    async def close(self) -> None:
        await self.channel.close()


async def ask_node(addr: NodeAddress, access: ClusterAccess, question: Callable[[PeerClient], Awaitable]):
    """Ask one discovered node `question(client)`, unless `access` refuses to talk to it.

    Returns (answer, "") or (None, why) with why one line ("unreachable", "not asked: ...",
    a bad reply); the channel is closed on every path. Only grpc's errors, timeouts and e2a's
    own errors become a why; anything else is a bug and propagates.
    """
    announced = addr.properties.get(MDNS_PROPERTY, "") if addr.properties else None
    skip = access.refusal(addr.host, announced)
    if skip:
        return None, f"not asked: {skip}"
    client = PeerClient(addr.target, access.identity)
    try:
        return await question(client), ""
    except grpc.aio.AioRpcError as exc:
        return None, client.describe(exc)
    except E2AError as exc:  # a reply that fails its checks (PeerMisbehaved)
        return None, str(exc)
    except (asyncio.TimeoutError, OSError) as exc:
        return None, exc.__class__.__name__
    finally:
        await client.close()


class WorkStream:
    """One job's stream to one peer. `max_bytes(index)`: the most audio sentence `index` can take
    (0 for an index the job doesn't have); chunks beyond it end the stream with PeerMisbehaved."""

    def __init__(self, node: str, call, max_bytes: Callable[[int], int] | None = None) -> None:
        self.node = node
        self.call = call
        self.max_bytes = max_bytes
        self.slots = 1

    async def start(self, job_id: str, leader_id: str, bundle: VoiceBundle, expected_fingerprint: str,
                    slots_wanted: int = 0, timeout: float = HANDSHAKE_TIMEOUT) -> Started:
        await self.call.write(pb.LeaderMessage(start=pb.JobStart(
            protocol_version=PROTOCOL_VERSION, job_id=job_id, leader_id=leader_id, settings=bundle_to_pb(bundle),
            expected_fingerprint=expected_fingerprint, slots_wanted=slots_wanted)))
        msg = await asyncio.wait_for(self.call.read(), timeout)
        if msg is grpc.aio.EOF:
            return Started(False, "the node closed the stream")
        kind = msg.WhichOneof("kind")
        if kind == "ready":
            r = msg.ready
            if not 1 <= r.slots <= MAX_PEER_SLOTS:
                return Started(False, f"it offered {r.slots} slots (expected 1-{MAX_PEER_SLOTS})")
            if not (math.isfinite(r.speed) and 0 <= r.speed <= MAX_PEER_SPEED):
                return Started(False, f"it claimed an impossible speed ({r.speed!r} chars/s)")
            self.slots = r.slots
            return Started(True, traits=traits_from_pb(r.traits), slots=r.slots, speed=r.speed)
        if kind == "busy":
            return Started(False, clean(msg.busy.reason))
        return Started(False, f"unexpected first message {kind!r}")

    async def assign(self, lease: int, items: Sequence[WorkItem]) -> None:
        await self.call.write(pb.LeaderMessage(assign=pb.Assign(
            lease=lease, segments=[pb.Segment(index=i.index, text=i.text, seed=i.seed) for i in items])))

    async def revoke(self, lease: int) -> None:
        await self.call.write(pb.LeaderMessage(revoke=pb.Revoke(lease=lease)))

    async def steal(self, steal_id: int, lease: int, split_at: int) -> None:
        await self.call.write(pb.LeaderMessage(steal=pb.StealRequest(steal_id=steal_id, lease=lease, split_at=split_at)))

    async def events(self) -> AsyncIterator[object]:
        """Everything the peer sends until the stream ends (raises AioRpcError if it breaks)."""
        parts: dict[tuple[int, int], list[bytes]] = {}
        sizes: dict[tuple[int, int], int] = {}
        while True:
            msg = await self.call.read()
            if msg is grpc.aio.EOF:
                return
            kind = msg.WhichOneof("kind")
            if kind == "audio":
                a = msg.audio
                key = (a.lease, a.index)
                if key not in parts and len(parts) >= PARTIAL_PER_SLOT * self.slots:
                    raise PeerMisbehaved(f"it sent parts of more than {len(parts)} sentences at once")
                size = sizes.get(key, 0) + len(a.pcm)
                if self.max_bytes is not None and size > self.max_bytes(a.index):
                    raise PeerMisbehaved(f"it sent {size:,} bytes of audio for sentence {a.index}, more than "
                                         "any reading of its text takes")
                if sum(sizes.values()) + len(a.pcm) > MAX_PARTIAL_BYTES:
                    raise PeerMisbehaved(f"it sent more than {MAX_PARTIAL_BYTES >> 20} MB of unfinished audio")
                parts.setdefault(key, []).append(a.pcm)
                sizes[key] = size
                if a.last:
                    pcm = b"".join(parts.pop(key))
                    del sizes[key]
                    yield Audio(self.node, a.lease, a.index, pcm, a.sample_rate, a.synth_seconds)
            elif kind == "heartbeat":
                yield Heartbeat(self.node)
            elif kind == "steal_reply":
                yield StealReply(self.node, msg.steal_reply.steal_id, msg.steal_reply.stop_at)
            elif kind == "error":
                yield SegmentFailed(self.node, msg.error.lease, msg.error.index, clean(msg.error.error))
            elif kind == "revoke_ack":
                yield RevokeAck(self.node, msg.revoke_ack.lease)

    async def close(self) -> None:
        try:
            await self.call.done_writing()
        except Exception:  # already broken or finished: nothing to close politely
            pass
        self.call.cancel()
