"""A peer as a member of the leader's job: its gRPC Work stream, and the connector that makes one.

`GrpcConnector.connect` is the handshake of `cluster.admission`: it asks the node whether it can
speak with this job's voice, opens the Work stream, checks what the node says about its voice
against the job's, and answers with an `Outcome` (a `RemoteMember` when the node joined).
`RemoteMember` writes through a queue of its own, so a frozen peer never blocks the driver, and
reads the stream into the driver's queue; a stream that breaks, ends or misbehaves becomes one
NodeLeft.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc

from e2a_node.cluster.admission import Outcome
from e2a_node.clusterkey import Identity
from e2a_node.peer_checks import max_audio_bytes, traits_mismatch
from e2a_node.rpc.client import PeerClient, PeerMisbehaved, WorkStream
from e2a_node.rpc.voice_courier import VoiceCourier
from e2a_node.scheduler import NodeLeft
from e2a_node.scheduler.peers import PeerState
from e2a_node.synth.base import VoiceTraits
from e2a_node.voice_bundle import VoiceBundle
from e2a_node.worker import WorkItem

log = logging.getLogger(__name__)


class RemoteMember:
    kind = "peer"
    trusted = False

    def __init__(self, name: str, address: str, slots: int, speed: float, client: PeerClient, stream: WorkStream,
                 events: asyncio.Queue) -> None:
        self.name, self.address, self.slots, self.speed = name, address, slots, speed
        self.client, self.stream = client, stream
        self.banned = False
        self._out: asyncio.Queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())
        self._reader = asyncio.create_task(self._read(events))

    def assign(self, lease: int, items: Sequence[WorkItem]) -> None:
        self._out.put_nowait(("assign", lease, items))

    def revoke(self, lease: int) -> None:
        self._out.put_nowait(("revoke", lease))

    def steal(self, steal_id: int, lease: int, split_at: int) -> None:
        self._out.put_nowait(("steal", steal_id, lease, split_at))

    async def _write(self) -> None:
        try:
            while True:
                op, *args = await self._out.get()
                await getattr(self.stream, op)(*args)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError, RuntimeError):
            pass  # the stream broke: the reader reports it

    async def _read(self, events: asyncio.Queue) -> None:
        reason = "the node closed the stream"
        try:
            async for event in self.stream.events():
                events.put_nowait(event)
        except grpc.aio.AioRpcError as exc:
            reason = f"stream broke ({self.client.describe(exc)})"
        except PeerMisbehaved as exc:
            self.banned = True
            reason = f"it misbehaved: {exc}"
        except asyncio.CancelledError:
            return
        except Exception as exc:  # a bug or a garbled message: lose the node, not the job
            log.warning("node %s: %s", self.name, exc, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
        events.put_nowait(NodeLeft(self.name, reason))

    async def close(self) -> None:
        self._writer.cancel()
        self._reader.cancel()
        await self.stream.close()
        await self.client.close()


class GrpcConnector:
    """Connects the job to peers over gRPC (mutual TLS when `identity` is the cluster's)."""

    def __init__(self, *, job_id: str, leader_id: str, bundle: VoiceBundle, traits: VoiceTraits,
                 texts: Sequence[str], identity: Identity | None = None, voice_folder: Path | None = None) -> None:
        """`voice_folder`: where this machine has the files of `bundle.files`, to send a node
        that lacks them (None: nodes must have the voice already)."""
        self.job_id, self.leader_id, self.bundle, self.traits = job_id, leader_id, bundle, traits
        self.texts, self.identity = texts, identity
        self.courier = VoiceCourier(bundle.files, voice_folder) if bundle.files and voice_folder else None

    def max_bytes(self, index: int) -> int:
        """The longest audio sentence `index` can take (0: not a sentence of this job)."""
        if not 0 <= index < len(self.texts):
            return 0
        return max_audio_bytes(self.texts[index], self.traits.sample_rate)

    async def connect(self, addr, name_for: Callable[[str], str], events: asyncio.Queue) -> Outcome:
        client = PeerClient(addr.target, self.identity)

        def ask():
            return client.handshake(self.leader_id, self.bundle, self.traits.fingerprint)

        try:
            admitted = await (self.courier.handshake(ask) if self.courier else ask())
            node_id, name = admitted.info.node_id, name_for(admitted.info.name)
            if not admitted.accepted and admitted.missing and self.courier is not None:
                admitted = await self.courier.deliver(client, name, admitted, ask, events)
            if admitted.accepted and self.courier is not None:
                await self.courier.admitted(name, addr.target)
            if not admitted.accepted:
                await client.close()
                return Outcome(PeerState.REFUSED, admitted.reason, name, node_id)
            stream = client.work(name, self.max_bytes)
            started = await stream.start(self.job_id, self.leader_id, self.bundle.by_hash(), self.traits.fingerprint)
        except PeerMisbehaved as exc:
            await client.close()
            return Outcome(PeerState.BANNED, f"it misbehaved: {exc}")
        except (grpc.aio.AioRpcError, asyncio.TimeoutError) as exc:
            await client.close()
            if isinstance(exc, asyncio.TimeoutError):
                return Outcome(PeerState.UNREACHABLE, "did not answer in time")
            mismatch = client.key_mismatch(exc)  # asking again during this job will not change its key
            if mismatch:
                return Outcome(PeerState.REFUSED, mismatch)
            return Outcome(PeerState.UNREACHABLE, client.describe(exc))
        problem = None if not started.ready else traits_mismatch(started.traits, self.traits)
        if not started.ready or problem:
            await stream.close()
            await client.close()
            if problem:
                return Outcome(PeerState.REFUSED, problem, name, node_id)
            return Outcome(PeerState.BUSY, started.reason, name, node_id)
        member = RemoteMember(name, addr.target, started.slots, started.speed, client, stream, events)
        return Outcome(PeerState.JOINED, "", name, node_id, member)
