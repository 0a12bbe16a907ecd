"""Voices as content: manifests (voice ids, hostile ones refused, hashes cached) and the node's
voice store (chunked, resumable, verified, atomic, bounded with LRU eviction), on real files."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from e2a_node.errors import E2AError
from e2a_node.voices import manifest as manifest_module
from e2a_node.voices import store as store_module
from e2a_node.voices.manifest import (
    EMPTY_SHA256,
    HashCache,
    VoiceFile,
    VoiceManifest,
    check_manifest,
    manifest_of,
)
from e2a_node.voices.store import VoiceStore, VoiceStoreError, format_size, parse_size

SHA_A = "a" * 64


def voice(engine: str = "piper", **files: bytes) -> tuple[VoiceManifest, dict[str, bytes]]:
    """A manifest for `files` (keyword names; "__" stands for "/"), and the contents by path."""
    contents = {name.replace("__", "/"): data for name, data in files.items()}
    listed = tuple(VoiceFile(path, len(data), hashlib.sha256(data).hexdigest()) for path, data in contents.items())
    return VoiceManifest(engine, listed), contents


def piper_voice(tag: bytes, size: int = 1000) -> tuple[VoiceManifest, dict[str, bytes]]:
    model = (tag * size)[:size]
    return voice(**{"v.onnx": model, "v.onnx.json": b'{"tag": "' + tag + b'"}'})


def send(receiving, contents: dict[str, bytes], chunk: int = 300) -> None:
    """Send every missing file from where it resumes, in chunks."""
    for f, offset in receiving.missing():
        data = contents[f.path]
        while offset < f.size:
            piece = data[offset:offset + chunk]
            receiving.write(f.path, offset, piece)
            offset += len(piece)
        if f.size == 0:
            receiving.write(f.path, 0, b"")


def store_voice(store: VoiceStore, m: VoiceManifest, contents: dict[str, bytes]) -> Path:
    with store.receive(m) as r:
        send(r, contents)
        return r.complete()


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# -- manifests ----------------------------------------------------------------------------------


def test_voice_id_is_stable_and_changes_with_every_field():
    m, _ = voice(**{"a.onnx": b"model", "a.onnx.json": b"{}"})
    f1, f2 = m.files
    assert VoiceManifest("piper", (f2, f1)) == m  # listed in any order, sorted by path
    assert VoiceManifest("piper", (f2, f1)).voice_id == m.voice_id
    assert m.voice_id == VoiceManifest.from_dict(json.loads(json.dumps(m.to_dict()))).voice_id
    assert len(m.voice_id) == 64 and int(m.voice_id, 16) >= 0
    changed = [
        VoiceManifest("coqui", m.files),
        VoiceManifest("piper", (VoiceFile("b.onnx", f1.size, f1.sha256), f2)),
        VoiceManifest("piper", (VoiceFile(f1.path, f1.size + 1, f1.sha256), f2)),
        VoiceManifest("piper", (VoiceFile(f1.path, f1.size, SHA_A), f2)),
        VoiceManifest("piper", (f1,)),
    ]
    ids = {c.voice_id for c in changed} | {m.voice_id}
    assert len(ids) == len(changed) + 1


def test_voice_id_encoding_is_the_documented_one():
    m = VoiceManifest("piper", (VoiceFile("x.onnx", 3, SHA_A),))

    def s(text: str) -> bytes:
        return len(text).to_bytes(4, "big") + text.encode()

    encoded = (b"e2a-voice-manifest-v1\n" + s("piper") + (1).to_bytes(4, "big")
               + s("x.onnx") + (3).to_bytes(8, "big") + s(SHA_A))
    assert m.voice_id == hashlib.sha256(encoded).hexdigest()


def test_a_manifest_round_trips_through_json():
    m, _ = voice(engine="coqui", **{"config.json": b"{}", "model.pth": b"weights", "speakers__en.pth": b"s"})
    d = json.loads(json.dumps(m.to_dict()))
    assert [f["path"] for f in d["files"]] == ["config.json", "model.pth", "speakers/en.pth"]
    assert check_manifest(d) == m and VoiceManifest.from_dict(d) == m
    assert check_manifest(m) == m and m.total_bytes == 2 + 7 + 1


def good(**changes) -> dict:
    d = {"engine": "piper", "files": [{"path": "v.onnx", "size": 10, "sha256": SHA_A}]}
    d.update(changes)
    return d


def files(*paths: str, size: int = 10) -> list[dict]:
    return [{"path": p, "size": size, "sha256": SHA_A} for p in paths]


HOSTILE = [
    ("not a dict", ["v.onnx"], "must be an object"),
    ("engine missing", {"files": files("v.onnx")}, "is not a string"),
    ("engine uppercase", good(engine="Piper"), "is not an engine name"),
    ("engine too long", good(engine="p" * 33), "is not an engine name"),
    ("engine with a dash", good(engine="pi-per"), "is not an engine name"),
    ("engine starting with a digit", good(engine="1piper"), "is not an engine name"),
    ("files not a list", good(files="v.onnx"), "must be a list"),
    ("no files", good(files=[]), "must list 1 to 64"),
    ("65 files", good(files=files(*(f"f{i}" for i in range(65)))), "at most 64"),
    ("a file not a dict", good(files=["v.onnx"]), "must be an object"),
    ("path not a string", good(files=[{"path": 5, "size": 1, "sha256": SHA_A}]), "is not a string"),
    ("absolute", good(files=files("/etc/passwd")), "is absolute"),
    ("dot dot", good(files=files("../x")), ". or .. part"),
    ("dot dot inside", good(files=files("a/../../x")), ". or .. part"),
    ("dot", good(files=files("./x")), ". or .. part"),
    ("empty path", good(files=files("")), "empty part"),
    ("double slash", good(files=files("a//b")), "empty part"),
    ("trailing slash", good(files=files("a/")), "empty part"),
    ("backslash", good(files=files("a\\b")), "backslash"),
    ("too deep", good(files=files("a/b/c/d/e")), "at most 4"),
    ("too long", good(files=files("a" * 120 + "/" + "b" * 120 + "/" + "c" * 20)), "longer than 256"),
    ("hidden name", good(files=files(".hidden")), "not a plain file name"),
    ("name too long", good(files=files("a" * 129)), "not a plain file name"),
    ("space in name", good(files=files("my voice.onnx")), "not a plain file name"),
    ("nul in name", good(files=files("a\x00b")), "not a plain file name"),
    ("non-ascii name", good(files=files("voix-é.onnx")), "not a plain file name"),
    ("duplicate", good(files=files("v.onnx", "v.onnx")), "listed twice"),
    ("duplicate in another case", good(files=files("V.onnx", "v.onnx")), "differ only in case"),
    ("a file that is a folder too", good(files=files("model", "model/config.json")), "is also a folder"),
    ("a file that is a folder in another case", good(files=files("Model", "model/x")), "is also a folder"),
    ("the store's manifest name", good(files=files("Manifest.json")), "voice store gives a voice's manifest"),
    ("the store's part suffix", good(files=files("v.onnx.PART")), "still arriving"),
    ("negative size", good(files=[{"path": "v", "size": -1, "sha256": SHA_A}]), "0 to 8 GiB"),
    ("size over 8 GiB", good(files=[{"path": "v", "size": (8 << 30) + 1, "sha256": SHA_A}]), "0 to 8 GiB"),
    ("size a string", good(files=[{"path": "v", "size": "10", "sha256": SHA_A}]), "not a whole number"),
    ("size a bool", good(files=[{"path": "v", "size": True, "sha256": SHA_A}]), "not a whole number"),
    ("size a float", good(files=[{"path": "v", "size": 1.0, "sha256": SHA_A}]), "not a whole number"),
    ("total over 16 GiB", good(files=files("a", "b", "c", size=6 << 30)), "at most 16 GiB"),
    ("sha256 uppercase", good(files=[{"path": "v", "size": 1, "sha256": "A" * 64}]), "64 lowercase hex"),
    ("sha256 short", good(files=[{"path": "v", "size": 1, "sha256": "a" * 63}]), "64 lowercase hex"),
    ("sha256 missing", good(files=[{"path": "v", "size": 1}]), "not a string"),
    ("empty file with a wrong sha256", good(files=[{"path": "v", "size": 0, "sha256": SHA_A}]), "no bytes"),
]


@pytest.mark.parametrize("d, expected", [(d, e) for _n, d, e in HOSTILE], ids=[n for n, _d, _e in HOSTILE])
def test_hostile_manifests_are_refused_in_one_line(d, expected):
    with pytest.raises(E2AError) as error:
        check_manifest(d)
    assert expected in one_line(error)


def test_echoed_values_are_truncated():
    with pytest.raises(E2AError) as error:
        check_manifest(good(engine="x" * 10_000))
    assert len(one_line(error)) < 200
    with pytest.raises(E2AError) as error:
        check_manifest(good(files=files("a" * 100 + " b")))
    assert len(one_line(error)) < 300


def test_the_largest_manifest_the_rules_allow_is_taken():
    deep = "/".join(["d" * 60] * 3) + "/" + "f" * 70  # 4 parts, 253 characters
    fine = good(files=files(*(f"f{i}" for i in range(63)), deep, size=256 << 20))
    assert len(check_manifest(fine).files) == 64
    big = good(files=files("a", "b", size=8 << 30))
    assert check_manifest(big).total_bytes == 16 << 30
    empty = good(files=[{"path": "e", "size": 0, "sha256": EMPTY_SHA256}])
    assert check_manifest(empty).total_bytes == 0


def write_voice_files(folder: Path, contents: dict[str, bytes]) -> list[str]:
    for path, data in contents.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return list(contents)


def test_manifest_of_hashes_the_files(tmp_path):
    expected, contents = voice(engine="coqui", **{"config.json": b"{}", "model.pth": os.urandom(3 << 20),
                                                  "speakers__en.pth": b"s"})
    paths = write_voice_files(tmp_path, contents)
    assert manifest_of("coqui", tmp_path, paths) == expected
    with pytest.raises(E2AError, match="voice file not found"):
        manifest_of("coqui", tmp_path, [*paths, "vocab.json"])
    (tmp_path / "a folder").mkdir()
    with pytest.raises(E2AError, match="not a plain file name"):
        manifest_of("coqui", tmp_path, ["a folder"])


def test_manifest_of_refuses_bad_paths_before_hashing(tmp_path, monkeypatch):
    (tmp_path / "v.onnx").write_bytes(b"x")
    monkeypatch.setattr(manifest_module, "hash_file", lambda *a: pytest.fail("hashed"))
    with pytest.raises(E2AError, match="listed twice"):
        manifest_of("piper", tmp_path, ["v.onnx", "v.onnx"])
    with pytest.raises(E2AError, match="engine name"):
        manifest_of("Piper!", tmp_path, ["v.onnx"])


@pytest.fixture
def counted_hashes(monkeypatch):
    """The names of the files hashed whole (by manifest_of, or by the store after a resume)."""
    hashed = []
    real = manifest_module.hash_file

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(manifest_module, "hash_file", counting)
    monkeypatch.setattr(store_module, "hash_file", counting)
    return hashed


def test_a_hash_cache_hit_avoids_hashing_again(tmp_path, counted_hashes):
    folder = tmp_path / "voice"
    folder.mkdir()
    _, contents = piper_voice(b"A")
    paths = write_voice_files(folder, contents)
    cache_file = tmp_path / "cache" / "hashes.json"

    first = manifest_of("piper", folder, paths, HashCache(cache_file))
    assert sorted(counted_hashes) == ["v.onnx", "v.onnx.json"] and cache_file.is_file()
    counted_hashes.clear()
    again = manifest_of("piper", folder, paths, HashCache(cache_file))  # a later conversion
    assert again == first and counted_hashes == []

    model = folder / "v.onnx"
    model.write_bytes(b"B" * 1000)  # same size, new contents and mtime
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    changed = manifest_of("piper", folder, paths, HashCache(cache_file))
    assert counted_hashes == ["v.onnx"] and changed.voice_id != first.voice_id


def test_the_hash_cache_is_keyed_by_the_real_path(tmp_path, counted_hashes):
    (tmp_path / "v.onnx").write_bytes(b"model")
    (tmp_path / "link").symlink_to(tmp_path)
    cache = HashCache(tmp_path / "hashes.json")
    manifest_of("piper", tmp_path, ["v.onnx"], cache)
    manifest_of("piper", tmp_path / "link", ["v.onnx"], cache)
    assert counted_hashes == ["v.onnx"]


@pytest.mark.parametrize("junk", [b"not json{", b"[1, 2]", b'{"version": 1, "entries": []}',
                                  b'{"version": 1, "entries": {"/x": [1, 2]}}', b"\xff\xfe", b""])
def test_a_corrupt_hash_cache_is_ignored(tmp_path, counted_hashes, junk):
    (tmp_path / "v.onnx").write_bytes(b"model")
    cache_file = tmp_path / "hashes.json"
    cache_file.write_bytes(junk)
    m = manifest_of("piper", tmp_path, ["v.onnx"], HashCache(cache_file))
    assert m.files[0].sha256 == hashlib.sha256(b"model").hexdigest()
    assert json.loads(cache_file.read_text())["version"] == 1  # replaced by a sound one
    counted_hashes.clear()
    manifest_of("piper", tmp_path, ["v.onnx"], HashCache(cache_file))
    assert counted_hashes == []


def test_an_unwritable_hash_cache_is_not_an_error(tmp_path):
    (tmp_path / "v.onnx").write_bytes(b"model")
    (tmp_path / "blocker").write_bytes(b"a file where the cache's folder would be")
    manifest_of("piper", tmp_path, ["v.onnx"], HashCache(tmp_path / "blocker" / "hashes.json"))


def test_the_hash_cache_is_bounded(tmp_path):
    cache = HashCache(tmp_path / "hashes.json", max_entries=3)
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(b"%d" % i)
        manifest_of("piper", tmp_path, [f"f{i}"], cache)
    entries = json.loads((tmp_path / "hashes.json").read_text())["entries"]
    assert sorted(Path(k).name for k in entries) == ["f2", "f3", "f4"]


# -- sizes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("20G", 20 << 30), ("20g", 20 << 30), ("20GB", 20 << 30), ("20GiB", 20 << 30), ("20 gb", 20 << 30),
    ("1.5G", 3 << 29), ("512M", 512 << 20), ("100K", 102400), ("100kb", 102400), ("2T", 2 << 40),
    ("1048576", 1 << 20), ("0", 0), ("10B", 10), (" 7 ", 7), (".5K", 512), ("1.", 1),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("junk", ["", "G", "twenty", "-1G", "1.2.3G", "20X", "20 G B", "inf", "nan", "1e9",
                                  "20iB", "0x10"])
def test_parse_size_refuses_junk_in_one_line(junk):
    with pytest.raises(ValueError) as error:
        parse_size(junk)
    assert "is not a size" in one_line(error)


@pytest.mark.parametrize("n, expected", [
    (0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1.0 KB"), (1536, "1.5 KB"),
    (int(1.8 * (1 << 30)), "1.8 GB"), (20 << 30, "20.0 GB"), ((1 << 20) - 1, "1.0 MB"), (3 << 40, "3.0 TB"),
])
def test_format_size(n, expected):
    assert format_size(n) == expected


# -- the voice store ----------------------------------------------------------------------------


def test_a_voice_arrives_in_chunks_and_is_served(tmp_path):
    store = VoiceStore(tmp_path / "voices", 1 << 20)
    m, contents = voice(engine="coqui", **{"config.json": b'{"a": 1}', "model.pth": os.urandom(5000),
                                           "speakers__en.pth": b"speaker", "empty.txt": b""})
    with store.receive(m) as r:
        assert sorted(f.path for f, offset in r.missing()) == sorted(set(contents) - {"empty.txt"})  # empty: done
        assert all(offset == 0 for _f, offset in r.missing())
        r.write("model.pth", 0, contents["model.pth"][:1000])
        assert not (tmp_path / "voices" / m.voice_id).exists() and store.find(m.voice_id) is None
        send(r, contents)
        assert r.missing() == []
        assert not (tmp_path / "voices" / m.voice_id).exists()  # nothing loadable before complete()
        folder = r.complete()
    assert folder == tmp_path / "voices" / m.voice_id == store.find(m.voice_id)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == \
        sorted([*contents, "manifest.json"])
    assert check_manifest(json.loads((folder / "manifest.json").read_text())) == m
    assert not (tmp_path / "voices" / f"{m.voice_id}.partial").exists()
    for path, data in contents.items():
        handle, size = store.serve_file(m.voice_id, path)
        with handle:
            assert handle.read() == data and size == len(data)
    assert store.usage() == (m.total_bytes, 1 << 20)
    [listed] = store.voices()
    assert (listed.voice_id, listed.engine, listed.total_bytes, listed.pins) == (m.voice_id, "coqui", m.total_bytes, 0)
    assert sorted(listed.files) == sorted(contents)


def test_serve_file_serves_only_complete_voices_and_their_files(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    with store.receive(m) as r:
        with pytest.raises(VoiceStoreError, match="not in this node's voice store"):
            store.serve_file(m.voice_id, "v.onnx")
        send(r, contents)
        r.complete()
    for path in ["manifest.json", "../v.onnx", "v.onnx.part", "V.onnx", "nothing"]:
        with pytest.raises(VoiceStoreError, match="has no file"):
            store.serve_file(m.voice_id, path)
    with pytest.raises(VoiceStoreError, match="not in this node's voice store"):
        store.serve_file("../" + m.voice_id, "v.onnx")


def test_a_cut_short_receive_resumes_where_it_stopped(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A", size=2000)
    with store.receive(m) as r:
        r.write("v.onnx", 0, contents["v.onnx"][:700])
        r.write("v.onnx", 700, contents["v.onnx"][700:1500])
    assert store.find(m.voice_id) is None
    assert store.usage()[0] == 1500  # the partial counts
    with store.receive(m) as r:
        assert dict((f.path, offset) for f, offset in r.missing()) == {"v.onnx": 1500, "v.onnx.json": 0}
        send(r, contents)
        folder = r.complete()
    assert (folder / "v.onnx").read_bytes() == contents["v.onnx"]
    assert store.usage()[0] == m.total_bytes


def test_a_restarted_store_sees_complete_voices_and_resumes_partials(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    done, done_contents = piper_voice(b"A")
    store_voice(store, done, done_contents)
    half, half_contents = piper_voice(b"B", size=3000)
    with store.receive(half) as r:
        r.write("v.onnx.json", 0, half_contents["v.onnx.json"])  # one file whole, one in part
        r.write("v.onnx", 0, half_contents["v.onnx"][:1234])
    used = store.usage()[0]

    again = VoiceStore(tmp_path, 1 << 20)
    assert again.find(done.voice_id) == tmp_path / done.voice_id
    assert again.usage() == (used, 1 << 20)
    assert [v.voice_id for v in again.voices()] == [done.voice_id]
    with again.receive(half) as r:
        assert [(f.path, offset) for f, offset in r.missing()] == [("v.onnx", 1234)]
        send(r, half_contents)
        r.complete()
    assert again.find(half.voice_id) and again.usage()[0] == done.total_bytes + half.total_bytes


def test_a_whole_part_left_by_a_stop_is_verified_on_resume(tmp_path, counted_hashes):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    partial = tmp_path / f"{m.voice_id}.partial"
    partial.mkdir()
    (partial / "v.onnx.part").write_bytes(contents["v.onnx"])  # whole, but stopped before its rename
    (partial / "v.onnx.json.part").write_bytes(contents["v.onnx.json"][:3] + b"X" * 100)  # longer than the file
    with VoiceStore(tmp_path, 1 << 20).receive(m) as r:
        assert [(f.path, offset) for f, offset in r.missing()] == [("v.onnx.json", 0)]
        assert counted_hashes == ["v.onnx.part"]  # a resumed .part is read again to check it
        send(r, contents)
        assert (r.complete() / "v.onnx.json").read_bytes() == contents["v.onnx.json"]


def test_a_chunk_at_the_wrong_offset_is_refused(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    model = contents["v.onnx"]
    with store.receive(m) as r:
        r.write("v.onnx", 0, model[:100])
        for offset in (0, 50, 101, 5000):
            with pytest.raises(VoiceStoreError) as error:
                r.write("v.onnx", offset, model[offset:offset + 10])
            assert "resume from 100" in one_line(error)
        with pytest.raises(VoiceStoreError, match="beyond its end"):
            r.write("v.onnx", 100, model[100:] + b"extra")
        with pytest.raises(VoiceStoreError, match="has no file"):
            r.write("other.onnx", 0, b"x")
        with pytest.raises(VoiceStoreError, match="has no file"):
            r.write("v.onnx.part", 0, b"x")
        assert dict((f.path, o) for f, o in r.missing())["v.onnx"] == 100
        send(r, contents)
        with pytest.raises(VoiceStoreError, match="already received"):
            r.write("v.onnx", 0, model[:10])
        r.complete()
        with pytest.raises(VoiceStoreError, match="already complete"):
            r.write("v.onnx", 0, model[:10])


def test_a_corrupt_chunk_fails_the_hash_check_and_the_file_is_sent_again(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    model = contents["v.onnx"]
    with store.receive(m) as r:
        r.write("v.onnx", 0, model[:500])
        with pytest.raises(VoiceStoreError) as error:
            r.write("v.onnx", 500, b"Z" + model[501:])
        assert "v.onnx" in one_line(error) and "failed its hash check" in one_line(error)
        assert dict((f.path, o) for f, o in r.missing())["v.onnx"] == 0
        assert not (tmp_path / f"{m.voice_id}.partial" / "v.onnx.part").exists()
        send(r, contents)
        assert (r.complete() / "v.onnx").read_bytes() == model


def test_a_corrupt_resumed_file_fails_its_hash_check(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    with store.receive(m) as r:
        r.write("v.onnx", 0, contents["v.onnx"][:400])
    part = tmp_path / f"{m.voice_id}.partial" / "v.onnx.part"
    part.write_bytes(b"Q" * 400)  # damaged while it waited (or never flushed before a crash)
    with store.receive(m) as r:
        with pytest.raises(VoiceStoreError, match="failed its hash check"):
            r.write("v.onnx", 400, contents["v.onnx"][400:])
        send(r, contents)
        assert (r.complete() / "v.onnx").read_bytes() == contents["v.onnx"]


def test_complete_refuses_a_voice_with_files_missing(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    with store.receive(m) as r:
        r.write("v.onnx", 0, contents["v.onnx"][:10])
        with pytest.raises(VoiceStoreError) as error:
            r.complete()
        assert "2 of 2 files missing" in one_line(error)
    assert store.find(m.voice_id) is None and not (tmp_path / m.voice_id).exists()


def test_one_receive_per_voice_at_a_time(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    with store.receive(m):
        with pytest.raises(VoiceStoreError) as error:
            store.receive(m)
        assert "already being received" in one_line(error)
        other, other_contents = piper_voice(b"B")
        store_voice(store, other, other_contents)  # another voice meanwhile is fine
    with store.receive(m) as r:  # the slot is free again
        send(r, contents)
        r.complete()
    with store.receive(m) as r:  # a voice already here: nothing to send
        assert r.missing() == [] and r.complete() == store.find(m.voice_id)


def test_threads_racing_to_receive_one_voice_get_one_slot(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    barrier, outcomes = threading.Barrier(4, timeout=5), []

    def attempt():
        barrier.wait()
        try:
            with store.receive(m) as r:
                barrier_done.wait()
                send(r, contents)
                r.complete()
                outcomes.append("received")
        except VoiceStoreError:
            outcomes.append("refused")
            barrier_done.wait()

    barrier_done = threading.Barrier(4, timeout=5)
    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(outcomes) == ["received", "refused", "refused", "refused"]
    assert store.find(m.voice_id)


def test_different_voices_arrive_in_parallel(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    voices = [piper_voice(bytes([65 + i]), size=20_000) for i in range(4)]
    errors = []

    def receive(m, contents):
        try:
            with store.receive(m) as r:
                send(r, contents, chunk=997)
                r.complete()
        except Exception as e:  # reported below: an exception in a thread would go unseen
            errors.append(e)

    threads = [threading.Thread(target=receive, args=v) for v in voices]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and all(store.find(m.voice_id) for m, _c in voices)
    assert store.usage()[0] == sum(m.total_bytes for m, _c in voices)


def test_a_failed_disk_write_resumes_from_what_reached_the_disk(tmp_path, monkeypatch, counted_hashes):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A", size=1000)
    model = contents["v.onnx"]

    class FillingDisk:
        """A file whose second write takes 100 bytes, then finds the disk full."""

        def __init__(self, handle):
            self.handle, self.writes = handle, 0

        def write(self, data):
            self.writes += 1
            if self.writes == 1:
                return self.handle.write(data)
            self.handle.write(data[:100])
            self.handle.flush()
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    with store.receive(m) as r:
        with monkeypatch.context() as patched:
            patched.setattr(store_module, "open", lambda *a: FillingDisk(open(*a)), raising=False)
            r.write("v.onnx", 0, model[:300])
            with pytest.raises(VoiceStoreError) as error:
                r.write("v.onnx", 300, model[300:600])
        assert "No space left on device" in one_line(error)
        assert dict((f.path, o) for f, o in r.missing())["v.onnx"] == 400
        send(r, contents)
        assert (r.complete() / "v.onnx").read_bytes() == model
    assert counted_hashes == ["v.onnx.part"]  # its bytes were checked by reading them back


def test_a_voice_larger_than_the_store_is_refused_in_one_line(tmp_path):
    store = VoiceStore(tmp_path, 1000)
    m, _ = voice(**{"big.onnx": b"x" * 2000})
    with pytest.raises(VoiceStoreError) as error:
        store.receive(m)
    assert isinstance(error.value, E2AError)
    assert one_line(error) == (f"voice {m.voice_id[:12]}… needs 2.0 KB; this node's voice store holds at most "
                               f"1000 bytes (--voice-store-limit)")
    assert store.usage() == (0, 1000) and not list(tmp_path.iterdir())


def test_the_least_recently_used_voice_makes_room(tmp_path):
    store = VoiceStore(tmp_path, 2500)  # room for two 1 KB voices
    a, b, c = (piper_voice(tag) for tag in (b"A", b"B", b"C"))
    store_voice(store, *a)
    store_voice(store, *b)
    assert store.touch(a[0].voice_id)  # a used after b
    store_voice(store, *c)
    assert store.find(a[0].voice_id) and store.find(c[0].voice_id)
    assert store.find(b[0].voice_id) is None and not (tmp_path / b[0].voice_id).exists()
    assert [v.voice_id for v in store.voices()] == [c[0].voice_id, a[0].voice_id]
    assert store.usage()[0] <= 2500


def test_the_lru_order_survives_a_restart(tmp_path):
    store = VoiceStore(tmp_path, 2500)
    a, b, c = (piper_voice(tag) for tag in (b"A", b"B", b"C"))
    store_voice(store, *a)
    store_voice(store, *b)
    with store.in_use(a[0].voice_id):  # a use marks it too
        pass
    again = VoiceStore(tmp_path, 2500)
    store_voice(again, *c)
    assert again.find(b[0].voice_id) is None and again.find(a[0].voice_id)


def test_a_lowered_limit_evicts_at_start(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    a, b = piper_voice(b"A"), piper_voice(b"B")
    store_voice(store, *a)
    store_voice(store, *b)
    smaller = VoiceStore(tmp_path, 1500)
    assert smaller.find(a[0].voice_id) is None and smaller.find(b[0].voice_id)


def test_pinned_voices_are_never_evicted(tmp_path):
    store = VoiceStore(tmp_path, 2500)
    a, b, c = (piper_voice(tag) for tag in (b"A", b"B", b"C"))
    store_voice(store, *a)
    store_voice(store, *b)
    with store.in_use(a[0].voice_id) as folder_a, store.in_use(b[0].voice_id):
        assert folder_a == store.find(a[0].voice_id)
        with pytest.raises(VoiceStoreError) as error:
            store.receive(c[0])
        message = one_line(error)
        assert "voices in use" in message and "needs 1012 bytes" in message and "try again" in message
        assert store.find(a[0].voice_id) and store.find(b[0].voice_id)
        assert {v.voice_id: v.pins for v in store.voices()} == {a[0].voice_id: 1, b[0].voice_id: 1}
    with store.in_use(a[0].voice_id), store.in_use(a[0].voice_id):  # pins are counted
        pass
    with store.in_use(b[0].voice_id):
        store_voice(store, *c)  # a, unpinned now, goes
    assert store.find(a[0].voice_id) is None and store.find(b[0].voice_id) and store.find(c[0].voice_id)
    with pytest.raises(VoiceStoreError, match="not in this node's voice store"):
        with store.in_use(a[0].voice_id):
            pass


def test_a_voice_being_received_holds_its_space(tmp_path):
    store = VoiceStore(tmp_path, 2500)
    a, b, c = (piper_voice(tag) for tag in (b"A", b"B", b"C"))
    store_voice(store, *a)
    with store.receive(b[0]):
        assert store.usage()[0] == a[0].total_bytes + b[0].total_bytes  # reserved before any byte
        with store.in_use(a[0].voice_id):
            with pytest.raises(VoiceStoreError, match="voices in use or being received"):
                store.receive(c[0])


def test_a_stale_partial_of_another_voice_makes_room(tmp_path):
    store = VoiceStore(tmp_path, 2500)
    a, b, c = (piper_voice(tag) for tag in (b"A", b"B", b"C"))
    store_voice(store, *a)
    with store.receive(b[0]) as r:
        r.write("v.onnx", 0, b[1]["v.onnx"][:900])
    with store.in_use(a[0].voice_id):
        store_voice(store, *c)
    assert not (tmp_path / f"{b[0].voice_id}.partial").exists()
    assert store.usage()[0] == a[0].total_bytes + c[0].total_bytes


def test_a_voices_own_partial_is_not_evicted_to_make_room_for_it(tmp_path):
    store = VoiceStore(tmp_path, 1100)
    m, contents = piper_voice(b"A")
    with store.receive(m) as r:
        r.write("v.onnx", 0, contents["v.onnx"][:900])
    with store.receive(m) as r:
        assert dict((f.path, o) for f, o in r.missing())["v.onnx"] == 900
        send(r, contents)
        r.complete()


def test_a_damaged_complete_voice_is_not_found_and_can_arrive_again(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    folder = store_voice(store, m, contents)
    (folder / "v.onnx").write_bytes(b"short")
    assert store.find(m.voice_id) is None and not folder.exists()
    assert store.usage()[0] == 0
    assert store_voice(store, m, contents) == folder and store.find(m.voice_id)


def test_start_up_keeps_what_it_made_and_leaves_the_rest(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    store_voice(store, m, contents)
    (tmp_path / "README").write_text("the operator's note")
    (tmp_path / "not-a-voice").mkdir()
    (tmp_path / ".trash-old-1234").mkdir()
    incomplete = tmp_path / ("b" * 64)  # a voice-id folder with no manifest.json
    incomplete.mkdir()
    (incomplete / "v.onnx").write_bytes(b"half")
    forged = tmp_path / ("c" * 64)  # a manifest whose id is not the folder's
    forged.mkdir()
    (forged / "manifest.json").write_text(json.dumps(m.to_dict()))
    for path, data in contents.items():
        (forged / path).write_bytes(data)

    again = VoiceStore(tmp_path, 1 << 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([m.voice_id, "README", "not-a-voice"])
    assert [v.voice_id for v in again.voices()] == [m.voice_id] and again.usage()[0] == m.total_bytes


def test_junk_in_a_partial_folder_is_cleared_on_resume(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, contents = voice(engine="coqui", **{"config.json": b"{}", "sub__model.pth": b"w" * 500})
    with store.receive(m) as r:
        r.write("sub/model.pth", 0, contents["sub/model.pth"][:200])
    partial = tmp_path / f"{m.voice_id}.partial"
    (partial / "stray.bin").write_bytes(b"junk")
    (partial / "config.json").mkdir()  # a folder where a file goes
    (partial / "sub" / "link").symlink_to(tmp_path / "README")
    (partial / ".manifest.json.tmp").write_text("{}")
    with store.receive(m) as r:
        assert sorted((f.path, o) for f, o in r.missing()) == [("config.json", 0), ("sub/model.pth", 200)]
        send(r, contents)
        folder = r.complete()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == \
        ["config.json", "manifest.json", "sub", "sub/model.pth"]


def test_an_empty_receive_leaves_nothing_behind(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    m, _ = piper_voice(b"A")
    with store.receive(m):
        pass
    assert list(tmp_path.iterdir()) == [] and store.usage()[0] == 0


def test_find_and_touch_ignore_what_is_not_a_voice_id(tmp_path):
    store = VoiceStore(tmp_path, 1 << 20)
    for bad in ["", "..", "a" * 63, "A" * 64, "../etc", "a" * 64 + ".partial"]:
        assert store.find(bad) is None and store.touch(bad) is False


def test_a_voice_put_there_by_another_store_is_found(tmp_path):
    first, second = VoiceStore(tmp_path, 1 << 20), VoiceStore(tmp_path, 1 << 20)
    m, contents = piper_voice(b"A")
    store_voice(first, m, contents)
    assert second.find(m.voice_id) == tmp_path / m.voice_id
