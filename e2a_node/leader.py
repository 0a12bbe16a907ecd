"""The leader's driver: carries out the scheduler's instructions with real workers.

`ClusterJob.run` owns one asyncio loop's worth of moving parts:

* members: the leader's own `LocalMember` (a LeaseRunner on engines loaded here) and one
  `RemoteMember` per peer (a gRPC Work stream); both turn what happens into scheduler events
  on one queue;
* a discovery task that handshakes every node the discovery finds (at the start and during
  the job), so nodes that appear mid-job get work;
* a ticker that moves the scheduler's clock (lease expiry) and keeps the progress bar fresh.

The main loop takes one event at a time, hands it to the pure `Scheduler`, and carries out
the instructions: Assign/Revoke/RequestSteal go to members, Accept stores the audio in the job
folder (the same store the single-machine path uses), Drop discards it. Audio is checked
here before the scheduler sees it (sample rate, length for its text).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from e2a_node.audio import SegmentStore
from e2a_node.clusterkey import MDNS_PROPERTY, ClusterAccess
from e2a_node.errors import E2AError
from e2a_node.job import JobPlan, segment_seed
from e2a_node.peer_checks import audio_problem, max_audio_bytes, traits_mismatch
from e2a_node.cluster.members import Audio as PeerAudio
from e2a_node.rpc.client import PeerClient, PeerMisbehaved
from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Compare, Compared, Discard, Drop,
                                Heartbeat, JobDone, NodeJoined, NodeLeft, NodeRefused, RemoveNode, RequestSteal,
                                Revoke, Scheduler, SchedulerConfig, SegmentFailed, StealReply, RevokeAck, Tick)
from e2a_node.synth.base import Engine, VoiceTraits
from e2a_node.voice_bundle import VoiceBundle
from e2a_node.worker import LeaseRunner, WorkItem

if TYPE_CHECKING:
    from e2a_node.discovery import Discovery, NodeAddress

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
DISCOVERY_SECONDS = 1.0
RETRY_BUSY_SECONDS = 10.0  # a node that said busy is asked again after this
RETRY_UNREACHABLE_SECONDS = 2.0  # a listed node that is not up yet (or restarting)
LOCAL = "local"
# The benchmark harness (scripts/bench_cluster.py) can compare against the chapter-per-task
# design: with the benchmark engine registered, E2A_BENCH_POLICY=chapter picks that scheduler.
POLICY_ENV = "E2A_BENCH_POLICY"
POLICIES = ("stealing", "chapter")


@dataclass
class ClusterOptions:
    discovery: Discovery | None = None
    local_engines: list[Engine] = field(default_factory=list)  # empty = the leader only coordinates
    local_speed: float = 0.0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    report: Path | None = None
    give_up_seconds: float = 60.0  # no node able to work for this long -> stop with an error
    policy: str = "stealing"  # "chapter": the baseline of scripts/bench_cluster.py only
    access: ClusterAccess = field(default_factory=ClusterAccess)  # the cluster key, if any: whom to use
    leader_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class _QueueOutbox:
    """A local LeaseRunner's results, as the same events a peer's stream produces."""

    def __init__(self, queue: asyncio.Queue, node: str, sample_rate: int) -> None:
        self.queue, self.node, self.sample_rate = queue, node, sample_rate

    async def room(self) -> None:
        """Always room: the leader's own loop takes each result as it comes."""

    def audio(self, lease: int, index: int, pcm: bytes, synth_seconds: float) -> None:
        self.queue.put_nowait(PeerAudio(self.node, lease, index, pcm, self.sample_rate, synth_seconds))

    def failed(self, lease: int, index: int, error: str) -> None:
        self.queue.put_nowait(SegmentFailed(self.node, lease, index, error))

    def steal_reply(self, steal_id: int, stop_at: int) -> None:
        self.queue.put_nowait(StealReply(self.node, steal_id, stop_at))

    def revoke_ack(self, lease: int) -> None:
        self.queue.put_nowait(RevokeAck(self.node, lease))


class Member:
    """A node working on this job, as the leader sees it."""

    kind = "?"

    def __init__(self, name: str, address: str, slots: int, speed: float) -> None:
        self.name, self.address, self.slots, self.speed = name, address, slots, speed
        self.audio_seconds = 0.0
        self.synth_seconds = 0.0
        self.joined_at = time.monotonic()
        self.left_at: float | None = None

    def assign(self, lease: int, items: list[WorkItem]) -> None: ...
    def revoke(self, lease: int) -> None: ...
    def steal(self, steal_id: int, lease: int, split_at: int) -> None: ...
    async def close(self) -> None: ...


