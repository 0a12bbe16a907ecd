"""The job driver with fake members and an in-memory discovery: no subprocesses, no gRPC.

Members here are LeaseRunners on a fake engine (what a node runs, minus the wire), reached
through a scripted connector, so joining and leaving mid-job, a member that stops answering,
giving up, backoff and the progress totals are exercised in well under a second each.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from e2a_node.audio import SegmentStore
from e2a_node.book.model import Book, Chapter
from e2a_node.cluster.admission import Outcome
from e2a_node.cluster.driver import JobDriver, JobOptions
from e2a_node.cluster.members import Audio
from e2a_node.discovery.base import NodeAddress
from e2a_node.discovery.memory import MemoryDiscovery
from e2a_node.errors import E2AError
from e2a_node.job import plan_job
from e2a_node.scheduler import Heartbeat, NodeLeft, SchedulerConfig
from e2a_node.scheduler.peers import PeerState
from e2a_node.synth.base import VoiceTraits
from e2a_node.worker import LeaseRunner
from tests.cluster_helpers import by_name

RATE = 8000
TRAITS = VoiceTraits("fake:1", RATE, 200, True, True, "en")
SENTENCE = "The traveller walked all day along the dusty road and rested under a tree."


class FakeEngine:
    """Audio of plausible length (15 characters a second), after `len / speed` seconds."""

    name, sample_rate, max_chars, deterministic, normalizes_numbers, language = "fake", RATE, 200, True, True, "en"
    fingerprint = TRAITS.fingerprint

    def __init__(self, speed: float = 20_000.0, fail: bool = False) -> None:
        self.speed, self.fail = speed, fail

    def synthesize(self, text: str, seed: int | None = None) -> bytes:
        import time

        if self.fail:
            raise RuntimeError("the engine broke")
        time.sleep(len(text) / self.speed)
        return bytes(2 * int(len(text) / 15 * RATE))


class FakePeer:
    """A peer member: a LeaseRunner on a fake engine, heartbeats, and faults on demand."""

    kind, trusted = "peer", False

    def __init__(self, name: str, address: str, events: asyncio.Queue, speed: float = 20_000.0,
                 leave_after: int | None = None, freeze_after: int | None = None) -> None:
        self.name, self.address, self.slots, self.speed, self.banned = name, address, 1, speed, False
        self.events, self.leave_after, self.freeze_after = events, leave_after, freeze_after
        self.sent = 0
        self.frozen = False
        self.runner = LeaseRunner([FakeEngine(speed)], self)
        self._beat = asyncio.create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            if not self.frozen:
                self.events.put_nowait(Heartbeat(self.name))

    # the runner's outbox: what the node would send
    async def room(self) -> None:
        while self.frozen:
            await asyncio.sleep(0.05)

    def audio(self, lease, index, pcm, synth_seconds):
        if self.frozen:
            return
        self.sent += 1
        self.events.put_nowait(Audio(self.name, lease, index, pcm, RATE, synth_seconds))
        if self.leave_after is not None and self.sent >= self.leave_after:
            self.frozen = True
            self.events.put_nowait(NodeLeft(self.name, "stream broke (unreachable)"))
        if self.freeze_after is not None and self.sent >= self.freeze_after:
            self.frozen = True  # alive, but nothing in or out any more

    def failed(self, lease, index, error):
        pass

    def steal_reply(self, steal_id, stop_at):
        from e2a_node.scheduler import StealReply

        if not self.frozen:
            self.events.put_nowait(StealReply(self.name, steal_id, stop_at))

    def revoke_ack(self, lease):
        pass

    def assign(self, lease, items):
        self.runner.assign(lease, items)

    def revoke(self, lease):
        self.runner.revoke(lease)

    def steal(self, steal_id, lease, split_at):
        self.runner.steal(steal_id, lease, split_at)

    async def close(self):
        self._beat.cancel()
        await self.runner.close()


class ScriptedConnector:
    """Answers each target's attempts in turn from a script: "busy", "unreachable", "refused"
    or a dict of FakePeer options (joins)."""

    def __init__(self, scripts: dict[str, list]) -> None:
        self.scripts = scripts
        self.attempts: dict[str, list[float]] = {}
        self.peers: dict[str, FakePeer] = {}

    async def connect(self, addr, name_for, events) -> Outcome:
        loop = asyncio.get_running_loop()
        self.attempts.setdefault(addr.target, []).append(loop.time())
        script = self.scripts[addr.target]
        step = script.pop(0) if len(script) > 1 else script[0]
        name = name_for(addr.name)
        if step == "busy":
            return Outcome(PeerState.BUSY, "busy: all 1 slot(s) are working for other jobs", name, addr.name)
        if step == "unreachable":
            return Outcome(PeerState.UNREACHABLE, "unreachable")
        if step == "refused":
            return Outcome(PeerState.REFUSED, "it has a different piper voice", name, addr.name)
        peer = FakePeer(name, addr.target, events, **step)
        self.peers[name] = peer
        return Outcome(PeerState.JOINED, "", name, addr.name, peer)


class RecordingUI:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.chars = 0
        self.audio = 0.0

    def info(self, message):
        self.lines.append(message)

    def advance(self, chars, audio_s):
        self.chars += chars
        self.audio += audio_s

    def retract(self, chars, audio_s):
        self.chars -= chars
        self.audio -= audio_s

    def status(self, text):
        pass


def checked_options(**fields) -> JobOptions:
    """The job's options with a scheduler that checks its invariants after every event."""
    return JobOptions(check_invariants=True, **fields)


