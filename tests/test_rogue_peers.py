"""A leader no peer can fool: the real `e2a convert` leading a job with a hostile peer
(tests/rogue_peer.py) on 127.0.0.1. Each rogue run must still produce the audiobook a
single-machine `--deterministic` run makes, byte for byte, and say which peer it dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster_helpers import by_name
from tests.conftest import SAMPLE, run_e2a
from tests.rogue_peer import RoguePeer

CHAPTERS = "1"


@pytest.fixture(scope="module")
def traits():
    from e2a_node.synth import load_engine, resolve_voice
    from e2a_node.synth.base import VoiceSettings, VoiceTraits

    settings = resolve_voice(VoiceSettings(deterministic=True, threads=1), "en")
    return VoiceTraits.of(load_engine(settings))


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("single")
    r = run_e2a("convert", SAMPLE, "--chapters", CHAPTERS, "--deterministic", "-o", tmp / "single.m4b",
                "--work-dir", tmp / "work")
    assert r.returncode == 0, r.stderr
    return (tmp / "single.m4b").read_bytes()


def lead(tmp_path: Path, rogue: RoguePeer, *extra: str):
    return run_e2a("convert", SAMPLE, "--chapters", CHAPTERS, "--deterministic", "-o", tmp_path / "out.m4b",
                   "--work-dir", tmp_path / "work", "--cluster", rogue.target, "--report", tmp_path / "report.json",
                   *extra, timeout=300)


def rogue_row(tmp_path: Path) -> dict:
    report = json.loads((tmp_path / "report.json").read_text())
    return by_name(report)["rogue"]


def test_a_peer_whose_audio_never_ends_is_dropped_and_its_work_redone(tmp_path, traits, single):
    with RoguePeer("endless", traits) as rogue:
        r = lead(tmp_path, rogue)
    assert r.returncode == 0, r.stderr
    assert rogue.assigned and rogue.sent >= 1
    assert (tmp_path / "out.m4b").read_bytes() == single
    row = rogue_row(tmp_path)
    assert row["state"] == "left" and "misbehaved" in row["reason"] and row["sentences"] == 0, row
    assert "rogue left the job: it misbehaved" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_peer_claiming_an_impossible_voice_is_refused(tmp_path, traits, single):
    with RoguePeer("traits", traits) as rogue:
        r = lead(tmp_path, rogue)
    assert r.returncode == 0, r.stderr
    assert not rogue.assigned
    assert (tmp_path / "out.m4b").read_bytes() == single
    assert "rogue (127.0.0.1" in r.stderr and "sample rate of 0 Hz" in r.stderr


def test_no_local_with_only_an_impossible_voice_is_one_line_and_no_file(tmp_path, traits):
    with RoguePeer("traits", traits) as rogue:
        r = lead(tmp_path, rogue, "--no-local")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "no e2a node could take this job" in errors[0], r.stderr
    assert "sample rate of 0 Hz" in r.stderr
    assert not (tmp_path / "out.m4b").exists()


def test_a_peer_sending_audio_for_sentences_it_was_not_leased_is_dropped(tmp_path, traits, single):
    with RoguePeer("unleased", traits, book_sentences=20) as rogue:
        r = lead(tmp_path, rogue)
    assert r.returncode == 0, r.stderr
    assert rogue.sent >= 3
    assert (tmp_path / "out.m4b").read_bytes() == single
    row = rogue_row(tmp_path)
    assert row["state"] == "removed" and "not leased" in row["reason"] and row["sentences"] == 0, row
    assert "taking node rogue off the job" in r.stderr


def test_a_peer_returning_noise_is_caught_by_verification_and_its_sentences_redone(tmp_path, traits, single):
    with RoguePeer("noise", traits) as rogue:
        r = lead(tmp_path, rogue)
    assert r.returncode == 0, r.stderr
    assert rogue.sent >= 1
    assert (tmp_path / "out.m4b").read_bytes() == single
    row = rogue_row(tmp_path)
    assert row["state"] == "removed" and row["verify_failed"] >= 1, row
    assert row["discarded"] == rogue.sent or row["discarded"] >= 1, row
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("Wrote ") and "DROPPED rogue" in last, last


def test_without_verification_noise_would_be_accepted(tmp_path, traits, single):
    """The control that shows the check above can fail: --no-verify-peers lets the noise in."""
    with RoguePeer("noise", traits) as rogue:
        r = lead(tmp_path, rogue, "--no-verify-peers")
    assert r.returncode == 0, r.stderr
    assert rogue.sent >= 1
    assert (tmp_path / "out.m4b").read_bytes() != single
