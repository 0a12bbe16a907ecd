"""How a voice travels to peers: portable names, a cloning clip sent once and cached by hash, and
a Coqui checkpoint folder as the files its load reads (on real files; the loading tests on the
tiny test-built VITS)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from e2a_node.errors import E2AError
from e2a_node.synth import coqui, load_engine
from e2a_node.synth.base import VoiceSettings
from e2a_node.voice_bundle import (VoiceBundle, bundle_for_peers, check_from_wire, local_copy, settings_for_files,
                                   settings_on_this_node, voice_files)
from e2a_node.voices.manifest import manifest_of


def test_a_piper_voice_file_travels_by_name(tmp_path):
    bundle = bundle_for_peers(VoiceSettings(engine="piper", voice=str(tmp_path / "en_GB-alba-medium.onnx"),
                                            threads=3, device="cpu", deterministic=True))
    assert bundle.settings.voice == "en_GB-alba-medium" and bundle.clip is None
    assert bundle.settings.threads is None  # threads and device are each node's own business
    on_peer = settings_on_this_node(bundle, tmp_path / "clips", "cuda:1", 2)
    assert (on_peer.voice, on_peer.device, on_peer.threads) == ("en_GB-alba-medium", "cuda:1", 2)


def test_a_clip_is_sent_once_then_named_by_hash(tmp_path):
    clip = tmp_path / "me.WAV"
    clip.write_bytes(b"RIFF fake clip bytes")
    bundle = bundle_for_peers(VoiceSettings(engine="coqui", model="xtts", voice=str(clip)))
    assert bundle.clip == clip.read_bytes()
    assert bundle.clip_sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert bundle.settings.voice is None and bundle.clip_suffix == ".wav"

    light = bundle.by_hash()
    assert light.clip is None and light.key == bundle.key
    clips = tmp_path / "peer-clips"
    with pytest.raises(E2AError, match="not cached"):
        settings_on_this_node(light, clips, "cpu", None)  # a job start before any handshake

    first = settings_on_this_node(bundle, clips, "cpu", None)  # the handshake caches the bytes
    cached = clips / f"{bundle.clip_sha256}.wav"
    assert first.voice == str(cached) and cached.read_bytes() == clip.read_bytes()
    assert settings_on_this_node(light, clips, "cpu", None).voice == str(cached)


def test_a_damaged_clip_is_refused(tmp_path):
    clip = tmp_path / "me.wav"
    clip.write_bytes(b"original")
    bundle = bundle_for_peers(VoiceSettings(engine="coqui", model="xtts", voice=str(clip)))
    with pytest.raises(E2AError, match="damaged"):
        settings_on_this_node(replace(bundle, clip=b"tampered"), tmp_path / "clips", "cpu", None)


# -- a coqui model as files --------------------------------------------------------------------

needs_coqui = pytest.mark.skipif(not coqui.available(), reason="coqui-tts not installed")
DOWNLOADED = "tts_models/en/ljspeech/vits"  # a catalogue VITS from a GitHub release, no vocoder


@pytest.fixture
def coqui_home(tmp_path, monkeypatch):
    """A private folder of coqui downloads (never the user's)."""
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "tts_home"))
    return tmp_path / "tts_home" / "tts"


