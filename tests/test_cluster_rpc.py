"""A node over real gRPC on 127.0.0.1 (in this process): handshake refusals, busy, audio chunks."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from e2a_node.node import NodeService
from e2a_node.rpc import PROTOCOL_VERSION
from e2a_node.rpc import node_pb2 as pb
from e2a_node.cluster.members import Audio as PeerAudio
from e2a_node.rpc.client import PeerClient
from e2a_node.rpc.server import start_server
from e2a_node.synth.base import VoiceSettings
from e2a_node.voice_bundle import bundle_for_peers
from e2a_node.worker import WorkItem

VOICE = bundle_for_peers(VoiceSettings(voice="en_US-joe-medium", deterministic=True))


def with_node(test, slots: int = 1):
    async def main(tmp):
        service = NodeService(name="t1", slots=slots, threads=1, state_dir=tmp)
        server, port = await start_server(service, "127.0.0.1", 0)
        client = PeerClient(f"127.0.0.1:{port}")
        try:
            return await test(client, service)
        finally:
            await client.close()
            await server.stop(0)
    return main


def test_handshake_accepts_the_bundled_voice_and_reports_its_traits(tmp_path):
    async def test(client, service):
        admitted = await client.handshake("L", VOICE, "")
        status = await client.status()
        return admitted, status

    admitted, status = asyncio.run(with_node(test)(tmp_path))
    assert admitted.accepted, admitted.reason
    assert admitted.traits.sample_rate == 22050 and admitted.traits.fingerprint.startswith("piper:")
    assert admitted.speed > 0
    assert status.name == "t1" and status.protocol_version == PROTOCOL_VERSION and "piper" in status.engines


@pytest.mark.parametrize("case, expected", [
    ("fingerprint", "different piper voice"),
    ("engine", "engine 'nosuch' is not installed"),
    ("voice", "cannot load the voice"),
    ("version", "protocol version 999"),
])
def test_handshake_refuses_a_mismatch_saying_what_differs(tmp_path, case, expected):
    async def test(client, service):
        bundle, fingerprint = VOICE, ""
        if case == "fingerprint":
            fingerprint = "piper:0000"
        elif case == "engine":
            bundle = replace(VOICE, settings=replace(VOICE.settings, engine="nosuch"))
        elif case == "voice":
            bundle = replace(VOICE, settings=replace(VOICE.settings, voice="xx_XX-nobody-low"))
        if case == "version":
            reply = await client.stub.Handshake(pb.HandshakeRequest(protocol_version=999, leader_id="L"))
            return reply.accepted, reply.reason
        admitted = await client.handshake("L", bundle, fingerprint)
        return admitted.accepted, admitted.reason

    accepted, reason = asyncio.run(with_node(test)(tmp_path))
    assert not accepted
    assert expected in reason


def test_a_node_with_no_free_slot_says_busy_and_audio_streams_back(tmp_path):
    async def test(client, service):
        first = client.work("t1")
        started = await first.start("job-a", "L1", VOICE, "")
        second = client.work("t1")
        busy = await second.start("job-b", "L2", VOICE, "")
        await first.assign(1, [WorkItem(0, "One small sentence.", 1), WorkItem(1, "And another.", 2)])
        got = []
        async for event in first.events():
            if isinstance(event, PeerAudio):
                got.append(event)
            if len(got) == 2:
                break
        await first.close()
        await second.close()
        return started, busy, got

    started, busy, got = asyncio.run(with_node(test)(tmp_path))
    assert started.ready and started.slots == 1
    assert not busy.ready and "busy" in busy.reason
    assert [a.index for a in got] == [0, 1]
    assert all(a.sample_rate == 22050 and len(a.pcm) > 22050 for a in got)
