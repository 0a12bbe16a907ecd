"""XTTS v2 by name, downloaded only on the leader, reads a chapter in a cluster: a real `e2a-node
serve --engine coqui` process with an empty voice store, no downloaded models and the hub offline
is sent the model's files from the leader's Hugging Face cache and the cloning clip, loads them
and speaks its share over real gRPC on 127.0.0.1. The audiobook is byte-identical to the leader's
run alone.

The model is the tiny test-built XTTS laid out as a hub download (tests/hf_cache.py), made to read
every sentence for 60 audio tokens (2.6 s): plausible for this chapter's 12 to 93 characters, so
the leader's check of a peer's audio keeps what the node sends.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from e2a_node.synth import coqui
from tests.cluster_helpers import by_name, node_starter
from tests.conftest import CORPUS, E2A
from tests.fixtures_coqui import build_tiny_xtts
from tests.hf_cache import XTTS, accept_cpml, hf_download

pytestmark = [pytest.mark.skipif(not coqui.available(), reason="coqui-tts not installed"),
              pytest.mark.slow]  # ~2.5 min on 2 cores: 44 sentences of 2.6 s twice, through a full-size decoder

BOOK = CORPUS / "childrens-literature.epub"
CHAPTERS = "1"
MODEL_FILES = ("config.json", "model.pth", "vocab.json")


def homes(root) -> dict[str, str]:
    """The environment that gives a process its own coqui data folder and hub cache, offline."""
    return {"TTS_HOME": str(root / "tts_home"), "HF_HUB_CACHE": str(root / "hf_cache"), "HF_HUB_OFFLINE": "1",
            "XDG_CACHE_HOME": str(root / "cache")}


@pytest.fixture(scope="module")
def leader_home(tmp_path_factory):
    """A machine that downloaded XTTS v2 and accepted its licence."""
    root = tmp_path_factory.mktemp("leader")
    model = build_tiny_xtts(root / "built", audio_tokens=60)
    hf_download(root / "hf_cache", {name: model / name for name in MODEL_FILES})
    accept_cpml(root / "tts_home" / "tts")
    return root, sum((model / name).stat().st_size for name in MODEL_FILES)


def convert(leader_home, tmp_path, name: str, clip, *extra: str) -> dict:
    report = tmp_path / f"{name}.json"
    # One slot of one torch thread, as the node has (NodeProcess): coqui's bytes change with the
    # thread count.
    args = [str(E2A), "convert", str(BOOK), "--chapters", CHAPTERS, "--deterministic", "--engine", "coqui",
            "--model", XTTS, "--voice", str(clip), "--language", "en", "--slots", "1", "--threads", "1",
            "-o", str(tmp_path / f"{name}.m4b"), "--work-dir", str(tmp_path / f"work-{name}"),
            "--report", str(report), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **homes(leader_home[0])})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def single(corpus, leader_home, voice_clip, tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("single")
    convert(leader_home, tmp, "single", voice_clip)
    return (tmp / "single.m4b").read_bytes()


def test_xtts_by_name_only_the_leader_downloaded_reads_in_the_cluster_and_the_book_is_the_same(
        single, leader_home, voice_clip, tmp_path, monkeypatch):
    def own_homes(name: str) -> None:
        for key, value in homes(tmp_path / f"home-{name}").items():
            monkeypatch.setenv(key, value)

    with node_starter(tmp_path, "--engine", "coqui", env=own_homes) as start:
        peer = start("peer")
        report = convert(leader_home, tmp_path, "cluster", voice_clip, "--cluster", peer.target)
    assert (tmp_path / "cluster.m4b").read_bytes() == single
    got = by_name(report)["peer"]
    assert got["sentences"] > 0, (got, "".join(peer.lines))
    assert got["voice_bytes_received"] == leader_home[1] and got["voice_source"] == "leader"
    assert report["voice_transfers"]["peer"]["finished"] is True
    [stored] = [p for p in (tmp_path / "state-peer" / "voices").iterdir() if len(p.name) == 64]
    assert sorted(p.name for p in stored.iterdir()) == sorted([*MODEL_FILES, "manifest.json"])
    assert not (tmp_path / "home-peer" / "hf_cache").exists()  # nothing downloaded or cached on the node
