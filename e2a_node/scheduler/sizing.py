"""Run sizing and speed estimates: how much work one lease gets, and how fast a node is.

Speeds are characters per second of one slot. A node starts with the speed it claimed at the
handshake, worth `speed_prior_seconds` of evidence; every in-order audio of one of its leases
is a sample (chars of that segment, seconds since the lease's previous audio or since the
lease was given). The first audio of a lease is not a speed sample: it also carries the
Assign's trip and the start-up, so it only feeds the node's `overhead` estimate (seconds its
first audio comes later than its speed says), an EWMA with the same weight. Speed samples are
folded into exponentially weighted sums of chars and of seconds, and the estimate is their
ratio (a ratio of sums is steadier than an average of ratios when a sample's time is tiny,
e.g. two audios arriving in one batch).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence


class SpeedEstimate:
    __slots__ = ("_chars", "_secs", "_alpha", "_floor")

    def __init__(self, claimed: float, prior_seconds: float, alpha: float, floor: float) -> None:
        claimed = max(float(claimed), floor)
        self._chars = claimed * prior_seconds
        self._secs = prior_seconds
        self._alpha = alpha
        self._floor = floor

    @property
    def value(self) -> float:
        if self._secs <= 0:
            return max(self._chars, self._floor) if self._chars > 0 else self._floor
        return max(self._chars / self._secs, self._floor)

    def observe(self, chars: float, seconds: float) -> None:
        if chars < 0 or seconds < 0:
            return
        a = self._alpha
        self._chars = (1 - a) * self._chars + a * chars
        self._secs = (1 - a) * self._secs + a * seconds


def run_chars(speed: float, target_seconds: float, queued_chars: int, total_slots: int,
              tail_factor: float) -> float:
    """The most characters a new run may hold: about `target_seconds` of this node's work,
    capped at queued_chars / (tail_factor * total_slots) so runs shrink as the queue drains.
    (`run_end` still gives at least one segment.)"""
    target = speed * target_seconds
    cap = queued_chars / (tail_factor * max(total_slots, 1))
    return min(target, cap)


def run_end(prefix: Sequence[int], start: int, limit: int, max_chars: float) -> int:
    """End (exclusive) of the longest run [start, end) with end <= limit whose characters fit
    in max_chars; at least one segment."""
    end = bisect_right(prefix, prefix[start] + max_chars, start + 1, limit + 1) - 1
    return max(end, start + 1)


def in_progress_left(chars: int, speed: float, elapsed: float, overhead: float = 0.0) -> float:
    """Seconds until the segment being worked on is done (its audio is here). `overhead`:
    the node's usual extra delay before a lease's first audio, when that is still to come.
    Within its expected time: what is left of it. Overdue: assume it needs about as long again
    as it has overrun, so an ever later segment looks ever worse (that is how a straggler
    shows before its lease expires)."""
    left = overhead + chars / speed - elapsed
    return left if left >= 0 else -left
