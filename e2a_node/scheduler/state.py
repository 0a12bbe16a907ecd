"""The Scheduler: the leader's whole view of one job, as a pure state machine.

    sched = Scheduler(chars_per_segment, SchedulerConfig(), done=already_stored)
    for instruction in sched.handle(event, now): ...

Everything that affects scheduling lives here (like h11's `_state.py`): no I/O, no clock, no
randomness. Time comes in as `now` (seconds, never going backwards). The same events at the
same times give the same instructions.

Where each segment is (index i, segments 0..N-1):
  - accepted: it has audio (first valid audio wins; later audio is dropped);
  - else owned by exactly one lease (`_owner[i]` = lease id) or queued (`_owner[i]` == 0);
  - at most one backup lease may cover it as well (`_backup[i]`), in the endgame only.
A lease is a run [start, stop) of one node, worked in order; `pos` is the node's own
progress (the next index it will report), so `pos` is the segment in progress. A lease ends
when none of the segments it owns or backs lacks audio (`left` == 0), when it expires, when
its node leaves or is removed. Ending returns its unfinished segments to the queue, or hands
them to their backup copy if there is one (the backup becomes the primary).

After every event `_dispatch` gives each node with a free slot (in join order): a verification
it may do (below); else a run from the front of the queue (about `target_run_seconds` of the
node's work, less as the queue drains, and, given each segment's chapter, at most its chapter's
characters / total slots but not under `min_run_seconds` of work); else a stolen tail
(request/confirm, see stealing.py); else a backup.

Who may deliver segment i: only the node whose live lease holds it (owns it, backs it up, or
verifies it); late audio of an ended lease is dropped, audio for a segment the node never held
is forged and counts as a failure (policy.py's `_audio_sender`).

Peer verification (`config.verify_fraction` > 0): deterministic engines give identical bytes,
so a node that returns something else can be caught by making a sample again elsewhere.
  - Picking: when segment i is accepted from an untrusted node X and `picked(seed, i)`
    (verification.py), or i is the first segment accepted from X in this job, a
    Verification (i, suspect X) is queued, unless `verify_backlog` are
    outstanding already (then it is skipped and counted). Audio from trusted nodes
    (NodeJoined.trusted: the leader's own worker) is never verified.
  - Who verifies: a node other than X (and other than the first verifier, for an arbitration)
    with a free slot; trusted nodes only, while any trusted node is active, responsive and
    has slots; otherwise untrusted ones. Verifications come before the queue on such a
    slot: they are one segment each and at most `verify_backlog` exist, so they cost their
    share and few are left when the last segment is accepted.
  - A verification is a lease of kind "verify" on the one segment (Assign kind "verify").
    It never owns the segment (that already has audio). Its audio is answered with
    Compare(i, node=Y, suspect=X) (the driver compares bytes and answers Compared) and the
    lease ends. It expires, fails and is lost with its node like any lease: the
    verification goes back to the front of the verify queue; after `verify_attempts` lost
    leases it is given up (counted in verifications_skipped). A verifier that leaves or is
    removed while the driver compares loses that comparison too (the late Compared is
    ignored, as is any Compared that matches no pending comparison).
  - Compared same: counted (NodeStats.verified of X). Different, verifier trusted: X lied.
    Different, verifier Y untrusted: nobody can tell who lies; the same verification is
    queued again as an arbitration on a third node Z (not X, not Y; trusted preferred):
    Z same as X: Y lied; Z different: X lied.
  - A liar L: RemoveNode(L, reason) and Discard(j, L) for every segment j accepted from L in
    this job: they lose their audio and go back to the queue; L stays off the job (even if
    it had left, or been removed for failures, already: it was found out afterwards; a later
    NodeJoined is ignored). Its
    pending verifications are dropped (their verify leases revoked); an arbitration in which
    L was the first verifier becomes a plain verification of its suspect again.
  - A suspect that leaves keeps its accepted segments (it left, it did not lie) and its
    verifications still run.
  - JobDone waits for the outstanding verifications (a liar caught late still has its
    segments redone), except that, once every segment has audio, a queued verification no
    active responsive node may take is given up; an arbitration given up (no third node ever
    came) is recorded in JobStats.unresolved_disagreements, for the driver to warn about.
"""

from __future__ import annotations

from collections import deque
from itertools import compress
from typing import Iterable, Sequence

from .config import SchedulerConfig
from .events import AudioReceived, Compared, NodeJoined, StealReply
from .instructions import Compare, Discard, RemoveNode, RequestSteal, Revoke
from .policy import ACTIVE, INF, LEFT, REMOVED, Node, Policy
from .sizing import SpeedEstimate, in_progress_left, run_chars, run_end
from .stats import Disagreement, Recovery
from .stealing import backup_pays, balanced_split, steal_pays
from .verification import Verification, picked, threshold
from .workqueue import WorkQueue


