"""The Piper voice catalog: what can be downloaded, and downloading it with size and MD5 checks.

The catalog is rhasspy/piper-voices' ``voices.json`` at ``{base}/voices.json``, where the base URL is
`DEFAULT_BASE_URL` or ``$E2A_VOICE_CATALOG`` (http://, https:// or file://); a voice's files are at
``{base}/{path}``, with the paths its entry lists. The catalog comes from the network, so it is
checked before anything is fetched: voice names are plain names (no dot, no slash), file paths are
relative with no "..", sizes are bounded, digests are MD5 hex, and only a voice's ``NAME.onnx`` and
``NAME.onnx.json`` are ever downloaded. An entry that fails a check is kept aside with the reason
(`Catalog.rejected`), so one bad entry neither breaks the listing nor gets installed.

A download streams each file into a temporary file in the voices folder and checks its size and
MD5 against the catalog. Only when every file passes are they renamed into place, the ``.onnx``
last: piper.py finds a voice by its ``.onnx`` (with the ``.json`` beside it), so a voice is visible
only once it is complete. On every failure, Ctrl-C included, the temporary files are removed.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from e2a_node.errors import E2AError
from e2a_node.synth import languages, piper

DEFAULT_BASE_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/main"
CATALOG_ENV = "E2A_VOICE_CATALOG"
CATALOG_FILE = "voices.json"

MAX_CATALOG_BYTES = 32 << 20  # the real voices.json is 1-2 MB
# The largest Piper voices are ~120 MB; anything far beyond is a broken or hostile catalog.
MAX_FILE_BYTES = 1 << 30
TIMEOUT_S = 30.0  # per connect or read, not for the whole download
CHUNK_BYTES = 256 << 10
DISK_MARGIN_BYTES = 16 << 20

_SCHEMES = ("http", "https", "file")
# Unicode letters are allowed (pt_PT-tugão-medium); dots, slashes and spaces are not.
_KEY = re.compile(r"[^\W_][\w+-]{0,99}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,2}")
_QUALITY = re.compile(r"\w{0,20}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_QUALITY_RANK = {"medium": 0, "high": 1, "low": 2, "x_low": 3}
MAX_SPEAKERS = 100_000

# progress(done_bytes, total_bytes), called as a download goes
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class VoiceFile:
    """One file of a voice, as the catalog lists it."""

    path: str  # relative to the catalog's base URL, e.g. fr/fr_FR/siwis/medium/fr_FR-siwis-medium.onnx
    size: int
    md5: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class CatalogVoice:
    """A downloadable Piper voice: its name, language and the two files that make it."""

    key: str  # e.g. fr_FR-siwis-medium, also the installed file name (KEY.onnx)
    language: str  # Piper's code, e.g. fr_FR
    language_name: str  # e.g. French
    quality: str
    num_speakers: int
    model: VoiceFile
    config: VoiceFile

    @property
    def files(self) -> tuple[VoiceFile, VoiceFile]:
        """The files in install order: the model last, since it is what makes the voice visible."""
        return self.config, self.model

    @property
    def size_bytes(self) -> int:
        return self.model.size + self.config.size


@dataclass
class Catalog:
    """A fetched catalog: its voices by name, and the entries that failed a check with why."""

    base_url: str
    voices: dict[str, CatalogVoice]
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return catalog_url(self.base_url)

    def find(self, key: str) -> CatalogVoice:
        """The voice named `key`; E2AError naming close matches when there is none."""
        if key in self.voices:
            return self.voices[key]
        if key in self.rejected:
            raise E2AError(f"the catalog entry for {key} is unusable ({self.rejected[key]}); not installed")
        close = difflib.get_close_matches(key, list(self.voices), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "see `e2a voices list --remote`"
        raise E2AError(f"unknown Piper voice {key[:100]!r}: not in {self.url}; {hint}")

    def for_language(self, tag: str | None) -> list[CatalogVoice]:
        """Voices that speak `tag` ("fr" any French voice, "fr_FR" only France's), sorted by name."""
        return [v for v in self.voices.values() if speaks(v, tag)]


@dataclass(frozen=True)
class Installed:
    """What `download_voice` did: the voice, where its model now is, and whether it fetched bytes."""

    voice: CatalogVoice
    model_path: Path
    downloaded: bool


# ---------------------------------------------------------------------------------------------
# URLs


def base_url() -> str:
    """The catalog's base URL: ``$E2A_VOICE_CATALOG`` or `DEFAULT_BASE_URL`, without a trailing slash."""
    base = os.environ.get(CATALOG_ENV, "").strip() or DEFAULT_BASE_URL
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in _SCHEMES or (parts.scheme != "file" and not parts.netloc):
        raise E2AError(f"{CATALOG_ENV}={base[:200]!r} is not an http://, https:// or file:// URL")
    return base.rstrip("/")


def catalog_url(base: str) -> str:
    return f"{base}/{CATALOG_FILE}"


def file_url(base: str, path: str) -> str:
    return f"{base}/{urllib.parse.quote(path)}"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


def _open(url: str) -> Any:
    """An open response for `url`; E2AError (one line) when it cannot be had."""
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)  # noqa: S310 - the scheme is checked
    except urllib.error.HTTPError as e:
        e.close()
        raise E2AError(f"cannot download {url}: HTTP {e.code} {_one_line(e.reason)}") from None
    except urllib.error.URLError as e:
        raise E2AError(f"cannot reach {url}: {_one_line(e.reason)}") from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise E2AError(f"cannot reach {url}: {_one_line(e) or type(e).__name__}") from None


