"""The voice RPCs against hostile callers and sources: every attack, then a normal fetch works.

Real gRPC on 127.0.0.1 between in-process nodes with real voice stores. The voices here are
files made by the test (the RPCs move and check bytes; nothing loads them), so each case takes
milliseconds. A rogue source is a real gRPC server whose ServeVoice sends what the test says.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

import grpc
import pytest

from e2a_node.node import MAX_UPLOADS, NodeService
from e2a_node.rpc import CHUNK_BYTES
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.rpc.client import PeerClient
from e2a_node.rpc.codec import MAX_NEEDS, manifest_to_pb
from e2a_node.rpc.server import NodeServicer, start_server
from e2a_node.voices.manifest import VoiceFile, VoiceManifest

MODEL = os.urandom(3 * CHUNK_BYTES + 12345)
CONFIG = b'{"audio": {"sample_rate": 22050}}'
FILES = VoiceManifest("piper", (VoiceFile("v.onnx", len(MODEL), hashlib.sha256(MODEL).hexdigest()),
                                VoiceFile("v.onnx.json", len(CONFIG), hashlib.sha256(CONFIG).hexdigest())))
CONTENT = {"v.onnx": MODEL, "v.onnx.json": CONFIG}


@contextlib.asynccontextmanager
async def node(tmp: Path, name: str, *, holding: bool = False, **service_args):
    service = NodeService(name=name, slots=1, threads=1, state_dir=tmp / name, **service_args)
    if holding:
        with service.voice_store.receive(FILES) as receiving:
            for f in FILES.files:
                receiving.write(f.path, 0, CONTENT[f.path])
            receiving.complete()
    server, port = await start_server(service, "127.0.0.1", 0)
    client = PeerClient(f"127.0.0.1:{port}")
    try:
        yield service, client, f"127.0.0.1:{port}"
    finally:
        await client.close()
        await server.stop(0)


def run(coro):
    return asyncio.run(coro)


async def serve_all(client: PeerClient, voice_id: str, needs) -> list[pb.VoiceData]:
    request = pb.VoiceRequest(voice_id=voice_id, needs=[pb.FileNeed(path=p, offset=o) for p, o in needs])
    return [m async for m in client.stub.ServeVoice(request, timeout=10)]


async def fetch(client: PeerClient, source: str, manifest=FILES) -> list[pb.FetchProgress]:
    request = pb.FetchRequest(manifest=manifest_to_pb(manifest) if isinstance(manifest, VoiceManifest) else manifest,
                              source=source, source_name="src")
    return [m async for m in client.stub.FetchVoice(request, timeout=20)]


async def status_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details()


def stored(service: NodeService) -> bytes | None:
    folder = service.voice_store.find(FILES.voice_id)
    return None if folder is None else (folder / "v.onnx").read_bytes()


# ---------------------------------------------------------------------------------------------
# ServeVoice: what a member sends of a voice it holds


def test_a_member_serves_only_the_files_of_voices_it_holds(tmp_path):
    async def go():
        async with node(tmp_path, "a", holding=True) as (service, client, _):
            for voice_id, needs, code in [
                ("not-a-voice-id", [("v.onnx", 0)], grpc.StatusCode.INVALID_ARGUMENT),
                ("0" * 64, [("v.onnx", 0)], grpc.StatusCode.NOT_FOUND),
                (FILES.voice_id, [("../../etc/passwd", 0)], grpc.StatusCode.NOT_FOUND),
                (FILES.voice_id, [("manifest.json", 0)], grpc.StatusCode.NOT_FOUND),
                (FILES.voice_id, [("v.onnx", len(MODEL) + 1)], grpc.StatusCode.OUT_OF_RANGE),
                (FILES.voice_id, [("v.onnx", 0)] * (MAX_NEEDS + 1), grpc.StatusCode.INVALID_ARGUMENT),
            ]:
                got, details = await status_of(serve_all(client, voice_id, needs))
                assert got == code, (voice_id, needs, details)
                assert str(tmp_path) not in details and "\n" not in details  # one line, no paths of the node
            assert service.uploads == 0
            # and then the real thing, from an offset
            pieces = await serve_all(client, FILES.voice_id, [("v.onnx", 100), ("v.onnx.json", 0)])
            model = b"".join(p.data for p in pieces if p.path == "v.onnx")
            assert model == MODEL[100:] and all(len(p.data) <= CHUNK_BYTES for p in pieces)
            assert b"".join(p.data for p in pieces if p.path == "v.onnx.json") == CONFIG
    run(go())


def test_uploads_are_bounded_and_a_caller_that_vanishes_gives_its_slot_back(tmp_path):
    async def go():
        async with node(tmp_path, "a", holding=True, upload_rate=CHUNK_BYTES) as (service, client, _):
            request = pb.VoiceRequest(voice_id=FILES.voice_id, needs=[pb.FileNeed(path="v.onnx", offset=0)])
            calls = [client.stub.ServeVoice(request) for _ in range(MAX_UPLOADS)]
            for call in calls:
                await call.read()  # each holds an upload slot now (paced: 1 chunk a second)
            assert service.uploads == MAX_UPLOADS
            code, details = await status_of(serve_all(client, FILES.voice_id, [("v.onnx", 0)]))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "sending voices" in details
            for call in calls:
                call.cancel()  # the callers vanish mid-stream
            for _ in range(50):
                if service.uploads == 0:
                    break
                await asyncio.sleep(0.1)
            assert service.uploads == 0
    run(go())


def test_a_member_that_finds_its_copy_damaged_while_sending_drops_it(tmp_path):
    async def go():
        async with node(tmp_path, "a", holding=True) as (service, client, _):
            path = service.voice_store.find(FILES.voice_id) / "v.onnx"
            damaged = bytearray(MODEL)
            damaged[5] ^= 1
            path.write_bytes(bytes(damaged))  # same size: the store cannot tell without hashing
            await serve_all(client, FILES.voice_id, [("v.onnx", 0)])
            assert service.voice_store.find(FILES.voice_id) is None
    run(go())


# ---------------------------------------------------------------------------------------------
# FetchVoice: a node asked to fetch a voice from another member


class RogueSource(node_pb2_grpc.NodeServicer):
    """A 'member' whose ServeVoice sends what `pieces(request)` gives."""

    def __init__(self, pieces) -> None:
        self.pieces = pieces

    async def ServeVoice(self, request, context):
        for msg in self.pieces(request):
            yield msg


@contextlib.asynccontextmanager
async def rogue(pieces):
    server = grpc.aio.server()
    node_pb2_grpc.add_NodeServicer_to_server(RogueSource(pieces), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def honest(request):
    for need in request.needs:
        data = CONTENT[need.path]
        for at in range(need.offset, len(data), CHUNK_BYTES):
            yield pb.VoiceData(path=need.path, offset=at, data=data[at:at + CHUNK_BYTES])


def flipped(request):
    for msg in honest(request):
        if msg.path == "v.onnx" and msg.offset == 0:
            msg.data = bytes([msg.data[0] ^ 1]) + msg.data[1:]
        yield msg


def skipping(request):
    for msg in honest(request):
        if msg.offset != CHUNK_BYTES:  # a chunk left out: the next does not follow
            yield msg


def other_file(request):
    yield pb.VoiceData(path="../../outside", offset=0, data=b"x" * 10)


def stops_half_way(request):
    for msg in honest(request):
        if msg.offset >= 2 * CHUNK_BYTES:
            return
        yield msg


def test_a_node_refuses_what_a_bad_source_sends_and_keeps_nothing_of_it(tmp_path):
    async def go():
        async with node(tmp_path, "b") as (service, client, _):
            for pieces, code, words in [(flipped, grpc.StatusCode.DATA_LOSS, "failed its hash check"),
                                        (skipping, grpc.StatusCode.DATA_LOSS, "does not follow"),
                                        (other_file, grpc.StatusCode.DATA_LOSS, ""),
                                        (stops_half_way, grpc.StatusCode.UNAVAILABLE, "only part")]:
                async with rogue(pieces) as source:
                    got, details = await status_of(fetch(client, source))
                assert got == code and words in details and "src" in details, (pieces.__name__, got, details)
                assert stored(service) is None and service.receiving_bytes(FILES.voice_id) is None
            # what arrived whole and good before is kept: the next source resumes from there
            async with rogue(honest) as source:
                progress = await fetch(client, source)
            assert progress[-1].complete and stored(service) == MODEL
    run(go())


def test_a_node_refuses_fetches_that_break_the_rules(tmp_path):
    async def go():
        async with node(tmp_path, "b") as (service, client, _):
            bad_manifest = manifest_to_pb(FILES)
            bad_manifest.files[0].path = "../escape.onnx"
            for source, manifest, code in [
                ("file:///etc/passwd", FILES, grpc.StatusCode.INVALID_ARGUMENT),
                ("127.0.0.1", FILES, grpc.StatusCode.INVALID_ARGUMENT),
                ("127.0.0.1:1", bad_manifest, grpc.StatusCode.INVALID_ARGUMENT),
                ("127.0.0.1:1", VoiceManifest("no-such-engine", FILES.files), grpc.StatusCode.INVALID_ARGUMENT),
                ("127.0.0.1:1", FILES, grpc.StatusCode.UNAVAILABLE),  # nobody listens there
            ]:
                got, details = await status_of(fetch(client, source, manifest))
                assert got == code, (source, details)
            assert stored(service) is None
    run(go())


def test_a_store_too_small_refuses_a_fetch_in_one_line(tmp_path):
    async def go():
        async with node(tmp_path, "a", holding=True) as (_a, _ca, source), \
                node(tmp_path, "b", voice_store_bytes=1000) as (b, client, _):
            code, details = await status_of(fetch(client, source))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "holds at most" in details
            assert "\n" not in details and stored(b) is None
    run(go())


def test_receive_voice_refuses_pieces_that_break_the_rules(tmp_path):
    async def go():
        async with node(tmp_path, "b") as (service, client, _):
            def stream(*msgs):
                return client.stub.ReceiveVoice(iter(msgs), timeout=10)

            first = pb.VoiceData(manifest=manifest_to_pb(FILES), path="v.onnx", offset=0, data=MODEL[:10])
            for msgs, code in [
                ((pb.VoiceData(path="v.onnx", offset=0, data=b"x"),), grpc.StatusCode.INVALID_ARGUMENT),
                ((first, pb.VoiceData(path="v.onnx", offset=5, data=b"x")), grpc.StatusCode.FAILED_PRECONDITION),
                ((pb.VoiceData(manifest=manifest_to_pb(FILES), path="manifest.json", offset=0, data=b"{}"),),
                 grpc.StatusCode.FAILED_PRECONDITION),
                ((pb.VoiceData(manifest=manifest_to_pb(FILES), path="v.onnx.json", offset=0,
                               data=CONFIG + b"more"),), grpc.StatusCode.FAILED_PRECONDITION),
            ]:
                got, details = await status_of(stream(*msgs))
                assert got == code, (msgs, details)
            assert stored(service) is None
    run(go())


def test_after_every_attack_a_node_fetches_a_voice_from_a_member(tmp_path):
    async def go():
        async with node(tmp_path, "a", holding=True) as (_a, _ca, source), node(tmp_path, "b") as (b, client, _):
            progress = await fetch(client, source)
            assert progress[-1].complete and progress[-1].held == FILES.total_bytes
            assert all(p.total == FILES.total_bytes and p.held <= p.total for p in progress)
            assert stored(b) == MODEL
            again = await fetch(client, source)  # already here: nothing moves
            assert len(again) == 1 and again[0].complete
    run(go())
