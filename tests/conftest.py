"""Shared test fixtures: the corpus, the sample book, and running the real `e2a` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "samples" / "aesop-fables.epub"
E2A = Path(sys.executable).parent / "e2a"

pytest_plugins = ["tests.fixtures_coqui"]

# Every job a test runs (in this process or in an `e2a` it starts) has its scheduler check its
# invariants after every event: a broken rule fails the test with the story of the sentences.
os.environ.setdefault("E2A_CHECK_INVARIANTS", "1")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS}")
    return CORPUS


def run_e2a(*args: str | Path, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed `e2a` command and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(E2A), *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