# ---------------------------------------------------------------------------------------------
# The catalog


def fetch_catalog(base: str | None = None) -> Catalog:
    """Download and check the catalog at `base` (default: `base_url()`); E2AError on any failure."""
    base = (base or base_url()).rstrip("/")
    url = catalog_url(base)
    data = _read_bounded(url, MAX_CATALOG_BYTES)
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise E2AError(f"{url} is not valid JSON: {_one_line(e)}") from None
    if not isinstance(parsed, dict):
        raise E2AError(f"{url} is not a Piper voice catalog (expected an object of voices)")
    return parse_catalog(parsed, base)


def _read_bounded(url: str, limit: int) -> bytes:
    with _open(url) as response:
        try:
            data = response.read(limit + 1)
        except (OSError, http.client.HTTPException) as e:
            raise E2AError(f"reading {url} failed: {_one_line(e) or type(e).__name__}") from None
    if len(data) > limit:
        raise E2AError(f"{url} is larger than {limit >> 20} MB: not a Piper voice catalog")
    return data


def parse_catalog(entries: dict[str, Any], base: str) -> Catalog:
    """Check every entry of a parsed voices.json; those that fail go to `Catalog.rejected`."""
    voices: dict[str, CatalogVoice] = {}
    rejected: dict[str, str] = {}
    for key, entry in entries.items():
        try:
            voices[key] = parse_voice(key, entry)
        except ValueError as e:
            rejected[_one_line(key)[:100]] = str(e)
    return Catalog(base, dict(sorted(voices.items())), rejected)


