"""The queue of unassigned segments, kept as sorted, disjoint runs [start, end).

Work is taken from the front (lowest index first, so early chapters finish first), and work
that comes back (an expired lease, a lost node) is inserted by index, which puts it in front
of the fresh work: it is the oldest. Operations cost O(log R) plus a list insert/delete, where
R is the number of separate runs (small: one per hole), never O(segments).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Iterator, Sequence


class WorkQueue:
    __slots__ = ("_starts", "_ends", "_prefix", "count", "chars")

    def __init__(self, prefix: Sequence[int]) -> None:
        self._prefix = prefix  # prefix[i] = chars of segments [0, i)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.count = 0  # segments queued
        self.chars = 0  # their characters

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __contains__(self, index: int) -> bool:
        k = bisect_right(self._starts, index) - 1
        return k >= 0 and index < self._ends[k]

    def runs(self) -> Iterator[tuple[int, int]]:
        return zip(list(self._starts), list(self._ends))

    def add(self, start: int, end: int) -> None:
        """Queue segments [start, end); none of them may be queued already."""
        if start >= end:
            return
        starts, ends = self._starts, self._ends
        k = bisect_right(starts, start)  # runs [0, k) start at or before `start`
        if k > 0 and ends[k - 1] > start:
            raise AssertionError(f"segments [{start}, {end}) overlap queued run "
                                 f"[{starts[k - 1]}, {ends[k - 1]})")
        if k < len(starts) and starts[k] < end:
            raise AssertionError(f"segments [{start}, {end}) overlap queued run "
                                 f"[{starts[k]}, {ends[k]})")
        self.count += end - start
        self.chars += self._prefix[end] - self._prefix[start]
        join_left = k > 0 and ends[k - 1] == start
        join_right = k < len(starts) and starts[k] == end
        if join_left and join_right:
            ends[k - 1] = ends[k]
            del starts[k], ends[k]
        elif join_left:
            ends[k - 1] = end
        elif join_right:
            starts[k] = start
        else:
            starts.insert(k, start)
            ends.insert(k, end)

    def remove(self, index: int) -> bool:
        """Take one segment out (its audio arrived from elsewhere). False if it wasn't queued."""
        starts, ends = self._starts, self._ends
        k = bisect_right(starts, index) - 1
        if k < 0 or index >= ends[k]:
            return False
        self.count -= 1
        self.chars -= self._prefix[index + 1] - self._prefix[index]
        s, e = starts[k], ends[k]
        if s == index and e == index + 1:
            del starts[k], ends[k]
        elif s == index:
            starts[k] = index + 1
        elif e == index + 1:
            ends[k] = index
        else:
            ends[k] = index
            starts.insert(k + 1, index + 1)
            ends.insert(k + 1, e)
        return True

    def first_run(self) -> tuple[int, int] | None:
        if not self._starts:
            return None
        return self._starts[0], self._ends[0]

    def pop_front(self, end: int) -> tuple[int, int]:
        """Take [start, end) off the front run (start = the first queued index)."""
        start, run_end = self._starts[0], self._ends[0]
        if not start < end <= run_end:
            raise AssertionError(f"pop_front({end}) outside the front run [{start}, {run_end})")
        self.count -= end - start
        self.chars -= self._prefix[end] - self._prefix[start]
        if end == run_end:
            del self._starts[0], self._ends[0]
        else:
            self._starts[0] = end
        return start, end
