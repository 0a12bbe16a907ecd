"""What a node says about itself: identity, capabilities and load (`e2a cluster ls` shows it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class NodeInfo:
    node_id: str
    name: str
    protocol_version: int
    software_version: str
    engines: dict[str, list[str]] = field(default_factory=dict)  # engine -> voices it can load
    device: str = "cpu"
    slots: int = 1
    busy_slots: int = 0
    speed: float = 0.0  # chars/s per slot of the last voice it measured; 0 = not measured yet
    jobs: int = 0
    address: str = ""
    voice_store_bytes: int = 0  # voices received from leaders, kept in its store
    voice_store_limit: int = 0
    receiving_bytes: int = 0  # a voice arriving now: bytes in / total
    receiving_total: int = 0

    def to_dict(self) -> dict:
        return asdict(self)
