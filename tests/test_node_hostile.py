"""A node against a buggy or hostile leader: every attack, then a normal job on the same node.

Real gRPC on 127.0.0.1 and the real bundled Piper voice; the raw HTTP/2 attacks use the `h2`
package (what a grpc client never does: a zero flow-control window, a reset mid-reply). Where a
test needs a slow or failing voice load, the node's loader is substituted in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import struct
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest

from e2a_node.errors import E2AError, EngineError
from e2a_node.node import MAX_SEGMENTS_PER_ASSIGN, NodeService
from e2a_node.rpc import MAX_CONCURRENT_RPCS, PROTOCOL_VERSION
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.cluster.members import Audio as PeerAudio
from e2a_node.rpc.client import PeerClient
from e2a_node.rpc.codec import bundle_to_pb
from e2a_node.rpc.server import NodeServicer, StreamLimits, public, start_server
from e2a_node.synth import load_engine
from e2a_node.synth.base import VoiceSettings
from e2a_node.voice_bundle import MAX_CLIP_BYTES, ClipCache, VoiceBundle, bundle_for_peers
from e2a_node.worker import MAX_SEGMENT_CHARS, WorkItem
from tests.cluster_helpers import NodeProcess, wait_until

VOICE = bundle_for_peers(VoiceSettings(voice="en_US-joe-medium", deterministic=True))
SENTENCES = [WorkItem(0, "One small sentence.", 1), WorkItem(1, "And another.", 2)]
XTTS = "tts_models/multilingual/multi-dataset/xtts_v2"


# ---------------------------------------------------------------------------------------------
# Helpers


@dataclass
class Node:
    service: NodeService
    servicer: NodeServicer
    client: PeerClient
    port: int

    @property
    def stub(self):
        return self.client.stub

    async def busy(self) -> int:
        return (await self.client.status()).busy_slots


@contextlib.asynccontextmanager
async def serving(tmp: Path, *, slots: int = 1, limits: StreamLimits = StreamLimits(),
                  max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS, **service_args):
    service = NodeService(name="n1", slots=slots, threads=1, state_dir=tmp, **service_args)
    servicer = NodeServicer(service, limits)
    server, port = await start_server(service, "127.0.0.1", 0, servicer=servicer,
                                      max_concurrent_rpcs=max_concurrent_rpcs)
    client = PeerClient(f"127.0.0.1:{port}")
    try:
        yield Node(service, servicer, client, port)
    finally:
        await client.close()
        await server.stop(0)


def start_message(bundle: VoiceBundle = VOICE, slots_wanted: int = 0) -> pb.LeaderMessage:
    return pb.LeaderMessage(start=pb.JobStart(protocol_version=PROTOCOL_VERSION, job_id="job", leader_id="L",
                                              settings=bundle_to_pb(bundle), slots_wanted=slots_wanted))


def assign_message(lease: int, items) -> pb.LeaderMessage:
    return pb.LeaderMessage(assign=pb.Assign(lease=lease, segments=[
        pb.Segment(index=i.index, text=i.text, seed=i.seed) for i in items]))


def handshake_request(bundle: VoiceBundle) -> pb.HandshakeRequest:
    return pb.HandshakeRequest(protocol_version=PROTOCOL_VERSION, leader_id="L", settings=bundle_to_pb(bundle))


async def normal_job(client: PeerClient) -> list[int]:
    """What a working leader does: handshake, start, two sentences; the indices of the audio back."""
    admitted = await client.handshake("L", VOICE, "")
    assert admitted.accepted, admitted.reason
    stream = client.work("n1")
    started = await stream.start("job-ok", "L", VOICE.by_hash(), admitted.traits.fingerprint)
    assert started.ready, started.reason
    await stream.assign(1, SENTENCES)
    got = []
    async for event in stream.events():
        if isinstance(event, PeerAudio):
            assert event.sample_rate == 22050 and len(event.pcm) > 22050
            got.append(event.index)
        if len(got) == len(SENTENCES):
            break
    await stream.close()
    return got


async def job_works(node: Node) -> None:
    assert await asyncio.wait_for(normal_job(node.client), 60) == [0, 1]


async def until(cond, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def stream_end(call) -> grpc.aio.AioRpcError | None:
    """Read a call to its end; the error it ended with (None: it ended cleanly)."""
    try:
        while await asyncio.wait_for(call.read(), 30) is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as exc:
        return exc
    return None


class GatedLoader:
    """Loads real engines, but a load of a voice `slow(settings)` says is slow waits for `gate`
    (then fails, like a junk name), and loads can be counted."""

    def __init__(self, slow=lambda settings: False) -> None:
        self.slow = slow
        self.gate = threading.Event()
        self.started: list[VoiceSettings] = []
        self.calls = 0

    def __call__(self, settings: VoiceSettings):
        self.calls += 1
        self.started.append(settings)
        if self.slow(settings):
            self.gate.wait(30)
            raise EngineError(f"no such voice in {Path.home()}/nowhere")
        return load_engine(settings)


class RecordingEngine:
    """A real engine that remembers what it was asked to speak."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.texts: list[str] = []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def synthesize(self, text, seed=None):
        self.texts.append(text)
        return self._engine.synthesize(text, seed)


