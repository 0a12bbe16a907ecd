"""scripts/bench_voice_transfer.py --quick: a real `e2a-node serve` on 127.0.0.1 is pushed an 8 MB
Piper-shaped voice over real gRPC; the JSON has positive throughputs and the node's voice store
holds the voice, byte for byte."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

from e2a_node.voices.store import VoiceStore
from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "bench_voice_transfer.py"


def test_quick_run_measures_and_leaves_the_voice_in_the_node_store(tmp_path):
    out = tmp_path / "result.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out), "--tmp", str(tmp_path / "work")],
                         check=False, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| gRPC push (send_voice) |" in run.stdout and "| copy + fsync |" in run.stdout
    result = json.loads(out.read_text())
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["python"]
    assert "convert" not in result  # --quick skips the convert runs

    t = result["throughput"]
    assert t["repeat"] == 1 and t["voice_bytes"] >= 8_000_000
    for key in ("grpc_push", "grpc_e2e", "copy", "copy+sha256"):
        assert len(t["mb_s"][key]) == 1 and t["mb_s"][key][0] > 0, key
        assert t["median_mb_s"][key] > 0, key
    assert t["ratio_grpc_e2e_to_copy"] > 0

    (pushed,) = t["runs"]["grpc"]
    assert pushed["bytes_sent"] == t["voice_bytes"] and pushed["stored_and_verified"] is True
    folder = VoiceStore(Path(pushed["state_dir"]) / "voices", 1 << 40).find(t["voice_id"])
    assert folder is not None, sorted(p.name for p in (Path(pushed["state_dir"]) / "voices").iterdir())
    leader = Path(result["work_dir"]) / "leader-voice"
    for f in t["files"]:
        assert (folder / f["path"]).stat().st_size == f["size"]
        assert filecmp.cmp(folder / f["path"], leader / f["path"], shallow=False), f["path"]
