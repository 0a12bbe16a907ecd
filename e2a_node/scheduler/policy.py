"""What every scheduling policy shares: the event loop, the segment tally, nodes joining,
leaving and being refused, and the counters for reports.

`Scheduler` (state.py, runs with stealing and backups) and `ChapterScheduler`
(chapter_policy.py, the chapter-per-task baseline of the benchmark) differ only in how they
lease work out and take it back; both subclass `Policy` and fill in the hooks below.

Lease lifetime (both policies): a lease lives `config.lease_seconds` after it is given or after
its node's last sign of life (audio that counts or is late, Heartbeat, RevokeAck, StealReply,
a failure report), which renews every lease of the node (`_renew`). A lease whose time is up
is revoked ("expired") at the next event and ended; its node is unresponsive (given no work)
until it is heard from again. A node that leaves or is removed loses all its leases at once
(`_drop_node`); what each policy does with the work of an ended lease is its own `_end_lease`.

Who may deliver segment i (both policies, `_audio_sender`): AudioReceived(node, lease, i) counts
only when `lease` is a live lease of that same node that holds i (owns it, backs it up, or
verifies it). Otherwise it is dropped:
  - "duplicate" / "stale": the node did hold i under that lease (the lease has ended since:
    expired, revoked, stolen, done elsewhere, its node left) and i already has audio /
    does not: a benign late delivery, nothing counted against the node (a duplicate is
    tallied as redundant work). Ended leases are remembered as lease id -> (node, start,
    end, kind), at most ENDED_LEASES_KEPT of them; audio naming a lease too old to be
    remembered is taken as late (stale or duplicate).
  - "not leased to this node" / "index out of range": forged (an index the node never held,
    a lease id it never had, another node's lease): counted as a failure of the node, so
    `max_failures` of them take it off the job (RemoveNode). (From a node that has left,
    only tallied: it has nothing left to lose.)
Audio that counts and late audio renew the node's leases (signs of life); forged audio does not.
Every other event naming a node that never joined, or a removed one, changes nothing.

Giving up (`GiveUp`, once, then nothing more): when no node has been active for
`config.give_up_seconds`; or, when `config.more_nodes_may_join` is False (a one-machine job), as
soon as the last node has left or been removed, with the reason it went. A node
id reused after NodeLeft rejoins (its ended leases stay its own); a NodeJoined for a node that
is already active is ignored; a removed node's NodeJoined is ignored.
"""

from __future__ import annotations

import math
from itertools import compress
from typing import Callable, Iterable, Sequence

from .config import SchedulerConfig
from .events import (AudioInvalid, AudioReceived, Compared, Event, Heartbeat, NodeJoined,
                     NodeLeft, NodeRefused, RevokeAck, SegmentFailed, StealReply, Tick)
from .history import History
from .instructions import Accept, Assign, Drop, GiveUp, Instruction, JobDone, RemoveNode, Revoke
from .stats import Disagreement, JobStats, NodeStats, Progress, Recovery

INF = math.inf

ACTIVE, LEFT, REMOVED = "active", "left", "removed"

# Ended leases remembered for telling late audio from forged audio. A job gives out a few
# thousand leases; past this many the oldest are forgotten (their late audio is "stale").
ENDED_LEASES_KEPT = 1 << 17


class Node:
    """What every policy knows of a node; a policy may subclass it (`Policy.node_type`)."""

    __slots__ = ("name", "seq", "slots", "state", "responsive", "leases", "last_seen",
                 "busy_since", "stats")

    def __init__(self, name: str, seq: int) -> None:
        self.name = name
        self.seq = seq  # join order: who is served first
        self.slots = 0
        self.state = ACTIVE
        self.responsive = True
        self.leases: dict = {}  # its active leases, by id
        self.last_seen = 0.0  # its last sign of life
        self.busy_since = 0.0  # when it last went from no lease to one
        self.stats = NodeStats(node=name)


