"""Bad input: one clear line on stderr, a non-zero exit, no traceback, no output file."""

from __future__ import annotations

import socket
import subprocess
import zipfile
from pathlib import Path

import pytest

from e2a_node.errors import E2AError
from tests.cluster_helpers import E2A_NODE, free_port
from tests.conftest import SAMPLE, run_e2a


def assert_clean_error(r, *needles: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def make_epub(path: Path, extra: dict[str, str]) -> Path:
    """Copy the sample EPUB, adding or replacing members."""
    with zipfile.ZipFile(SAMPLE) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            if item.filename not in extra:
                dst.writestr(item, src.read(item.filename))
        for name, data in extra.items():
            dst.writestr(name, data)
    return path


def test_missing_file(tmp_path):
    assert_clean_error(run_e2a("convert", tmp_path / "nope.epub"), "nope.epub")


def test_not_an_ebook(tmp_path):
    f = tmp_path / "photo.xyz"
    f.write_bytes(b"\x89PNG not a book")
    assert_clean_error(run_e2a("convert", f), "photo.xyz")


def test_corrupt_zip(tmp_path):
    f = tmp_path / "broken.epub"
    f.write_bytes(SAMPLE.read_bytes()[:3000])
    assert_clean_error(run_e2a("convert", f), "broken.epub")
    assert not (tmp_path / "broken.m4b").exists()


def test_drm_encrypted_epub(tmp_path):
    enc = ('<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
           'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
           '<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
           '<enc:CipherData><enc:CipherReference URI="OEBPS/fable1.xhtml"/></enc:CipherData>'
           '</enc:EncryptedData></encryption>')
    f = make_epub(tmp_path / "locked.epub", {"META-INF/encryption.xml": enc})
    assert_clean_error(run_e2a("convert", f), "DRM")


def test_book_with_no_text(tmp_path):
    empty = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
             '<head><title>x</title></head><body><img src="cover.png" alt=""/></body></html>')
    f = make_epub(tmp_path / "empty.epub", {f"OEBPS/fable{n}.xhtml": empty for n in range(1, 5)})
    assert_clean_error(run_e2a("convert", f), "no readable text")


def test_unknown_engine(tmp_path):
    assert_clean_error(run_e2a("convert", SAMPLE, "--engine", "nosuch", "-o", tmp_path / "x.m4b"), "nosuch")


def test_unknown_voice(tmp_path):
    assert_clean_error(run_e2a("convert", SAMPLE, "--voice", tmp_path / "missing.onnx", "-o", tmp_path / "x.m4b"),
                       "missing.onnx")


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # A path under a regular file can't be created, even by root.
    assert_clean_error(run_e2a("convert", SAMPLE, "-o", blocker / "out.m4b"), "cannot write")


def test_chapter_out_of_range(tmp_path):
    assert_clean_error(run_e2a("convert", SAMPLE, "--chapters", "2-9", "-o", tmp_path / "x.m4b"), "no chapter 5")


def test_chapter_selection_reads_lists_ranges_and_all():
    from e2a_node.job import parse_chapter_selection

    assert parse_chapter_selection("3, 1-2,2", 4) == [1, 2, 3]
    assert parse_chapter_selection("all", 4) == parse_chapter_selection(None, 4) == [1, 2, 3, 4]
    for bad, why in (("3-1", "runs backwards"), ("two", "cannot read"), ("0", "no chapter 0")):
        with pytest.raises(E2AError, match=why):
            parse_chapter_selection(bad, 4)


def test_french_book_without_a_french_voice(corpus, tmp_path):
    r = run_e2a("convert", corpus / "sous-le-vent.epub", "-o", tmp_path / "x.m4b")
    assert_clean_error(r, "French")
    assert "--voice" in r.stderr


def test_help_works_everywhere():
    for args in (["-h"], ["convert", "-h"], ["chapters", "--help"], ["voices", "-h"], ["cluster", "ls", "-h"]):
        r = run_e2a(*args)
        assert r.returncode == 0 and "Example" in r.stdout, args
    for args in (["-h"], ["serve", "-h"]):
        r = subprocess.run([str(E2A_NODE), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "Example" in r.stdout, args


def test_no_local_without_a_cluster(tmp_path):
    r = run_e2a("convert", SAMPLE, "--no-local", "-o", tmp_path / "x.m4b")
    assert r.returncode == 2 and "--no-local needs --cluster" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("spec, needle", [("host:notaport", "host:notaport"), ("a:1,,b:2", "item 2")])
def test_bad_cluster_list(tmp_path, spec, needle):
    assert_clean_error(run_e2a("convert", SAMPLE, "--cluster", spec, "-o", tmp_path / "x.m4b"), needle)
    assert not (tmp_path / "x.m4b").exists()


def test_no_node_reachable_with_no_local(tmp_path):
    r = run_e2a("convert", SAMPLE, "--cluster", f"127.0.0.1:{free_port()}", "--no-local",
                "-o", tmp_path / "x.m4b", "--work-dir", tmp_path / "work")
    assert_clean_error(r, "no e2a node could take this job", "e2a-node serve")
    assert not (tmp_path / "x.m4b").exists()


def test_serve_on_a_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([str(E2A_NODE), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-mdns",
                            "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert_clean_error(r, f"127.0.0.1:{port}")