class _Lease:
    __slots__ = ("id", "node", "start", "stop", "end", "pos", "mark", "expires_at", "left",
                 "kind", "backing", "backed_by", "steal", "started", "heard", "verify")

    def __init__(self, lease_id: int, node: str, start: int, stop: int, now: float,
                 expires_at: float, kind: str) -> None:
        self.id = lease_id
        self.node = node
        self.start = start
        self.stop = stop  # may move down when a steal cuts the lease
        self.end = stop  # as given
        self.pos = start  # next index the node will report: the one in progress
        self.mark = now  # when `pos` started (last in-order audio, or the assignment)
        self.expires_at = expires_at
        self.left = 0  # segments it owns or backs that have no audio yet
        self.kind = kind  # run | steal | backup | verify
        self.backing = 0  # for a backup: the primary lease it copies
        self.backed_by = 0  # for a primary: its backup lease
        self.steal = 0  # pending steal id on this lease
        self.started = start  # the node has certainly started every index below this
        self.heard = False  # any in-order report yet (the first one includes the latency)
        self.verify: Verification | None = None  # for a verify lease: what it verifies


class _Node(Node):
    __slots__ = ("speed", "reserved", "overhead", "accepted")

    def __init__(self, name: str, seq: int) -> None:
        super().__init__(name, seq)
        self.speed: SpeedEstimate
        self.reserved = 0  # slots waiting for a steal reply
        self.overhead = 0.0  # seconds a lease's first audio comes later than its speed says
        self.accepted: list[int] = []  # segments accepted from it, when verification is on

    @property
    def free(self) -> int:
        return self.slots - len(self.leases) - self.reserved


class _Steal:
    __slots__ = ("id", "victim", "lease", "thief", "split_at", "reserved")

    def __init__(self, steal_id: int, victim: str, lease: int, thief: str, split_at: int) -> None:
        self.id = steal_id
        self.victim = victim
        self.lease = lease
        self.thief = thief
        self.split_at = split_at
        self.reserved = True  # the thief's slot is held for the reply


