"""SegmentStore: the per-segment WAV checkpoint (atomic, idempotent, thread-safe)."""

from __future__ import annotations

import os
import threading
import wave

import numpy as np
import pytest

from e2a_node.audio.store import SegmentStore
from e2a_node.errors import AudioError

SR = 22050


def tone(seconds: float, freq: float = 440.0, amp: int = 8000) -> bytes:
    t = np.arange(int(seconds * SR)) / SR
    return (np.sin(2 * np.pi * freq * t) * amp).astype("<i2").tobytes()


def test_put_get_roundtrip_and_file_format(tmp_path):
    store = SegmentStore(tmp_path / "job", SR)
    pcm = tone(0.5)
    assert store.put(7, pcm) is True
    assert store.has(7) and 7 in store and not store.has(8)
    assert store.indices() == {7}
    assert store.get(7) == pcm
    assert store.frames(7) == len(pcm) // 2
    assert store.seconds(7) == pytest.approx(0.5, abs=1 / SR)
    path = tmp_path / "job" / "000007.wav"
    assert path.is_file()
    with wave.open(str(path)) as w:  # a plain WAV any tool can read
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SR)
        assert w.readframes(w.getnframes()) == pcm
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["000007.wav"]


def test_empty_audio_is_valid(tmp_path):
    store = SegmentStore(tmp_path, SR)
    assert store.put(0, b"") is True
    assert store.get(0) == b"" and store.seconds(0) == 0.0


def test_first_audio_wins(tmp_path):
    store = SegmentStore(tmp_path, SR)
    first, second = tone(0.2, 440), tone(0.3, 880)
    assert store.put(3, first) is True
    assert store.put(3, second) is False
    assert store.get(3) == first
    # and after a restart (scan of the folder)
    again = SegmentStore(tmp_path, SR)
    assert again.indices() == {3}
    assert again.put(3, second) is False
    assert again.get(3) == first


def test_indices_scanned_once_then_kept_in_memory(tmp_path):
    store = SegmentStore(tmp_path, SR)
    for i in (0, 1, 5, 1_000_000):
        store.put(i, tone(0.05))
    reopened = SegmentStore(tmp_path, SR)
    assert reopened.indices() == {0, 1, 5, 1_000_000}
    assert len(reopened) == 4
    (tmp_path / "notes.txt").write_text("not audio")
    assert SegmentStore(tmp_path, SR).indices() == {0, 1, 5, 1_000_000}


def test_leftover_temp_files_are_ignored_and_removed(tmp_path):
    # a writer that crashed (its pid no longer exists) left a half-written file behind
    dead = tmp_path / ".000003.wav.4194999999.abcdef.tmp"
    dead.write_bytes(b"RIFF\x00\x00")
    # ... or by an earlier run that had the same pid as this one (common in containers)
    same_pid = tmp_path / f".000005.wav.{os.getpid()}.abcdef.tmp"
    same_pid.write_bytes(b"RIFF")
    # a file another live process may be writing right now is left alone (but never read)
    live = tmp_path / f".000004.wav.{os.getppid()}.abcdef.tmp"
    live.write_bytes(b"RIFF")
    store = SegmentStore(tmp_path, SR)
    assert store.indices() == set()
    assert not store.has(3) and not dead.exists() and not same_pid.exists()
    assert live.exists() and not store.has(4)
    assert store.put(3, tone(0.1)) is True


def test_crash_during_write_leaves_no_final_file(tmp_path, monkeypatch):
    store = SegmentStore(tmp_path, SR)

    def crash(fd):
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        store.put(1, tone(0.2))
    monkeypatch.undo()
    assert not (tmp_path / "000001.wav").exists()
    assert list(tmp_path.iterdir()) == []  # the temp file was cleaned up too
    assert not store.has(1)
    assert store.put(1, tone(0.2)) is True


def test_failed_rename_is_an_audio_error(tmp_path, monkeypatch):
    store = SegmentStore(tmp_path, SR)

    def no_space(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(AudioError, match="no space left"):
        store.put(2, tone(0.1))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == [] and not store.has(2)


def test_wrong_sample_rate_or_format(tmp_path):
    SegmentStore(tmp_path, SR).put(0, tone(0.1))
    with pytest.raises(AudioError, match="22050 Hz"):
        SegmentStore(tmp_path, 16000).get(0)
    with wave.open(str(tmp_path / "000001.wav"), "wb") as w:  # stereo, from elsewhere
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(b"\x00" * 400)
    store = SegmentStore(tmp_path, SR)
    with pytest.raises(AudioError, match="2 channel"):
        store.get(1)
    (tmp_path / "000002.wav").write_bytes(b"garbage")
    with pytest.raises(AudioError):
        SegmentStore(tmp_path, SR).get(2)


def test_bad_input(tmp_path):
    store = SegmentStore(tmp_path, SR)
    with pytest.raises(AudioError, match="odd number"):
        store.put(0, b"\x00\x01\x02")
    with pytest.raises(ValueError):
        store.put(-1, b"")
    with pytest.raises(AudioError, match="no audio"):
        store.get(5)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(AudioError, match="cannot create"):
        SegmentStore(tmp_path / "f.txt" / "job", SR)


def test_concurrent_puts_from_threads(tmp_path):
    store = SegmentStore(tmp_path, SR)
    n_threads, per_thread = 6, 20
    barrier = threading.Barrier(n_threads)
    won: dict[int, list[bytes]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for k in range(per_thread):
                # each index is offered by two threads with different audio: one must win
                index = (t // 2) * per_thread + k
                pcm = tone(0.02 + 0.001 * t, freq=200 + 50 * t)
                if store.put(index, pcm):
                    with lock:
                        won.setdefault(index, []).append(pcm)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    expected = set(range(n_threads // 2 * per_thread))
    assert store.indices() == expected
    assert set(won) == expected
    for index, pcms in won.items():
        assert len(pcms) == 1, f"segment {index} accepted twice"
        assert store.get(index) == pcms[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert SegmentStore(tmp_path, SR).indices() == expected


def test_opening_a_store_spares_temp_files_being_written(tmp_path, monkeypatch):
    store = SegmentStore(tmp_path, SR)
    real_fsync = os.fsync
    seen = []

    def fsync_and_reopen(fd):
        seen.append([p.name for p in tmp_path.iterdir()])
        SegmentStore(tmp_path, SR)  # scans (and cleans) the folder mid-write
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_and_reopen)
    assert store.put(9, tone(0.1)) is True
    monkeypatch.undo()
    assert seen and seen[0][0].startswith(".000009.wav.")
    assert store.get(9) == tone(0.1)
