"""Fuzzing the wire: random bytes and random field values through the protobuf codec, and random
bytes sent as every RPC to a real node, which must answer with a gRPC status (never crash) and
then still serve a normal handshake."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2a_node.errors import E2AError
from e2a_node.node import NodeService
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc.client import PeerClient
from e2a_node.rpc.codec import NAME_CHARS, REASON_CHARS, bundle_from_pb, clean, info_from_pb, traits_from_pb
from e2a_node.rpc.server import start_server
from e2a_node.synth.base import VoiceSettings
from e2a_node.voice_bundle import bundle_for_peers

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
text = st.text(max_size=300)


def _decode_all(data: bytes) -> None:
    for kind, convert in ((pb.VoiceSettings, bundle_from_pb), (pb.VoiceTraits, traits_from_pb),
                          (pb.NodeInfo, info_from_pb)):
        try:
            msg = kind.FromString(data)
        except DecodeError:
            continue  # gRPC answers a message that does not parse with a status of its own
        try:
            convert(msg)
        except E2AError:
            pass


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_decode_or_fail_cleanly(data):
    _decode_all(data)


@FUZZ
@given(name=text, node_id=text, device=text, version=text, engine=text, voices=st.lists(text, max_size=5),
       slots=st.integers(0, 2**32 - 1), speed=st.floats(allow_nan=True, allow_infinity=True))
def test_peer_info_comes_out_bounded_and_printable(name, node_id, device, version, engine, voices, slots, speed):
    msg = pb.NodeInfo(name=name, node_id=node_id, device=device, software_version=version, slots=slots,
                      speed=speed, engines=[pb.EngineInfo(name=engine, voices=voices)])
    info = info_from_pb(msg)
    for value in (info.name, info.node_id, info.device, info.software_version, *info.engines):
        assert len(value) <= NAME_CHARS and value.isprintable() and "\n" not in value


@FUZZ
@given(text)
def test_clean_is_one_bounded_printable_line(value):
    out = clean(value)
    assert len(out) <= REASON_CHARS and out.isprintable()


RPCS = ("/e2a.v1.Node/Handshake", "/e2a.v1.Node/Status")


def test_a_node_survives_random_bytes_on_every_rpc_then_serves_a_handshake(tmp_path):
    import random

    rng = random.Random(7)
    payloads = [rng.randbytes(rng.randrange(0, 2000)) for _ in range(40)] + [b"\xff" * 64, b"\x0a\xff\xff\xff\x0f"]

    async def main():
        service = NodeService(name="fuzzed", slots=1, threads=1, state_dir=tmp_path)
        server, port = await start_server(service, "127.0.0.1", 0)
        target = f"127.0.0.1:{port}"
        codes = []
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                for method in RPCS:
                    call = channel.unary_unary(method)  # raw bytes in and out
                    for data in payloads:
                        try:
                            await call(data, timeout=30)
                            codes.append("OK")
                        except grpc.aio.AioRpcError as exc:
                            codes.append(exc.code().name)
                work = channel.stream_stream("/e2a.v1.Node/Work")
                for data in payloads[:10]:
                    stream = work(timeout=10)
                    try:
                        await stream.write(data)
                        await stream.done_writing()
                        async for _ in stream:
                            pass
                        codes.append("OK")
                    except grpc.aio.AioRpcError as exc:
                        codes.append(exc.code().name)
            client = PeerClient(target)
            try:
                bundle = bundle_for_peers(VoiceSettings(voice="en_US-joe-medium", deterministic=True))
                admitted = await client.handshake("L", bundle, "")
                status = await client.status()
            finally:
                await client.close()
            return codes, admitted, status
        finally:
            await server.stop(0)

    codes, admitted, status = asyncio.run(main())
    assert len(codes) == 2 * len(payloads) + 10
    assert "UNKNOWN" not in codes  # an exception escaping a handler shows as UNKNOWN
    assert admitted.accepted, admitted.reason
    assert status.name == "fuzzed" and status.busy_slots == 0
