"""Work stealing and endgame backups: the arithmetic, kept apart from the bookkeeping.

Notation for one victim lease, worked in order by a slot of speed v (chars/s):
  r0  seconds until its in-progress segment (the first without its audio) is done;
  [first, stop) its unstarted segments, X their characters;
  alone = r0 + X / v: when the victim finishes if nobody helps.
A thief slot of speed w would get the tail [k, stop) and pay `cost` seconds to start
(request/reply round trip, the new lease reaching it).

Split (victim and thief finish together): victim keeps x chars of the unstarted part,
  r0 + x/v = cost + (X - x)/w   =>   x = (v*w*(cost - r0) + v*X) / (v + w)
rounded to the segment boundary (of the two around x) with the smaller max(finish times).

Steal rule (dask's `occ_thief + cost <= occ_victim - cost/2`, with the thief's occupancy the
stolen tail's work, since its slot is free): steal only if
  cost + tail/w + cost/2 <= alone
i.e. the thief finishes the tail at least cost/2 sooner than the victim would have.

Backup rule (endgame, MapReduce): a backup copies the primary's unfinished segments,
including the one in progress; give it only if the primary is quiet/unresponsive, or
  cost + chars/w + cost/2 <= the primary's time left.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence


def balanced_split(prefix: Sequence[int], first: int, stop: int, r0: float, v: float, w: float,
                   cost: float) -> tuple[int, float, float]:
    """Split point k in [first, stop] for the unstarted run [first, stop): the victim keeps
    [first, k), the thief gets [k, stop). Returns (k, victim_finish, thief_finish), times in
    seconds from now; thief_finish is 0 when k == stop (nothing to steal)."""
    base = prefix[first]
    total = prefix[stop] - base
    keep = (v * w * (cost - r0) + v * total) / (v + w)
    keep = min(max(keep, 0.0), float(total))
    k = bisect_right(prefix, base + keep, first, stop + 1) - 1  # prefix[k] - base <= keep
    best: tuple[float, int, float, float] | None = None
    for kk in (k, k + 1):
        if kk > stop:
            break
        t_victim = r0 + (prefix[kk] - base) / v
        t_thief = cost + (prefix[stop] - prefix[kk]) / w if kk < stop else 0.0
        span = max(t_victim, t_thief)
        # ties go to the larger k: the victim keeps more, less is moved
        if best is None or span <= best[0]:
            best = (span, kk, t_victim, t_thief)
    assert best is not None
    return best[1], best[2], best[3]


def steal_pays(thief_finish: float, victim_alone: float, cost: float) -> bool:
    """dask's rule, with the cost already inside thief_finish: the thief must finish the tail
    at least cost/2 before the victim would finish it alone."""
    return thief_finish + cost / 2 <= victim_alone


def backup_pays(backup_finish: float, primary_left: float, cost: float) -> bool:
    """Same margin for a backup: it must plausibly finish before the primary."""
    return backup_finish + cost / 2 <= primary_left