class Scheduler(Policy):
    """Leases out runs of consecutive segments to nodes; see the module docstring."""

    __slots__ = ("_prefix", "_owner", "_backup", "_queue", "_steals", "_next_steal",
                 "_verify_bound", "_verify_queue", "_verifying", "_chapter_chars")
    node_type = _Node

    def __init__(self, segments: Sequence[int], config: SchedulerConfig | None = None,
                 done: Iterable[int] = (), *, check: bool | None = None,
                 chapters: Sequence[int] | None = None) -> None:
        """`segments`: the characters of each segment; `chapters`: the chapter of each (None:
        runs are not sized by chapter, see SchedulerConfig.min_run_seconds)."""
        super().__init__(segments, config, done, check=check)
        n = self._n
        prefix = [0] * (n + 1)
        for i, c in enumerate(self._chars):
            prefix[i + 1] = prefix[i] + c
        self._prefix = prefix
        self._chapter_chars: list[int] | None = None  # per segment: its chapter's characters
        if chapters is not None:
            if len(chapters) != n:
                raise ValueError(f"{len(chapters)} chapter numbers for {n} segments")
            size: dict[int, int] = {}
            for chapter, c in zip(chapters, self._chars):
                size[chapter] = size.get(chapter, 0) + c
            self._chapter_chars = [size[chapter] for chapter in chapters]
        self._owner = [0] * n
        self._backup = [0] * n
        self._queue = WorkQueue(prefix)
        i = 0
        while i < n:
            if self._accepted[i]:
                i += 1
                continue
            j = i
            while j < n and not self._accepted[j]:
                j += 1
            self._queue.add(i, j)
            i = j
        self._steals: dict[int, _Steal] = {}  # pending steals
        self._next_steal = 1
        self._verify_bound = threshold(self.config.verify_fraction)  # 0: verification off
        self._verify_queue: deque[Verification] = deque()
        self._verifying: dict[int, Verification] = {}  # index -> its verification, any state

    @property
    def done(self) -> bool:
        """True once every segment has accepted audio and no verification is outstanding."""
        return self._done_count == self._n and not self._verifying

    def leases(self) -> list[dict]:
        """The active leases, for debugging and the status page."""
        return [{"lease": lease.id, "node": lease.node, "kind": lease.kind,
                 "start": lease.start, "stop": lease.stop, "pos": lease.pos,
                 "left": lease.left, "expires_at": lease.expires_at,
                 "backing": lease.backing, "backed_by": lease.backed_by,
                 "stealing": lease.steal}
                for lease in self._leases.values()]

    def queued(self) -> list[tuple[int, int]]:
        """The queue as runs [start, end)."""
        return list(self._queue.runs())

    def verifications(self) -> list[dict]:
        """The outstanding verifications, for debugging and the status page."""
        return [{"index": v.index, "suspect": v.suspect, "first": v.first, "lease": v.lease,
                 "verifier": v.verifier, "attempts": v.attempts}
                for v in self._verifying.values()]

    # ------------------------------------------------------------------ events

    def _node_speed(self, node: "_Node") -> float:
        return node.speed.value

    def _node_joined(self, node: "_Node", ev: NodeJoined, now: float) -> None:
        cfg = self.config
        node.speed = SpeedEstimate(ev.speed, cfg.speed_prior_seconds, cfg.speed_alpha, cfg.min_speed)

    def _holds(self, lease: _Lease, i: int) -> bool:
        if not lease.start <= i < lease.stop:
            return False
        # a verify lease holds its one segment; others the segments they own or back (and
        # those that got audio meanwhile, whose audio is a duplicate)
        return (self._owner[i] == lease.id or lease.verify is not None or self._accepted[i]
                or self._backup[i] == lease.id)

    def _covers(self, lease: _Lease, i: int) -> bool:
        return lease.start <= i < lease.end

    def _on_audio(self, ev: AudioReceived, now: float, out: list) -> None:
        got = self._audio_sender(ev, now, out)
        if got is None:
            return
        node, lease = got
        i = ev.index
        if lease.pos <= i < lease.stop:
            # in-order progress of this lease: a speed sample; the first audio of a lease
            # also carries the Assign's trip and start-up, so it only measures that overhead
            if lease.heard:
                node.speed.observe(self._chars[i], now - lease.mark)
            else:
                lease.heard = True
                a = self.config.speed_alpha
                extra = max(0.0, now - lease.mark - self._chars[i] / node.speed.value)
                node.overhead = (1 - a) * node.overhead + a * extra
            lease.pos = i + 1
            lease.mark = now
        check = lease.verify
        if check is not None:
            self._end_lease(lease, "done", now)  # the check is now comparing
            out.append(Compare(i, node.name, check.suspect))
            return
        if self._accepted[i]:
            self._drop_duplicate(i, node, out)
        else:
            self._accept(i, node, now, out)
        if lease.id in self._leases:
            self._maybe_finish(lease, now, out)

    def _segment_failed(self, node: _Node, lease: _Lease, i: int, now: float,
                        out: list) -> None:
        if lease.verify is not None:
            if i == lease.start:
                self._end_lease(lease, "failed", now)  # the check goes back to the queue
            return
        if lease.pos <= i < lease.stop:
            lease.pos = i + 1  # the node moves on past the failed segment
            lease.mark = now
            lease.heard = True
        if not self._accepted[i] and self._owner[i] == lease.id:
            lease.left -= 1
            if self._release(i) == "queued":
                self._totals.retries += 1
        self._maybe_finish(lease, now, out)

    def _steal_replied(self, ev: StealReply, now: float, out: list) -> None:
        steal = self._steals.get(ev.steal_id)
        if steal is None or steal.victim != ev.node:
            self._totals.stale_replies += 1
            return
        del self._steals[ev.steal_id]
        thief = self._nodes[steal.thief]
        if steal.reserved:
            thief.reserved -= 1
            self._hungry.add(thief.name)
        lease = self._leases.get(steal.lease)
        if lease is None or lease.steal != steal.id:  # cannot happen: ending a lease cancels its steal
            self._totals.stale_replies += 1
            return
        lease.steal = 0
        cut = min(max(ev.stop_at, lease.pos, lease.start), lease.stop)
        if ev.stop_at > steal.split_at:
            # it had passed the split: it has started everything it keeps
            lease.started = max(lease.started, cut)
        moved = [i for i in range(cut, lease.stop)
                 if not self._accepted[i] and self._owner[i] == lease.id]
        lease.stop = cut
        if not moved:
            self._totals.steals_empty += 1
            self._maybe_finish(lease, now, out)
            return
        lease.left -= len(moved)
        victim = self._nodes[lease.node]
        victim.stats.steals_lost += 1
        if (thief.state == ACTIVE and thief.responsive and thief.free > 0
                and not self._job_done):
            self._totals.steals += 1
            thief.stats.steals_won += 1
            self._new_lease(thief, moved[0], moved[-1] + 1, "steal", now, out, owned=moved)
        else:  # the thief went away meanwhile: the tail goes back to the queue
            for i in moved:
                self._owner[i] = 0
            self._queue_indices(moved)
        self._maybe_finish(lease, now, out)

    # ------------------------------------------------------------------ leases

    def _new_lease(self, node: _Node, start: int, stop: int, kind: str, now: float,
                   out: list, backing: _Lease | None = None,
                   owned: list[int] | None = None) -> _Lease:
        """Lease [start, stop) to `node`. A "run" owns every segment in it (the caller took
        them off the queue); a "steal" owns `owned` (taken from the victim); a "backup" backs
        the primary's unfinished segments in the range."""
        lease = _Lease(self._next_lease, node.name, start, stop, now,
                       now + self.config.lease_seconds, kind)
        self._next_lease += 1
        owner, backup, accepted = self._owner, self._backup, self._accepted
        left = 0
        if owned is not None:
            for i in owned:
                owner[i] = lease.id
            left = len(owned)
        elif backing is None:
            for i in range(start, stop):
                if not accepted[i]:
                    owner[i] = lease.id
                    left += 1
        else:
            for i in range(start, stop):
                if not accepted[i] and owner[i] == backing.id:
                    backup[i] = lease.id
                    left += 1
            lease.backing = backing.id
            backing.backed_by = lease.id
        lease.left = left
        if self._recovering:
            for i in range(start, stop):
                rec = self._recovering.pop(i, None)
                if rec is not None:
                    self._recovered(rec, now)
        self._open(lease, node, tuple(range(start, stop)), now, out)
        return lease

    def _new_verify_lease(self, node: _Node, check: Verification, now: float,
                          out: list) -> None:
        i = check.index
        lease = _Lease(self._next_lease, node.name, i, i + 1, now,
                       now + self.config.lease_seconds, "verify")
        self._next_lease += 1
        lease.left = 1
        lease.verify = check
        check.lease = lease.id
        self._open(lease, node, (i,), now, out)

    def _maybe_finish(self, lease: _Lease, now: float, out: list) -> None:
        if lease.left == 0:
            if lease.pos < lease.stop:  # the rest came from elsewhere: stop working on it
                out.append(Revoke(lease.node, lease.id, "done elsewhere"))
                self._totals.revokes += 1
            self._end_lease(lease, "done", now)
        elif lease.pos >= lease.stop and lease.steal == 0:
            # The node reported past its last index but some segment it owns has no audio
            # (it skipped one): nobody is working on it any more, so requeue it.
            self._end_lease(lease, "skipped", now)

    def _end_lease(self, lease: _Lease, cause: str, now: float) -> list[int]:
        """Forget `lease`; its unfinished segments go to its backup copy, else the queue.
        Returns the queued indices. A verify lease's verification goes on to comparing
        (cause "done"), is dropped ("cancelled"), or goes back to the verify queue."""
        node = self._close(lease, now)
        check = lease.verify
        if check is not None:
            check.lease = 0
            if cause == "done":
                check.verifier = lease.node
            elif cause != "cancelled":
                self._check_lost(check)
            return []
        if lease.steal:
            steal = self._steals.pop(lease.steal)
            self._totals.steals_cancelled += 1
            if steal.reserved:
                thief = self._nodes[steal.thief]
                thief.reserved -= 1
                self._hungry.add(thief.name)
        if lease.backing:
            primary = self._leases.get(lease.backing)
            if primary is not None:
                primary.backed_by = 0
        returned: list[int] = []
        promoted = 0
        if lease.left:
            owner, backup, accepted = self._owner, self._backup, self._accepted
            lid = lease.id
            for i in range(lease.start, lease.stop):
                if accepted[i]:
                    continue
                if owner[i] == lid:
                    if self._release(i, queue=False) == "promoted":
                        promoted += 1
                    else:
                        returned.append(i)
                elif backup[i] == lid:
                    backup[i] = 0
            self._queue_indices(returned)
        if lease.backed_by:
            # the backup, if still running, now owns what this lease lost
            b = self._leases.get(lease.backed_by)
            if b is not None:
                b.backing = 0
        if cause in ("expired", LEFT, REMOVED):
            self._totals.reassignments += len(returned)
            self._totals.backup_promotions += promoted
            if returned:
                self._lost(node.name, cause, returned, promoted, now)
        elif cause == "skipped":
            self._totals.retries += len(returned)
        return returned

    def _release(self, i: int, queue: bool = True) -> str:
        """Segment i (no audio) leaves its owner: to its backup copy if one is running (on
        another node, by construction), which becomes its owner; else to the queue (queued
        right away only if `queue`)."""
        b = self._backup[i]
        if b:
            self._backup[i] = 0
            if b in self._leases:
                self._owner[i] = b
                return "promoted"
        self._owner[i] = 0
        if queue:
            self._queue.add(i, i + 1)
        return "queued"

    def _queue_indices(self, indices: list[int]) -> None:
        """Queue sorted indices, as maximal runs."""
        if not indices:
            return
        start = prev = indices[0]
        for i in indices[1:]:
            if i != prev + 1:
                self._queue.add(start, prev + 1)
                start = i
            prev = i
        self._queue.add(start, prev + 1)

    def _accept(self, i: int, node: _Node, now: float, out: list) -> None:
        self._record_accept(i, node, out)
        if self._verify_bound and not node.stats.trusted:
            node.accepted.append(i)
            # A node's first segment is always checked: a node that gets everything wrong is
            # caught at once, even in a job too short for the sample to reach it.
            if len(node.accepted) == 1 or picked(self.config.verify_seed, i, self._verify_bound):
                self._want_check(i, node.name)
        o = self._owner[i]
        finished: list[_Lease] = []
        if o:
            lease = self._leases[o]
            lease.left -= 1
            if lease.left == 0:
                finished.append(lease)
        elif not self._queue.remove(i):
            raise AssertionError(f"segment {i} neither owned nor queued")
        b = self._backup[i]
        if b:
            blease = self._leases[b]
            blease.left -= 1
            if blease.left == 0:
                finished.append(blease)
        if self._recovering:
            rec = self._recovering.pop(i, None)
            if rec is not None:
                self._recovered(rec, now)
        # (_on_audio recorded the sender's progress first, so its own finished lease gets
        # no Revoke.)
        for lease in finished:
            if lease.id in self._leases:
                self._maybe_finish(lease, now, out)

    def _drop_node(self, node: _Node, state: str, now: float, out: list) -> None:
        for steal in self._steals.values():
            if steal.thief == node.name and steal.reserved:
                steal.reserved = False
        node.reserved = 0
        super()._drop_node(node, state, now, out)
        if self._verifying:  # what it was comparing is lost with it
            for check in list(self._verifying.values()):
                if check.verifier == node.name:
                    check.verifier = ""
                    self._check_lost(check)

    # ------------------------------------------------------------------ verification

    def _want_check(self, i: int, suspect: str) -> None:
        if len(self._verifying) >= self.config.verify_backlog:
            self._totals.verifications_skipped += 1
            return
        check = Verification(i, suspect)
        self._verifying[i] = check
        self._verify_queue.append(check)

    def _check_lost(self, check: Verification) -> None:
        """Its lease or comparison was lost: queue it again in front, or give it up."""
        check.attempts += 1
        if check.attempts >= self.config.verify_attempts:
            self._give_up(check)
        else:
            self._verify_queue.appendleft(check)

    def _give_up(self, check: Verification) -> None:
        del self._verifying[check.index]
        if check.first:
            self._totals.unresolved_disagreements.append(
                Disagreement(check.index, check.suspect, check.first))
        else:
            self._totals.verifications_skipped += 1

    def _on_compared(self, ev: Compared, now: float, out: list) -> None:
        i = ev.index
        check = self._verifying.get(i) if type(i) is int else None
        if (check is None or not check.verifier or check.verifier != ev.verifier
                or check.suspect != ev.suspect):
            return  # no such comparison pending: nothing to learn
        del self._verifying[i]
        check.verifier = ""
        self._totals.verifications += 1
        suspect, verifier, first = check.suspect, ev.verifier, check.first
        if ev.same:
            self._nodes[suspect].stats.verified += 1
            if first:  # the arbiter agrees with the suspect: the first verifier lied
                self._caught(first, f"its audio for sentence {i} differed from {suspect}'s "
                                    f"and {verifier}'s", now, out)
            return
        self._totals.verification_mismatches += 1
        if first:
            self._caught(suspect, f"its audio for sentence {i} differed from {first}'s and "
                                  f"{verifier}'s", now, out)
        elif self._nodes[verifier].stats.trusted:
            self._caught(suspect, f"its audio for sentence {i} differed from {verifier}'s "
                                  f"(trusted)", now, out)
        else:  # two untrusted nodes disagree: a third decides
            check.first = verifier
            check.attempts = 0
            self._verifying[i] = check
            self._verify_queue.append(check)

    def _caught(self, name: str, why: str, now: float, out: list) -> None:
        """Node `name` lied: off the job for good, and every segment it gave is made again."""
        node = self._nodes[name]
        node.stats.verify_failed += 1
        node.stats.reason = why
        out.append(RemoveNode(name, why))
        if node.state == ACTIVE:
            self._drop_node(node, REMOVED, now, out)
        else:  # it had left (or was removed for failures): it stays off now
            node.state = node.stats.state = REMOVED
        for check in list(self._verifying.values()):
            if check.suspect == name:  # its audio is going: nothing left to verify
                del self._verifying[check.index]
                if check.lease:
                    lease = self._leases[check.lease]
                    out.append(Revoke(lease.node, lease.id, "not needed"))
                    self._totals.revokes += 1
                    self._end_lease(lease, "cancelled", now)
                else:
                    try:
                        self._verify_queue.remove(check)
                    except ValueError:
                        pass  # it was comparing: the late Compared is ignored
            elif check.first == name:  # a liar's disagreement proves nothing
                check.first = ""
        bad, node.accepted = node.accepted, []
        if not bad:
            return
        accepted, owner, backup, chars = self._accepted, self._owner, self._backup, self._chars
        lost = 0
        for i in bad:
            accepted[i] = 0
            owner[i] = backup[i] = 0  # (a live lease still covering it keeps no claim)
            lost += chars[i]
            out.append(Discard(i, name))
        self._done_count -= len(bad)
        self._done_chars -= lost
        node.stats.segments -= len(bad)
        node.stats.chars -= lost
        node.stats.discarded += len(bad)
        self._totals.discarded_sentences += len(bad)
        self._queue_indices(sorted(bad))

    # ------------------------------------------------------------------ recovery stats

    def _lost(self, node: str, kind: str, returned: list[int], promoted: int, now: float) -> None:
        last = self._recoveries[-1] if self._recoveries else None
        if (last is not None and last.node == node and last.kind == kind
                and last.detected_at == now and last.recovered_at is None):
            rec = last
        else:
            rec = Recovery(node=node, kind=kind, detected_at=now, segments=0)
            self._recoveries.append(rec)
        rec.segments += len(returned) + promoted
        rec.pending += len(returned)
        for i in returned:
            self._recovering[i] = rec
        if rec.pending == 0:
            rec.recovered_at, rec.seconds = now, 0.0

    # ------------------------------------------------------------------ giving out work

    def _total_slots(self) -> int:
        return sum(nd.slots for nd in self._nodes.values()
                   if nd.state == ACTIVE and nd.responsive)

    def _may_dispatch(self) -> bool:
        if self._hungry:
            return True
        # (once every segment has audio, verifications nobody can take must be given up)
        return bool(self._verify_queue) and self._done_count == self._n

    def _dispatch(self, now: float, out: list) -> None:
        candidates: list | None = None  # steal/backup candidates, computed once per event
        verifiers: int | None = None  # 1: trusted verifiers only; 0: untrusted may verify
        for name in sorted(self._hungry, key=lambda nm: self._nodes[nm].seq):
            node = self._nodes[name]
            if node.state != ACTIVE or not node.responsive:
                self._hungry.discard(name)
                continue
            while node.free > 0:
                if self._verify_queue:
                    if verifiers is None:
                        verifiers = int(self._trusted_verifier())
                    if ((node.stats.trusted or not verifiers)
                            and self._try_verify(node, now, out)):
                        continue
                if self._queue:
                    self._assign_from_queue(node, now, out)
                    continue
                if candidates is None:
                    candidates = self._candidates(now)
                if self.config.stealing and self._try_steal(node, candidates, now, out):
                    continue
                if self.config.backups and self._try_backup(node, candidates, now, out):
                    continue
                break  # nothing for it now; stays hungry and is asked again next event
            if node.free <= 0:
                self._hungry.discard(name)
        if self._verify_queue and self._done_count == self._n:
            self._give_up_unplaceable()

    def _able(self, node: _Node) -> bool:
        return node.state == ACTIVE and node.responsive and node.slots > 0

    def _trusted_verifier(self) -> bool:
        return any(nd.stats.trusted and self._able(nd) for nd in self._nodes.values())

    def _try_verify(self, node: _Node, now: float, out: list) -> bool:
        name = node.name
        for check in self._verify_queue:
            if not check.excludes(name):
                self._verify_queue.remove(check)
                self._new_verify_lease(node, check, now, out)
                return True
        return False

    def _give_up_unplaceable(self) -> None:
        """Every segment has audio: a queued verification that no active, responsive node may
        take would hold JobDone back for good."""
        able = [nd.name for nd in self._nodes.values() if self._able(nd)]
        for check in list(self._verify_queue):
            if not any(not check.excludes(name) for name in able):
                self._verify_queue.remove(check)
                self._give_up(check)

    def _assign_from_queue(self, node: _Node, now: float, out: list) -> None:
        cfg = self.config
        slots = self._total_slots()
        limit = run_chars(node.speed.value, cfg.target_run_seconds, self._queue.chars, slots, cfg.tail_factor)
        start, front_end = self._queue.first_run()  # type: ignore[misc]
        if self._chapter_chars is not None:
            spread = self._chapter_chars[start] / max(slots, 1)
            limit = min(limit, max(spread, node.speed.value * cfg.min_run_seconds))
        end = run_end(self._prefix, start, front_end, limit)
        self._queue.pop_front(end)
        self._new_lease(node, start, end, "run", now, out)

    def _candidates(self, now: float) -> list[tuple]:
        """Leases that might give work away, longest time left first:
        (-time_left, lease id, lease, r0, speed, quiet)."""
        cands = []
        chars, prefix = self._chars, self._prefix
        quiet_after = self.config.quiet_seconds
        for lease in self._leases.values():
            if lease.backing or lease.pos >= lease.stop or lease.verify is not None:
                continue
            node = self._nodes[lease.node]
            v = node.speed.value
            r0 = in_progress_left(chars[lease.pos], v, now - lease.mark,
                                  0.0 if lease.heard else node.overhead)
            left = r0 + (prefix[lease.stop] - prefix[lease.pos + 1]) / v
            # quiet: nothing heard from the node since this lease started or progressed
            quiet = not node.responsive or now - max(node.last_seen, lease.mark) > quiet_after
            cands.append((-left, lease.id, lease, r0, v, quiet))
        cands.sort(key=lambda c: (c[0], c[1]))
        return cands

    def _try_steal(self, thief: _Node, cands: list, now: float, out: list) -> bool:
        cost = self.config.steal_cost_seconds
        w = thief.speed.value
        prefix = self._prefix
        for neg_left, _, lease, r0, v, quiet in cands:
            if quiet or lease.steal or lease.backed_by or lease.id not in self._leases:
                continue
            first = max(lease.pos + 1, lease.started)
            if first >= lease.stop:
                continue
            # the victim's work before `first` (the in-progress segment, and any it has
            # already started past it) stays with it
            before = r0 + (prefix[first] - prefix[lease.pos + 1]) / v
            k, _, t_thief = balanced_split(prefix, first, lease.stop, before, v, w, cost)
            if k >= lease.stop or not steal_pays(t_thief, -neg_left, cost):
                continue
            steal = _Steal(self._next_steal, lease.node, lease.id, thief.name, k)
            self._next_steal += 1
            self._steals[steal.id] = steal
            lease.steal = steal.id
            thief.reserved += 1
            self._totals.steal_requests += 1
            out.append(RequestSteal(lease.node, steal.id, lease.id, k))
            return True
        return False

    def _try_backup(self, node: _Node, cands: list, now: float, out: list) -> bool:
        cost = self.config.steal_cost_seconds
        w = node.speed.value
        prefix, accepted, owner = self._prefix, self._accepted, self._owner
        best = None
        for neg_left, _, lease, r0, v, quiet in cands:
            if (lease.backed_by or lease.steal or lease.node == node.name
                    or lease.id not in self._leases):
                continue
            a = lease.pos
            while a < lease.stop and (accepted[a] or owner[a] != lease.id):
                a += 1
            if a >= lease.stop:
                continue
            primary_left = INF if quiet else -neg_left
            t_backup = cost + (prefix[lease.stop] - prefix[a]) / w
            if not (quiet or backup_pays(t_backup, primary_left, cost)):
                continue
            if best is None or primary_left > best[0]:
                best = (primary_left, lease, a)
        if best is None:
            return False
        _, primary, a = best
        self._totals.backups += 1
        node.stats.backups += 1
        self._new_lease(node, a, primary.stop, "backup", now, out, backing=primary)
        return True

    # ------------------------------------------------------------------ self-check

    def check_invariants(self) -> None:
        """Verify the bookkeeping from scratch; for tests and debugging (a checked policy runs
        it after every event). Counts and slices over the segments (C speed), a walk over the
        ranges of the live leases; the segment-by-segment walk only to name what is wrong."""
        super().check_invariants()
        owner, backup, accepted, prefix, n = (self._owner, self._backup, self._accepted,
                                               self._prefix, self._n)
        # the queue: sorted, disjoint runs of segments with no audio, owner or backup
        queued = chars = last = 0
        for s, e in self._queue.runs():
            assert last <= s < e <= n, f"queued run [{s}, {e}) out of order or out of range"
            if (accepted.find(1, s, e) >= 0 or owner[s:e].count(0) != e - s
                    or backup[s:e].count(0) != e - s):
                self._check_segments()
                raise AssertionError(f"queued run [{s}, {e}) has audio, an owner or a backup")
            queued += e - s
            chars += prefix[e] - prefix[s]
            last = e
        assert queued == self._queue.count, f"{queued} queued, counted {self._queue.count}"
        assert chars == self._queue.chars, f"{chars} chars queued, counted {self._queue.chars}"
        # every live lease: what it owns and backs in its range has no audio and is `left`
        owned_total = backed_total = 0
        for lid, lease in self._leases.items():
            check = lease.verify
            if check is not None:
                assert lease.kind == "verify" and lease.left == 1 and lease.stop == lease.start + 1
                assert self._verifying.get(lease.start) is check and check.lease == lid
                assert not check.excludes(lease.node), f"lease {lid} verifies its own audio"
                assert not (lease.backing or lease.backed_by or lease.steal)
                continue
            s, e = lease.start, lease.stop
            owned = backed = 0
            for i, o, b, a in zip(range(s, e), owner[s:e], backup[s:e], accepted[s:e]):
                if a:
                    continue
                if o == lid:
                    owned += 1
                if b == lid:
                    backed += 1
                    primary = self._leases.get(o)
                    assert lease.backing and primary is not None and primary.node != lease.node, \
                        f"segment {i}: backup lease {lid} is no backup of its owner {o}"
            owned_total += owned
            backed_total += backed
            if lease.left != owned + backed:
                self._check_segments()  # (names a segment that is wrong, if one is)
            assert lease.left == owned + backed, \
                f"lease {lid}: left {lease.left} != {owned + backed} (segments {s}..{e - 1})"
            assert lease.left > 0, f"lease {lid} should have ended (segments {s}..{e - 1})"
            if lease.backing:
                assert self._leases[lease.backing].backed_by == lid
            if lease.backed_by:
                assert self._leases[lease.backed_by].backing == lid
            if lease.steal:
                assert self._steals[lease.steal].lease == lid
        # nothing else is owned or backed up: every segment without audio is owned or queued
        unaccepted = n - self._done_count
        stale_owner = list(compress(owner, accepted))  # owners of segments with audio: ignored
        stale_backup = list(compress(backup, accepted))
        owned_anywhere = n - owner.count(0) - (len(stale_owner) - stale_owner.count(0))
        backed_anywhere = n - backup.count(0) - (len(stale_backup) - stale_backup.count(0))
        if (owned_anywhere != owned_total or backed_anywhere != backed_total
                or unaccepted != queued + owned_total):
            self._check_segments()
            raise AssertionError(f"{unaccepted} segments without audio, {queued} queued, "
                                 f"{owned_total} owned by live leases ({owned_anywhere} owned), "
                                 f"{backed_total} backed up ({backed_anywhere})")
        for node in self._nodes.values():
            held = sum(1 for st in self._steals.values() if st.thief == node.name and st.reserved)
            assert node.reserved == held, (node.name, node.reserved, held)
            if node.state != ACTIVE:
                assert node.reserved == 0, f"{node.name} is {node.state} and reserves a slot"
        for sid, steal in self._steals.items():
            assert self._leases[steal.lease].steal == sid
        assert len(self._verifying) <= self.config.verify_backlog
        queued_checks = {id(c) for c in self._verify_queue}
        assert len(queued_checks) == len(self._verify_queue), "verification queued twice"
        for i, check in self._verifying.items():
            assert check.index == i and accepted[i], f"verification of segment {i} without audio"
            assert i in self._nodes[check.suspect].accepted, \
                f"segment {i} not from {check.suspect}"
            states = (check.lease != 0, bool(check.verifier), id(check) in queued_checks)
            assert sum(states) == 1, f"{check!r}: lease/comparing/queued = {states}"
        for check in self._verify_queue:
            assert self._verifying.get(check.index) is check
        if self._verify_bound:
            held = [i for nd in self._nodes.values() for i in nd.accepted]
            assert len(held) == len(set(held)) and all(accepted[i] for i in held)

    def _check_segments(self) -> None:
        """Segment by segment (O(segments) in Python): raise naming the first one whose owner,
        backup or place in the queue is wrong."""
        owner, backup, accepted = self._owner, self._backup, self._accepted
        for i in range(self._n):
            if accepted[i]:
                continue
            o, b = owner[i], backup[i]
            if o == 0:
                assert i in self._queue, f"segment {i} has no audio, no owner and is not queued"
                assert b == 0, f"queued segment {i} has a backup (lease {b})"
            else:
                lease = self._leases.get(o)
                assert lease is not None, f"segment {i} owned by ended lease {o}"
                assert lease.start <= i < lease.stop, f"segment {i} outside its lease {o}"
                assert i not in self._queue, f"segment {i} owned (lease {o}) and queued"
            if b:
                blease = self._leases.get(b)
                assert blease is not None and blease.backing, f"segment {i}: bad backup {b}"
                assert blease.start <= i < blease.stop, f"segment {i} outside its backup {b}"
