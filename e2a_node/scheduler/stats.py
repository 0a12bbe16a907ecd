"""Accounting for the job report and the progress bar: plain dataclasses, `to_dict()` for JSON.

`NodeStats` is kept (mutable) per node inside the scheduler; `Scheduler.stats()` hands out
copies in a `JobStats`, and `Scheduler.progress()` a `Progress`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class NodeStats:
    node: str
    state: str = "active"  # active | unresponsive | left | removed | refused
    reason: str = ""  # why it left, was removed or refused
    slots: int = 0
    claimed_speed: float = 0.0  # chars/s per slot, from the handshake
    speed: float = 0.0  # current estimate, chars/s per slot
    segments: int = 0  # accepted audio from this node
    chars: int = 0
    busy_seconds: float = 0.0  # time holding at least one lease
    failures: int = 0  # SegmentFailed + AudioInvalid
    expiries: int = 0  # its leases that expired
    leases: int = 0  # leases given (runs, steals, backups)
    steals_won: int = 0  # as thief, got at least one segment
    steals_lost: int = 0  # as victim, gave at least one segment
    backups: int = 0  # backup leases given to it
    duplicates: int = 0  # its audio dropped because the segment already had audio
    duplicate_chars: int = 0
    forged: int = 0  # its audio for segments it never held (each also counts in failures)
    trusted: bool = False  # joined as trusted: its audio is not verified
    verified: int = 0  # its segments whose audio a verifier made again, byte for byte
    verify_failed: int = 0  # times its audio was found to differ (it was taken off the job)
    discarded: int = 0  # its accepted segments deleted because it was found lying

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Recovery:
    """One node failure: from detection until every segment it lost was given out again."""

    node: str
    kind: str  # expired | left | removed
    detected_at: float
    segments: int  # segments that went back to the queue (or to a backup copy)
    pending: int = 0  # of those, not yet re-assigned (or done)
    recovered_at: float | None = None
    seconds: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Disagreement:
    """Two untrusted nodes made different audio for `index` and no third node could say who
    was right: the stored audio (from `suspect`) was kept. The driver should warn."""

    index: int
    suspect: str
    verifier: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class JobStats:
    segments_total: int
    segments_done: int
    chars_total: int
    chars_done: int
    resumed_segments: int  # already stored when the job started
    steals: int = 0  # steals that moved at least one segment
    steal_requests: int = 0
    steals_empty: int = 0  # the victim had passed the split point: nothing moved
    steals_cancelled: int = 0  # the victim's lease ended before it replied
    stale_replies: int = 0  # StealReply with an unknown/old id
    backups: int = 0  # backup leases given
    backup_promotions: int = 0  # segments a backup took over when the primary failed
    reassignments: int = 0  # segments returned to the queue by expiry, loss or removal
    retries: int = 0  # segments returned to the queue after a segment failure
    duplicates: int = 0  # audio dropped as already stored
    duplicate_chars: int = 0
    stale_audio: int = 0  # audio dropped because the sender's lease on it had ended
    forged_audio: int = 0  # audio dropped because the sender never held the segment
    revokes: int = 0
    verifications: int = 0  # comparisons made (Compared events that counted)
    verification_mismatches: int = 0  # of those, different bytes
    verifications_skipped: int = 0  # picked but not verified (backlog full, no verifier, attempts)
    discarded_sentences: int = 0  # accepted audio deleted because its node was found lying
    nodes: list[NodeStats] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    unresolved_disagreements: list[Disagreement] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Progress:
    segments_done: int
    segments_total: int
    chars_done: int
    chars_total: int
    resumed_segments: int
    # node -> {"segments": n, "chars": n, "share": fraction of all characters}
    per_node: dict[str, dict] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.chars_done / self.chars_total if self.chars_total else 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fraction"] = self.fraction
        return d
