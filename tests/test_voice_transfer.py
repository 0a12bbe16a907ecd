"""A voice only the leader has travels to the nodes: real `e2a-node serve` processes with empty
voice stores, real gRPC on 127.0.0.1, the real Piper voice copied under another name (so no node
has it bundled or installed), a corpus book. The audiobook must be byte-identical to the
single-machine run; a second job reuses the stored voice; a store too small says so and the job
still finishes.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from e2a_node.synth.piper import _bundled_files
from tests.cluster_helpers import NodeProcess
from tests.conftest import CORPUS, E2A

BOOK = CORPUS / "childrens-literature.epub"
CHAPTERS = "4"
VOICE = "xx_XX-travelling-medium"


@pytest.fixture(scope="module")
def leader_voice(tmp_path_factory):
    folder = tmp_path_factory.mktemp("leader-voices")
    model, config = _bundled_files()
    shutil.copyfile(model, folder / f"{VOICE}.onnx")
    shutil.copyfile(config, folder / f"{VOICE}.onnx.json")
    return folder / f"{VOICE}.onnx"


def convert(tmp_path, name: str, voice, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / f"{name}.json"
    args = [str(E2A), "convert", str(BOOK), "--chapters", CHAPTERS, "--deterministic", "--voice", str(voice),
            "-o", str(tmp_path / f"{name}.m4b"), "--work-dir", str(tmp_path / f"work-{name}"),
            "--report", str(report), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.fixture(scope="module")
def single(corpus, leader_voice, tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("single")
    convert(tmp, "single", leader_voice)
    return (tmp / "single.m4b").read_bytes()


@pytest.fixture
def node(tmp_path, monkeypatch):
    started: list[NodeProcess] = []

    def start(name: str, *extra: str) -> NodeProcess:
        empty = tmp_path / f"voices-{name}"
        empty.mkdir()
        monkeypatch.setenv("E2A_VOICES_DIR", str(empty))  # the node has no voice of its own but the bundled one
        started.append(NodeProcess(name, tmp_path / f"state-{name}", extra=extra).wait_ready())
        return started[-1]

    yield start
    for n in started:
        n.stop()


def by_name(report: dict) -> dict:
    return {n["name"]: n for n in report["nodes"]}


def test_a_voice_only_the_leader_has_is_sent_once_and_the_book_is_the_same(single, leader_voice, node, tmp_path):
    peer = node("peer")
    size = leader_voice.stat().st_size + leader_voice.with_suffix(".onnx.json").stat().st_size
    done, report = convert(tmp_path, "first", leader_voice, "--cluster", peer.target)
    assert (tmp_path / "first.m4b").read_bytes() == single
    got = by_name(report)["peer"]
    assert got["sentences"] > 0, report["nodes"]
    assert got["voice_bytes_received"] == size and got["voice_source"] == "leader"
    assert report["voice_transfers"]["peer"]["finished"] is True
    stored = list((tmp_path / "state-peer" / "voices").iterdir())
    assert [p.name for p in stored if not p.name.startswith(".")] and all(".partial" not in p.name for p in stored)

    done, report = convert(tmp_path, "second", leader_voice, "--cluster", peer.target)
    assert (tmp_path / "second.m4b").read_bytes() == single
    assert by_name(report)["peer"]["voice_bytes_received"] == 0 and by_name(report)["peer"]["sentences"] > 0
    assert report["voice_transfers"] == {}


def test_a_store_too_small_refuses_the_voice_in_one_line_and_the_job_goes_on(single, leader_voice, node, tmp_path):
    peer = node("small", "--voice-store-limit", "1M")
    done, report = convert(tmp_path, "small", leader_voice, "--cluster", peer.target)
    assert (tmp_path / "small.m4b").read_bytes() == single
    refusal = [line for line in done.stderr.splitlines() if "small" in line and "refused" in line]
    assert len(refusal) == 1 and "voice store holds at most" in refusal[0], done.stderr
    assert "Traceback" not in done.stderr
    assert all(n["name"] != "small" or n["sentences"] == 0 for n in report["nodes"])
