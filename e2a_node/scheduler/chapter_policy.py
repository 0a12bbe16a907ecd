"""The baseline we compare against: one Celery-style task per chapter, as a pure state machine.

    sched = ChapterScheduler(chars_per_segment, chapter_of_segment, SchedulerConfig(), done=stored)
    for instruction in sched.handle(event, now): ...

Same interface, events and instructions as `Scheduler` (state.py), so the leader's driver and
the simulator can run either; it only ever sends Assign (kind "chapter"), Accept, Drop, Revoke,
RemoveNode and JobDone, never RequestSteal (a StealReply is counted stale). No I/O, no clock.

The model of "one Celery task per chapter":
  - The queue holds whole chapters, in book order. A node with a free slot takes the chapter at
    the front as one lease: all of the chapter's segments that were not already stored when the
    job started (`done`), in order. When a resumed chapter has holes its Assign.indices are not
    consecutive. There is no splitting, stealing or backup copy.
  - A lease lives `config.lease_seconds` after it is given or after the node's last sign of
    life (audio, Heartbeat, RevokeAck, StealReply), as in the real scheduler.
  - A chapter task that fails starts again from its first sentence, at the FRONT of the queue:
    when its lease expires (Revoke "expired"; the node gets no work until it is heard from
    again), when its node leaves (NodeLeft ends all of that node's leases at once) or is
    removed, and also on any SegmentFailed / AudioInvalid of the lease's node for one of its
    segments (a Celery task that raises is retried from the start; Revoke "failed"). The retry
    is immediate: Celery's 60 s retry backoff is not modelled, which flatters this policy.
    A node with `config.max_failures` failures is taken off the job (RemoveNode).
  - Audio already accepted stays accepted (its file stays on disk), but the restarted task
    makes it again: audio for a segment that already has audio is answered Drop "duplicate"
    and counted in duplicates / duplicate_chars, the redundant work of this policy.
  - Who may deliver a segment is policy.py's rule, as in state.py: only the node whose live
    lease holds it (its chapter task). Late audio of an ended task is dropped ("stale", or
    "duplicate" when the segment has audio); audio for a segment the node never held is
    forged and counts as a failure.
  - No peer verification: `verify_fraction` applies to `Scheduler` only; this policy never
    sends Compare or Discard, ignores Compared, and takes `NodeJoined.trusted` for the
    report only.
  - Exact completion rule: a lease ends normally when its node has reported (audio or Drop) its
    last index; at that moment the chapter is complete if every one of its segments has
    accepted audio, else (the node skipped one) it starts again from the front. The job is
    done (`done`, JobDone exactly once) when every chapter is complete, so at JobDone no lease
    is left running. Chapters fully stored at the start are complete from the start.
  - Recovery entries (stats.py) as in state.py: one per failure (expired | left | removed) with
    the segments of the chapters lost; recovered when the last of them was given out again.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Sequence

from .config import SchedulerConfig
from .events import AudioReceived
from .instructions import Revoke
from .policy import ACTIVE, Node, Policy
from .stats import Recovery


class _Lease:
    __slots__ = ("id", "node", "chapter", "indices", "start", "end", "pos", "expires_at")
    kind = "chapter"

    def __init__(self, lease_id: int, node: str, chapter: int, indices: tuple[int, ...],
                 expires_at: float) -> None:
        self.id = lease_id
        self.node = node
        self.chapter = chapter  # position in the chapter list, not the book's chapter number
        self.indices = indices
        self.start = indices[0]
        self.end = indices[-1] + 1
        self.pos = 0  # position in `indices` of the next segment the node will report
        self.expires_at = expires_at


class ChapterScheduler(Policy):
    """Leases out whole chapters, retried from their start; see the module docstring."""

    __slots__ = ("_ch_of", "_slot_of", "_ch_indices", "_ch_missing", "_ch_lease",
                 "_ch_complete", "_complete_count", "_queue")

    def __init__(self, segments: Sequence[int], chapters: Sequence[int],
                 config: SchedulerConfig | None = None, done: Iterable[int] = (), *,
                 check: bool | None = None) -> None:
        if len(chapters) != len(segments):
            raise ValueError(f"{len(chapters)} chapter numbers for {len(segments)} segments")
        super().__init__(segments, config, done, check=check)
        n = self._n

        # chapter k (its position in the book): the segments a task for it works, in order
        self._ch_of = [0] * n  # segment -> k
        self._slot_of = [-1] * n  # segment -> its position in k's task (-1: stored at start)
        k = -1
        previous = None
        for i, number in enumerate(chapters):
            if previous is not None and number < previous:
                raise ValueError(f"chapter numbers must not decrease (segment {i}: {number} "
                                 f"after {previous})")
            if number != previous:
                k += 1
                previous = number
            self._ch_of[i] = k
        work: list[list[int]] = [[] for _ in range(k + 1)]
        for i in range(n):
            if not self._accepted[i]:
                self._slot_of[i] = len(work[self._ch_of[i]])
                work[self._ch_of[i]].append(i)
        self._ch_indices = [tuple(w) for w in work]
        self._ch_missing = [len(w) for w in work]  # segments of the task without audio
        self._ch_lease = [0] * len(work)  # the chapter's current lease id, 0 if none
        self._ch_complete = [not w for w in work]
        self._complete_count = sum(self._ch_complete)
        self._queue: deque[int] = deque(k for k, w in enumerate(work) if w)

    # ------------------------------------------------------------------ public

    @property
    def done(self) -> bool:
        """True once every chapter is complete (see the module docstring)."""
        return self._complete_count == len(self._ch_indices)

    def _may_dispatch(self) -> bool:
        return bool(self._hungry and self._queue)

    def arguments(self) -> dict:
        """Policy.arguments() and "chapters": each segment's chapter, as positions in the book
        (0, 1, ...): the same chapters as the numbers it was given."""
        return {**super().arguments(), "chapters": list(self._ch_of)}

    def leases(self) -> list[dict]:
        """The active leases, for debugging and the status page."""
        return [{"lease": lease.id, "node": lease.node, "kind": "chapter",
                 "chapter": lease.chapter, "start": lease.indices[0],
                 "stop": lease.indices[-1] + 1, "pos": lease.pos,
                 "expires_at": lease.expires_at}
                for lease in self._leases.values()]

    def queued_chapters(self) -> list[int]:
        """Chapter positions (0 = the book's first chapter) waiting for a node, front first."""
        return list(self._queue)

    # ------------------------------------------------------------------ events

    def _node_speed(self, node: Node) -> float:
        return node.stats.claimed_speed  # this policy never estimates speeds

    def _holds(self, lease: _Lease, index: int) -> bool:
        return self._ch_of[index] == lease.chapter and self._slot_of[index] >= 0

    _covers = _holds  # a chapter task never loses a segment while it lives

    def _on_audio(self, ev: AudioReceived, now: float, out: list) -> None:
        got = self._audio_sender(ev, now, out)
        if got is None:
            return
        node, lease = got
        i = ev.index
        if self._accepted[i]:
            self._drop_duplicate(i, node, out)
        else:
            self._record_accept(i, node, out)
            self._ch_missing[self._ch_of[i]] -= 1
        k = self._slot_of[i]
        if k >= lease.pos:
            lease.pos = k + 1
        if lease.pos >= len(lease.indices):
            self._end_lease(lease, "done", now)
            chapter = lease.chapter
            if self._ch_missing[chapter] == 0:
                self._ch_complete[chapter] = True
                self._complete_count += 1
            else:  # the node skipped a segment: the task did not do its job
                self._totals.retries += self._ch_missing[chapter]
                self._queue.appendleft(chapter)

    def _segment_failed(self, node: Node, lease: _Lease, i: int, now: float,
                        out: list) -> None:
        removing = node.stats.failures + 1 >= self.config.max_failures
        if not removing and self._ch_of[i] == lease.chapter:
            # the task raised: Celery retries it from its first sentence
            out.append(Revoke(node.name, lease.id, "failed"))
            self._totals.revokes += 1
            self._end_lease(lease, "failed", now)
            self._totals.retries += len(lease.indices)
            self._queue.appendleft(lease.chapter)

    # ------------------------------------------------------------------ leases

    def _end_lease(self, lease: _Lease, cause: str, now: float) -> None:
        self._close(lease, now)
        self._ch_lease[lease.chapter] = 0

    def _end_leases(self, leases: list, cause: str, now: float) -> None:
        lost: dict[str, list[int]] = {}  # node -> the chapters it lost
        for lease in leases:
            self._end_lease(lease, cause, now)
            lost.setdefault(lease.node, []).append(lease.chapter)
        for name, chapters in lost.items():
            self._requeue_lost(name, cause, chapters, now)

    def _requeue_lost(self, node: str, kind: str, chapters: list[int], now: float) -> None:
        """Chapters whose task died with a node go back to the front, in book order, whole."""
        chapters.sort()
        self._queue.extendleft(reversed(chapters))
        segments = sum(len(self._ch_indices[k]) for k in chapters)
        self._totals.reassignments += segments
        rec = Recovery(node=node, kind=kind, detected_at=now, segments=segments, pending=segments)
        self._recoveries.append(rec)
        for k in chapters:
            self._recovering[k] = rec

    # ------------------------------------------------------------------ giving out work

    def _dispatch(self, now: float, out: list) -> None:
        for name in sorted(self._hungry, key=lambda nm: self._nodes[nm].seq):
            node = self._nodes[name]
            if node.state != ACTIVE or not node.responsive:
                self._hungry.discard(name)
                continue
            while len(node.leases) < node.slots and self._queue:
                self._assign(node, self._queue.popleft(), now, out)
            if len(node.leases) >= node.slots:
                self._hungry.discard(name)
            if not self._queue:
                break  # the rest stay hungry for a chapter that comes back

    def _assign(self, node: Node, chapter: int, now: float, out: list) -> None:
        indices = self._ch_indices[chapter]
        lease = _Lease(self._next_lease, node.name, chapter, indices,
                       now + self.config.lease_seconds)
        self._next_lease += 1
        self._ch_lease[chapter] = lease.id
        rec = self._recovering.pop(chapter, None)
        if rec is not None:
            self._recovered(rec, now, len(indices))
        self._open(lease, node, indices, now, out)

    # ------------------------------------------------------------------ self-check

    def check_invariants(self) -> None:
        """Verify the bookkeeping from scratch; for tests and debugging (a checked policy runs
        it after every event)."""
        super().check_invariants()
        accepted = self._accepted
        queued = set(self._queue)
        assert len(queued) == len(self._queue), f"chapter queued twice: {list(self._queue)}"
        for k, indices in enumerate(self._ch_indices):
            missing = len(indices) - sum(map(accepted.__getitem__, indices))
            assert missing == self._ch_missing[k], \
                f"chapter {k} (segments {indices[0]}..{indices[-1]}): {missing} without " \
                f"audio, counted {self._ch_missing[k]}"
            lid = self._ch_lease[k]
            states = [self._ch_complete[k], k in queued, lid != 0]
            assert sum(states) == 1, f"chapter {k}: complete/queued/leased = {states}"
            if self._ch_complete[k]:
                assert missing == 0, f"chapter {k} complete with {missing} segments missing"
            if lid:
                lease = self._leases.get(lid)
                assert lease is not None and lease.chapter == k, f"chapter {k}: lease {lid}"
        assert self._complete_count == sum(self._ch_complete)
        for lid, lease in self._leases.items():
            assert lease.pos < len(lease.indices), f"lease {lid} should have ended"
            assert self._ch_lease[lease.chapter] == lid, f"lease {lid}: not its chapter's"
        for node in self._nodes.values():
            assert len(node.leases) <= node.slots or node.state != ACTIVE, \
                f"{node.name} holds {len(node.leases)} leases on {node.slots} slots"
