"""XTTS v2 by name travels by content: coqui-tts keeps it in the Hugging Face hub's cache (a
snapshot folder of links into the repo's blobs), behind the CPML. The tiny test-built XTTS is laid
out the way `snapshot_download` leaves a download (refs/main, snapshots/COMMIT/NAME -> ../../blobs/
SHA), in a private hub cache and coqui data folder; nothing is downloaded.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from e2a_node.errors import E2AError
from e2a_node.synth import coqui, load_engine
from e2a_node.synth.base import VoiceSettings
from e2a_node.voice_bundle import (
    bundle_for_peers,
    local_copy,
    settings_for_files,
    settings_on_this_node,
    voice_files,
)
from tests.hf_cache import XTTS, accept_cpml, hf_download

pytestmark = pytest.mark.skipif(not coqui.available(), reason="coqui-tts not installed")


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """Private coqui data folder and hub cache, offline; (coqui data dir, hub cache)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "tts_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub read the environment when it was imported: point it here too
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "tts_home" / "tts", cache


@pytest.fixture
def xtts_download(tiny_xtts, homes, tmp_path) -> Path:
    readme = tmp_path / "README.md"
    readme.write_text("# XTTS\n")  # in the repo, not read by a load: stays home
    return hf_download(homes[1], {"model.pth": tiny_xtts / "model.pth", "config.json": tiny_xtts / "config.json",
                                  "vocab.json": tiny_xtts / "vocab.json", "README.md": readme})


def test_xtts_by_name_travels_from_the_hub_cache_only_with_the_licence_accepted(tiny_xtts, xtts_download, homes,
                                                                                monkeypatch):
    settings = VoiceSettings(engine="coqui", model=XTTS, language="en")
    assert voice_files(settings) is None  # downloaded, but the CPML was not accepted on this machine
    accept_cpml(homes[0])
    manifest, where = voice_files(settings)
    assert where == xtts_download
    assert [f.path for f in manifest.files] == ["config.json", "model.pth", "vocab.json"]
    for f in manifest.files:  # the content the links point at, not the links
        assert (f.sha256, f.size) == (coqui.file_sha256(tiny_xtts / f.path), (tiny_xtts / f.path).stat().st_size)

    monkeypatch.setenv("COQUI_TOS_AGREED", "1")  # a process setting is not the user's recorded answer
    (homes[0] / XTTS.replace("/", "--") / "tos_agreed.txt").unlink()
    assert voice_files(settings) is None


def test_xtts_not_downloaded_or_without_its_ref_does_not_travel(homes, tiny_xtts):
    accept_cpml(homes[0])
    settings = VoiceSettings(engine="coqui", model=XTTS, language="en")
    assert voice_files(settings) is None  # nothing in the hub cache
    snapshot = hf_download(homes[1], {"model.pth": tiny_xtts / "model.pth", "config.json": tiny_xtts / "config.json",
                                      "vocab.json": tiny_xtts / "vocab.json"})
    (snapshot.parent.parent / "refs" / "main").write_text("main")  # not a commit: not the snapshot a load uses
    assert voice_files(settings) is None


def test_a_snapshot_link_out_of_its_repo_folder_is_refused(xtts_download, homes, tmp_path):
    accept_cpml(homes[0])
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copyfile(xtts_download / "vocab.json", elsewhere)
    (xtts_download / "vocab.json").unlink()
    (xtts_download / "vocab.json").symlink_to(elsewhere)
    with pytest.raises(E2AError, match="vocab.json is a link to a file outside its Hugging Face cache folder") as e:
        voice_files(VoiceSettings(engine="coqui", model=XTTS, language="en"))
    assert "\n" not in str(e.value)


def test_xtts_sent_from_the_hub_cache_loads_on_a_node_with_the_leaders_fingerprint(xtts_download, homes, tmp_path,
                                                                                 voice_clip, monkeypatch):
    accept_cpml(homes[0])
    identities = []  # both loads name the model by its files' content (the snapshot's commit is not sent)
    real_identity = coqui._files_identity
    monkeypatch.setattr(coqui, "_files_identity", lambda folder: identities.append(real_identity(folder))
                        or identities[-1])
    settings = VoiceSettings(engine="coqui", model=XTTS, voice=str(voice_clip), language="en", deterministic=True,
                             threads=1)
    on_leader = load_engine(settings)  # by name, from the hub cache, offline
    files, where = voice_files(settings)
    bundle = bundle_for_peers(settings, files)
    assert bundle.settings.model == XTTS and bundle.settings.model_path is None and bundle.clip_sha256

    # the node's store: regular files of the same content, in a folder of another name
    copy = tmp_path / "node" / "voices" / files.voice_id
    copy.mkdir(parents=True)
    for f in files.files:
        shutil.copyfile(where / f.path, copy / f.path)
    assert not any(p.is_symlink() for p in copy.iterdir())
    on_node = settings_on_this_node(bundle, tmp_path / "node" / "clips", "cpu", 1, settings_for_files(bundle, copy))
    assert (on_node.model, on_node.model_path) == (XTTS, str(copy))
    from_copy = load_engine(on_node)
    assert from_copy.fingerprint == on_leader.fingerprint
    assert len(identities) == 2 and identities[0] == identities[1] and set(identities[0]) == {
        "config.json", "model.pth", "vocab.json"}
    assert from_copy.synthesize("hello there", seed=1) == on_leader.synthesize("hello there", seed=1)
    # the folder alone is a checkpoint folder like any other: fingerprinted by its files
    assert load_engine(replace(on_node, model=None)).fingerprint != on_leader.fingerprint

    # a node with its own identical download uses it (and its fingerprint is the same)
    assert local_copy(bundle) == xtts_download

