"""Translation between protobuf messages and e2a's plain Python types.

Text that came from the other side is cleaned on the way in (`clean`): one line, printable,
bounded, so a peer can neither flood a log nor forge lines or terminal escapes in it.
"""

from __future__ import annotations

from e2a_node.errors import E2AError
from e2a_node.node_info import NodeInfo
from e2a_node.rpc import node_pb2 as pb
from e2a_node.synth.base import VoiceSettings, VoiceTraits
from e2a_node.voice_bundle import VoiceBundle
from e2a_node.voices.manifest import VoiceManifest, check_manifest

MAX_NEEDS = 64  # a voice has at most this many files (voices.manifest), so no more can be missing


def bundle_to_pb(bundle: VoiceBundle) -> pb.VoiceSettings:
    s = bundle.settings
    return pb.VoiceSettings(
        engine=s.engine, voice=s.voice or "", model=s.model or "", model_path=s.model_path or "",
        language=s.language or "", deterministic=s.deterministic,
        voice_clip=bundle.clip or b"", voice_clip_sha256=bundle.clip_sha256, voice_clip_suffix=bundle.clip_suffix,
        files=manifest_to_pb(bundle.files) if bundle.files is not None else None,
    )


def bundle_from_pb(msg: pb.VoiceSettings) -> VoiceBundle:
    settings = VoiceSettings(
        engine=msg.engine, voice=msg.voice or None, model=msg.model or None,
        model_path=msg.model_path or None, language=msg.language or None, deterministic=msg.deterministic,
    )
    files = manifest_from_pb(msg.files) if msg.HasField("files") else None
    return VoiceBundle(settings, msg.voice_clip or None, msg.voice_clip_sha256, msg.voice_clip_suffix, files)


def manifest_to_pb(m: VoiceManifest) -> pb.VoiceManifest:
    return pb.VoiceManifest(engine=m.engine, files=[pb.VoiceFile(path=f.path, size=f.size, sha256=f.sha256)
                                                    for f in m.files])


def manifest_from_pb(msg: pb.VoiceManifest) -> VoiceManifest:
    """A manifest from the other side, checked (E2AError, one line, for anything refused)."""
    return check_manifest({"engine": msg.engine,
                           "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in msg.files]})


def needs_to_pb(needs) -> list[pb.FileNeed]:
    return [pb.FileNeed(path=path, offset=offset) for path, offset in needs]


def needs_from_pb(msgs, manifest: VoiceManifest) -> list[tuple[str, int]]:
    """What a node says it lacks of `manifest`, checked against it: E2AError for a file the voice
    does not have or an offset past the file's end (no honest node says either)."""
    sizes = {f.path: f.size for f in manifest.files}
    needs = []
    for msg in msgs[:MAX_NEEDS + 1]:
        if msg.path not in sizes or msg.offset > sizes[msg.path] or len(needs) == MAX_NEEDS:
            raise E2AError(f"the node asked for {clean(msg.path, 80)!r} at {msg.offset}: not a part of the voice")
        needs.append((msg.path, msg.offset))
    return needs


def traits_to_pb(t: VoiceTraits) -> pb.VoiceTraits:
    return pb.VoiceTraits(fingerprint=t.fingerprint, sample_rate=t.sample_rate, max_chars=t.max_chars,
                          normalizes_numbers=t.normalizes_numbers, deterministic=t.deterministic,
                          language=t.language)


NAME_CHARS = 64  # node names, ids, devices, versions as shown to users
REASON_CHARS = 300  # a refusal or error: one line


def clean(text: str, limit: int = REASON_CHARS) -> str:
    """`text` from a peer as one printable line of at most `limit` characters."""
    text = "".join(c if c.isprintable() else " " for c in text[: limit * 2])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def traits_from_pb(msg: pb.VoiceTraits) -> VoiceTraits:
    return VoiceTraits(clean(msg.fingerprint, 200), msg.sample_rate, msg.max_chars, msg.normalizes_numbers,
                       msg.deterministic, clean(msg.language, 35))


def info_to_pb(info: NodeInfo) -> pb.NodeInfo:
    return pb.NodeInfo(
        node_id=info.node_id, name=info.name, protocol_version=info.protocol_version,
        software_version=info.software_version,
        engines=[pb.EngineInfo(name=name, voices=voices) for name, voices in info.engines.items()],
        device=info.device, slots=info.slots, busy_slots=info.busy_slots, speed=info.speed,
        jobs=info.jobs, address=info.address, voice_store_bytes=info.voice_store_bytes,
        voice_store_limit=info.voice_store_limit, receiving_bytes=info.receiving_bytes,
        receiving_total=info.receiving_total,
    )


MAX_ENGINES = 16
MAX_VOICES = 500


def info_from_pb(msg: pb.NodeInfo) -> NodeInfo:
    engines = {clean(e.name, NAME_CHARS): [clean(v, 120) for v in e.voices[:MAX_VOICES]]
               for e in msg.engines[:MAX_ENGINES]}
    return NodeInfo(
        node_id=clean(msg.node_id, NAME_CHARS), name=clean(msg.name, NAME_CHARS),
        protocol_version=msg.protocol_version, software_version=clean(msg.software_version, NAME_CHARS),
        engines=engines, device=clean(msg.device, NAME_CHARS), slots=msg.slots, busy_slots=msg.busy_slots,
        speed=msg.speed, jobs=msg.jobs, address=clean(msg.address, 100),
        voice_store_bytes=msg.voice_store_bytes, voice_store_limit=msg.voice_store_limit,
        receiving_bytes=msg.receiving_bytes, receiving_total=msg.receiving_total,
    )
