"""Chapter layout (lead-in, segments, pauses) and loudness normalization (BS.1770)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from e2a_node.audio import assemble
from e2a_node.audio.assemble import (
    LEAD_IN_SECONDS,
    PAUSE_SECONDS,
    TARGET_LUFS,
    TRUE_PEAK_DBTP,
    chapter_pcm,
    integrated_loudness,
    normalize_in_place,
    true_peak,
)
from e2a_node.audio.probe import loudness
from e2a_node.audio.store import SegmentStore, wav_header
from e2a_node.errors import AudioError
from e2a_node.layout import Pause, Segment

SR = 22050


def speechlike(seconds: float, seed: int, rms: float = 3000.0, sr: int = SR) -> np.ndarray:
    """Band-limited noise in syllable-long bursts: loudness and crest factor like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = np.clip(rng.standard_normal(n), -2.5, 2.5)
    b, a = signal.butter(2, [150 / (sr / 2), 4000 / (sr / 2)], "band")
    x = signal.lfilter(b, a, x)
    env = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.2, 0.35) * sr)
        w = signal.windows.tukey(length, 0.3) * rng.uniform(0.7, 1.0)
        take = min(length, n - pos)
        env[pos : pos + take] = w[:take]
        pos += length + int(rng.uniform(0.03, 0.08) * sr)
    return np.clip(x * env * rms / np.std(x), -32768, 32767).astype(np.int16)


def db(x: float) -> float:
    return 20 * math.log10(x)


def test_pause_constants():
    assert set(PAUSE_SECONDS) == set(Pause)
    order = [Pause.CLAUSE, Pause.SENTENCE, Pause.PARAGRAPH, Pause.TITLE, Pause.CHAPTER]
    assert [PAUSE_SECONDS[p] for p in order] == sorted(PAUSE_SECONDS.values())
    assert LEAD_IN_SECONDS > 0


def test_chapter_layout_exact(tmp_path):
    store = SegmentStore(tmp_path, SR)
    pauses = [Pause.TITLE, Pause.CLAUSE, Pause.SENTENCE, Pause.PARAGRAPH, Pause.CHAPTER]
    audio = [np.full(1000 + 37 * i, 100 + i, dtype=np.int16) for i in range(5)]
    segs = []
    for i, (pcm, pause) in enumerate(zip(audio, pauses)):
        store.put(10 + i, pcm.tobytes())
        segs.append(Segment(10 + i, 3, f"text {i}", pause))
    out = chapter_pcm(segs, store, normalize=False)
    assert out.dtype == np.int16
    expected = [np.zeros(round(LEAD_IN_SECONDS * SR), np.int16)]
    for pcm, pause in zip(audio, pauses):
        expected += [pcm, np.zeros(round(PAUSE_SECONDS[pause] * SR), np.int16)]
    np.testing.assert_array_equal(out, np.concatenate(expected))
    # an empty chapter is just its lead-in
    assert len(chapter_pcm([], store)) == round(LEAD_IN_SECONDS * SR)


def test_missing_segment_is_an_error(tmp_path):
    store = SegmentStore(tmp_path, SR)
    store.put(0, b"\x01\x00" * 100)
    segs = [Segment(0, 0, "a", Pause.SENTENCE), Segment(1, 0, "b", Pause.CHAPTER)]
    with pytest.raises(AudioError, match="segment 1"):
        chapter_pcm(segs, store)


def test_loudness_of_reference_sine():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS
    for sr in (22050, 48000):
        t = np.arange(5 * sr) / sr
        x = np.sin(2 * np.pi * 997 * t) * 0.1  # -20 dBFS
        assert integrated_loudness(x, sr) == pytest.approx(-23.01, abs=0.05)


def test_loudness_matches_ffmpeg_ebur128(tmp_path):
    x = speechlike(12, seed=3, rms=2500)
    wav = tmp_path / "x.wav"
    wav.write_bytes(wav_header(SR, len(x)) + x.tobytes())
    lufs, peak = loudness(wav)
    assert integrated_loudness(x, SR) == pytest.approx(lufs, abs=0.1)
    assert db(true_peak(x)) == pytest.approx(peak, abs=0.3)


def test_true_peak_sees_intersample_peaks():
    # fs/4 sine at 45 degrees: every sample is at 0.707 of the real peak (-3 dB)
    n = np.arange(SR)
    x = np.sin(np.pi / 2 * n + np.pi / 4) * 0.5
    assert db(np.abs(x).max()) == pytest.approx(db(0.5) - 3.01, abs=0.05)
    assert db(true_peak(x)) == pytest.approx(db(0.5), abs=0.3)
    assert true_peak(np.zeros(10)) == 0.0