def parse_voice(key: Any, entry: Any) -> CatalogVoice:
    """One catalog entry, checked; ValueError naming what is wrong."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError("not a voice name")
    if not isinstance(entry, dict):
        raise ValueError("entry is not an object")
    language = entry.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not _LANGUAGE.fullmatch(code):
        raise ValueError("no language code")
    quality = entry.get("quality", "")
    if not isinstance(quality, str) or not _QUALITY.fullmatch(quality):
        raise ValueError("bad quality")
    speakers = entry.get("num_speakers", 1)
    if isinstance(speakers, bool) or not isinstance(speakers, int) or not 1 <= speakers <= MAX_SPEAKERS:
        raise ValueError("bad num_speakers")
    files = entry.get("files")
    if not isinstance(files, dict):
        raise ValueError("no files")
    return CatalogVoice(key=key, language=code, language_name=_display_name(language, code), quality=quality,
                        num_speakers=speakers, model=_voice_file(files, f"{key}.onnx"),
                        config=_voice_file(files, f"{key}.onnx.json"))


def _display_name(language: dict[str, Any], code: str) -> str:
    english = language.get("name_english")
    if isinstance(english, str) and english.isprintable() and 0 < len(english) <= 40:
        return english
    return languages.name(code)


def _voice_file(files: dict[str, Any], name: str) -> VoiceFile:
    """The entry's file called `name` (in whatever folder), checked."""
    found = [p for p in files if isinstance(p, str) and PurePosixPath(p).name == name]
    if len(found) != 1:
        raise ValueError(f"{'no' if not found else 'more than one'} {name} in its files")
    path = found[0]
    if not _safe_path(path):
        raise ValueError(f"unsafe file path {path[:100]!r}")
    info = files[path]
    size = info.get("size_bytes") if isinstance(info, dict) else None
    md5 = info.get("md5_digest") if isinstance(info, dict) else None
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_FILE_BYTES:
        raise ValueError(f"{name}: size {str(size)[:30]} is not between 1 byte and {MAX_FILE_BYTES >> 20} MB")
    if not isinstance(md5, str) or not _MD5.fullmatch(md5.lower()):
        raise ValueError(f"{name}: md5_digest is not an MD5")
    return VoiceFile(path, size, md5.lower())


def _safe_path(path: str) -> bool:
    """A relative path of plain names: no root, no "." or "..", no backslash or control characters."""
    if len(path) > 300 or "\\" in path or not path.isprintable():
        return False
    parts = path.split("/")
    return all(part not in ("", ".", "..") for part in parts)


def speaks(voice: CatalogVoice, tag: str | None) -> bool:
    """Whether `voice` speaks `tag`: the same language, and the same region when `tag` names one."""
    if not tag:
        return True
    if languages.base(voice.language) != languages.base(tag):
        return False
    region = languages.region(tag)
    return region is None or languages.region(voice.language) == region


def recommended(catalog: Catalog, tag: str) -> CatalogVoice | None:
    """The voice to get for `tag`: the recommended one (languages.py) when the catalog has it and it
    speaks `tag`, else the catalog's best for it (medium quality, one speaker first); None if none."""
    name = languages.recommended_piper_voice(tag)
    voice = catalog.voices.get(name or "")
    if voice is not None and speaks(voice, tag):
        return voice
    candidates = catalog.for_language(tag)
    if not candidates:
        return None
    return min(candidates, key=lambda v: (_QUALITY_RANK.get(v.quality, 9), v.num_speakers > 1, v.key))


def is_installed(voice: CatalogVoice, dest_dir: Path | None = None) -> bool:
    """Both files of `voice` are in the voices folder (not checked against the catalog)."""
    folder = dest_dir or piper.voices_dir()
    return all((folder / f.name).is_file() for f in voice.files)


# ---------------------------------------------------------------------------------------------
# Downloading


def download_voice(key: str, dest_dir: Path | None = None, progress: Progress | None = None,
                   catalog: Catalog | None = None) -> Installed:
    """Install catalog voice `key` into `dest_dir` (default: piper's voices folder).

    Files already there with the catalog's size and MD5 are kept; when both are, nothing is
    fetched (``Installed.downloaded`` is False). `progress(done, total)` follows the bytes. Raises
    E2AError (one line) on any failure, leaving nothing new in the folder.
    """
    catalog = catalog or fetch_catalog()
    voice = catalog.find(key)
    folder = dest_dir or piper.voices_dir()
    _make_folder(folder)
    needed = [f for f in voice.files if not _matches(folder / f.name, f)]
    if not needed:
        return Installed(voice, folder / voice.model.name, downloaded=False)
    _check_space(folder, sum(f.size for f in needed))
    _fetch_and_place(catalog.base_url, needed, folder, progress or (lambda done, total: None))
    return Installed(voice, folder / voice.model.name, downloaded=True)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise E2AError(f"cannot create the voices folder {folder}: {e.strerror or e}") from None