def make_job(tmp_path: Path, sentences: int = 40):
    chapters = [Chapter(f"Chapter {n}", [SENTENCE] * (sentences // 2)) for n in (1, 2)]
    book = Book("Test", ["Anon"], "en", chapters, tmp_path / "book.epub")
    plan = plan_job(book, [1, 2], "en", TRAITS, tmp_path / "work")
    return plan, SegmentStore(plan.folder / "audio", RATE)


def peer(name: str, port: int) -> NodeAddress:
    return NodeAddress("127.0.0.1", port, name=name)


def run(plan, store, options, ui=None):
    ui = ui or RecordingUI()

    async def main():
        return await JobDriver(plan, store, TRAITS, options, ui).run()

    return asyncio.run(main()), ui


def test_alone_every_sentence_is_stored_and_the_progress_adds_up(tmp_path):
    plan, store = make_job(tmp_path)
    report, ui = run(plan, store, checked_options(local_engines=[FakeEngine(), FakeEngine()], local_speed=20_000,
                                             scheduler=SchedulerConfig(more_nodes_may_join=False)))
    assert store.indices() == set(range(len(plan.segments)))
    assert ui.chars == plan.characters
    assert ui.audio == pytest.approx(sum(store.seconds(i) for i in store.indices()))
    assert by_name(report)["local"]["sentences"] == len(plan.segments)


def test_a_peer_found_mid_job_joins_and_gets_work(tmp_path):
    plan, store = make_job(tmp_path, 120)
    discovery = MemoryDiscovery()
    connector = ScriptedConnector({"127.0.0.1:1": [{"speed": 20_000.0}]})

    async def main():
        driver = JobDriver(plan, store, TRAITS, checked_options(local_engines=[FakeEngine(2_000.0)], local_speed=2_000,
                                                           discovery=discovery, connector=connector), RecordingUI())
        task = asyncio.create_task(driver.run())
        await asyncio.sleep(0.3)
        discovery.add(peer("p1", 1))
        return await task

    report = asyncio.run(main())
    assert by_name(report)["p1"]["sentences"] > 0
    assert sum(n["sentences"] for n in report["nodes"]) == len(plan.segments)
    assert store.indices() == set(range(len(plan.segments)))


def test_a_peer_that_leaves_mid_job_loses_nothing(tmp_path):
    plan, store = make_job(tmp_path, 80)
    discovery = MemoryDiscovery([peer("p1", 1)])
    connector = ScriptedConnector({"127.0.0.1:1": [{"speed": 20_000.0, "leave_after": 5}]})
    report, ui = run(plan, store, checked_options(local_engines=[FakeEngine(4_000.0)], local_speed=4_000,
                                             discovery=discovery, connector=connector))
    assert by_name(report)["p1"]["state"] == "left"
    assert store.indices() == set(range(len(plan.segments)))
    assert any("p1 left the job" in line for line in ui.lines)


def test_a_peer_that_stops_answering_loses_its_lease(tmp_path):
    plan, store = make_job(tmp_path, 80)
    discovery = MemoryDiscovery([peer("p1", 1)])
    connector = ScriptedConnector({"127.0.0.1:1": [{"speed": 20_000.0, "freeze_after": 3}]})
    config = SchedulerConfig(lease_seconds=0.5, quiet_seconds=0.3)
    report, _ = run(plan, store, checked_options(local_engines=[FakeEngine(4_000.0)], local_speed=4_000,
                                            discovery=discovery, connector=connector, scheduler=config))
    p1 = by_name(report)["p1"]
    assert p1["lease_expiries"] >= 1 or report["backups"] >= 1, p1
    assert store.indices() == set(range(len(plan.segments)))


def test_no_node_at_all_gives_up_saying_what_is_saved(tmp_path):
    plan, store = make_job(tmp_path)
    options = checked_options(discovery=MemoryDiscovery(), connector=ScriptedConnector({}),
                         scheduler=SchedulerConfig(give_up_seconds=0.5))
    with pytest.raises(E2AError, match=rf"for 0.5 s \(0 of {len(plan.segments)} sentences are saved; run the same"):
        run(plan, store, options)


def test_alone_with_a_broken_voice_fails_at_once_naming_the_failure(tmp_path):
    plan, store = make_job(tmp_path)
    options = checked_options(local_engines=[FakeEngine(fail=True)], local_speed=1_000,
                         scheduler=SchedulerConfig(more_nodes_may_join=False, give_up_seconds=600))
    with pytest.raises(E2AError, match="the engine broke") as exc:
        run(plan, store, options)
    assert "sentences are saved" in str(exc.value)


def test_busy_and_unreachable_peers_are_asked_again_refused_ones_never(tmp_path):
    plan, store = make_job(tmp_path, 200)
    discovery = MemoryDiscovery([peer("busy", 1), peer("down", 2), peer("other", 3)])
    connector = ScriptedConnector({"127.0.0.1:1": ["busy", {"speed": 20_000.0}],
                                   "127.0.0.1:2": ["unreachable", {"speed": 20_000.0}],
                                   "127.0.0.1:3": ["refused"]})
    from e2a_node.scheduler.peers import PeerTable

    table = PeerTable(retry={PeerState.BUSY: 0.3, PeerState.UNREACHABLE: 0.2})

    async def main():
        driver = JobDriver(plan, store, TRAITS, checked_options(local_engines=[FakeEngine(1_500.0)], local_speed=1_500,
                                                           discovery=discovery, connector=connector), RecordingUI())
        driver.peer_table = table
        return await driver.run()

    report = asyncio.run(main())
    nodes = by_name(report)
    assert nodes["busy"]["sentences"] > 0 and nodes["down"]["sentences"] > 0
    assert len(connector.attempts["127.0.0.1:3"]) == 1 and nodes["other"]["state"] == "refused"
    busy = connector.attempts["127.0.0.1:1"]
    assert len(busy) == 2 and busy[1] - busy[0] >= 0.3


def test_a_checked_driver_names_the_broken_rule(tmp_path):
    """With check_invariants the driver's scheduler checks itself: a scheduler whose state is
    broken mid-job fails the job with an AssertionError that tells the sentence's story."""
    plan, store = make_job(tmp_path, sentences=6)

    async def main():
        driver = JobDriver(plan, store, TRAITS, checked_options(local_engines=[FakeEngine()], local_speed=20_000),
                           RecordingUI())
        driver.sched.check_invariants()  # sound as built
        driver.sched._done_count += 1  # a bookkeeping slip, as a bug would make it
        return await driver.run()

    with pytest.raises(AssertionError, match="done count"):
        asyncio.run(main())