def test_normalize_quiet_speech_to_target():
    x = speechlike(10, seed=1, rms=700)
    assert integrated_loudness(x, SR) < TARGET_LUFS - 10
    y = x.copy()
    gain = normalize_in_place(y, SR)
    assert gain > 3
    assert integrated_loudness(y, SR) == pytest.approx(TARGET_LUFS, abs=0.1)
    assert db(true_peak(y)) <= TRUE_PEAK_DBTP + 0.05
    z = x.copy()
    normalize_in_place(z, SR)
    assert z.tobytes() == y.tobytes()  # deterministic


def test_normalize_loud_speech_down():
    x = speechlike(10, seed=2, rms=9000)
    y = x.copy()
    assert normalize_in_place(y, SR) < 1
    assert integrated_loudness(y, SR) == pytest.approx(TARGET_LUFS, abs=0.1)


def test_peaky_audio_is_held_at_the_true_peak_ceiling():
    x = speechlike(10, seed=4, rms=300)
    x[:: SR // 2] = 12000  # clicks twice a second: peaks far above the loudness
    y = x.copy()
    normalize_in_place(y, SR)
    assert db(true_peak(y)) == pytest.approx(TRUE_PEAK_DBTP, abs=0.05)
    assert integrated_loudness(y, SR) < TARGET_LUFS - 1


def test_the_true_peak_is_measured_only_where_it_could_bind(monkeypatch):
    calls = []
    real = assemble.true_peak
    monkeypatch.setattr(assemble, "true_peak", lambda x: calls.append(1) or real(x))

    def full(x):  # the gain with the true peak always measured
        lufs = integrated_loudness(x, SR)
        return 10 ** (min(TARGET_LUFS - lufs, TRUE_PEAK_DBTP - 20 * math.log10(real(x)), assemble.MAX_GAIN_DB) / 20)

    t = np.arange(10 * SR) / SR
    quiet = (1000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)  # a steady tone: its peaks stay far under
    assert assemble.loudness_gain(quiet, SR) == pytest.approx(full(quiet), rel=1e-12) and calls == []
    peaky = speechlike(10, seed=4, rms=300)
    peaky[:: SR // 2] = 12000
    assert assemble.loudness_gain(peaky, SR) == pytest.approx(full(peaky), rel=1e-12) and calls == [1]


def test_silence_and_very_short_audio_get_no_gain():
    silence = np.zeros(SR * 3, np.int16)
    assert normalize_in_place(silence, SR) == 1.0 and not silence.any()
    short = speechlike(0.3, seed=5, rms=200)
    before = short.copy()
    assert normalize_in_place(short, SR) == 1.0
    np.testing.assert_array_equal(short, before)
    hiss = (np.random.default_rng(0).standard_normal(SR * 3) * 0.5).astype(
        np.int16
    )  # below the gate
    assert normalize_in_place(hiss, SR) == 1.0


def test_chapter_is_normalized_and_deterministic(tmp_path):
    store = SegmentStore(tmp_path, SR)
    segs = []
    for i in range(4):
        store.put(i, speechlike(1.5, seed=10 + i, rms=800).tobytes())
        segs.append(Segment(i, 0, "x", Pause.CHAPTER if i == 3 else Pause.SENTENCE))
    a = chapter_pcm(segs, store)
    b = chapter_pcm(segs, store)
    assert a.tobytes() == b.tobytes()
    assert integrated_loudness(a, SR) == pytest.approx(TARGET_LUFS, abs=0.1)
    lead = round(LEAD_IN_SECONDS * SR)
    assert not a[:lead].any()


@pytest.mark.slow
def test_one_hour_chapter_memory_is_bounded(tmp_path):
    import time
    import tracemalloc

    store = SegmentStore(tmp_path, SR)
    seg = speechlike(20, seed=7, rms=1500).tobytes()
    segs = []
    total = 0.0
    i = 0
    while total < 3600:
        store.put(i, seg)
        segs.append(Segment(i, 0, "x", Pause.SENTENCE))
        total += 20 + PAUSE_SECONDS[Pause.SENTENCE]
        i += 1
    started = time.monotonic()
    tracemalloc.start()
    pcm = chapter_pcm(segs, store)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert len(pcm) >= 3600 * SR
    assert peak < 1.5 * pcm.nbytes + 64 * 2**20, (
        f"peak {peak / 2**20:.0f} MiB for {pcm.nbytes / 2**20:.0f} MiB"
    )
    assert elapsed < 120
    assert integrated_loudness(pcm, SR) == pytest.approx(TARGET_LUFS, abs=0.2)
    assert assemble._CHUNK < len(pcm)  # the analysis really ran in chunks