def model_folder(folder: Path, config: dict | None = None, **files: bytes) -> Path:
    """A checkpoint folder: config.json (`config`) and `files` (name -> bytes; dots as _ in names)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or {"model": "vits"}))
    for name, data in files.items():
        (folder / name.replace("_DOT_", ".")).write_bytes(data)
    return folder


def test_a_coqui_folder_travels_as_the_files_its_load_reads(tmp_path):
    folder = tmp_path / "run-7"
    config = {"model": "vits", "model_args": {"speakers_file": str(folder / "speaker_ids.json"),
                                              "language_ids_file": "/nowhere/any/more/language_ids.json"}}
    model_folder(folder, config, model_DOT_pth=b"weights", checkpoint_900_DOT_pth=b"older", speakers_DOT_json=b"{}",
                 speaker_ids_DOT_json=b'{"a": 0}', dvae_DOT_pth=b"training only", train_DOT_log=b"loss 0.1")
    (folder / "events").mkdir()
    (folder / "events" / "tb.0").write_bytes(b"tensorboard")
    manifest, where = voice_files(VoiceSettings(engine="coqui", model_path=str(folder)))
    assert where == folder and manifest.engine == "coqui"
    assert [f.path for f in manifest.files] == ["config.json", "model.pth", "speaker_ids.json", "speakers.json"]
    assert manifest.total_bytes == sum((folder / f.path).stat().st_size for f in manifest.files)

    # naming one checkpoint sends that one, which a folder of the files sent loads
    manifest, _ = voice_files(VoiceSettings(engine="coqui", model_path=str(folder / "checkpoint_900.pth")))
    assert [f.path for f in manifest.files] == ["checkpoint_900.pth", "config.json", "speaker_ids.json",
                                                "speakers.json"]


def test_a_coqui_folder_reading_files_elsewhere_or_linking_out_does_not_travel(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.pth").write_bytes(b"weights")
    (elsewhere / "speakers.pth").write_bytes(b"speakers")

    linked = model_folder(tmp_path / "linked")
    (linked / "model.pth").symlink_to(elsewhere / "model.pth")
    with pytest.raises(E2AError, match=r"model.pth is a link to a file outside it"):
        voice_files(VoiceSettings(engine="coqui", model_path=str(linked)))

    inside = model_folder(tmp_path / "inside", weights_DOT_bin=b"weights")
    (inside / "model.pth").symlink_to("weights.bin")  # a link within the folder is the folder's file
    manifest, _ = voice_files(VoiceSettings(engine="coqui", model_path=str(inside)))
    assert [f.path for f in manifest.files] == ["config.json", "model.pth"]

    outside = model_folder(tmp_path / "outside", {"model": "vits", "d_vector_file": [str(elsewhere / "speakers.pth")]},
                           model_DOT_pth=b"weights")
    with pytest.raises(E2AError, match=r"names .*speakers.pth, outside the folder"):
        voice_files(VoiceSettings(engine="coqui", model_path=str(outside)))

    pickled = model_folder(tmp_path / "pickled", {"model": "tacotron2", "audio": {"stats_path": "scale_stats.npy"}},
                           model_DOT_pth=b"weights", scale_stats_DOT_npy=b"\x93NUMPY")
    with pytest.raises(E2AError, match="read with pickle"):
        voice_files(VoiceSettings(engine="coqui", model_path=str(pickled)))


@needs_coqui
def test_a_coqui_model_name_travels_only_from_coquis_download_folder(tmp_path, coqui_home):
    assert voice_files(VoiceSettings(engine="coqui", model=DOWNLOADED)) is None  # not downloaded
    folder = model_folder(coqui_home / DOWNLOADED.replace("/", "--"), model_file_DOT_pth=b"weights")
    manifest, where = voice_files(VoiceSettings(engine="coqui", model=DOWNLOADED))
    assert where == folder and [f.path for f in manifest.files] == ["config.json", "model_file.pth"]

    (folder / "model.pth").write_bytes(b"another")  # coqui's downloader and a folder load would disagree
    assert voice_files(VoiceSettings(engine="coqui", model=DOWNLOADED)) is None
    with_vocoder = "tts_models/en/ljspeech/glow-tts"  # its vocoder is another model, in another folder
    model_folder(coqui_home / with_vocoder.replace("/", "--"), model_file_DOT_pth=b"weights")
    assert voice_files(VoiceSettings(engine="coqui", model=with_vocoder)) is None
    assert voice_files(VoiceSettings(engine="coqui", model="tts_models/../../x")) is None


def coqui_bundle(folder: Path, **settings) -> VoiceBundle:
    settings.setdefault("model_path", str(folder))
    files, _ = voice_files(VoiceSettings(engine="coqui", **settings))
    return bundle_for_peers(VoiceSettings(engine="coqui", deterministic=True, **settings), files)


def test_a_node_loads_a_sent_coqui_folder_from_its_copy_without_allowing_model_dirs(tmp_path):
    leader = model_folder(tmp_path / "leader" / "mine", model_DOT_pth=b"weights", vocab_DOT_json=b"{}")
    bundle = coqui_bundle(leader)
    elsewhere = shutil.copytree(leader, tmp_path / "another-leader" / "same")
    assert coqui_bundle(elsewhere).key == bundle.key  # one loaded voice on a node for both
    store = tmp_path / "store"
    store.mkdir()
    before = settings_for_files(bundle, store)  # the files not here yet: what can be checked is
    assert before.model_path == str(store)
    copy = tmp_path / "store" / bundle.files.voice_id
    shutil.copytree(leader, copy)
    local = settings_for_files(bundle, copy)
    assert (local.model_path, local.model, local.deterministic) == (str(copy), None, True)
    with pytest.raises(E2AError, match="--allow-model-dir"):
        check_from_wire(replace(bundle, files=None))  # a plain leader path still needs the operator's leave

    (copy / "speakers.json").write_bytes(b"{}")  # a file a load of this folder reads, not sent
    with pytest.raises(E2AError, match="not the files its folder loads"):
        settings_for_files(bundle, copy)
    bad = replace(bundle, files=manifest_of("coqui", leader, ["model.pth", "vocab.json"]))
    with pytest.raises(E2AError, match="config.json, a model file"):
        settings_for_files(bad, store)
    with pytest.raises(E2AError, match="not a catalogue name"):
        settings_for_files(replace(bundle, settings=replace(bundle.settings, model="../x")), copy)


def test_a_node_uses_its_own_identical_download_of_a_coqui_model(tmp_path, coqui_home):
    leader = model_folder(tmp_path / "leader", model_file_DOT_pth=b"weights")
    bundle = coqui_bundle(leader)
    assert local_copy(bundle) is None
    mine = shutil.copytree(leader, coqui_home / DOWNLOADED.replace("/", "--"))
    assert local_copy(bundle) == mine  # found by content among the downloads
    assert local_copy(replace(bundle, settings=replace(bundle.settings, model=DOWNLOADED))) == mine
    assert local_copy(replace(bundle, settings=replace(bundle.settings, model="tts_models/en/x/y"))) is None
    (mine / "model_file.pth").write_bytes(b"wEights")  # same size, other bytes
    assert local_copy(bundle) is None
    # the leader's own path, where this node's operator allows model folders (--allow-model-dir)
    assert local_copy(bundle, model_dirs=[tmp_path / "elsewhere"]) is None
    assert local_copy(bundle, model_dirs=[tmp_path]) == leader


def test_a_cloning_clip_goes_with_a_sent_xtts_folder(tmp_path):
    leader = model_folder(tmp_path / "xtts", {"model": "xtts"}, model_DOT_pth=b"weights", vocab_DOT_json=b"{}")
    clip = tmp_path / "me.wav"
    clip.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    bundle = coqui_bundle(leader, voice=str(clip))
    assert [f.path for f in bundle.files.files] == ["config.json", "model.pth", "vocab.json"]
    assert bundle.clip_sha256 and bundle.settings.voice is None
    store = tmp_path / "store"
    store.mkdir()
    settings_for_files(bundle, store)  # before the files: the clip's shape is checked
    copy = shutil.copytree(leader, store / bundle.files.voice_id)
    on_node = settings_on_this_node(bundle, tmp_path / "clips", "cpu", 1, settings_for_files(bundle, copy))
    assert on_node.model_path == str(copy) and Path(on_node.voice).read_bytes() == clip.read_bytes()
    with pytest.raises(E2AError, match="damaged"):
        settings_for_files(replace(bundle, clip=b"RIFF\0\0\0\0WAVEfmt!"), copy)
    vits = model_folder(tmp_path / "vits", model_DOT_pth=b"weights")
    with pytest.raises(E2AError, match="does not clone"):
        settings_for_files(replace(coqui_bundle(vits), clip=bundle.clip, clip_sha256=bundle.clip_sha256,
                                   clip_suffix=".wav"), shutil.copytree(vits, tmp_path / "vits-copy"))


def build_two_speaker_vits(folder: Path, tiny_vits: Path) -> Path:
    """The tiny VITS with two speakers, its config naming their ids file by absolute path, as
    coqui's trainer writes it."""
    import torch
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits

    folder.mkdir()
    (folder / "speaker_ids.json").write_text(json.dumps({"ann": 0, "bob": 1}))
    cfg = json.loads((tiny_vits / "config.json").read_text())
    cfg["use_speaker_embedding"] = cfg["model_args"]["use_speaker_embedding"] = True
    cfg["speakers_file"] = cfg["model_args"]["speakers_file"] = str(folder / "speaker_ids.json")
    cfg["model_args"]["num_speakers"] = 2
    config = VitsConfig()
    config.from_dict(cfg)
    torch.manual_seed(0)
    model = Vits(config)
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