class LocalMember(Member):
    kind = "local"

    def __init__(self, runner: LeaseRunner, speed: float) -> None:
        super().__init__(LOCAL, "this machine", runner.slots, speed)
        self.runner = runner

    def assign(self, lease, items):
        self.runner.assign(lease, items)

    def revoke(self, lease):
        self.runner.revoke(lease)

    def steal(self, steal_id, lease, split_at):
        self.runner.steal(steal_id, lease, split_at)

    async def close(self):
        await self.runner.close()


class RemoteMember(Member):
    """A peer's Work stream. Writes go through a queue so a frozen peer never blocks the loop."""

    kind = "peer"

    def __init__(self, name, address, slots, speed, client: PeerClient, stream, events: asyncio.Queue):
        super().__init__(name, address, slots, speed)
        self.client, self.stream = client, stream
        self.banned = False  # it broke the protocol: not asked again during this job
        self._out: asyncio.Queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())
        self._reader = asyncio.create_task(self._read(events))

    def assign(self, lease, items):
        self._out.put_nowait(("assign", lease, items))

    def revoke(self, lease):
        self._out.put_nowait(("revoke", lease))

    def steal(self, steal_id, lease, split_at):
        self._out.put_nowait(("steal", steal_id, lease, split_at))

    async def _write(self) -> None:
        try:
            while True:
                op, *args = await self._out.get()
                await getattr(self.stream, op)(*args)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError, RuntimeError):
            pass  # the stream broke: the reader reports it

    async def _read(self, events: asyncio.Queue) -> None:
        reason = "the node closed the stream"
        try:
            async for event in self.stream.events():
                events.put_nowait(event)
        except grpc.aio.AioRpcError as exc:
            reason = f"stream broke ({self.client.describe(exc)})"
        except PeerMisbehaved as exc:
            self.banned = True
            reason = f"it misbehaved: {exc}"
        except asyncio.CancelledError:
            return
        except Exception as exc:  # a bug or a garbled message: lose the node, not the job
            log.warning("node %s: %s", self.name, exc, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
        events.put_nowait(NodeLeft(self.name, reason))

    async def close(self):
        self._writer.cancel()
        self._reader.cancel()
        await self.stream.close()
        await self.client.close()


class ClusterJob:
    def __init__(self, plan: JobPlan, store: SegmentStore, bundle: VoiceBundle, traits: VoiceTraits,
                 options: ClusterOptions, ui) -> None:
        self.plan, self.store, self.bundle, self.traits = plan, store, bundle, traits
        self.opt = options
        self.ui = ui
        self.members: dict[str, Member] = {}
        chars = [len(s.text) for s in plan.segments]
        if options.policy == "chapter":
            from e2a_node.scheduler.chapter_policy import ChapterScheduler

            self.sched = ChapterScheduler(chars, [s.chapter for s in plan.segments], options.scheduler,
                                          done=store.indices())
        else:
            self.sched = Scheduler(chars, options.scheduler, done=store.indices())
        self.events: asyncio.Queue = asyncio.Queue()
        self._t0 = time.monotonic()
        self._known: dict[str, str] = {}  # discovered target -> state: connecting/joined/refused/busy@time
        self._node_ids: set[str] = set()
        self._idle_since: float | None = None
        self._tasks: list[asyncio.Task] = []
        self.timeline: list[dict] = []  # what happened when, for the report (and benchmark pictures)
        self._last_failure: dict[str, str] = {}

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def run(self) -> dict:
        """Synthesize every missing segment; returns the report (also written to options.report)."""
        if self.sched.done:
            return self.report()
        if self.opt.local_engines:
            outbox = _QueueOutbox(self.events, LOCAL, self.traits.sample_rate)
            member = LocalMember(LeaseRunner(self.opt.local_engines, outbox), self.opt.local_speed)
            self.members[LOCAL] = member
            self.events.put_nowait(NodeJoined(LOCAL, member.slots, max(member.speed, 1.0), trusted=True))
        if self.opt.discovery is not None:
            self._tasks.append(asyncio.create_task(self._discover()))
        self._tasks.append(asyncio.create_task(self._tick()))
        try:
            while True:
                event = await self.events.get()
                if self._handle(event):
                    break
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(m.close() for m in self.members.values()), return_exceptions=True)
            report = self.report()
            if self.opt.report:
                write_report(self.opt.report, report)
        return report

    # ---------------------------------------------------------------- events

    def _mark(self, event: str, node: str, **details) -> None:
        self.timeline.append({"t": round(self.now(), 3), "event": event, "node": node, **details})

    def _handle(self, event) -> bool:
        """Feed one event to the scheduler and carry out its instructions; True when done."""
        pcm = None
        follow: list = []  # events the instructions answer at once (Compared)
        done = False
        if isinstance(event, PeerAudio):
            pcm = event.pcm
            member = self.members.get(event.node)
            if member is not None:
                member.synth_seconds += event.synth_seconds
            self._mark("audio", event.node, index=event.index, chapter=self._chapter(event.index),
                       synth=round(event.synth_seconds, 3))
            event = self._checked(event)
        elif isinstance(event, NodeJoined):
            self._mark("joined", event.node, slots=event.slots)
        elif isinstance(event, NodeLeft):
            member = self.members.get(event.node)
            if member is None or member.left_at is not None:
                return False
            member.left_at = time.monotonic()
            self._mark("left", event.node, reason=event.reason)
            if isinstance(member, RemoteMember):  # if it comes back (restarted), it may join again
                self._known[member.address] = "refused" if member.banned else f"unreachable@{time.monotonic()}"
            self.ui.info(f"Node {event.node} left the job: {event.reason}. Its unfinished sentences go to others.")
        elif isinstance(event, Tick):
            self._check_alive()
        if isinstance(event, (SegmentFailed, AudioInvalid)):
            text = self.plan.segments[event.index].text if 0 <= event.index < len(self.plan.segments) else ""
            why = event.error if isinstance(event, SegmentFailed) else event.reason
            self._last_failure[event.node] = f"sentence {event.index} ({text[:60]!r}): {why}"
            log.warning("node %s failed on %s", event.node, self._last_failure[event.node])
        for ins in self.sched.handle(event, self.now()):
            if isinstance(ins, Assign):
                items = [WorkItem(i, self.plan.segments[i].text, segment_seed(self.plan.segments[i].text))
                         for i in ins.indices]
                self.members[ins.node].assign(ins.lease, items)
                self._mark("assign", ins.node, lease=ins.lease, kind=ins.kind, first=ins.indices[0],
                           last=ins.indices[-1], chapter=self._chapter(ins.indices[0]))
            elif isinstance(ins, Accept):
                self._store(ins.index, ins.node, pcm)
            elif isinstance(ins, Drop):
                log.debug("dropped audio for %d from %s: %s", ins.index, ins.node, ins.reason)
            elif isinstance(ins, RequestSteal):
                self.members[ins.victim].steal(ins.steal_id, ins.lease, ins.split_at)
                self._mark("steal", ins.victim, lease=ins.lease, split_at=ins.split_at)
            elif isinstance(ins, Revoke):
                self.members[ins.node].revoke(ins.lease)
                self._mark("revoke", ins.node, lease=ins.lease, reason=ins.reason)
            elif isinstance(ins, RemoveNode):
                self._mark("removed", ins.node, reason=ins.reason)
                member = self.members.get(ins.node)
                if member is not None and member.left_at is None:
                    member.left_at = time.monotonic()
                    self._tasks.append(asyncio.create_task(member.close()))
                last = self._last_failure.get(ins.node, ins.reason)
                if self.opt.discovery is None and not any(m.left_at is None for m in self.members.values()):
                    raise E2AError(f"the voice failed on {last}")
                self.ui.info(f"Warning: taking node {ins.node} off the job: {ins.reason}; last failure: {last}")
            elif isinstance(ins, Compare):
                same = pcm is not None and self.store.has(ins.index) and self.store.get(ins.index) == pcm
                self._mark("verify", ins.node, index=ins.index, suspect=ins.suspect, same=same)
                follow.append(Compared(ins.index, ins.node, ins.suspect, same))
            elif isinstance(ins, Discard):
                self._discard(ins.index, ins.node)
            elif isinstance(ins, JobDone):
                self.ui.status(self.status_line())  # the final shares, not the last tick's
                done = True
        for event in follow:
            done = self._handle(event) or done
        return done

    def _chapter(self, index: int) -> int | None:
        return self.plan.segments[index].chapter if 0 <= index < len(self.plan.segments) else None

    def _max_audio_bytes(self, index: int) -> int:
        if not 0 <= index < len(self.plan.segments):
            return 0
        return max_audio_bytes(self.plan.segments[index].text, self.traits.sample_rate)

    def _checked(self, audio: PeerAudio):
        seg = self.plan.segments[audio.index] if 0 <= audio.index < len(self.plan.segments) else None
        if seg is None:
            return AudioInvalid(audio.node, audio.lease, audio.index, "index out of range")
        if audio.sample_rate != self.traits.sample_rate:
            return AudioInvalid(audio.node, audio.lease, audio.index,
                                f"{audio.sample_rate} Hz audio, the job is {self.traits.sample_rate} Hz")
        problem = audio_problem(audio.pcm, seg.text, self.traits.sample_rate)
        if problem:
            return AudioInvalid(audio.node, audio.lease, audio.index, problem)
        return AudioReceived(audio.node, audio.lease, audio.index)

    def _store(self, index: int, node: str, pcm: bytes | None) -> None:
        assert pcm is not None, "Accept always answers the audio just received"
        self.store.put(index, pcm)
        seconds = len(pcm) / 2 / self.traits.sample_rate
        member = self.members.get(node)
        if member is not None:
            member.audio_seconds += seconds
        self.ui.advance(len(self.plan.segments[index].text), seconds)

    def _discard(self, index: int, node: str) -> None:
        """Audio from a node found lying is deleted; the scheduler has queued the sentence again."""
        seconds = self.store.seconds(index) if self.store.has(index) else 0.0
        if self.store.discard(index):
            member = self.members.get(node)
            if member is not None:
                member.audio_seconds -= seconds
            self.ui.retract(len(self.plan.segments[index].text), seconds)

    def _check_alive(self) -> None:
        """Give up when no node has been able to work for a while (all gone, none found)."""
        working = [m for m in self.members.values() if m.left_at is None]
        if working:
            self._idle_since = None
            return
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since > self.opt.give_up_seconds:
            done = len(self.store.indices())
            raise E2AError(f"no node could work on the job for {self.opt.give_up_seconds:.0f} s "
                           f"({done} of {len(self.plan.segments)} sentences are saved; run the same command "
                           "again to resume)")

    # ---------------------------------------------------------------- background tasks

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if LOCAL in self.members and self.members[LOCAL].left_at is None:
                self.events.put_nowait(Heartbeat(LOCAL))
            self.events.put_nowait(Tick())
            self.ui.status(self.status_line())

    async def _discover(self) -> None:
        while True:
            for addr in self.opt.discovery.nodes():
                state = self._known.get(addr.target)
                if state is None or self._retry_due(state):
                    self._known[addr.target] = "connecting"
                    self._tasks.append(asyncio.create_task(self._connect(addr)))
            await asyncio.sleep(DISCOVERY_SECONDS)

    @staticmethod
    def _retry_due(state: str) -> bool:
        kind, _, since = state.partition("@")
        wait = {"busy": RETRY_BUSY_SECONDS, "unreachable": RETRY_UNREACHABLE_SECONDS}.get(kind)
        return wait is not None and time.monotonic() - float(since) > wait

    async def _connect(self, addr: NodeAddress) -> None:
        node_id = addr.properties.get("id", "") if addr.properties else ""
        if node_id and node_id in self._node_ids:
            self._known[addr.target] = "duplicate"
            return
        label = addr.name or addr.target
        skip = self.opt.access.refusal(addr.host, addr.properties.get(MDNS_PROPERTY, "") if addr.properties else None)
        if skip:
            self._known[addr.target] = "refused"
            self.ui.info(f"Not using node {label} ({addr.target}): {skip}.")
            self.events.put_nowait(NodeRefused(label, skip))
            return
        client = PeerClient(addr.target, self.opt.access.identity)
        try:
            admitted = await client.handshake(self.opt.leader_id, self.bundle, self.traits.fingerprint)
            if admitted.info.node_id in self._node_ids:
                self._known[addr.target] = "duplicate"
                await client.close()
                return
            name = self._unique_name(admitted.info.name or label, addr.target)
            if not admitted.accepted:
                self._known[addr.target] = "refused"
                self.ui.info(f"Node {name} ({addr.target}) refused: {admitted.reason}")
                self.events.put_nowait(NodeRefused(name, admitted.reason))
                await client.close()
                return
            stream = client.work(name, self._max_audio_bytes)
            started = await stream.start(self.plan.job_id, self.opt.leader_id, self.bundle.by_hash(),
                                         self.traits.fingerprint)
            if started.ready and started.traits is not None:
                mismatch = traits_mismatch(started.traits, self.traits)
                if mismatch:
                    await stream.close()
                    await client.close()
                    self._known[addr.target] = "refused"
                    self.ui.info(f"Node {name} ({addr.target}) refused: {mismatch}")
                    self.events.put_nowait(NodeRefused(name, mismatch))
                    return
        except (grpc.aio.AioRpcError, asyncio.TimeoutError) as exc:
            why = client.describe(exc) if isinstance(exc, grpc.aio.AioRpcError) else "did not answer in time"
            await client.close()
            if isinstance(exc, grpc.aio.AioRpcError) and client.key_mismatch(exc):
                # asking again during this job will not change the key it has
                self._known[addr.target] = "refused"
                self.ui.info(f"Node {label} ({addr.target}) refused the connection: {why}")
                self.events.put_nowait(NodeRefused(label, why))
                return
            log.info("node %s (%s): %s", label, addr.target, why)
            self._known[addr.target] = f"unreachable@{time.monotonic()}"
            return
        if not started.ready:
            self._known[addr.target] = f"busy@{time.monotonic()}"
            log.info("node %s: %s", name, started.reason)
            await stream.close()
            await client.close()
            return
        self._known[addr.target] = "joined"
        self._node_ids.add(admitted.info.node_id)
        member = RemoteMember(name, addr.target, started.slots, started.speed, client, stream, self.events)
        self.members[name] = member
        self.ui.info(f"Node {name} ({addr.target}) joined with {started.slots} slot(s), "
                     f"~{started.speed:.0f} chars/s each.")
        self.events.put_nowait(NodeJoined(name, started.slots, max(started.speed, 1.0)))

    def _unique_name(self, name: str, target: str) -> str:
        if name == LOCAL or name in self.members:
            return f"{name}@{target}"
        return name

    # ---------------------------------------------------------------- reporting

    def status_line(self) -> str:
        """Each node's share of the work so far and its speed (x real time), for the progress bar."""
        if self.opt.discovery is None:
            return ""  # this machine alone: the totals say it all
        progress = self.sched.progress()
        parts = []
        for name, share in progress.per_node.items():
            member = self.members.get(name)
            if member is None or not share["chars"]:
                continue
            speed = member.audio_seconds / max(member.synth_seconds, 1e-6) * member.slots
            parts.append(f"{name} {share['share'] * 100:.0f}% {speed:.0f}x")
        return " · ".join(parts)

    def report(self) -> dict:
        stats = self.sched.stats()
        nodes = []
        for ns in stats.nodes:
            member = self.members.get(ns.node)
            nodes.append({
                "name": ns.node,
                "kind": member.kind if member else "peer",
                "address": member.address if member else "",
                "state": ns.state,
                "reason": ns.reason,
                "slots": ns.slots,
                "sentences": ns.segments,
                "characters": ns.chars,
                "busy_seconds": round(ns.busy_seconds, 3),
                "audio_seconds": round(member.audio_seconds, 3) if member else 0.0,
                "synth_seconds": round(member.synth_seconds, 3) if member else 0.0,
                "failures": ns.failures,
                "lease_expiries": ns.expiries,
                "steals_won": ns.steals_won,
                "steals_lost": ns.steals_lost,
                "backups": ns.backups,
                "duplicates_dropped": ns.duplicates,
                "verified": ns.verified,
                "verify_failed": ns.verify_failed,
                "discarded": ns.discarded,
                "speed_chars_per_second": round(ns.speed, 2),
            })
        return {
            "job_id": self.plan.job_id,
            "book": str(self.plan.book.source_path),
            "wall_seconds": round(self.now(), 3),
            "sentences": stats.segments_total,
            "sentences_done": stats.segments_done,
            "characters": stats.chars_total,
            "resumed_sentences": stats.resumed_segments,
            "nodes": nodes,
            "steals": stats.steals,
            "steal_requests": stats.steal_requests,
            "backups": stats.backups,
            "reassignments": stats.reassignments,
            "retries": stats.retries,
            "duplicates_dropped": stats.duplicates,
            "duplicate_characters": stats.duplicate_chars,
            "recoveries": [r.to_dict() for r in stats.recoveries],
            "verify_fraction": self.opt.scheduler.verify_fraction,
            "verifications": stats.verifications,
            "verification_mismatches": stats.verification_mismatches,
            "verifications_skipped": stats.verifications_skipped,
            "discarded_sentences": stats.discarded_sentences,
            "unresolved_disagreements": [d.to_dict() for d in stats.unresolved_disagreements],
            "timeline": self.timeline,
            "scheduler": self.opt.scheduler.to_dict(),
            "policy": self.opt.policy,
        }


def write_report(path: Path, report: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)
