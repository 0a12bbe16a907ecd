from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoiceSettings(_message.Message):
    __slots__ = ("engine", "voice", "model", "model_path", "language", "deterministic", "voice_clip", "voice_clip_sha256", "voice_clip_suffix", "files")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DETERMINISTIC_FIELD_NUMBER: _ClassVar[int]
    VOICE_CLIP_FIELD_NUMBER: _ClassVar[int]
    VOICE_CLIP_SHA256_FIELD_NUMBER: _ClassVar[int]
    VOICE_CLIP_SUFFIX_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    engine: str
    voice: str
    model: str
    model_path: str
    language: str
    deterministic: bool
    voice_clip: bytes
    voice_clip_sha256: str
    voice_clip_suffix: str
    files: VoiceManifest
    def __init__(self, engine: _Optional[str] = ..., voice: _Optional[str] = ..., model: _Optional[str] = ..., model_path: _Optional[str] = ..., language: _Optional[str] = ..., deterministic: _Optional[bool] = ..., voice_clip: _Optional[bytes] = ..., voice_clip_sha256: _Optional[str] = ..., voice_clip_suffix: _Optional[str] = ..., files: _Optional[_Union[VoiceManifest, _Mapping]] = ...) -> None: ...

class VoiceFile(_message.Message):
    __slots__ = ("path", "size", "sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    sha256: str
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class VoiceManifest(_message.Message):
    __slots__ = ("engine", "files")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    engine: str
    files: _containers.RepeatedCompositeFieldContainer[VoiceFile]
    def __init__(self, engine: _Optional[str] = ..., files: _Optional[_Iterable[_Union[VoiceFile, _Mapping]]] = ...) -> None: ...

class FileNeed(_message.Message):
    __slots__ = ("path", "offset")
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    path: str
    offset: int
    def __init__(self, path: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class VoiceTraits(_message.Message):
    __slots__ = ("fingerprint", "sample_rate", "max_chars", "normalizes_numbers", "deterministic", "language")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    NORMALIZES_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    DETERMINISTIC_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    sample_rate: int
    max_chars: int
    normalizes_numbers: bool
    deterministic: bool
    language: str
    def __init__(self, fingerprint: _Optional[str] = ..., sample_rate: _Optional[int] = ..., max_chars: _Optional[int] = ..., normalizes_numbers: _Optional[bool] = ..., deterministic: _Optional[bool] = ..., language: _Optional[str] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ("name", "voices")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VOICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    voices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., voices: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "name", "protocol_version", "software_version", "engines", "device", "slots", "busy_slots", "speed", "jobs", "address", "voice_store_bytes", "voice_store_limit", "receiving_bytes", "receiving_total")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    BUSY_SLOTS_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VOICE_STORE_BYTES_FIELD_NUMBER: _ClassVar[int]
    VOICE_STORE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_TOTAL_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    name: str
    protocol_version: int
    software_version: str
    engines: _containers.RepeatedCompositeFieldContainer[EngineInfo]
    device: str
    slots: int
    busy_slots: int
    speed: float
    jobs: int
    address: str
    voice_store_bytes: int
    voice_store_limit: int
    receiving_bytes: int
    receiving_total: int
    def __init__(self, node_id: _Optional[str] = ..., name: _Optional[str] = ..., protocol_version: _Optional[int] = ..., software_version: _Optional[str] = ..., engines: _Optional[_Iterable[_Union[EngineInfo, _Mapping]]] = ..., device: _Optional[str] = ..., slots: _Optional[int] = ..., busy_slots: _Optional[int] = ..., speed: _Optional[float] = ..., jobs: _Optional[int] = ..., address: _Optional[str] = ..., voice_store_bytes: _Optional[int] = ..., voice_store_limit: _Optional[int] = ..., receiving_bytes: _Optional[int] = ..., receiving_total: _Optional[int] = ...) -> None: ...

class HandshakeRequest(_message.Message):
    __slots__ = ("protocol_version", "leader_id", "settings", "expected_fingerprint")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    leader_id: str
    settings: VoiceSettings
    expected_fingerprint: str
    def __init__(self, protocol_version: _Optional[int] = ..., leader_id: _Optional[str] = ..., settings: _Optional[_Union[VoiceSettings, _Mapping]] = ..., expected_fingerprint: _Optional[str] = ...) -> None: ...

class HandshakeReply(_message.Message):
    __slots__ = ("info", "accepted", "reason", "traits", "speed", "missing")
    INFO_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    info: NodeInfo
    accepted: bool
    reason: str
    traits: VoiceTraits
    speed: float
    missing: _containers.RepeatedCompositeFieldContainer[FileNeed]
    def __init__(self, info: _Optional[_Union[NodeInfo, _Mapping]] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., traits: _Optional[_Union[VoiceTraits, _Mapping]] = ..., speed: _Optional[float] = ..., missing: _Optional[_Iterable[_Union[FileNeed, _Mapping]]] = ...) -> None: ...

class VoiceData(_message.Message):
    __slots__ = ("manifest", "path", "offset", "data")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    manifest: VoiceManifest
    path: str
    offset: int
    data: bytes
    def __init__(self, manifest: _Optional[_Union[VoiceManifest, _Mapping]] = ..., path: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class VoiceReceipt(_message.Message):
    __slots__ = ("complete", "missing")
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    complete: bool
    missing: _containers.RepeatedCompositeFieldContainer[FileNeed]
    def __init__(self, complete: _Optional[bool] = ..., missing: _Optional[_Iterable[_Union[FileNeed, _Mapping]]] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("manifest", "source", "source_name")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    manifest: VoiceManifest
    source: str
    source_name: str
    def __init__(self, manifest: _Optional[_Union[VoiceManifest, _Mapping]] = ..., source: _Optional[str] = ..., source_name: _Optional[str] = ...) -> None: ...

class FetchProgress(_message.Message):
    __slots__ = ("held", "total", "complete", "received")
    HELD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    held: int
    total: int
    complete: bool
    received: int
    def __init__(self, held: _Optional[int] = ..., total: _Optional[int] = ..., complete: _Optional[bool] = ..., received: _Optional[int] = ...) -> None: ...

class VoiceRequest(_message.Message):
    __slots__ = ("voice_id", "needs")
    VOICE_ID_FIELD_NUMBER: _ClassVar[int]
    NEEDS_FIELD_NUMBER: _ClassVar[int]
    voice_id: str
    needs: _containers.RepeatedCompositeFieldContainer[FileNeed]
    def __init__(self, voice_id: _Optional[str] = ..., needs: _Optional[_Iterable[_Union[FileNeed, _Mapping]]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LeaderMessage(_message.Message):
    __slots__ = ("start", "assign", "revoke", "steal", "ping")
    START_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    STEAL_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    start: JobStart
    assign: Assign
    revoke: Revoke
    steal: StealRequest
    ping: Ping
    def __init__(self, start: _Optional[_Union[JobStart, _Mapping]] = ..., assign: _Optional[_Union[Assign, _Mapping]] = ..., revoke: _Optional[_Union[Revoke, _Mapping]] = ..., steal: _Optional[_Union[StealRequest, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ...) -> None: ...

class JobStart(_message.Message):
    __slots__ = ("protocol_version", "job_id", "leader_id", "settings", "expected_fingerprint", "slots_wanted")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SLOTS_WANTED_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    job_id: str
    leader_id: str
    settings: VoiceSettings
    expected_fingerprint: str
    slots_wanted: int
    def __init__(self, protocol_version: _Optional[int] = ..., job_id: _Optional[str] = ..., leader_id: _Optional[str] = ..., settings: _Optional[_Union[VoiceSettings, _Mapping]] = ..., expected_fingerprint: _Optional[str] = ..., slots_wanted: _Optional[int] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("index", "text", "seed")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    index: int
    text: str
    seed: int
    def __init__(self, index: _Optional[int] = ..., text: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class Assign(_message.Message):
    __slots__ = ("lease", "segments")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    lease: int
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    def __init__(self, lease: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ...) -> None: ...

class Revoke(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: int
    def __init__(self, lease: _Optional[int] = ...) -> None: ...

class StealRequest(_message.Message):
    __slots__ = ("steal_id", "lease", "split_at")
    STEAL_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    SPLIT_AT_FIELD_NUMBER: _ClassVar[int]
    steal_id: int
    lease: int
    split_at: int
    def __init__(self, steal_id: _Optional[int] = ..., lease: _Optional[int] = ..., split_at: _Optional[int] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerMessage(_message.Message):
    __slots__ = ("ready", "busy", "audio", "heartbeat", "steal_reply", "error", "revoke_ack")
    READY_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STEAL_REPLY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REVOKE_ACK_FIELD_NUMBER: _ClassVar[int]
    ready: Ready
    busy: Busy
    audio: AudioChunk
    heartbeat: Heartbeat
    steal_reply: StealReply
    error: SegmentError
    revoke_ack: RevokeAck
    def __init__(self, ready: _Optional[_Union[Ready, _Mapping]] = ..., busy: _Optional[_Union[Busy, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., steal_reply: _Optional[_Union[StealReply, _Mapping]] = ..., error: _Optional[_Union[SegmentError, _Mapping]] = ..., revoke_ack: _Optional[_Union[RevokeAck, _Mapping]] = ...) -> None: ...

class Ready(_message.Message):
    __slots__ = ("traits", "slots", "speed")
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    traits: VoiceTraits
    slots: int
    speed: float
    def __init__(self, traits: _Optional[_Union[VoiceTraits, _Mapping]] = ..., slots: _Optional[int] = ..., speed: _Optional[float] = ...) -> None: ...

class Busy(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("lease", "index", "pcm", "last", "sample_rate", "synth_seconds")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PCM_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SYNTH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    lease: int
    index: int
    pcm: bytes
    last: bool
    sample_rate: int
    synth_seconds: float
    def __init__(self, lease: _Optional[int] = ..., index: _Optional[int] = ..., pcm: _Optional[bytes] = ..., last: _Optional[bool] = ..., sample_rate: _Optional[int] = ..., synth_seconds: _Optional[float] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("leases",)
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, leases: _Optional[_Iterable[int]] = ...) -> None: ...

class StealReply(_message.Message):
    __slots__ = ("steal_id", "stop_at")
    STEAL_ID_FIELD_NUMBER: _ClassVar[int]
    STOP_AT_FIELD_NUMBER: _ClassVar[int]
    steal_id: int
    stop_at: int
    def __init__(self, steal_id: _Optional[int] = ..., stop_at: _Optional[int] = ...) -> None: ...

class SegmentError(_message.Message):
    __slots__ = ("lease", "index", "error")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    lease: int
    index: int
    error: str
    def __init__(self, lease: _Optional[int] = ..., index: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class RevokeAck(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: int
    def __init__(self, lease: _Optional[int] = ...) -> None: ...
