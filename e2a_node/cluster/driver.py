"""The job loop: events in, the scheduler decides, instructions out to members, store and UI.

    driver = JobDriver(plan, store, traits, JobOptions(local_engines=engines, ...), ui)
    report = await driver.run()

Everything that happens reaches one queue: members' `Audio` and scheduler events, NodeJoined /
NodeRefused from admission, a Tick every `TICK_SECONDS`. Each event is checked where the
scheduler cannot (audio format and length: peer_checks), handed to the pure scheduler with the
time, and its instructions are carried out by one method each (`_carry`). The rules (leases,
steals, verification, when to give up) are all the scheduler's; the driver has none of its
own. One clock (`clock`, injected so tests can use their own) gives every time it uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2a_node.audio import SegmentStore
from e2a_node.cluster.admission import Admission, Connector
from e2a_node.cluster.members import LOCAL, Audio, LocalMember, Member, VoiceTransfer
from e2a_node.cluster.report import AudioTally, Timeline, job_report, status_line, write_report
from e2a_node.clusterkey import ClusterAccess
from e2a_node.errors import E2AError
from e2a_node.job import JobPlan
from e2a_node.peer_checks import audio_problem
from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Compare, Compared, Discard, Drop,
                                GiveUp, JobDone, NodeJoined, NodeLeft, RemoveNode, RequestSteal, Revoke, Scheduler,
                                SchedulerConfig, Tick)
from e2a_node.scheduler.policy import Policy
from e2a_node.synth.base import Engine, VoiceTraits, segment_seed
from e2a_node.worker import WorkItem

if TYPE_CHECKING:
    from e2a_node.discovery import Discovery

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25  # the scheduler's clock moves at least this often (lease expiry, give-up)

# Builds the job's scheduler: (segment chars, segment chapters, config, done indices, check) ->
# policy; `check`: run check_invariants() after every event (E2A_CHECK_INVARIANTS=1).
SchedulerFactory = Callable[[list[int], list[int], SchedulerConfig, set[int], bool | None], Policy]


def stealing_scheduler(chars: list[int], chapters: list[int], config: SchedulerConfig, done: set[int],
                       check: bool | None = None) -> Policy:
    return Scheduler(chars, config, done=done, check=check, chapters=chapters)


@dataclass
class JobOptions:
    local_engines: list[Engine] = field(default_factory=list)  # empty: the leader only coordinates
    local_speed: float = 0.0
    discovery: Discovery | None = None  # None: this machine alone
    connector: Connector | None = None  # how peers are reached (rpc.member.GrpcConnector)
    access: ClusterAccess = field(default_factory=ClusterAccess)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    scheduler_factory: SchedulerFactory = stealing_scheduler
    policy: str = "stealing"  # its name, for the report
    check_invariants: bool | None = None  # check the scheduler after every event (None: its default)
    report: Path | None = None
    trace: Path | None = None  # every (time, event, instructions) as JSON lines
    leader_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # told of every segment stored and discarded (audio.pipeline.ChapterPipeline); None: nothing to tell
    chapters: Any = None


class JobDriver:
    def __init__(self, plan: JobPlan, store: SegmentStore, traits: VoiceTraits, options: JobOptions, ui,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.store, self.traits, self.opt, self.ui = plan, store, traits, options, ui
        self.clock = clock
        self._t0 = clock()
        chars = [len(s.text) for s in plan.segments]
        self.sched = options.scheduler_factory(chars, [s.chapter for s in plan.segments], options.scheduler,
                                               store.indices(), options.check_invariants)
        self.events: asyncio.Queue = asyncio.Queue()
        self.members: dict[str, Member] = {}
        self.admission: Admission | None = None
        self.peer_table = None  # the admission's PeerTable; None: the default backoff
        self.tally: defaultdict[str, AudioTally] = defaultdict(AudioTally)
        self.timeline = Timeline()
        self.transfers: dict[str, VoiceTransfer] = {}  # the latest word of each node being sent the voice
        self._left: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self._pcm: bytes | None = None  # the audio of the event being handled
        self._trace = None
        self._before = {Audio: self._on_audio, NodeJoined: self._on_joined, NodeLeft: self._on_left,
                        VoiceTransfer: self._on_transfer}
        self._carry = {Assign: self._assign, Accept: self._accept, Drop: self._drop, RequestSteal: self._steal,
                       Revoke: self._revoke, RemoveNode: self._remove, Compare: self._compare,
                       Discard: self._discard, GiveUp: self._give_up, JobDone: self._done}

    def now(self) -> float:
        return self.clock() - self._t0

    async def run(self) -> dict:
        """Synthesize every missing segment; returns the report (also written to options.report)."""
        if self.sched.done:  # an earlier run made it all
            report = self.report()
            if self.opt.report:
                write_report(self.opt.report, report)
            return report
        if self.opt.trace:
            from e2a_node.scheduler.trace import TraceWriter

            self._trace = TraceWriter.for_scheduler(self.opt.trace, self.sched)
        try:
            if self.opt.local_engines:
                member = LocalMember(self.opt.local_engines, self.events, self.traits.sample_rate,
                                     self.opt.local_speed)
                self.members[LOCAL] = member
                self.events.put_nowait(NodeJoined(LOCAL, member.slots, max(member.speed, 1.0), trusted=True))
            if self.opt.discovery is not None and self.opt.connector is not None:
                self.admission = Admission(self.opt.discovery, self.opt.connector, self.opt.access, self.events,
                                           self.ui, self.clock, self.peer_table)
                self.admission.members = self.members
                self._tasks.append(asyncio.create_task(self.admission.run()))
            self._tasks.append(asyncio.create_task(self._tick()))
            while not self.handle(await self.events.get()):
                pass
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(m.close() for m in self.members.values()), return_exceptions=True)
            if self._trace is not None:
                self._trace.close()
            report = self.report()
            if self.opt.report:
                write_report(self.opt.report, report)
        return report

    def handle(self, event) -> bool:
        """Feed one event to the scheduler and carry out its instructions; True when the job is done."""
        before = self._before.get(type(event))
        if before is not None:
            event = before(event)
            if event is None:
                return False
        now = self.now()
        out = self.sched.handle(event, now)
        if self._trace is not None:
            self._trace.write(now, event, out)
        done, follow = False, []
        for ins in out:
            done = self._carry[type(ins)](ins, follow) or done
        for answer in follow:  # Compared: the driver's own answer to a Compare, handled at once
            done = self.handle(answer) or done
        return done

    # ---------------------------------------------------------------- events, before the scheduler

    def _on_audio(self, audio: Audio):
        self._pcm = audio.pcm
        self.tally[audio.node].synth_seconds += audio.synth_seconds
        self.timeline.mark(self.now(), "audio", audio.node, index=audio.index, chapter=self._chapter(audio.index),
                           synth=round(audio.synth_seconds, 3))
        if not 0 <= audio.index < len(self.plan.segments):
            return AudioInvalid(audio.node, audio.lease, audio.index, "index out of range")
        if audio.sample_rate != self.traits.sample_rate:
            return AudioInvalid(audio.node, audio.lease, audio.index,
                                f"{audio.sample_rate} Hz audio, the job is {self.traits.sample_rate} Hz")
        problem = audio_problem(audio.pcm, self.plan.segments[audio.index].text, self.traits.sample_rate)
        if problem:
            return AudioInvalid(audio.node, audio.lease, audio.index, problem)
        return AudioReceived(audio.node, audio.lease, audio.index)

    def _on_transfer(self, event: VoiceTransfer) -> None:
        """Not the scheduler's business: a node joins (NodeJoined) once its voice is in."""
        before = self.transfers.get(event.node)
        first = before is None
        self.transfers[event.node] = event
        if first or (event.finished and not before.finished):
            self.timeline.mark(self.now(), "voice" if first else "voice-done", event.node, bytes=event.done,
                               total=event.total, source=event.source)
        return None

    def _on_joined(self, event: NodeJoined):
        self.timeline.mark(self.now(), "joined", event.node, slots=event.slots)
        self._left.discard(event.node)
        return event

    def _on_left(self, event: NodeLeft):
        member = self.members.get(event.node)
        if member is None or event.node in self._left:
            return None
        self._left.add(event.node)
        self.timeline.mark(self.now(), "left", event.node, reason=event.reason)
        if self.admission is not None:
            self.admission.left(member)
        self.ui.info(f"Node {event.node} left the job: {event.reason}. Its unfinished sentences go to others.")
        return event

    # ---------------------------------------------------------------- instructions

    def _assign(self, ins: Assign, follow: list) -> None:
        segments = self.plan.segments
        items = [WorkItem(i, segments[i].text, segment_seed(segments[i].text)) for i in ins.indices]
        self.members[ins.node].assign(ins.lease, items)
        self.timeline.mark(self.now(), "assign", ins.node, lease=ins.lease, kind=ins.kind, first=ins.indices[0],
                           last=ins.indices[-1], chapter=self._chapter(ins.indices[0]))

    def _accept(self, ins: Accept, follow: list) -> None:
        pcm = self._pcm
        assert pcm is not None, "Accept always answers the audio just received"
        self.store.put(ins.index, pcm)
        if self.opt.chapters is not None:
            self.opt.chapters.stored(ins.index)
        seconds = len(pcm) / 2 / self.traits.sample_rate
        self.tally[ins.node].audio_seconds += seconds
        self.ui.advance(len(self.plan.segments[ins.index].text), seconds)

    def _drop(self, ins: Drop, follow: list) -> None:
        log.debug("dropped audio for %d from %s: %s", ins.index, ins.node, ins.reason)

    def _steal(self, ins: RequestSteal, follow: list) -> None:
        self.members[ins.victim].steal(ins.steal_id, ins.lease, ins.split_at)
        self.timeline.mark(self.now(), "steal", ins.victim, lease=ins.lease, split_at=ins.split_at)

    def _revoke(self, ins: Revoke, follow: list) -> None:
        self.members[ins.node].revoke(ins.lease)
        self.timeline.mark(self.now(), "revoke", ins.node, lease=ins.lease, reason=ins.reason)

    def _remove(self, ins: RemoveNode, follow: list) -> None:
        self.timeline.mark(self.now(), "removed", ins.node, reason=ins.reason)
        member = self.members.get(ins.node)
        if member is not None and ins.node not in self._left:
            self._left.add(ins.node)
            self._tasks.append(asyncio.create_task(member.close()))
        self.ui.info(f"Warning: taking node {ins.node} off the job: {ins.reason}")

    def _compare(self, ins: Compare, follow: list) -> None:
        pcm = self._pcm
        same = pcm is not None and self.store.has(ins.index) and self.store.get(ins.index) == pcm
        self.timeline.mark(self.now(), "verify", ins.node, index=ins.index, suspect=ins.suspect, same=same)
        follow.append(Compared(ins.index, ins.node, ins.suspect, same))

    def _discard(self, ins: Discard, follow: list) -> None:
        """Audio from a node found lying is deleted; the scheduler has queued the sentence again."""
        seconds = self.store.seconds(ins.index) if self.store.has(ins.index) else 0.0
        if self.store.discard(ins.index):
            if self.opt.chapters is not None:
                self.opt.chapters.discarded(ins.index)
            self.tally[ins.node].audio_seconds -= seconds
            self.ui.retract(len(self.plan.segments[ins.index].text), seconds)

    def _give_up(self, ins: GiveUp, follow: list) -> None:
        saved = len(self.store.indices())
        raise E2AError(f"{ins.reason} ({saved} of {len(self.plan.segments)} sentences are saved; run the same "
                       "command again to resume)")

    def _done(self, ins: JobDone, follow: list) -> bool:
        self.ui.status(self.status_line())  # the final shares, not the last tick's
        return True

    # ---------------------------------------------------------------- clock, reporting

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.events.put_nowait(Tick())
            self.ui.status(self.status_line())

    def _chapter(self, index: int) -> int | None:
        return self.plan.segments[index].chapter if 0 <= index < len(self.plan.segments) else None

    def status_line(self) -> str:
        if self.opt.discovery is None:
            return ""  # this machine alone: the totals say it all
        return status_line(self.sched.progress(), self.members, self.tally, self.transfers)

    def report(self) -> dict:
        return job_report(job_id=self.plan.job_id, book=str(self.plan.book.source_path), wall_seconds=self.now(),
                          stats=self.sched.stats(), members=self.members, tally=self.tally,
                          timeline=self.timeline, config=self.opt.scheduler, policy=self.opt.policy,
                          transfers=self.transfers)
