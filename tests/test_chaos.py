"""A short chaos run in the default suite: three randomised trials of scripts/chaos.py on a private
LAN of network namespaces, each audiobook byte-identical to the single-machine one. Seed 364's
three trials hold every kind of fault: a peer killed; a peer frozen for 12 s (past its lease),
the leader killed and re-run, a link cut; a peer joining late and one restarted."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.netns_helpers import ROOT, lan  # noqa: F401  (the fixture proves namespaces work here)


def test_three_chaos_trials_give_the_single_machine_audiobook(lan, tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "chaos.py"), "--trials", "3", "--seed", "364",
                          "--netns", "--out", str(out), "--tmp", str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out / "chaos.json").read_text())
    assert summary["identical"] == 3 and len(summary["trials"]) == 3
    faults = [f for t in summary["trials"] for f in t["faults"]]
    assert faults and all(f["fired_at"] is not None for f in faults), faults
    assert {f["kind"] for f in faults} == {"kill", "freeze", "restart", "join", "leader", "cut"}
    assert "3 of 3 trials identical" in run.stdout