def test_a_sent_multi_speaker_folder_loads_its_own_speakers_file(tiny_vits, tmp_path):
    leader = build_two_speaker_vits(tmp_path / "trained", tiny_vits)
    bundle = coqui_bundle(leader, voice="bob")
    assert [f.path for f in bundle.files.files] == ["config.json", "model.pth", "speaker_ids.json"]
    on_leader = load_engine(VoiceSettings(engine="coqui", model_path=str(leader), voice="bob", deterministic=True))
    spoken = on_leader.synthesize("hello there", seed=1)

    copy = shutil.copytree(leader, tmp_path / "store" / bundle.files.voice_id)
    shutil.rmtree(leader)  # the config still names the leader's speaker_ids.json: the copy's is used
    on_node = load_engine(replace(settings_for_files(bundle, copy), threads=1))
    assert on_node.speaker == on_leader.speaker == "bob"
    assert on_node.fingerprint == on_leader.fingerprint
    assert on_node.synthesize("hello there", seed=1) == spoken


def test_a_catalogue_model_loaded_from_a_sent_copy_has_the_fingerprint_of_its_name(tiny_vits, tmp_path, coqui_home):
    download = coqui_home / DOWNLOADED.replace("/", "--")
    download.mkdir(parents=True)
    shutil.copy(tiny_vits / "model.pth", download / "model_file.pth")
    shutil.copy(tiny_vits / "config.json", download / "config.json")
    settings = VoiceSettings(engine="coqui", model=DOWNLOADED, language="en", deterministic=True)
    by_name = load_engine(settings)
    files, _ = voice_files(settings)
    bundle = bundle_for_peers(settings, files)
    assert bundle.settings.model == DOWNLOADED and bundle.settings.model_path is None

    copy = shutil.copytree(download, tmp_path / "store" / files.voice_id)
    on_node = settings_for_files(bundle, copy)
    assert (on_node.model, on_node.model_path) == (DOWNLOADED, str(copy))
    from_copy = load_engine(on_node)
    assert from_copy.fingerprint == by_name.fingerprint
    assert from_copy.synthesize("hello there", seed=1) == by_name.synthesize("hello there", seed=1)
    # the folder alone is a checkpoint folder like any other: fingerprinted by its files
    assert load_engine(replace(on_node, model=None)).fingerprint != by_name.fingerprint