class Policy:
    """The shared half of a scheduler. A subclass sets `node_type` and provides `done`,
    `_node_speed`, `_holds`, `_covers`, `_dispatch`, `_end_lease` and `_on_audio`; it may
    refine `_node_joined`, `_may_dispatch`, `_segment_failed`, `_steal_replied`,
    `_end_leases`, `_drop_node` and `_on_compared`.

    Its leases have at least `id`, `node`, `start`, `end` (the range given: [start, end)),
    `kind` and `expires_at`."""

    node_type: type = Node
    # Whether a policy built without `check=` checks itself after every event. The scheduler
    # tests turn it on for every policy they build (tests/scheduler_helpers.py).
    checks_by_default = False

    # Slots, here and in the subclasses: CPython's fast attribute access for plain instances
    # stops at 30 attributes (shared-key dicts), and the policies have about that many.
    __slots__ = ("config", "_chars", "_n", "_accepted", "_done_count", "_done_chars", "_resumed",
                 "_nodes", "_leases", "_ended", "_forgotten", "_hungry", "_refused",
                 "_next_lease", "_next_seq", "_now", "_next_expiry", "_job_done", "_totals",
                 "_recoveries", "_recovering", "_handlers", "_idle_since", "_gave_up", "_last_loss",
                 "_active", "_done_at_start", "_history")

    def __init__(self, segments: Sequence[int], config: SchedulerConfig | None = None,
                 done: Iterable[int] = (), *, check: bool | None = None) -> None:
        """`check`: run `check_invariants()` after every event and keep the recent history
        for `story()` (slower; for tests and debugging; None: `checks_by_default`)."""
        self.config = config if config is not None else SchedulerConfig()
        chars = [int(c) for c in segments]
        if any(c < 0 for c in chars):
            raise ValueError("segment character counts must be >= 0")
        self._chars = chars
        self._n = n = len(chars)
        self._accepted = bytearray(n)
        self._done_count = 0
        self._done_chars = 0
        for i in sorted(set(done)):
            if not 0 <= i < n:
                raise ValueError(f"done index {i} outside 0..{n - 1}")
            self._accepted[i] = 1
            self._done_count += 1
            self._done_chars += chars[i]
        self._resumed = self._done_count
        self._done_at_start = tuple(i for i in range(n) if self._accepted[i])
        if check is None:
            check = self.checks_by_default
        self._history: History | None = History() if check else None

        self._nodes: dict = {}
        self._active = 0  # nodes in state ACTIVE
        self._idle_since = INF  # since when no node has been active (inf: some node is)
        self._gave_up = False
        self._last_loss = ""  # why the last node to go went, "name: reason"
        self._leases: dict = {}  # active leases, in id order
        self._ended: dict[int, tuple[str, int, int, str]] = {}  # id -> (node, start, end, kind)
        self._forgotten = 0  # the highest ended lease id no longer in _ended
        self._hungry: set[str] = set()  # nodes that may have a free slot
        self._refused: dict[str, NodeStats] = {}
        self._next_lease = 1
        self._next_seq = 0
        self._now = -INF
        self._next_expiry = INF  # no lease expires before this (a lower bound)
        self._job_done = False
        self._totals = JobStats(segments_total=n, segments_done=0, chars_total=sum(chars),
                                chars_done=0, resumed_segments=self._resumed)
        self._recoveries: list[Recovery] = []
        self._recovering: dict[int, Recovery] = {}  # what was lost -> the failure that lost it
        self._handlers: dict[type, Callable[[object, float, list], None]] = {
            NodeJoined: self._on_joined,
            NodeLeft: self._on_left,
            NodeRefused: self._on_refused,
            AudioReceived: self._on_audio,
            AudioInvalid: self._on_failure,
            SegmentFailed: self._on_failure,
            Heartbeat: self._on_alive,
            RevokeAck: self._on_alive,
            StealReply: self._on_steal_reply,
            Tick: self._on_tick,
            Compared: self._on_compared,
        }

    # ------------------------------------------------------------------ public

    def handle(self, event: Event, now: float) -> list[Instruction]:
        """Apply one event at time `now`; return the instructions to carry out, in order."""
        if self._history is not None:
            return self._handle_checked(event, now)
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"not a scheduler event: {event!r}")
        out: list[Instruction] = []
        if self._gave_up:
            return out
        if now >= self._next_expiry:
            self._expire(now, out)
        handler(event, now, out)
        if self._job_done:
            return out
        if not self._active and self._giving_up(now, out):
            return out
        if not self.done:
            if not self._may_dispatch():
                return out
            self._dispatch(now, out)
            if not self.done:  # (dispatching may give up the last verifications)
                return out
        self._job_done = True
        out.append(JobDone())
        return out

    @property
    def done(self) -> bool:
        raise NotImplementedError

    def arguments(self) -> dict:
        """What this policy was built from, as JSON data: {"segments": chars of each,
        "config": SchedulerConfig.to_dict(), "done": the indices stored at the start} (a
        policy adds its own arguments). `type(self)(**arguments)`, with the config made
        again by SchedulerConfig.from_dict, answers the same events the same way."""
        return {"segments": list(self._chars), "config": self.config.to_dict(),
                "done": list(self._done_at_start)}

    def story(self, index: int) -> list[str]:
        """The recent events (and answers) that concern segment `index`, oldest first, one
        line each (history.py says which). Only a checked policy (`check=True`) keeps them:
        [] otherwise."""
        return self._history.story(index) if self._history is not None else []

    def check_invariants(self) -> None:
        """Verify the bookkeeping from scratch; for tests and debugging. Raises
        AssertionError. The policies add their own checks to these shared ones."""
        nodes = self._nodes
        assert self._active == sum(1 for nd in nodes.values() if nd.state == ACTIVE), \
            f"{self._active} nodes counted active"
        for lid, lease in self._leases.items():
            node = nodes.get(lease.node)
            assert node is not None and node.state == ACTIVE and node.leases.get(lid) is lease, \
                f"lease {lid} of {lease.node}: not a lease of an active node"
            assert lease.start < lease.end and 0 <= lease.start and lease.end <= self._n, \
                f"lease {lid}: range [{lease.start}, {lease.end})"
        held = 0
        for node in nodes.values():
            held += len(node.leases)
            if node.state != ACTIVE:
                assert not node.leases, f"{node.name} is {node.state} but holds leases"
        assert held == len(self._leases), f"{held} leases held by nodes, {len(self._leases)} live"
        assert self._hungry <= nodes.keys(), f"hungry nodes never joined: {self._hungry}"
        assert not (self._ended.keys() & self._leases.keys()), "a lease both live and ended"
        assert self._done_count == self._n - self._accepted.count(0), \
            f"done count {self._done_count}, {self._n - self._accepted.count(0)} accepted"
        assert self._done_chars == sum(compress(self._chars, self._accepted)), \
            f"done chars {self._done_chars}"
        assert all(self._accepted[i] for i in self._done_at_start), \
            "a segment stored at the start lost its audio"

    def _handle_checked(self, event: Event, now: float) -> list[Instruction]:
        """`handle`, then `check_invariants()`; a failed check (or an assertion inside the
        policy) raises an AssertionError that tells the story of the segments involved."""
        history, self._history = self._history, None  # (so handle() runs unchecked)
        try:
            out = self.handle(event, now)
        except AssertionError as exc:
            history.add(now, event, [])
            raise AssertionError(history.explain(f"while handling it: {exc}")) from exc
        finally:
            self._history = history
        history.add(now, event, out)
        try:
            self.check_invariants()
        except AssertionError as exc:
            raise AssertionError(history.explain(f"invariant broken: {exc}")) from exc
        return out

    def _giving_up(self, now: float, out: list) -> bool:
        """No node is active: give up when that has lasted `give_up_seconds`, or at once when
        no node may join and one was here."""
        if self._idle_since > now:
            self._idle_since = now
        if self._nodes and not self.config.more_nodes_may_join:
            reason = f"no node is left to do the job ({self._last_loss})"
        elif now - self._idle_since >= self.config.give_up_seconds:
            reason = f"no node could work on the job for {self.config.give_up_seconds:g} s"
        else:
            return False
        self._gave_up = True
        out.append(GiveUp(reason))
        return True

    def is_accepted(self, index: int) -> bool:
        return bool(self._accepted[index])

    def next_expiry(self) -> float:
        """When the next lease expires (inf if none): a driver may Tick no later than this."""
        return min((lease.expires_at for lease in self._leases.values()), default=INF)

    def stats(self) -> JobStats:
        """Counters for the job report (copies: safe to keep, mutate or serialize)."""
        nodes = []
        for node in sorted(self._nodes.values(), key=lambda nd: nd.seq):
            s = NodeStats(**node.stats.to_dict())
            s.slots = node.slots
            s.speed = self._node_speed(node)
            if node.state == ACTIVE:
                s.state = "active" if node.responsive else "unresponsive"
                if node.leases:
                    s.busy_seconds += self._now - node.busy_since
            else:
                s.state = node.state
            nodes.append(s)
        for name in sorted(self._refused):
            if name not in self._nodes:
                nodes.append(NodeStats(**self._refused[name].to_dict()))
        fields = {k: v for k, v in self._totals.to_dict().items()
                  if k not in ("nodes", "recoveries", "unresolved_disagreements")}
        fields.update(segments_done=self._done_count, chars_done=self._done_chars)
        return JobStats(**fields, nodes=nodes,
                        recoveries=[Recovery(**r.to_dict()) for r in self._recoveries],
                        unresolved_disagreements=[
                            Disagreement(**d.to_dict())
                            for d in self._totals.unresolved_disagreements])

    def progress(self) -> Progress:
        """Segments and characters done, and each node's share, for a progress bar."""
        total = self._totals.chars_total
        per_node = {}
        for node in sorted(self._nodes.values(), key=lambda nd: nd.seq):
            per_node[node.name] = {"segments": node.stats.segments, "chars": node.stats.chars,
                                   "share": node.stats.chars / total if total else 0.0}
        return Progress(segments_done=self._done_count, segments_total=self._n,
                        chars_done=self._done_chars, chars_total=total,
                        resumed_segments=self._resumed, per_node=per_node)

    # ------------------------------------------------------------------ hooks

    def _node_speed(self, node) -> float:
        raise NotImplementedError

    def _node_joined(self, node, ev: NodeJoined, now: float) -> None:
        """A policy's own setup of a node that (re)joined."""

    def _may_dispatch(self) -> bool:
        return bool(self._hungry)

    def _dispatch(self, now: float, out: list) -> None:
        """Give work to the nodes in `_hungry` that have a free slot."""
        raise NotImplementedError

    def _holds(self, lease, index: int) -> bool:
        """Whether live `lease` holds `index` now: audio for it under this lease counts."""
        raise NotImplementedError

    def _covers(self, lease, index: int) -> bool:
        """Whether live `lease` held `index` when it was given (it may have lost it since)."""
        raise NotImplementedError

    def _on_audio(self, ev: AudioReceived, now: float, out: list) -> None:
        raise NotImplementedError

    def _segment_failed(self, node, lease, index: int, now: float, out: list) -> None:
        """Active `node` failed on `index` of its own live `lease` (the failure itself is
        counted after this, by `_fail`)."""

    def _steal_replied(self, ev: StealReply, now: float, out: list) -> None:
        """A StealReply from a node that is not removed (and was renewed if active)."""
        self._totals.stale_replies += 1  # a policy that never asks for a steal

    def _end_lease(self, lease, cause: str, now: float) -> None:
        """Forget live `lease` (only it: no other lease ends with it), and put its unfinished
        work back. cause: done | failed | skipped | cancelled | expired | left | removed."""
        raise NotImplementedError

    def _end_leases(self, leases: list, cause: str, now: float) -> None:
        """End several leases lost at once for one `cause` (expired, left, removed)."""
        for lease in leases:
            self._end_lease(lease, cause, now)

    def _on_compared(self, ev: Compared, now: float, out: list) -> None:
        pass  # a policy that never sends Compare ignores the answers

    # ------------------------------------------------------------------ shared events

    def _on_joined(self, ev: NodeJoined, now: float, out: list) -> None:
        node = self._nodes.get(ev.node)
        if node is not None and node.state != LEFT:
            return  # removed: it stays off; active: already here, the first join stands
        if node is None:
            node = self.node_type(ev.node, self._next_seq)
            self._next_seq += 1
            self._nodes[ev.node] = node
        node.state = ACTIVE
        self._active += 1
        self._idle_since = INF
        node.responsive = True
        node.slots = max(0, int(ev.slots))
        node.stats.claimed_speed = float(ev.speed)
        node.stats.trusted = bool(ev.trusted)
        node.stats.reason = ""
        node.last_seen = now
        self._node_joined(node, ev, now)
        self._hungry.add(node.name)

    def _on_left(self, ev: NodeLeft, now: float, out: list) -> None:
        node = self._nodes.get(ev.node)
        if node is None or node.state != ACTIVE:
            return
        node.stats.reason = ev.reason
        self._last_loss = f"{node.name} left: {ev.reason}"
        self._drop_node(node, LEFT, now, out)

    def _on_refused(self, ev: NodeRefused, now: float, out: list) -> None:
        self._refused[ev.node] = NodeStats(node=ev.node, state="refused", reason=ev.reason)

    def _on_tick(self, ev: Tick, now: float, out: list) -> None:
        pass  # expiry already ran in handle(); dispatch follows

    def _on_alive(self, ev: Heartbeat | RevokeAck, now: float, out: list) -> None:
        node = self._nodes.get(ev.node)
        if node is not None and node.state == ACTIVE:
            self._renew(node, now)

    def _on_failure(self, ev: AudioInvalid | SegmentFailed, now: float, out: list) -> None:
        node = self._nodes.get(ev.node)
        if node is None or node.state != ACTIVE:
            return
        self._renew(node, now)
        lease = self._leases.get(ev.lease)
        if lease is not None and lease.node == ev.node and 0 <= ev.index < self._n:
            self._segment_failed(node, lease, ev.index, now, out)
        self._fail(node, self._failure_detail(ev), now, out)

    def _on_steal_reply(self, ev: StealReply, now: float, out: list) -> None:
        node = self._nodes.get(ev.node)
        if node is None or node.state == REMOVED:
            return  # (a removed victim's steals were cancelled with its leases)
        if node.state == ACTIVE:
            self._renew(node, now)
        self._steal_replied(ev, now, out)

    def _audio_sender(self, ev: AudioReceived, now: float, out: list):
        """Who may deliver segment i (see the module docstring): (node, lease) when `ev.lease`
        is the sender's live lease holding the index (the node is renewed); else None, after
        a Drop (and, for forged audio, a failure of the node)."""
        name, i = ev.node, ev.index
        lease = self._leases.get(ev.lease)
        if (lease is not None and lease.node == name and 0 <= i < self._n
                and self._holds(lease, i)):
            node = self._nodes[name]  # (a live lease's node is active)
            self._renew(node, now)
            return node, lease
        node = self._nodes.get(name)
        if node is None or node.state == REMOVED:
            out.append(Drop(i, name, "unknown node" if node is None else "node removed"))
            return None
        if not 0 <= i < self._n:
            self._forged(node, i, "index out of range", now, out)
            return None
        kind = ""
        if lease is not None:
            if lease.node != name:
                held = False
            else:  # given, then taken away (stolen, failed, discarded)
                held, kind = self._covers(lease, i), lease.kind
        else:
            ended = self._ended.get(ev.lease)
            if ended is not None:
                held = ended[0] == name and ended[1] <= i < ended[2]
                kind = ended[3]
            else:  # a lease we gave out but no longer remember: too old to tell
                held = 0 < ev.lease <= self._forgotten
        if not held:
            self._forged(node, i, "not leased to this node", now, out)
            return None
        if node.state == ACTIVE:
            self._renew(node, now)
        if self._accepted[i] and kind != "verify":
            self._drop_duplicate(i, node, out)
        else:  # (late audio of a verification is extra work by design, not a duplicate)
            out.append(Drop(i, name, "stale"))
            self._totals.stale_audio += 1
        return None

    def _forged(self, node, i: int, why: str, now: float, out: list) -> None:
        out.append(Drop(i, node.name, why))
        self._totals.forged_audio += 1
        node.stats.forged += 1
        if node.state == ACTIVE:
            self._fail(node, f"audio for sentence {i}: {why}", now, out)

    def _fail(self, node, detail: str, now: float, out: list) -> bool:
        """Count a failure of active `node`; at `max_failures` take it off the job. True if
        it was removed."""
        node.stats.failures += 1
        if node.stats.failures < self.config.max_failures:
            return False
        reason = f"{node.stats.failures} failures (last: {detail})"
        node.stats.reason = reason
        self._last_loss = f"{node.name} was taken off the job: {reason}"
        out.append(RemoveNode(node.name, reason))
        self._drop_node(node, REMOVED, now, out)
        return True

    @staticmethod
    def _failure_detail(ev: AudioInvalid | SegmentFailed) -> str:
        why = getattr(ev, "reason", None) or getattr(ev, "error", "") or type(ev).__name__
        return f"sentence {ev.index}: {why}"

    # ------------------------------------------------------------------ leases and nodes

    def _renew(self, node, now: float) -> None:
        """A sign of life of active `node`: every lease it holds lives `lease_seconds` more."""
        node.last_seen = now
        expires = now + self.config.lease_seconds
        for lease in node.leases.values():
            lease.expires_at = expires
        if not node.responsive:
            node.responsive = True
            self._hungry.add(node.name)

    def _expire(self, now: float, out: list) -> None:
        """Revoke and end every lease whose time is up; their nodes are unresponsive until
        heard from again."""
        expired = [lease for lease in self._leases.values() if lease.expires_at <= now]
        for lease in expired:
            node = self._nodes[lease.node]
            node.responsive = False
            node.stats.expiries += 1
            out.append(Revoke(lease.node, lease.id, "expired"))
            self._totals.revokes += 1
        self._end_leases(expired, "expired", now)
        self._next_expiry = min((lease.expires_at for lease in self._leases.values()),
                                default=INF)

    def _drop_node(self, node, state: str, now: float, out: list) -> None:
        """Active `node` left (LEFT) or was taken off the job (REMOVED): its leases end."""
        self._active -= 1
        node.state = state
        node.stats.state = state
        self._hungry.discard(node.name)
        self._end_leases(list(node.leases.values()), state, now)
        self._hungry.discard(node.name)

    def _open(self, lease, node, indices: tuple[int, ...], now: float, out: list) -> None:
        """Register new `lease` of `node` and send its Assign."""
        if not node.leases:
            node.busy_since = now
        node.leases[lease.id] = lease
        self._leases[lease.id] = lease
        if lease.expires_at < self._next_expiry:
            self._next_expiry = lease.expires_at
        node.stats.leases += 1
        out.append(Assign(node.name, lease.id, indices, lease.expires_at, lease.kind))

    def _close(self, lease, now: float):
        """The bookkeeping every ended lease needs (see `_end_lease`); returns its node."""
        del self._leases[lease.id]
        node = self._nodes[lease.node]
        del node.leases[lease.id]
        self._remember(lease.id, lease.node, lease.start, lease.end, lease.kind)
        if not node.leases:
            node.stats.busy_seconds += now - node.busy_since
        self._hungry.add(node.name)
        return node

    def _record_accept(self, i: int, node, out: list) -> None:
        """Segment i (no audio yet) gets the audio `node` just sent: Accept, and count it."""
        c = self._chars[i]
        self._accepted[i] = 1
        self._done_count += 1
        self._done_chars += c
        node.stats.segments += 1
        node.stats.chars += c
        out.append(Accept(i, node.name))

    def _recovered(self, rec: Recovery, now: float, count: int = 1) -> None:
        """`count` of the segments a failure lost were given out again (or got audio)."""
        rec.pending -= count
        if rec.pending == 0:
            rec.recovered_at = now
            rec.seconds = now - rec.detected_at

    def _remember(self, lease_id: int, node: str, start: int, end: int, kind: str) -> None:
        """Keep an ended lease, to tell its late audio (stale) from forged audio."""
        ended = self._ended
        ended[lease_id] = (node, start, end, kind)
        if len(ended) > ENDED_LEASES_KEPT:
            oldest = next(iter(ended))
            del ended[oldest]
            self._forgotten = max(self._forgotten, oldest)

    def _drop_duplicate(self, i: int, node, out: list) -> None:
        """Audio for a segment that already has audio: dropped, and counted as redundant work."""
        c = self._chars[i]
        out.append(Drop(i, node.name, "duplicate"))
        self._totals.duplicates += 1
        self._totals.duplicate_chars += c
        node.stats.duplicates += 1
        node.stats.duplicate_chars += c
