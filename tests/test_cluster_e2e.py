"""End-to-end cluster runs: real `e2a-node serve` processes, real gRPC on 127.0.0.1, the real
Piper voice with --deterministic, a corpus book. Whatever the cluster does (steals, a peer
killed, frozen or joining late), the audiobook must be byte-identical to a single-machine run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster_helpers import NodeProcess, by_name, free_port, saved_sentences, wait_until
from tests.conftest import CORPUS, E2A, ROOT, run_e2a

BOOK = CORPUS / "childrens-literature.epub"
CHAPTERS = "1,4"  # the bibliography and a 600-word fable: ~900 words, long enough to interrupt


@pytest.fixture(scope="module")
def single(corpus, tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("single")
    out = tmp / "single.m4b"
    r = run_e2a("convert", BOOK, "--chapters", CHAPTERS, "--deterministic", "-o", out, "--work-dir", tmp / "work")
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


@pytest.fixture
def nodes(tmp_path):
    started: list[NodeProcess] = []

    def start(name: str, **kw) -> NodeProcess:
        node = NodeProcess(name, tmp_path / f"state-{name}", **kw)
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def leader(tmp_path: Path, targets: list[str], *extra: str) -> subprocess.Popen:
    args = [str(E2A), "convert", str(BOOK), "--chapters", CHAPTERS, "--deterministic",
            "-o", str(tmp_path / "cluster.m4b"), "--work-dir", str(tmp_path / "work"),
            "--cluster", ",".join(targets), "--report", str(tmp_path / "report.json"), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err


def report_of(tmp_path: Path) -> dict:
    report = json.loads((tmp_path / "report.json").read_text())
    return {**report, "by_name": by_name(report)}


def test_three_nodes_make_the_same_audiobook_as_one_machine(single, nodes, tmp_path):
    peers = [nodes("peer1").wait_ready(), nodes("peer2").wait_ready()]
    err = finish(leader(tmp_path, [p.target for p in peers]))
    assert (tmp_path / "cluster.m4b").read_bytes() == single
    report = report_of(tmp_path)
    shares = {name: n["sentences"] for name, n in report["by_name"].items()}
    assert set(shares) == {"local", "peer1", "peer2"}, shares
    assert all(v > 0 for v in shares.values()), shares
    assert sum(shares.values()) == report["sentences"]
    assert all(n["audio_seconds"] > 0 and n["characters"] > 0 for n in report["nodes"])
    assert "joined" in err


def wait_mid_run(node: NodeProcess, work: Path, more: int = 8) -> None:
    """Until `node` has joined the job and `more` further sentences were saved: mid-lease."""
    wait_until(node.working, 120, f"{node.name} to join the job")
    start = saved_sentences(work)
    wait_until(lambda: saved_sentences(work) >= start + more, 120, f"{more} more sentences")


def test_a_killed_peer_loses_nothing_and_its_trace_replays(single, nodes, tmp_path):
    peers = [nodes("peer1").wait_ready(), nodes("victim").wait_ready()]
    trace = tmp_path / "trace.jsonl"
    proc = leader(tmp_path, [p.target for p in peers], "--trace", str(trace))
    wait_mid_run(peers[1], tmp_path / "work")
    peers[1].kill()
    err = finish(proc)
    assert (tmp_path / "cluster.m4b").read_bytes() == single
    victim = report_of(tmp_path)["by_name"]["victim"]
    assert victim["state"] == "left", victim
    assert "victim left the job" in err
    # The scheduler's whole part in that run, replayed on a fresh scheduler: the same decisions.
    replay = subprocess.run([sys.executable, str(ROOT / "scripts" / "replay_trace.py"), str(trace)],
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    events = trace.read_text().count("\n")
    assert events > 50 and '"NodeLeft"' in trace.read_text()


@pytest.mark.slow  # the default suite's chaos trials freeze a peer past its lease and join one late
def test_a_frozen_peer_is_worked_around_after_its_lease(single, nodes, tmp_path):
    peers = [nodes("peer1").wait_ready(), nodes("frozen").wait_ready()]
    proc = leader(tmp_path, [p.target for p in peers])
    wait_mid_run(peers[1], tmp_path / "work")
    peers[1].freeze()
    try:
        finish(proc)
    finally:
        peers[1].thaw()
    assert (tmp_path / "cluster.m4b").read_bytes() == single
    report = report_of(tmp_path)
    frozen = report["by_name"]["frozen"]
    assert frozen["lease_expiries"] >= 1 or frozen["state"] == "unresponsive", frozen
    assert report["reassignments"] + report["backups"] >= 1


@pytest.mark.slow  # the default suite's chaos trials freeze a peer past its lease and join one late
def test_a_peer_started_mid_job_gets_work(single, nodes, tmp_path):
    early = nodes("early").wait_ready()
    late_port = free_port()
    proc = leader(tmp_path, [early.target, f"127.0.0.1:{late_port}"], "--no-local")
    wait_until(lambda: saved_sentences(tmp_path / "work") >= 5, 120, "the first sentences")
    nodes("late", port=late_port).wait_ready()
    finish(proc)
    assert (tmp_path / "cluster.m4b").read_bytes() == single
    report = report_of(tmp_path)
    assert "local" not in report["by_name"]
    assert report["by_name"]["late"]["sentences"] > 0, report["by_name"]
    assert report["by_name"]["early"]["sentences"] > 0
