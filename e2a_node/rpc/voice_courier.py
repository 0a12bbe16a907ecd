"""The leader's side of voices travelling: getting a node that lacks the job's voice its files.

A node answers the handshake with the voice files it lacks (and how much of each it holds).
The courier picks a source with `scheduler.voice_sources` (the leader, or a member that holds
the voice), has the files sent (the leader pushes them with ReceiveVoice; a member is fetched
from by the node itself, FetchVoice), and asks the handshake again, which says what is still
missing: so a source that dies mid-way or sends a file that fails its hash is followed by the
next one, from where the node got to. Progress goes on the job's events as VoiceTransfer.

While handshakes with other nodes are still under way and no member holds the voice yet, the
courier waits for them, a few seconds at most, so that the first nodes to answer are not all
sent the voice by the leader when a member that has it is about to be admitted. The job never
waits: the nodes already in work meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from e2a_node.cluster.members import VoiceTransfer
from e2a_node.rpc.client import Admitted, PeerClient
from e2a_node.scheduler.voice_sources import LEADER, VoiceSources
from e2a_node.voices.manifest import VoiceManifest

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 0.5  # VoiceTransfer events per node at most this often
HOLDER_WAIT_SECONDS = 5.0  # how long a node waits for a member holding the voice to be admitted
MAX_ATTEMPTS = 4  # sources tried per node before it is left out of the job


class VoiceCourier:
    """One job's voice files (`files`, in `folder` on this machine) and who holds them."""

    def __init__(self, files: VoiceManifest, folder: Path) -> None:
        self.files, self.folder = files, folder
        self.sources = VoiceSources()
        self.targets: dict[str, str] = {}  # holder name -> host:port
        self.handshaking = 0  # handshakes under way now (a holder may be among them)
        self._changed = asyncio.Condition()

    async def handshake(self, ask: Callable[[], Awaitable[Admitted]]) -> Admitted:
        """A handshake with some node, counted while it is under way."""
        self.handshaking += 1
        try:
            return await ask()
        finally:
            self.handshaking -= 1
            await self._notify()

    async def admitted(self, name: str, target: str) -> None:
        """`name` (at `target`) holds the voice now: other nodes may fetch it from there."""
        self.targets[name] = target
        self.sources.add_holder(name)
        await self._notify()

    async def deliver(self, client: PeerClient, name: str, admitted: Admitted,
                      ask: Callable[[], Awaitable[Admitted]], events: asyncio.Queue) -> Admitted:
        """Get node `name` the files it lacks, one source after another, and return its last
        handshake (accepted when it has them all and loaded the voice). A broken node raises
        what its handshake raises; PeerMisbehaved for nonsense progress."""
        total = self.files.total_bytes
        held = self.files.held_bytes(admitted.missing)
        used: list[str] = []
        moved = 0
        events.put_nowait(VoiceTransfer(name, held, total, source=""))  # no source chosen yet
        for _attempt in range(MAX_ATTEMPTS):
            if admitted.accepted or not admitted.missing:
                break
            source = await self._choose(name)
            if source is None:
                break
            if source not in used:
                used.append(source)
            report = _Progress(events, name, total, held, moved, ", then ".join(used))
            ok = False
            self.sources.started(source)
            try:
                if source == LEADER:
                    ok = await client.send_voice(self.files, self.folder, admitted.missing, report.sent)
                else:
                    ok = await client.fetch_voice(self.files, self.targets[source], source, report.fetched)
            except grpc.aio.AioRpcError as exc:
                log.warning("node %s: the voice from %s failed: %s", name, source, client.describe(exc))
            except asyncio.TimeoutError:
                log.warning("node %s: the voice from %s did not arrive in time", name, source)
            finally:
                self.sources.ended(source, name, ok)
            moved += report.moved
            if ok:  # all in and verified: what follows is the node loading the voice
                events.put_nowait(VoiceTransfer(name, total, total, moved, ", then ".join(used), finished=True))
            admitted = await self.handshake(ask)
            held = total if admitted.accepted else self.files.held_bytes(admitted.missing)
        done = admitted.accepted
        events.put_nowait(VoiceTransfer(name, held, total, moved, ", then ".join(used) or LEADER, finished=done))
        if done:
            log.info("node %s has the voice (%d bytes from %s)", name, moved, ", then ".join(used) or "its store")
        return admitted

    async def _choose(self, receiver: str) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLDER_WAIT_SECONDS
        async with self._changed:
            while not self.sources.peer_for(receiver) and self.handshaking > 0:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except asyncio.TimeoutError:
                    break
        return self.sources.choose(receiver)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class _Progress:
    """One attempt's progress, as VoiceTransfer events a few times a second. `moved`: the bytes
    that went from the source to the node (pushed by the leader, or counted by the node)."""

    def __init__(self, events: asyncio.Queue, name: str, total: int, held: int, moved: int, source: str) -> None:
        self.events, self.name, self.total, self.source = events, name, total, source
        self.held, self.before, self.moved = held, moved, 0
        self._last = 0.0

    def sent(self, n: int) -> None:
        """The leader pushed `n` more bytes."""
        self.moved += n
        self._event(self.held + self.moved)

    def fetched(self, held: int, received: int) -> None:
        """The node holds `held` bytes of the voice, `received` of them from the source so far."""
        self.moved = received
        self._event(held)

    def _event(self, held: int) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last >= PROGRESS_SECONDS:
            self._last = now
            self.events.put_nowait(VoiceTransfer(self.name, held, self.total, self.before + self.moved, self.source))
