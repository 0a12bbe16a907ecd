"""A Coqui checkpoint folder only the leader has travels to a node: a real `e2a-node serve
--engine coqui` process with an empty voice store, no downloaded models and no --allow-model-dir,
real gRPC on 127.0.0.1, the tiny test-built VITS given to the leader with --model-path, a corpus
book. The node is sent the folder's files, loads the model from its store and speaks its share;
the audiobook is byte-identical to the single-machine run; a second job reuses the stored folder.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cluster_helpers import by_name, node_starter
from tests.conftest import CORPUS, E2A

BOOK = CORPUS / "childrens-literature.epub"
CHAPTERS = "1"


@pytest.fixture(autouse=True)
def private_homes(tmp_path, monkeypatch):
    """Leader and node keep coqui downloads and caches in the test's folder, never the user's."""
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "tts_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def convert(tmp_path, name: str, model_path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / f"{name}.json"
    # One slot of one torch thread, as the node has (NodeProcess): coqui's bytes change with the
    # thread count, and two slots in one process share torch's random state.
    args = [str(E2A), "convert", str(BOOK), "--chapters", CHAPTERS, "--deterministic", "--engine", "coqui",
            "--model-path", str(model_path), "--language", "en", "--slots", "1", "--threads", "1",
            "-o", str(tmp_path / f"{name}.m4b"), "--work-dir", str(tmp_path / f"work-{name}"),
            "--report", str(report), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.fixture(scope="module")
def single(corpus, tiny_vits, tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("single")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTS_HOME", str(tmp / "tts_home"))
        mp.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
        convert(tmp, "single", tiny_vits)
    return (tmp / "single.m4b").read_bytes()


@pytest.fixture
def node(tmp_path):
    with node_starter(tmp_path, "--engine", "coqui") as start:
        yield start


@pytest.mark.slow  # ~70 s on 2 cores: three conversions of a 45-sentence chapter
def test_a_checkpoint_folder_only_the_leader_has_is_sent_once_and_the_book_is_the_same(single, tiny_vits, node,
                                                                                      tmp_path):
    peer = node("peer")
    size = sum(p.stat().st_size for p in tiny_vits.iterdir())  # model.pth and config.json: all it has
    _, report = convert(tmp_path, "first", tiny_vits, "--cluster", peer.target)
    assert (tmp_path / "first.m4b").read_bytes() == single
    got = by_name(report)["peer"]
    assert got["sentences"] > 0, (got, "".join(peer.lines))
    assert got["voice_bytes_received"] == size and got["voice_source"] == "leader"
    assert report["voice_transfers"]["peer"]["finished"] is True
    stored = [p for p in (tmp_path / "state-peer" / "voices").iterdir() if not p.name.startswith(".")]
    assert len(stored) == 1 and sorted(p.name for p in stored[0].iterdir()) == ["config.json", "manifest.json",
                                                                                "model.pth"]

    _, report = convert(tmp_path, "second", tiny_vits, "--cluster", peer.target)
    assert (tmp_path / "second.m4b").read_bytes() == single
    assert by_name(report)["peer"]["voice_bytes_received"] == 0 and by_name(report)["peer"]["sentences"] > 0
    assert report["voice_transfers"] == {}
