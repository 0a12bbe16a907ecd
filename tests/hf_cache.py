"""Coqui models in a Hugging Face hub cache, laid out the way `snapshot_download` leaves a
download (refs/main, snapshots/COMMIT/NAME -> ../../blobs/SHA), with coqui's licence marker:
what a machine that downloaded XTTS v2 has, made from a test-built model, nothing downloaded."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from e2a_node.synth import coqui

XTTS = "tts_models/multilingual/multi-dataset/xtts_v2"
COMMIT = hashlib.sha1(b"a tiny xtts").hexdigest()


def repo_id() -> str:
    return coqui._catalogue_item(coqui._models_catalogue(), XTTS)["repo_id"]


def hf_download(cache: Path, files: dict[str, Path]) -> Path:
    """The layout snapshot_download leaves: blobs named by content, a snapshot of relative links
    to them, refs/main naming the snapshot. Returns the snapshot folder."""
    repo = cache / ("models--" + repo_id().replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        sha = coqui.file_sha256(source)
        blob = repo / "blobs" / sha
        if not blob.exists():
            shutil.copyfile(source, blob)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", sha))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def accept_cpml(coqui_home: Path) -> None:
    """What coqui's downloader writes when the user answers 'y' to its licence question."""
    folder = coqui_home / XTTS.replace("/", "--")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tos_agreed.txt").write_text("I have read, understood and agreed to the Terms and Conditions.")
