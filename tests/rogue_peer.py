"""A hostile e2a node for tests: a small gRPC servicer, in a thread of the test process, that
passes the handshake with the real voice's traits and then misbehaves in the way its `mode` says.

    with RoguePeer("endless", traits) as rogue:
        run the real `e2a convert --cluster 127.0.0.1:<rogue.port>` ...

Modes:
  endless   audio chunks for its first sentence that never end
  unleased  plausible audio (right length, real-looking samples) for sentences it was not leased
  noise     random noise of plausible length for the sentences it was leased
  traits    a Ready whose voice claims a sample rate of 0 Hz and a segment limit of 0
  honest-but-slow   does nothing after Ready (a control: the job must still finish)
"""

from __future__ import annotations

import asyncio
import random
import threading

import grpc

from e2a_node.peer_checks import FASTEST_CHARS_PER_SECOND
from e2a_node.rpc import PROTOCOL_VERSION
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.rpc.codec import traits_to_pb
from e2a_node.synth.base import VoiceTraits


class _Servicer(node_pb2_grpc.NodeServicer):
    def __init__(self, rogue: "RoguePeer") -> None:
        self.rogue = rogue

    def _info(self) -> pb.NodeInfo:
        return pb.NodeInfo(node_id=f"rogue-{self.rogue.mode}", name="rogue", protocol_version=PROTOCOL_VERSION,
                           software_version="0.1.0", engines=[pb.EngineInfo(name="piper")], slots=1)

    def _traits(self) -> pb.VoiceTraits:
        msg = traits_to_pb(self.rogue.traits)
        if self.rogue.mode == "traits":
            msg.sample_rate = 0
            msg.max_chars = 0
        return msg

    async def Status(self, request, context):
        return self._info()

    async def Handshake(self, request, context):
        return pb.HandshakeReply(info=self._info(), accepted=True, traits=self._traits(), speed=5000.0)

    async def Work(self, request_iterator, context):
        first = await anext(aiter(request_iterator))
        assert first.WhichOneof("kind") == "start"
        yield pb.PeerMessage(ready=pb.Ready(traits=self._traits(), slots=1, speed=5000.0))
        rate = self.rogue.traits.sample_rate
        async for msg in request_iterator:
            if msg.WhichOneof("kind") != "assign":
                continue
            self.rogue.assigned.extend(s.index for s in msg.assign.segments)
            lease = msg.assign.lease
            segments = list(msg.assign.segments)
            mode = self.rogue.mode
            if mode == "endless":
                chunk = bytes(1 << 20)
                while True:
                    self.rogue.sent += 1
                    yield pb.PeerMessage(audio=pb.AudioChunk(lease=lease, index=segments[0].index, pcm=chunk,
                                                             last=False, sample_rate=rate))
            elif mode in ("unleased", "noise"):
                if mode == "unleased":
                    leased = {s.index for s in segments}
                    targets = [i for i in range(self.rogue.book_sentences) if i not in leased][:max(4, len(segments))]
                    lengths = [60] * len(targets)
                else:
                    targets = [s.index for s in segments]
                    lengths = [len(s.text) for s in segments]
                for index, chars in zip(targets, lengths):
                    seconds = 2 * chars / FASTEST_CHARS_PER_SECOND + 0.5  # comfortably plausible
                    pcm = random.Random(index).randbytes(int(seconds * rate) * 2)
                    self.rogue.sent += 1
                    yield pb.PeerMessage(audio=pb.AudioChunk(lease=lease, index=index, pcm=pcm, last=True,
                                                             sample_rate=rate, synth_seconds=0.01))


class RoguePeer:
    def __init__(self, mode: str, traits: VoiceTraits, book_sentences: int = 0) -> None:
        self.mode, self.traits, self.book_sentences = mode, traits, book_sentences
        self.port = 0
        self.assigned: list[int] = []
        self.sent = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _main(self) -> None:
        server = grpc.aio.server()
        node_pb2_grpc.add_NodeServicer_to_server(_Servicer(self), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.stop(0)

    def __enter__(self) -> "RoguePeer":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
