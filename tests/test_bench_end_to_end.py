"""scripts/bench_end_to_end.py on the sample book: a real `e2a convert` with the benchmark engine,
the serial export timed after it, and the encode throughput; the figures are consistent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE

SCRIPT = ROOT / "scripts" / "bench_end_to_end.py"


def test_the_sample_book_end_to_end_gives_consistent_figures(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), "--book", str(SAMPLE), "--chars-per-second", "2000",
                          "--throughput-seconds", "30", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["chapters"] == 4 and r["audio_h"] > 0 and r["serial_export_s"] > 0
    assert 0 < r["synthesis_s"] <= r["wall_s"] and 0 <= r["tail_s"] <= r["wall_s"]
    assert r["ideal_s"] == pytest.approx(r["characters"] / 2000, abs=0.1)
    assert r["limit_s"] == max(r["ideal_s"], r["encode_bound_s"])
    assert r["efficiency"] == pytest.approx(r["limit_s"] / r["wall_s"], abs=0.01)