class RawWork:
    """A hand-made HTTP/2 client of Node/Work, with a flow-control window of its choosing."""

    def __init__(self, port: int, window: int) -> None:
        self.port, self.window = port, window
        self.events: list = []
        self.received = b""

    async def open(self, first: pb.LeaderMessage) -> "RawWork":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.window, h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.initiate_connection()
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [(":method", "POST"), (":scheme", "http"), (":path", "/e2a.v1.Node/Work"),
                                          (":authority", f"127.0.0.1:{self.port}"), ("content-type", "application/grpc"),
                                          ("te", "trailers")])
        self.send(first)
        return self

    def send(self, msg: pb.LeaderMessage) -> None:
        data = msg.SerializeToString()
        frame = b"\x00" + struct.pack(">I", len(data)) + data
        for i in range(0, len(frame), 16384):
            self.conn.send_data(self.sid, frame[i:i + 16384])
        self.writer.write(self.conn.data_to_send())

    async def pump(self, seconds: float) -> None:
        """Read and answer (settings, pings) for `seconds`, granting no window."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                break
            if not data:
                break
            for event in self.conn.receive_data(data):
                self.events.append(event)
                if isinstance(event, h2.events.DataReceived):
                    self.received += event.data
            self.writer.write(self.conn.data_to_send())
            await self.writer.drain()

    async def grant(self, size: int) -> None:
        self.conn.increment_flow_control_window(size, stream_id=self.sid)
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def reset(self) -> None:
        self.conn.reset_stream(self.sid, h2.errors.ErrorCodes.CANCEL)
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    def ended(self) -> bool:
        return any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) for e in self.events)

    def close(self) -> None:
        self.writer.close()


class NullOutbox:
    async def room(self):
        pass

    def __getattr__(self, name):
        return lambda *args: None


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------------------------------------
# Slots always come back


def test_a_stream_given_no_work_ends_and_frees_its_slots(tmp_path):
    async def main():
        async with serving(tmp_path, limits=StreamLimits(idle_seconds=0.5)) as node:
            call = node.stub.Work()
            await call.write(start_message())
            assert (await call.read()).WhichOneof("kind") == "ready"
            assert await node.busy() == 1
            ended = await stream_end(call)  # and then send nothing
            assert ended is not None and ended.code() == grpc.StatusCode.ABORTED
            assert "no work for 0.5 s" in ended.details()
            assert await node.busy() == 0
            await job_works(node)

    run(main())


def test_a_stream_that_never_starts_a_job_is_closed(tmp_path):
    async def main():
        async with serving(tmp_path, limits=StreamLimits(first_message_seconds=0.3)) as node:
            silent = node.stub.Work()
            ended = await stream_end(silent)
            assert ended.code() == grpc.StatusCode.ABORTED and "no JobStart" in ended.details()
            wrong = node.stub.Work()
            await wrong.write(pb.LeaderMessage(ping=pb.Ping()))
            ended = await stream_end(wrong)
            assert ended.code() == grpc.StatusCode.INVALID_ARGUMENT
            await job_works(node)

    run(main())


def test_a_reset_while_ready_waits_for_window_frees_the_slots(tmp_path):
    """The raw HTTP/2 attack, against a real `e2a-node serve`: window 0, JobStart, RST_STREAM."""
    node = NodeProcess("hostile", tmp_path / "state").wait_ready()
    try:
        async def main():
            client = PeerClient(node.target)
            try:
                raw = await RawWork(node.port, window=0).open(start_message())
                # the node loads the voice, takes the slot, and can't send Ready through window 0
                deadline = time.monotonic() + 60
                while (await client.status()).busy_slots != 1:
                    assert time.monotonic() < deadline, "the job never took its slot"
                    await raw.pump(0.1)
                await raw.pump(0.3)
                assert raw.received == b""  # Ready is still pending
                await raw.reset()  # the connection stays open: only the stream is gone
                deadline = time.monotonic() + 5
                while (await client.status()).busy_slots != 0:
                    assert time.monotonic() < deadline, "the slot was not given back"
                    await raw.pump(0.1)
                assert await asyncio.wait_for(normal_job(client), 60) == [0, 1]
                raw.close()
            finally:
                await client.close()

        run(main())
    finally:
        node.stop()


def test_a_leader_leaving_while_its_voice_loads_takes_nothing(tmp_path):
    loader = GatedLoader()

    async def main():
        async with serving(tmp_path, slots=2, loader=loader) as node:
            assert (await node.client.handshake("L", VOICE, "")).accepted  # the voice loads: one engine
            loader.slow = lambda settings: True  # a second copy of it now hangs (then fails)
            call = node.stub.Work()
            await call.write(start_message(slots_wanted=2))
            await until(lambda: loader.calls == 2, what="the second copy to start loading")
            assert await node.busy() == 2  # reserved while the copy loads
            call.cancel()
            await until(lambda: node.service._busy == 0, what="slots back")
            assert await node.busy() == 0 and node.service.info().jobs == 0
            loader.gate.set()
            loader.slow = lambda settings: False
            await job_works(node)

    run(main())


def test_a_session_closes_once_however_often_it_is_closed(tmp_path):
    async def main():
        service = NodeService(name="n1", slots=2, threads=1, state_dir=tmp_path)
        admission, session = await service.open_job(PROTOCOL_VERSION, VOICE, "", 1, NullOutbox())
        assert session is not None and service.info().busy_slots == 1
        await session.close()
        await session.close()
        assert (service.info().busy_slots, service.info().jobs) == (0, 0)
        voice = service._voices[VOICE.key]
        assert (voice.lent, len(voice.idle)) == (0, 1)

    run(main())


# ---------------------------------------------------------------------------------------------
# What one message may ask


def test_a_segment_over_the_voice_limit_is_refused_and_never_spoken(tmp_path):
    engines: list[RecordingEngine] = []

    def loader(settings):
        engines.append(RecordingEngine(load_engine(settings)))
        return engines[-1]

    async def main():
        async with serving(tmp_path, loader=loader) as node:
            admitted = await node.client.handshake("L", VOICE, "")
            assert admitted.traits.max_chars == 400
            stream = node.client.work("n1")
            assert (await stream.start("job", "L", VOICE, "")).ready
            await stream.assign(1, [WorkItem(0, "a" * 4000, 1), WorkItem(1, "And another.", 2)])
            events = []
            async for event in stream.events():
                if type(event).__name__ in ("SegmentFailed", "Audio"):
                    events.append(event)
                if len(events) == 2:
                    break
            await stream.close()
            failed, audio = events
            assert type(failed).__name__ == "SegmentFailed" and failed.index == 0
            assert "4000 characters" in failed.error and "at most 400" in failed.error
            assert isinstance(audio, PeerAudio) and audio.index == 1
            assert max(len(t) for e in engines for t in e.texts) <= 400  # the engine never saw it
            await job_works(node)

    run(main())


def test_no_segment_is_longer_than_the_absolute_cap_whatever_the_engine_says(tmp_path):
    def loader(settings):
        engine = load_engine(settings)
        engine.max_chars = 100_000  # an engine that claims it takes anything
        return engine

    async def main():
        async with serving(tmp_path, loader=loader) as node:
            admitted = await node.client.handshake("L", VOICE, "")
            assert admitted.traits.max_chars == MAX_SEGMENT_CHARS
            stream = node.client.work("n1")
            assert (await stream.start("job", "L", VOICE, "")).ready
            await stream.assign(1, [WorkItem(0, "word " * 300, 1)])
            async for event in stream.events():
                if type(event).__name__ == "SegmentFailed":
                    assert f"at most {MAX_SEGMENT_CHARS}" in event.error
                    break
                assert not isinstance(event, PeerAudio)
            await stream.close()
            await job_works(node)

    run(main())


def test_an_assign_past_the_bounds_ends_the_stream(tmp_path):
    async def main():
        async with serving(tmp_path) as node:
            call = node.stub.Work()
            await call.write(start_message())
            assert (await call.read()).WhichOneof("kind") == "ready"
            await call.write(assign_message(1, [WorkItem(i, "", 0) for i in range(400_000)]))
            ended = await stream_end(call)
            assert ended.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"at most {MAX_SEGMENTS_PER_ASSIGN} per Assign" in ended.details()
            assert await node.busy() == 0

            call = node.stub.Work()  # the same lease twice
            await call.write(start_message())
            await call.read()
            await call.write(assign_message(5, [WorkItem(0, "Hello there.", 0)] * 3))
            await call.write(assign_message(5, [WorkItem(0, "Hello there.", 0)]))
            ended = await stream_end(call)
            assert ended.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "lease 5" in ended.details()
            assert await node.busy() == 0
            await job_works(node)

    run(main())


def test_results_nobody_reads_wait_in_a_bounded_outbox_until_the_stream_ends(tmp_path):
    """400k blank segments (in Assigns within bounds), a window the results cannot get through."""
    limits = StreamLimits(idle_seconds=4, outbox_messages=50, outbox_bytes=200_000)

    async def main():
        async with serving(tmp_path, limits=limits) as node:
            raw = await RawWork(node.port, window=0).open(start_message())
            await until(lambda: any(s.session for s in node.servicer.streams), timeout=60, what="the job to start")
            stream = next(iter(node.servicer.streams))
            await raw.grant(4096)  # room for Ready, then nothing more
            await raw.pump(0.3)
            for lease in range(1, 5):
                raw.send(assign_message(lease, [WorkItem(i, "" if i % 2 else "Hi.", 0) for i in range(8000)]))
            await raw.pump(0.2)
            await until(lambda: stream.outbox.queued_bytes >= limits.outbox_bytes, what="the outbox to fill")
            stats = node.servicer.outbox_stats
            await until(lambda: stats.heartbeats_skipped > 0, what="a heartbeat skipped")  # they never wait
            peak, pending = (stats.peak_messages, stats.peak_bytes), stream.session.runner.pending_segments()
            assert pending > 30_000  # the slot waits instead of queueing
            assert stats.peak_messages <= limits.outbox_messages + 2
            assert stats.peak_bytes <= limits.outbox_bytes + 100_000  # one sentence past the bound at most
            await raw.pump(0.5)
            assert (stats.peak_messages, stats.peak_bytes) == peak
            assert stream.session.runner.pending_segments() == pending
            # and a leader that never reads loses the stream, and the node its memory
            await until(lambda: not node.servicer.streams, what="the stalled stream to end")
            assert await node.busy() == 0
            await raw.grant(1 << 24)  # what was on its way, then the status saying why
            deadline = time.monotonic() + 10
            while not raw.ended():
                assert time.monotonic() < deadline, "the stream's end never arrived"
                await raw.pump(0.2)
            trailers = [dict(e.headers) for e in raw.events if isinstance(e, h2.events.TrailersReceived)]
            assert trailers and trailers[0]["grpc-status"] == str(grpc.StatusCode.ABORTED.value[0])
            assert "read nothing for 4 s" in trailers[0]["grpc-message"].replace("%20", " ")
            raw.close()
            await job_works(node)

    run(main())


# ---------------------------------------------------------------------------------------------
# Handshakes: how many, how fast, and never in a job's way


def test_handshakes_loading_other_voices_never_hold_up_a_loaded_one(tmp_path):
    loader = GatedLoader(slow=lambda settings: (settings.language or "").startswith("en-x"))

    async def main():
        async with serving(tmp_path, loader=loader, load_burst=50) as node:
            assert (await node.client.handshake("L", VOICE, "")).accepted  # warm
            junk = [asyncio.ensure_future(node.stub.Handshake(handshake_request(
                replace(VOICE, settings=replace(VOICE.settings, language=f"en-x{i}"))))) for i in range(20)]
            await until(lambda: sum(1 for s in loader.started if s.language) >= 2, what="junk loads to start")
            # the warm voice answers at once, and its job runs, while the junk loads hang
            assert await asyncio.wait_for(normal_job(node.client), 30) == [0, 1]
            assert not any(t.done() for t in junk)
            loader.gate.set()
            replies = await asyncio.gather(*junk)
            assert all(not r.accepted and "cannot load the voice" in r.reason for r in replies)
            assert all(str(Path.home()) not in r.reason for r in replies)
            await job_works(node)

    run(main())


def test_a_loading_voice_never_evicts_one_a_job_is_being_admitted_with(tmp_path):
    other = replace(VOICE, settings=replace(VOICE.settings, deterministic=False))
    loader = GatedLoader()

    async def main():
        async with serving(tmp_path, slots=2, loader=loader) as node:
            assert (await node.client.handshake("L", VOICE, "")).accepted
            loader.slow = lambda settings: settings.deterministic  # a second copy of VOICE hangs
            job = asyncio.create_task(node.service.open_job(PROTOCOL_VERSION, VOICE, "", 2, NullOutbox()))
            await until(lambda: loader.calls == 2, what="the copy to start loading")
            loader.slow = lambda settings: False
            assert (await node.client.handshake("L", other, "")).accepted  # its load evicts idle voices
            assert VOICE.key in node.service._voices  # but not the one being admitted
            loader.gate.set()
            admission, session = await job
            assert session is not None and session.runner.slots == 1  # the failed copy: one slot
            assert node.service._voices[VOICE.key] is session.voice
            await session.close()
            await job_works(node)

    run(main())


def test_rpcs_beyond_the_limit_and_loads_beyond_the_rate_are_refused_then_served_again(tmp_path):
    loader = GatedLoader(slow=lambda settings: (settings.language or "").startswith("en-x"))
    loader.gate.set()  # junk loads fail at once

    async def main():
        async with serving(tmp_path, loader=loader, load_burst=3, load_rate=10.0, max_concurrent_rpcs=4,
                           limits=StreamLimits(first_message_seconds=30)) as node:
            assert (await node.client.handshake("L", VOICE, "")).accepted  # one token
            open_calls = [node.stub.Work() for _ in range(4)]
            await asyncio.sleep(0.3)  # four streams open, waiting for a JobStart that never comes
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await node.client.status()
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            for call in open_calls:
                call.cancel()
            await asyncio.sleep(0.3)
            assert (await node.client.status()).busy_slots == 0

            codes = []
            for i in range(10):
                try:
                    await node.stub.Handshake(handshake_request(
                        replace(VOICE, settings=replace(VOICE.settings, language=f"en-x{i}"))))
                    codes.append("answered")
                except grpc.aio.AioRpcError as exc:
                    codes.append(exc.code())
                    assert "too many voices" in exc.details()
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
            assert (await node.client.handshake("L", VOICE, "")).accepted  # a loaded voice: no load, no wait
            await asyncio.sleep(0.3)  # the bucket fills again
            other = replace(VOICE, settings=replace(VOICE.settings, deterministic=False))
            assert (await node.client.handshake("L", other, "")).accepted
            await job_works(node)

    run(main())


# ---------------------------------------------------------------------------------------------
# Voice clips


def wav_bytes(size: int) -> bytes:
    data = b"\x00" * max(0, size - 44)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


def clip_bundle(engine: str, clip: bytes, suffix: str = ".wav", model: str | None = XTTS) -> VoiceBundle:
    settings = VoiceSettings(engine=engine, model=model if engine == "coqui" else None, deterministic=True)
    return VoiceBundle(settings, clip, hashlib.sha256(clip).hexdigest(), suffix)


def clips_written(state: Path) -> list[str]:
    folder = state / "clips"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_clips_are_taken_only_for_cloning_voices_of_a_known_type_and_size(tmp_path):
    fake_loads = []

    def loader(settings):
        fake_loads.append(settings)
        if settings.engine == "coqui":
            raise EngineError(f"could not download coqui model (cache {tmp_path}/tts)")
        return load_engine(settings)

    big = wav_bytes(8_000_000)  # 8 MB: as much as a message may carry

    async def main():
        async with serving(tmp_path, loader=loader) as node:
            replies = await asyncio.gather(*(node.stub.Handshake(handshake_request(clip_bundle("piper", big)))
                                             for _ in range(10)))
            assert all(not r.accepted and "does not clone" in r.reason for r in replies)
            refusals = {
                "too big": clip_bundle("coqui", big),
                "unknown type": clip_bundle("coqui", wav_bytes(1000), ".exe"),
                "not what it says": clip_bundle("coqui", b"MZ" + bytes(998), ".wav"),
                "not a cloning model": clip_bundle("coqui", wav_bytes(1000), model="tts_models/en/ljspeech/vits"),
                "damaged": replace(clip_bundle("coqui", wav_bytes(1000)), clip=wav_bytes(1001)),
                "named by a path": replace(clip_bundle("coqui", wav_bytes(1000)), clip_sha256="../../etc/passwd"),
            }
            for case, bundle in refusals.items():
                reply = await node.stub.Handshake(handshake_request(bundle))
                assert not reply.accepted, case
            assert (await node.stub.Handshake(handshake_request(clip_bundle("coqui", big)))).reason.endswith(
                f"at most {MAX_CLIP_BYTES / 1e6:.1f} MB (6-30 s of speech is enough)")
            assert not fake_loads and clips_written(tmp_path) == []  # nothing loaded, nothing written
            # a clip the load then fails on is not kept either
            reply = await node.stub.Handshake(handshake_request(clip_bundle("coqui", wav_bytes(1000))))
            assert not reply.accepted and len(fake_loads) == 1 and clips_written(tmp_path) == []
            assert str(tmp_path) not in reply.reason and "<path>" in reply.reason
            await job_works(node)

    run(main())


def test_the_clip_cache_drops_the_least_recently_used_clip_never_one_in_use(tmp_path):
    def put(cache, n, in_use=()):
        data = wav_bytes(1000 + n)
        sha = hashlib.sha256(data).hexdigest()
        cache.put(sha, ".wav", data, in_use)
        return sha

    cache = ClipCache(tmp_path / "clips", max_bytes=3500, max_clips=10)
    a, b, c = put(cache, 1), put(cache, 2), put(cache, 3)
    cache.find(a)  # a is used again: b is now the oldest
    d = put(cache, 4, in_use={b})  # b is in use: c goes instead
    assert a in cache and b in cache and c not in cache and d in cache
    assert cache.total_bytes <= 3500
    again = ClipCache(tmp_path / "clips", max_bytes=3500, max_clips=2)  # a restart keeps the order
    assert len(clips_written(tmp_path)) == 2 and d in again
    with pytest.raises(E2AError, match="full of clips in use"):
        put(again, 5, in_use={a, b, d})


# ---------------------------------------------------------------------------------------------
# Names, not paths


def handshake_with(node: Node, settings: VoiceSettings):
    return node.stub.Handshake(handshake_request(VoiceBundle(settings)))


def test_voices_and_models_come_by_name_and_model_paths_only_from_allowed_folders(tmp_path):
    allowed, outside = tmp_path / "models", tmp_path / "outside"
    for folder in (allowed / "mine", outside / "theirs"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"model": "vits"}')
    (allowed / "escape").symlink_to(outside / "theirs")
    voice_file = tmp_path / "private.onnx"
    voice_file.write_bytes(b"x")
    loads = []

    def loader(settings):
        loads.append(settings)
        if settings.engine == "coqui":
            raise EngineError("not a real model")
        return load_engine(settings)

    async def main():
        async with serving(tmp_path / "state", loader=loader, model_dirs=[allowed]) as node:
            for voice in (str(voice_file), "../private", "a/b", "x.onnx", "..", "~root", "name\\x"):
                reply = await handshake_with(node, VoiceSettings(voice=voice))
                assert not reply.accepted and "not a voice name" in reply.reason, voice
            for model in ("/etc/tts", "tts_models/../../x/y", "tts_models/en/../vits", "tts_models/en/ljspeech",
                          "other/en/ljspeech/vits"):
                reply = await handshake_with(node, VoiceSettings(engine="coqui", model=model))
                assert not reply.accepted and "not a catalogue name" in reply.reason, model
            reply = await handshake_with(node, VoiceSettings(engine="coqui", model=XTTS, voice=str(voice_file)))
            assert "not a speaker name" in reply.reason
            # outside the allowed folder: the same answer whether the path exists or not
            answers = {(await handshake_with(node, VoiceSettings(engine="coqui", model_path=path))).reason
                       for path in (str(outside / "theirs"), str(outside / "nothing"), str(allowed / "escape"),
                                    str(allowed / ".." / "outside" / "theirs"), "../outside/theirs")}
            assert len(answers) == 1 and "outside the folders this node allows" in answers.pop()
            assert not loads
            reply = await handshake_with(node, VoiceSettings(engine="coqui", model_path="mine"))  # inside: loaded
            assert not reply.accepted and "not a real model" in reply.reason
            assert [s.model_path for s in loads] == [str((allowed / "mine").resolve())]
            await job_works(node)

        async with serving(tmp_path / "state2", loader=loader) as node:  # by default: no model_path at all
            reply = await handshake_with(node, VoiceSettings(engine="coqui", model_path=str(allowed / "mine")))
            assert "takes no model_path" in reply.reason and "--allow-model-dir" in reply.reason

    run(main())


# ---------------------------------------------------------------------------------------------
# No paths in anything sent


def test_public_texts_carry_no_paths():
    home = str(Path.home())
    cases = {
        f"invalid Piper voice model {home}/voices/a b.onnx: bad": "invalid Piper voice model <path>",
        "not in /srv/e2a/voices (installed: a, b)": "not in <path> (installed: a, b)",
        f"cannot open PosixPath('{os.getcwd()}/x.wav')": "cannot open PosixPath('<path>')",
        "read ~/clips/x.wav and C:\\Users\\me\\x.wav": "read <path> and <path>",
    }
    for text, start in cases.items():
        assert public(text).startswith(start), (text, public(text))
    kept = "model tts_models/en/ljspeech/vits (see https://coqui.ai/cpml), 6-30 s, 400 chars/s"
    assert public(kept) == kept
    assert public("line one\nline two") == "line one line two" and len(public("x" * 10_000)) <= 500


def test_refusals_and_segment_errors_sent_by_a_node_name_no_path(tmp_path):
    def loader(settings):
        engine = load_engine(settings)

        class Failing(RecordingEngine):
            def synthesize(self, text, seed=None):
                if text == "boom":
                    raise RuntimeError(f"cannot open {tmp_path}/weights.bin")
                return super().synthesize(text, seed)

        return Failing(engine)

    async def main():
        async with serving(tmp_path, loader=loader) as node:
            reasons = [(await handshake_with(node, VoiceSettings(voice="xx_XX-nobody-low"))).reason,
                       (await handshake_with(node, VoiceSettings(engine="coqui", model_path="/x"))).reason]
            stream = node.client.work("n1")
            assert (await stream.start("job", "L", VOICE, "")).ready
            busy = await node.client.work("n1").start("job2", "L", VOICE, "")
            reasons.append(busy.reason)
            await stream.assign(1, [WorkItem(0, "boom", 0)])
            async for event in stream.events():
                if type(event).__name__ == "SegmentFailed":
                    reasons.append(event.error)
                    break
            await stream.close()
            for reason in reasons:
                assert str(tmp_path) not in reason and str(Path.home()) not in reason, reason
            assert "<path>" in reasons[-1]
            await job_works(node)

    run(main())
