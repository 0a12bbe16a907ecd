"""Fuzzing the WAV header reader `read_wav_info`: an AudioError or a correct result.

* WAV files built from random parameters (channels, rate, bits, WAVE_FORMAT_EXTENSIBLE,
  extra chunks before and after "fmt ", odd chunk sizes with their pad byte) are read back
  exactly;
* the same files mutated (bytes flipped, inserted, deleted, truncated) and random bytes
  give an AudioError, or a result that is true of the file: the data chunk it names is
  there, with that size, inside the file, after a "fmt " chunk holding the format returned.

Examples are derandomized and no example database is kept, so every run tries the same
inputs; E2A_FUZZ_EXAMPLES raises the count for a longer hunt.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2a_node.audio.store import read_wav_info, wav_header
from e2a_node.errors import AudioError
from tests.fuzz_helpers import mutate
from tests.fuzz_helpers import mutations as mutations_of

FUZZ = settings(
    max_examples=int(os.environ.get("E2A_FUZZ_EXAMPLES", "200")), deadline=None,
    derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow],
)


def chunk(cid: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", cid, len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def fmt_body(channels: int, rate: int, bits: int, extensible: bool, extra: bytes) -> bytes:
    block = channels * ((bits + 7) // 8)
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else 1, channels, rate, rate * block,
                       block, bits)
    if extensible:  # cbSize, valid bits, channel mask, then the sub-format GUID (PCM)
        body += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", 1) + bytes(14)
    return body + extra


@st.composite
def wav_files(draw):
    channels = draw(st.integers(1, 8))
    rate = draw(st.integers(1, 384_000))
    bits = draw(st.sampled_from([8, 16, 24, 32]))
    extensible = draw(st.booleans())
    other = st.tuples(st.sampled_from([b"LIST", b"fact", b"JUNK", b"bext", b"fmt_"]),
                      st.binary(max_size=9))
    before = draw(st.lists(other, max_size=3))
    between = draw(st.lists(other, max_size=3))
    after = draw(st.lists(other, max_size=2))
    data = draw(st.binary(max_size=64))
    fmt = fmt_body(channels, rate, bits, extensible, draw(st.binary(max_size=3)))
    body = (b"WAVE" + b"".join(chunk(c, b) for c, b in before) + chunk(b"fmt ", fmt)
            + b"".join(chunk(c, b) for c, b in between))
    offset = 12 + len(body) - 4 + 8
    body += chunk(b"data", data) + b"".join(chunk(c, b) for c, b in after)
    riff = struct.pack("<4sI", b"RIFF", len(body)) + body
    return riff, (channels, rate, bits, offset, len(data))


mutations = mutations_of([b"data", b"fmt ", b"RIFF", b"\xff\xff\xff\xff", b"\xfe\xff", b"\x00\x00\x00\x00"],
                         1 << 16, max_size=5, kinds=("flip", "insert", "delete", "truncate"))


def true_of_file(data: bytes, result) -> None:
    """What a returned (channels, rate, bits, offset, size) must say about the file."""
    channels, rate, bits, offset, size = result
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert 20 <= offset and offset + size <= len(data)
    assert data[offset - 8 : offset - 4] == b"data"
    assert struct.unpack("<I", data[offset - 4 : offset])[0] == size
    # Some "fmt " chunk before the data chunk declares this PCM format.
    formats = []
    pos = 12
    while pos + 8 <= offset - 8:
        cid, csize = struct.unpack("<4sI", data[pos : pos + 8])
        if cid == b"fmt " and csize >= 16:
            tag, ch, sr, _, _, bt = struct.unpack("<HHIIHH", data[pos + 8 : pos + 24])
            if tag == 0xFFFE and csize >= 26:
                tag = struct.unpack("<H", data[pos + 32 : pos + 34])[0]
            formats.append((tag, ch, sr, bt))
        pos += 8 + csize + csize % 2
    assert pos == offset - 8, "the chunks before the data chunk do not lead to it"
    assert formats and formats[-1] == (1, channels, rate, bits)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wav")


def read(workdir: Path, data: bytes):
    path = workdir / "f.wav"
    path.write_bytes(data)
    return read_wav_info(path)


def test_canonical_header_and_unreadable_paths(workdir):
    assert read(workdir, wav_header(22050, 3) + bytes(6)) == (1, 22050, 16, 44, 6)
    with pytest.raises(AudioError):
        read_wav_info(workdir)  # a directory
    with pytest.raises(AudioError):
        read_wav_info(workdir / "missing.wav")


@FUZZ
@given(wav=wav_files())
def test_valid_files_read_exactly(workdir, wav):
    data, expected = wav
    assert read(workdir, data) == expected


@FUZZ
@given(wav=wav_files(), ops=mutations)
def test_mutated_files(workdir, wav, ops):
    data = mutate(wav[0], ops)
    try:
        result = read(workdir, data)
    except AudioError as exc:
        assert "\n" not in str(exc)
        return
    true_of_file(data, result)


@FUZZ
@given(head=st.sampled_from([b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVE",
                             b"RIFF\xff\xff\xff\xffWAVEfmt "]),
       tail=st.binary(max_size=80))
def test_random_bytes(workdir, head, tail):
    data = head + tail
    try:
        result = read(workdir, data)
    except AudioError:
        return
    true_of_file(data, result)
