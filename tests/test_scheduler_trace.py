"""Scheduler traces (scheduler/trace.py): exact encoding, a recorded simulation that replays
identically, and a tampered trace that is caught (also through scripts/replay_trace.py)."""

from __future__ import annotations

import json
import math
from dataclasses import fields
import subprocess
import sys
from pathlib import Path

import pytest

from e2a_node.scheduler import (Accept, Assign, AudioInvalid, AudioReceived, Compare, Compared,
                                Discard, Drop, GiveUp, Heartbeat, JobDone, NodeJoined, NodeLeft,
                                NodeRefused, RemoveNode, RequestSteal, Revoke, RevokeAck,
                                Scheduler, SchedulerConfig, SegmentFailed, StealReply, Tick)
from e2a_node.scheduler.chapter_policy import ChapterScheduler
from e2a_node.scheduler.simulate import SimNode, simulate
from e2a_node.scheduler.trace import (TraceError, TraceWriter, arguments, build, decode, encode,
                                      replay)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "replay_trace.py"
CHARS = [40 + (i * 37) % 160 for i in range(300)]

EVERY_TYPE = [
    NodeJoined("a", 2, 150.5, True), NodeLeft("a", "stream broke"), NodeRefused("b", "voice"),
    AudioReceived("a", 3, 17), AudioInvalid("a", 3, 18, "too short"),
    SegmentFailed("a", 3, 19, "RuntimeError: boom"), Heartbeat("a"), Tick(),
    StealReply("a", 4, 2**32 - 1), RevokeAck("a", 3), Compared(5, "b", "a", False),
    Assign("a", 3, (17, 18, 19), 0.1 + 0.2, "steal"), Accept(17, "a"), Drop(18, "a", "stale"),
    Compare(5, "b", "a"), Discard(5, "a"), RequestSteal("a", 4, 3, 19), Revoke("a", 3, "expired"),
    RemoveNode("a", "3 failures"), JobDone(), GiveUp("no node is left"),
    Assign("a", 9, (1,), math.inf),
]


def run_to_trace(path, nodes, config=None, **kw):
    return simulate(CHARS, nodes, config, trace=path, **kw)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def write_lines(path, rows) -> None:
    Path(path).write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.mark.parametrize("obj", EVERY_TYPE, ids=lambda o: type(o).__name__)
def test_every_event_and_instruction_round_trips_exactly(obj):
    data = encode(obj)
    assert data["type"] == type(obj).__name__
    back = decode(json.loads(json.dumps(data)))
    assert back == obj and type(back) is type(obj)
    for f in fields(obj):  # tuples stay tuples, floats floats, bools bools
        assert type(getattr(back, f.name)) is type(getattr(obj, f.name))
    if type(obj) is Assign:
        assert type(back.indices) is tuple and back.expires_at == obj.expires_at


def test_encoding_refuses_what_it_does_not_know():
    with pytest.raises(TypeError):
        encode(object())
    with pytest.raises(TraceError):
        decode({"type": "Nonsense"})
    with pytest.raises(TraceError):
        decode({"type": "Accept", "index": 1})  # a field missing


def test_a_simulated_run_with_a_killed_node_replays_identically(tmp_path):
    path = tmp_path / "run.jsonl"
    nodes = [SimNode("a", 150.0), SimNode("b", 75.0, slots=2, kill_at=20.0),
             SimNode("c", 40.0, freeze_at=10.0, thaw_at=25.0), SimNode("d", 100.0, lie_at=5.0)]
    config = SchedulerConfig(verify_fraction=0.1, verify_seed=7)
    result = run_to_trace(path, nodes, config)
    assert result.done
    rows = lines(path)
    assert rows[0]["policy"] == "stealing" and rows[0]["segments"] == CHARS
    assert len(rows) == result.events + 1  # the arguments, then one line per event
    kinds = {ins["type"] for row in rows[1:] for ins in row["out"]}
    assert {"Assign", "Accept", "Revoke", "Compare", "Discard", "RemoveNode", "JobDone"} <= kinds
    assert any(row["event"]["type"] == "NodeLeft" for row in rows[1:])
    assert replay(path) == []
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every instruction identical" in done.stdout


def test_a_chapter_policy_run_with_resumed_segments_replays_identically(tmp_path):
    path = tmp_path / "chapter.jsonl"
    chapters = [1 + i // 25 for i in range(len(CHARS))]
    stored = set(range(0, 300, 7))

    def factory(chars, config, done):
        return ChapterScheduler(chars, chapters, config, done)

    result = run_to_trace(path, [SimNode("a", 150.0), SimNode("b", 60.0, kill_at=15.0)],
                          done=stored, scheduler=factory)
    assert result.done
    first = lines(path)[0]
    assert first["policy"] == "chapter" and first["done"] == sorted(stored)
    assert replay(path) == []


def test_a_tampered_instruction_is_reported_at_its_line(tmp_path):
    path = tmp_path / "run.jsonl"
    run_to_trace(path, [SimNode("a", 150.0), SimNode("b", 75.0, kill_at=20.0)])
    rows = lines(path)
    k = next(k for k, row in enumerate(rows) if k > 10 and
             any(ins["type"] == "Assign" for ins in row["out"]))
    ins = next(ins for ins in rows[k]["out"] if ins["type"] == "Assign")
    ins["indices"] = ins["indices"][:-1] or [ins["indices"][0] + 1]
    write_lines(path, rows)
    mismatches = replay(path)
    assert mismatches and mismatches[0].line == k + 1  # file lines count from 1
    assert "recorded" in str(mismatches[0]) and "Assign" in str(mismatches[0])
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"line {k + 1} " in done.stdout


def test_a_tampered_event_is_reported(tmp_path):
    path = tmp_path / "run.jsonl"
    run_to_trace(path, [SimNode("a", 150.0), SimNode("b", 75.0)])
    rows = lines(path)
    k = next(k for k, row in enumerate(rows) if row.get("event", {}).get("type") == "AudioReceived")
    rows[k]["event"]["index"] += 1  # audio the node was not sent: answered differently
    write_lines(path, rows)
    (first, *_) = replay(path, limit=1)
    assert first.line == k + 1 and first.replayed != first.recorded


def test_time_going_backwards_in_a_trace_is_an_error_at_its_line(tmp_path):
    path = tmp_path / "run.jsonl"
    run_to_trace(path, [SimNode("a", 150.0)])
    rows = lines(path)
    rows[5]["t"] = -1.0
    write_lines(path, rows)
    mismatches = replay(path)
    assert len(mismatches) == 1 and mismatches[0].line == 6
    assert "time went backwards" in mismatches[0].error


def test_not_a_trace(tmp_path):
    path = tmp_path / "junk.jsonl"
    path.write_text("hello\n")
    with pytest.raises(TraceError):
        replay(path)
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True)
    assert done.returncode == 2 and "replay_trace:" in done.stderr
    write_lines(path, [{"trace": 1, "policy": "stealing", "segments": [1], "config": {"nope": 1},
                        "done": []}])
    with pytest.raises(TraceError, match="config"):
        replay(path)


def test_a_trace_starts_before_the_first_event(tmp_path):
    sched = Scheduler([10, 20], SchedulerConfig())
    args = arguments(sched)
    assert build(args).stats() == sched.stats()
    sched.handle(Tick(), 0.0)
    with pytest.raises(ValueError):
        TraceWriter.for_scheduler(tmp_path / "late.jsonl", sched)
