"""Traces: every event a scheduler handled and what it answered, as JSON lines, and a replay
that checks a fresh scheduler still answers the same.

    trace = TraceWriter.for_scheduler(path, sched)      # before the first event
    out = sched.handle(event, now); trace.write(now, event, out)
    trace.close()
    replay(path)                                        # [] when every answer is the same

The file: a first line with what the scheduler was built from,
    {"trace": 1, "policy": "stealing" | "chapter", "segments": [chars, ...],
     "chapters": [chapter of each segment, ...] (chapter policy only), "config": {...},
     "done": [indices stored at the start, ...]}
then one line per handled event, in order,
    {"t": now, "event": {"type": "AudioReceived", "node": "a", "lease": 3, "index": 17},
     "out": [{"type": "Accept", "index": 17, "node": "a"}, ...]}.

`encode` / `decode` turn every event and instruction dataclass into {"type": its class name,
**its fields} and back, exactly: fields annotated as tuples (Assign.indices) come back as
tuples, and floats are written as Python's json writes them (the shortest repr that reads back
to the same float; inf as Infinity), so decode(encode(x)) == x for fields of JSON types.

`replay` rebuilds the scheduler from the first line, feeds it the recorded events at the
recorded times and compares its instructions with the recorded ones: a `Mismatch` per line that
differs (or where the scheduler raised). Since the recorded events are fed whatever the
replayed answers were, lines after a first difference may differ too; the first one is where to
look. A trace is plain data: a malformed one raises TraceError.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, get_args, get_origin, get_type_hints

from .chapter_policy import ChapterScheduler
from .config import SchedulerConfig
from .events import Event
from .instructions import Instruction
from .state import Scheduler

VERSION = 1
POLICIES: dict[str, type] = {"stealing": Scheduler, "chapter": ChapterScheduler}


class TraceError(ValueError):
    """The trace cannot be read: not JSON lines of this format."""


def _codec() -> dict[str, tuple[type, tuple[str, ...], frozenset[str]]]:
    """type name -> (class, field names, names of the fields that are tuples)."""
    table = {}
    for cls in (*get_args(Event), *get_args(Instruction)):
        hints = get_type_hints(cls)
        names = tuple(f.name for f in fields(cls))
        tuples = frozenset(n for n in names if get_origin(hints[n]) is tuple)
        table[cls.__name__] = (cls, names, tuples)
    return table


_TYPES = _codec()
_FIELDS = {cls: (name, names, tuples) for name, (cls, names, tuples) in _TYPES.items()}


def encode(obj: Any) -> dict:
    """An event or instruction as {"type": class name, **fields} (tuples as lists)."""
    try:
        name, names, tuples = _FIELDS[type(obj)]
    except KeyError:
        raise TypeError(f"not a scheduler event or instruction: {obj!r}") from None
    out: dict[str, Any] = {"type": name}
    for n in names:
        value = getattr(obj, n)
        out[n] = list(value) if n in tuples else value
    return out


def decode(data: dict) -> Any:
    """The event or instruction `encode` made `data` from."""
    try:
        cls, names, tuples = _TYPES[data["type"]]
    except (KeyError, TypeError):
        raise TraceError(f"not an encoded event or instruction: {data!r}") from None
    kwargs = {n: (tuple(v) if n in tuples else v) for n, v in data.items() if n != "type"}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TraceError(f"{data!r}: {exc}") from None


def arguments(sched) -> dict:
    """What `sched` was built from (the trace's first line). Only before its first event: the
    segments it holds as done change as it works."""
    policy = next((name for name, cls in POLICIES.items() if type(sched) is cls), None)
    if policy is None:
        raise TypeError(f"no trace format for {type(sched).__name__}")
    if sched._now != -math.inf:
        raise ValueError("a trace starts before the scheduler's first event")
    args: dict[str, Any] = {"trace": VERSION, "policy": policy, "segments": list(sched._chars)}
    if policy == "chapter":
        # chapter positions in the book: the same chapters as the numbers it was given
        args["chapters"] = list(sched._ch_of)
    args["config"] = sched.config.to_dict()
    args["done"] = [i for i, a in enumerate(sched._accepted) if a]
    return args


def build(args: dict):
    """A fresh scheduler from a trace's first line."""
    if not isinstance(args, dict) or args.get("trace") != VERSION:
        raise TraceError(f"not a version {VERSION} scheduler trace: {str(args)[:200]}")
    cls = POLICIES.get(args.get("policy"))
    if cls is None:
        raise TraceError(f"unknown policy {args.get('policy')!r}")
    config = SchedulerConfig.from_dict(args["config"])
    if config.to_dict() != args["config"]:
        raise TraceError(f"the trace's config is not this version's: {args['config']!r}")
    if cls is ChapterScheduler:
        return cls(args["segments"], args["chapters"], config, done=args["done"])
    return cls(args["segments"], config, done=args["done"])


class TraceWriter:
    """Writes a trace as the scheduler works: one line per handled event. Line-buffered, so
    a crash leaves every line of the events handled before it."""

    def __init__(self, path: str | Path, arguments: dict) -> None:
        self._file: IO[str] = open(path, "w", encoding="utf-8", buffering=1)
        self._file.write(json.dumps(arguments, separators=(",", ":")) + "\n")

    @classmethod
    def for_scheduler(cls, path: str | Path, sched) -> "TraceWriter":
        return cls(path, arguments(sched))

    def write(self, now: float, event, out: list) -> None:
        line = {"t": now, "event": encode(event), "out": [encode(ins) for ins in out]}
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Mismatch:
    """The trace's line number `line` (the first event is line 2): what was recorded and what
    the replayed scheduler answered (`error`: it raised instead)."""

    line: int
    t: float
    event: Any
    recorded: list = field(default_factory=list)
    replayed: list = field(default_factory=list)
    error: str = ""

    def __str__(self) -> str:
        head = f"line {self.line} (t={self.t!r}): {self.event!r}"
        if self.error:
            return f"{head}\n  the scheduler raised: {self.error}"
        k = next((k for k, (a, b) in enumerate(zip(self.recorded, self.replayed)) if a != b),
                 min(len(self.recorded), len(self.replayed)))
        rec = self.recorded[k] if k < len(self.recorded) else "(nothing)"
        rep = self.replayed[k] if k < len(self.replayed) else "(nothing)"
        return (f"{head}\n  instruction {k + 1} of {len(self.recorded)} recorded / "
                f"{len(self.replayed)} replayed differs:\n"
                f"    recorded: {rec!r}\n    replayed: {rep!r}")


def read(path: str | Path):
    """(arguments, [(line number, t, event, instructions), ...]) of a trace file (line numbers
    from 1, the arguments' line)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines:
        raise TraceError(f"{path}: empty")
    args = _parse(lines[0], 1)
    steps = []
    for k, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        row = _parse(text, k)
        try:
            t, event, out = row["t"], row["event"], row["out"]
        except (KeyError, TypeError):
            raise TraceError(f"line {k}: not a trace line: {text[:200]}") from None
        if not isinstance(t, (int, float)) or not isinstance(out, list):
            raise TraceError(f"line {k}: not a trace line: {text[:200]}")
        steps.append((k, float(t), decode(event), [decode(ins) for ins in out]))
    return args, steps


def _parse(text: str, k: int):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"line {k}: {exc}") from None


def replay(path: str | Path, limit: int | None = None) -> list[Mismatch]:
    """Feed the trace's events to a fresh scheduler of the same policy; the lines whose
    instructions differ (at most `limit` of them). [] means the same answers throughout."""
    args, steps = read(path)
    sched = build(args)
    mismatches: list[Mismatch] = []
    for k, t, event, recorded in steps:
        try:
            replayed = sched.handle(event, t)
        except Exception as exc:  # a tampered trace may make any event illegal
            mismatches.append(Mismatch(k, t, event, recorded, [], f"{type(exc).__name__}: {exc}"))
            break  # its state after a raise is not defined: nothing after it means anything
        if replayed != recorded:
            mismatches.append(Mismatch(k, t, event, recorded, replayed))
            if limit is not None and len(mismatches) >= limit:
                break
    return mismatches
