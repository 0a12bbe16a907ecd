"""Who sends a node the job's voice files: the leader, or a member that already holds them.

A node that lacks the voice gets it from a holder: the leader (which always has it) or a member
that was admitted with the voice, or has finished receiving it. The rule spreads the uploads:
the holder with the fewest uploads under way, a member before the leader when they tie (the
leader's link also carries every sentence of the job), never a holder that already failed this
node (it died mid-way, or sent a file that failed its hash). Pure: names in, a name out.
"""

from __future__ import annotations

from collections import Counter, defaultdict

LEADER = "leader"


class VoiceSources:
    """The holders of one job's voice and the uploads under way from each."""

    def __init__(self) -> None:
        self.holders: list[str] = [LEADER]  # in the order they became holders
        self.uploads: Counter[str] = Counter()
        self._failed: defaultdict[str, set[str]] = defaultdict(set)  # receiver -> sources that failed it

    def add_holder(self, name: str) -> None:
        if name not in self.holders:
            self.holders.append(name)

    def choose(self, receiver: str) -> str | None:
        """The holder `receiver` should fetch from now; None when every holder has failed it."""
        candidates = [h for h in self.holders if h != receiver and h not in self._failed[receiver]]
        if not candidates:
            return None
        order = {h: i for i, h in enumerate(self.holders)}
        return min(candidates, key=lambda h: (self.uploads[h], h == LEADER, order[h]))

    def started(self, source: str) -> None:
        self.uploads[source] += 1

    def ended(self, source: str, receiver: str, ok: bool) -> None:
        """An upload from `source` to `receiver` ended; a failed one is not tried again for it."""
        self.uploads[source] = max(0, self.uploads[source] - 1)
        if not ok:
            self._failed[receiver].add(source)

    def peer_for(self, receiver: str) -> bool:
        """Whether a member (not the leader) could send `receiver` the voice now."""
        return any(h not in (LEADER, receiver) and h not in self._failed[receiver] for h in self.holders)
