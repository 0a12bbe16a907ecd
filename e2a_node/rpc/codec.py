"""Translation between protobuf messages and e2a's plain Python types; nothing else."""

from __future__ import annotations

from e2a_node.node_info import NodeInfo
from e2a_node.rpc import node_pb2 as pb
from e2a_node.synth.base import VoiceSettings, VoiceTraits
from e2a_node.voice_bundle import VoiceBundle


def bundle_to_pb(bundle: VoiceBundle) -> pb.VoiceSettings:
    s = bundle.settings
    return pb.VoiceSettings(
        engine=s.engine, voice=s.voice or "", model=s.model or "", model_path=s.model_path or "",
        language=s.language or "", deterministic=s.deterministic,
        voice_clip=bundle.clip or b"", voice_clip_sha256=bundle.clip_sha256, voice_clip_suffix=bundle.clip_suffix,
    )


def bundle_from_pb(msg: pb.VoiceSettings) -> VoiceBundle:
    settings = VoiceSettings(
        engine=msg.engine, voice=msg.voice or None, model=msg.model or None,
        model_path=msg.model_path or None, language=msg.language or None, deterministic=msg.deterministic,
    )
    return VoiceBundle(settings, msg.voice_clip or None, msg.voice_clip_sha256, msg.voice_clip_suffix)


def traits_to_pb(t: VoiceTraits) -> pb.VoiceTraits:
    return pb.VoiceTraits(fingerprint=t.fingerprint, sample_rate=t.sample_rate, max_chars=t.max_chars,
                          normalizes_numbers=t.normalizes_numbers, deterministic=t.deterministic,
                          language=t.language)


def traits_from_pb(msg: pb.VoiceTraits) -> VoiceTraits:
    return VoiceTraits(msg.fingerprint, msg.sample_rate, msg.max_chars, msg.normalizes_numbers,
                       msg.deterministic, msg.language)


def info_to_pb(info: NodeInfo) -> pb.NodeInfo:
    return pb.NodeInfo(
        node_id=info.node_id, name=info.name, protocol_version=info.protocol_version,
        software_version=info.software_version,
        engines=[pb.EngineInfo(name=name, voices=voices) for name, voices in info.engines.items()],
        device=info.device, slots=info.slots, busy_slots=info.busy_slots, speed=info.speed,
        jobs=info.jobs, address=info.address,
    )


def info_from_pb(msg: pb.NodeInfo) -> NodeInfo:
    return NodeInfo(
        node_id=msg.node_id, name=msg.name, protocol_version=msg.protocol_version,
        software_version=msg.software_version, engines={e.name: list(e.voices) for e in msg.engines},
        device=msg.device, slots=msg.slots, busy_slots=msg.busy_slots, speed=msg.speed, jobs=msg.jobs,
        address=msg.address,
    )
