"""The cluster benchmark harness (scripts/bench_cluster.py): its arithmetic, and one tiny real run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE

sys.path.insert(0, str(ROOT / "scripts"))

import bench_cluster_report as figures  # noqa: E402

REQUIRED = ("scenario", "policy", "nodes", "wall_s", "ideal_s", "efficiency", "redundant_fraction", "recovery_s",
            "cli_wall_s", "node_speeds", "sentences", "steals", "backups")


def test_ideal_counts_each_node_only_while_alive():
    inf = float("inf")
    assert figures.ideal_seconds(400, [(10, 0, inf), (10, 0, inf)]) == pytest.approx(20)
    # one of two dies at t=10: 200 done by then, the other 200 at 10/s
    assert figures.ideal_seconds(400, [(10, 0, inf), (10, 0, 10)]) == pytest.approx(30)
    # a node joining at t=10 speeds up the second half
    assert figures.ideal_seconds(400, [(10, 0, inf), (30, 10, inf)]) == pytest.approx(17.5)
    assert figures.ideal_seconds(10, [(10, 0, 0.5)]) is None  # never finishes


def test_timeline_recovery_measures_until_the_lost_sentences_are_given_out():
    timeline = [
        {"t": 0.0, "event": "assign", "node": "a", "first": 0, "last": 4, "kind": "run"},
        {"t": 0.0, "event": "assign", "node": "b", "first": 5, "last": 9, "kind": "run"},
        {"t": 1.0, "event": "audio", "node": "a", "index": 0},
        {"t": 1.2, "event": "audio", "node": "b", "index": 5},
        # a freezes at 1.5 holding 1-4; b gets a backup of 3-4 at 4.0, then 1-2 at 6.0
        {"t": 4.0, "event": "assign", "node": "b", "first": 3, "last": 4, "kind": "backup"},
        {"t": 6.0, "event": "assign", "node": "b", "first": 1, "last": 2, "kind": "run"},
    ]
    seconds, lost = figures.timeline_recovery(timeline, "a", 1.5)
    assert (seconds, lost) == (pytest.approx(4.5), 4)
    assert figures.timeline_recovery(timeline, "b", 5.0)[1] == 4  # b holds 6-9 (1-2 came later)


@pytest.mark.slow
def test_a_tiny_failure_run_writes_results_and_a_timeline(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_cluster.py"), "--book", str(SAMPLE), "--chapters", "all",
           "--out", str(out), "--scenario", "failure", "--faults", "kill", "--target-seconds", "4",
           "--tmp", str(tmp_path / "tmp")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    records = json.loads((out / "results.json").read_text())
    assert [(r["policy"], r["tls"]) for r in records] == [("stealing", False), ("chapter", False), ("stealing", True)]
    for r in records:
        assert all(k in r for k in REQUIRED), sorted(set(REQUIRED) - set(r))
        assert r["ok"] and r["scenario"] == "failure" and r["nodes"] == 4 and r["fault"] == "kill"
        assert r["sentences_done"] == r["sentences"] > 0
        assert 0 < r["ideal_s"] and 0 < r["efficiency"] <= 1.05
        assert r["wall_s"] < r["cli_wall_s"]
        assert 0 <= r["redundant_fraction"] < 0.5
        assert r["recovery_s"] is not None and 0 <= r["recovery_s"] < 10
        kill = r["actions"][0]
        assert kill["action"] == "kill" and kill["node"] == "n4" and 0 < kill["t"] < r["wall_s"]
        assert (out / r["timeline_png"]).read_bytes()[:4] == b"\x89PNG"
        assert (out / r["report_file"]).is_file()
    assert "| kill | 4 | stealing |" in (out / "results.md").read_text()
    assert "| kill+tls | 4 | stealing |" in (out / "results.md").read_text()
    assert list((tmp_path / "tmp").iterdir()) == []  # every run's temp dir removed
    assert "efficiency >= 0.90, a node killed" in run.stdout


def test_a_tiny_whole_book_run_reports_what_the_user_waits_for(tmp_path):
    """The whole scenario at 2 nodes (the Piper run skipped: --node-speed given): an m4b made by
    real nodes and a real leader, with the tail, the encode bound and peak memory in the record."""
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_cluster.py"), "--book", str(SAMPLE), "--out", str(out),
           "--scenario", "whole", "--chapters", "all", "--whole-sizes", "2", "--no-piper", "--node-speed", "3000",
           "--throughput-seconds", "20", "--no-plots", "--tmp", str(tmp_path / "tmp")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    [r] = json.loads((out / "results.json").read_text())
    assert r["ok"] and r["scenario"] == "whole" and r["nodes"] == 2 and r["format"] == "m4b" and r["slots"] == 4
    assert r["node_speeds"] == [3000.0, 3000.0] and r["chapters"] == "all"
    assert 0 < r["wall_s"] < r["cli_wall_s"] and 0 <= r["tail_s"] < r["cli_wall_s"]
    assert 0 < r["start_s"] < r["cli_wall_s"] - r["wall_s"] - r["tail_s"] + 1e-3 and 0 < r["join_s"] <= r["tail_s"]
    assert r["limit_s"] == max(r["ideal_s"], r["encode_bound_s"]) and r["encode_bound_s"] > 0
    assert r["e2e_efficiency"] == pytest.approx(r["limit_s"] / r["cli_wall_s"], abs=1e-3)
    assert 0 < r["peak_rss_mb"] < 4096 and r["worker_peak_rss_mb"] > 0 and r["audio_s"] > 60
    md = (out / "results.md").read_text()
    assert "## whole" in md and "end-to-end efficiency >=" in md and "encode throughput" in md
