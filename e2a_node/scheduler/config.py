"""The scheduler's knobs, one frozen dataclass with the defaults the design argues for.

Every duration is in seconds of the clock the driver passes to `Scheduler.handle`; every
speed is in characters per second *per slot* (one slot works one lease, in order).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class SchedulerConfig:
    # A run (one lease) is sized to take about this long at the node's estimated speed.
    target_run_seconds: float = 20.0
    # Runs are also capped at queued_chars / (tail_factor * total_slots), so that runs shrink
    # as the queue drains and the last work is spread over every slot, not one big run. Short
    # runs also free slots often, so work lost with a node is given out again soon: with 2 the
    # benchmark's killed node waited 2.4 s for a free slot, with 4 0.8 s, at equal efficiency.
    tail_factor: float = 4.0
    # Given the chapter of each segment (a leader's job), a run is also capped at its chapter's
    # characters / total slots, but never below this many seconds of the node's work. With more
    # slots than a chapter has 20-second runs, chapters then complete one after another rather
    # than two or three at once, and the leader encodes each as soon as it is complete: at 16
    # nodes x 4 slots the first chapter of sherlock-holmes.epub was complete 20 s into synthesis.
    min_run_seconds: float = 5.0
    # A lease lives this long after it is given out or after the node's last sign of life
    # (audio, heartbeat, steal reply, revoke ack). On expiry its unfinished segments go back.
    lease_seconds: float = 10.0
    # Segment failures (engine error or audio the driver found invalid) before a node is
    # taken off the job.
    max_failures: int = 3
    # The price of moving work to another node (request/reply round trip, new lease start),
    # used by the steal rule and the backup rule (see stealing.py).
    steal_cost_seconds: float = 0.5
    # A node not heard from for this long is "quiet": it is not asked to give work away (it
    # may not answer) and its runs may get a backup copy in the endgame. Drivers should send
    # heartbeats well inside this (about every second).
    quiet_seconds: float = 3.0
    # Speed estimate: exponentially weighted (chars, seconds) sums; weight of each new sample.
    speed_alpha: float = 0.2
    # How many seconds of evidence the handshake's claimed speed is worth at the start.
    speed_prior_seconds: float = 2.0
    # Floor for any speed estimate, so that divisions stay finite.
    min_speed: float = 1e-3
    # Switches, mostly for experiments and tests.
    stealing: bool = True
    backups: bool = True
    # Peer verification (Scheduler only; see state.py): this fraction of the segments accepted
    # from untrusted nodes is made again on another node and compared byte for byte (0 = off).
    # Which segments is a pure function of (verify_seed, index), so runs are reproducible.
    verify_fraction: float = 0.0
    verify_seed: int = 0
    # At most this many verifications outstanding at once; a segment picked while the backlog
    # is full is not verified (counted in verifications_skipped). Verifications go first on
    # a free slot, so this also bounds what JobDone waits for at the end.
    verify_backlog: int = 16
    # A verification whose lease expires, fails or loses its node this many times is given up.
    verify_attempts: int = 3
    # With no active node for this long the job gives up (GiveUp): nobody is left to do it, and
    # none came back or joined meanwhile.
    give_up_seconds: float = 60.0
    # False when no node can join later (a one-machine job): the last node going away ends the
    # job at once, naming why it went.
    more_nodes_may_join: bool = True

    def __post_init__(self) -> None:
        positive = ("target_run_seconds", "tail_factor", "min_run_seconds", "lease_seconds", "quiet_seconds",
                    "give_up_seconds", "speed_prior_seconds", "min_speed")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"SchedulerConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.steal_cost_seconds < 0:
            raise ValueError("SchedulerConfig.steal_cost_seconds must be >= 0")
        if not 0 < self.speed_alpha <= 1:
            raise ValueError("SchedulerConfig.speed_alpha must be in (0, 1]")
        if self.max_failures < 1:
            raise ValueError("SchedulerConfig.max_failures must be >= 1")
        if not 0.0 <= self.verify_fraction <= 1.0:
            raise ValueError("SchedulerConfig.verify_fraction must be in [0, 1]")
        if self.verify_backlog < 1 or self.verify_attempts < 1:
            raise ValueError("SchedulerConfig.verify_backlog and verify_attempts must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SchedulerConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
