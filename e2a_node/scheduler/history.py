"""A checked scheduler's recent past: the last events it handled and what it answered, and the
story of one segment told from them (the model is dask's `story()`). Pure: no I/O.

A policy built with `check=True` (policy.py) keeps a `History` of its last `HISTORY` calls of
`handle` and runs `check_invariants()` after each one; when a check fails, the AssertionError
says what failed, the event that broke it, and the story of each segment involved:

    sched = Scheduler(chars, config, check=checks_from_env(os.environ))
    sched.story(17)  # ["t=12.250 AudioReceived(node='a', lease=3, index=17) -> Accept(...)", ...]

An entry belongs to segment i's story when its event or one of its instructions names i (an
`index` equal to i, or `indices` holding it), or names a lease given in the history that held
i (Revoke, RevokeAck, RequestSteal, and the StealReply answering such a request), or is a
NodeLeft or RemoveNode of a node such a lease was given to. (Audio and failures of the other
segments of its lease are not in it.)
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import fields

HISTORY = 256  # calls of `handle` a checked policy remembers
STORY_LINES = 40  # at most this many lines of one segment's story in a failure message
STORIES = 4  # the stories of at most this many segments in a failure message

_TRUE = {"1", "true", "yes", "on"}


def checks_from_env(environ: Mapping[str, str]) -> bool:
    """Whether E2A_CHECK_INVARIANTS asks for checked schedulers ("1", "true", "yes", "on").
    The caller passes the environment (`os.environ`): the scheduler package reads none."""
    return environ.get("E2A_CHECK_INVARIANTS", "").strip().lower() in _TRUE


def describe(obj) -> str:
    """One event or instruction, short: a long run of indices is written first..last."""
    parts = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple) and len(value) > 3:
            if value == tuple(range(value[0], value[0] + len(value))):
                text = f"{value[0]}..{value[-1]}"
            else:
                text = f"{value[0]}, {value[1]}, ..., {value[-1]} ({len(value)})"
            parts.append(f"{f.name}=({text})")
        else:
            parts.append(f"{f.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def _names(obj, index: int, leases: set, steals: set, nodes: set) -> bool:
    """Whether `obj` names segment `index` (directly or through what holds it)."""
    own = getattr(obj, "index", None)
    if own is not None:  # about one segment (audio, a failure, Accept, Drop...): that one
        return own == index
    indices = getattr(obj, "indices", None)
    if indices is not None and index in indices:
        return True
    name = type(obj).__name__
    if name == "StealReply":
        return obj.steal_id in steals
    if name in ("NodeLeft", "RemoveNode"):
        return obj.node in nodes
    return getattr(obj, "lease", None) in leases


class History:
    """The last `size` (t, event, instructions) a policy handled, oldest first."""

    __slots__ = ("entries",)

    def __init__(self, size: int = HISTORY) -> None:
        self.entries: deque[tuple[float, object, tuple]] = deque(maxlen=size)

    def add(self, now: float, event, out: list) -> None:
        self.entries.append((now, event, tuple(out)))

    def story(self, index: int) -> list[str]:
        """The entries that concern segment `index`, oldest first, one line each."""
        leases: set[int] = set()  # leases given (in what is remembered) that held it
        steals: set[int] = set()  # steal requests on those leases
        nodes: set[str] = set()  # the nodes those leases went to
        lines = []
        for now, event, out in self.entries:
            for ins in out:
                kind = type(ins).__name__
                if kind == "Assign" and index in ins.indices:
                    leases.add(ins.lease)
                    nodes.add(ins.node)
                elif kind == "RequestSteal" and ins.lease in leases:
                    steals.add(ins.steal_id)
            if (_names(event, index, leases, steals, nodes)
                    or any(_names(ins, index, leases, steals, nodes) for ins in out)):
                lines.append(self.line(now, event, out))
        return lines

    @staticmethod
    def line(now: float, event, out) -> str:
        said = ", ".join(describe(ins) for ins in out) or "nothing"
        return f"t={now:.3f} {describe(event)} -> {said}"

    def explain(self, problem: str) -> str:
        """A failure message: `problem`, the last event, and the story of each segment that
        the problem or the last event names (or, when none, the last few entries)."""
        lines = [problem]
        if not self.entries:
            return problem
        now, event, out = self.entries[-1]
        lines.append(f"after {self.line(now, event, out)}")
        involved: list[int] = []
        for found in re.findall(r"(?:segments?|sentences?|index|indices) [\[(]?(-?\d+)", problem):
            if int(found) not in involved:
                involved.append(int(found))
        for obj in (event, *out):
            for i in _indices(obj):
                if i not in involved:
                    involved.append(i)
        if not involved:
            lines.append(f"the last {min(len(self.entries), 10)} events:")
            lines += ["  " + self.line(*e) for e in list(self.entries)[-10:]]
            return "\n".join(lines)
        for i in involved[:STORIES]:
            story = self.story(i)
            lines.append(f"story of segment {i} (its last {min(len(story), STORY_LINES)} "
                         f"of the {len(self.entries)} events remembered):")
            lines += ["  " + line for line in story[-STORY_LINES:]]
        return "\n".join(lines)


def _indices(obj) -> list[int]:
    """The segment indices an event or instruction names (a run: its first and last)."""
    index = getattr(obj, "index", None)
    if isinstance(index, int):
        return [index]
    indices = getattr(obj, "indices", None)
    if indices:
        return [indices[0]] if len(indices) == 1 else [indices[0], indices[-1]]
    return []