def _matches(path: Path, expected: VoiceFile) -> bool:
    """Whether `path` is a file with the catalog's size and MD5."""
    try:
        if not path.is_file() or path.stat().st_size != expected.size:
            return False
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK_BYTES * 4), b""):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == expected.md5


def _check_space(folder: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell; a full disk then shows as a write error
    if free < needed + DISK_MARGIN_BYTES:
        raise E2AError(f"not enough space in {folder}: the voice needs {needed / 1e6:.1f} MB, "
                       f"{free / 1e6:.1f} MB are free")


def _fetch_and_place(base: str, files: list[VoiceFile], folder: Path, progress: Progress) -> None:
    """Download every file to a temporary file, then rename them all into place in `files` order."""
    total = sum(f.size for f in files)
    temps: list[Path] = []
    try:
        done = 0
        for f in files:
            temps.append(_temp_file(folder, f))
            done = _download(file_url(base, f.path), f, temps[-1], done, total, progress)
        for f, temp in zip(files, temps):
            _place(temp, folder / f.name)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def _temp_file(folder: Path, f: VoiceFile) -> Path:
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{f.name}.", suffix=".part")
    except OSError as e:
        raise E2AError(f"cannot write to the voices folder {folder}: {e.strerror or e}") from None
    os.close(fd)
    return Path(name)


def _download(url: str, f: VoiceFile, temp: Path, done: int, total: int, progress: Progress) -> int:
    """Stream `url` into `temp`, checking its size and MD5 against `f`; returns `done` plus its bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with _open(url) as response:
        _check_length_header(url, response, f)
        try:
            with open(temp, "wb") as out:
                got = _stream(url, response, out, f.size, digest, lambda n: progress(done + n, total))
        except OSError as e:
            raise E2AError(f"cannot write {temp}: {e.strerror or e}") from None
    if got < f.size:
        raise E2AError(f"download of {url} ended after {got} of {f.size} bytes; nothing was installed")
    if digest.hexdigest() != f.md5:
        raise E2AError(f"{url} does not match the catalog (MD5 {digest.hexdigest()}, expected {f.md5}); "
                       "nothing was installed")
    return done + got


def _check_length_header(url: str, response: Any, f: VoiceFile) -> None:
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) != f.size:
        raise E2AError(f"{url} is {int(length)} bytes, the catalog says {f.size}; nothing was installed")


def _stream(url: str, response: Any, out: IO[bytes], size: int, digest: Any, advance: Callable[[int], None]) -> int:
    """Copy at most `size` bytes (E2AError if there are more) from `response` to `out`."""
    got = 0
    ended = False
    while not ended:
        try:
            chunk = response.read(min(CHUNK_BYTES, size - got + 1))
        except http.client.IncompleteRead as e:
            chunk, ended = e.partial, True  # closed early: the caller's size check says so
        except (OSError, http.client.HTTPException) as e:
            raise E2AError(f"download of {url} failed after {got} bytes: "
                           f"{_one_line(e) or type(e).__name__}") from None
        if not chunk:
            break
        got += len(chunk)
        if got > size:
            raise E2AError(f"{url} is longer than the catalog's {size} bytes; nothing was installed")
        digest.update(chunk)
        out.write(chunk)
        advance(got)
    return got


def _place(temp: Path, final: Path) -> None:
    try:
        os.replace(temp, final)
    except OSError as e:
        raise E2AError(f"cannot install {final}: {e.strerror or e}") from None
