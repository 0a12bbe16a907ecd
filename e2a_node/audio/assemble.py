"""Laying out a chapter: segment audio, the pauses between segments, and loudness.

A chapter is `LEAD_IN_SECONDS` of silence, then each segment's audio followed by the pause its
`pause_after` asks for (`PAUSE_SECONDS`). The whole chapter is then brought to about
`TARGET_LUFS` integrated loudness (ITU-R BS.1770-4: K-weighting, 400 ms blocks with 75 %
overlap, absolute gate at -70 LUFS and relative gate at -10 LU) with one linear gain, lowered
where needed so the true peak (4x oversampled) stays at or below `TRUE_PEAK_DBTP`. Silence or
audio too short to measure (under one 400 ms block) gets no gain. The same input always gives
the same samples.

Memory is bounded by the chapter: its int16 samples are held once (2 bytes a sample; a 1-hour
chapter at 22050 Hz is 159 MB) and the analysis runs over chunks of it in float64.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from e2a_node.errors import AudioError
from e2a_node.layout import Pause, Segment

if TYPE_CHECKING:
    from e2a_node.audio.store import SegmentStore

# -- the constants of the layout -----------------------------------------------------------

PAUSE_SECONDS: dict[Pause, float] = {
    Pause.CLAUSE: 0.15,
    Pause.SENTENCE: 0.35,
    Pause.PARAGRAPH: 0.8,
    Pause.TITLE: 1.2,
    Pause.CHAPTER: 2.0,
}
LEAD_IN_SECONDS = 0.5  # silence at the start of every chapter

TARGET_LUFS = -18.0  # integrated loudness of each chapter
TRUE_PEAK_DBTP = -3.0  # ceiling on the 4x-oversampled peak
MAX_GAIN_DB = 30.0  # never boost more than this (near-silent chapters stay near-silent)

_OVERSAMPLE = 4
_CHUNK = 1 << 20  # samples per analysis chunk


def pause_samples(pause: Pause, sample_rate: int) -> int:
    return round(PAUSE_SECONDS[Pause(pause)] * sample_rate)


def lead_in_samples(sample_rate: int) -> int:
    return round(LEAD_IN_SECONDS * sample_rate)


def chapter_layout(segments: Sequence[Segment], store: SegmentStore) -> tuple[list[tuple[int, int, int]], int]:
    """(index, start_sample, n_samples) of each segment's audio in the laid-out chapter, and the
    chapter's length in samples (its last pause included). Everything between is silence.

    Raises AudioError if a segment has no audio in the store.
    """
    sr = store.sample_rate
    pos = lead_in_samples(sr)
    out = []
    for seg in segments:
        if not store.has(seg.index):
            raise AudioError(f"no audio for segment {seg.index} (chapter {seg.chapter + 1})")
        n = store.frames(seg.index)
        out.append((seg.index, pos, n))
        pos += n + pause_samples(seg.pause_after, sr)
    return out, pos


def lay_out(placements: Sequence[tuple[int, int, int]], length: int, store: SegmentStore) -> np.ndarray:
    """`length` int16 samples of silence with each placed segment's audio read in at its start."""
    pcm = np.zeros(length, dtype="<i2")
    raw = memoryview(pcm).cast("B")
    for index, start, n in placements:
        store.read_into(index, raw[2 * start : 2 * (start + n)])
    return pcm


def chapter_pcm(
    segments: Sequence[Segment], store: SegmentStore, *, normalize: bool = True
) -> np.ndarray:
    """The chapter's samples (int16), laid out and loudness-normalized.

    Raises AudioError if a segment has no audio in the store.
    """
    pcm = lay_out(*chapter_layout(segments, store), store)
    if normalize:
        normalize_in_place(pcm, store.sample_rate)
    return pcm


# -- loudness (ITU-R BS.1770-4) --------------------------------------------------------------


def k_weighting(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The K-weighting filter (high shelf then high pass) as one second-order-sections array.

    The two biquads are derived for any sample rate from the analog prototypes of the
    BS.1770 filter (at 48 kHz they give the coefficients printed in the standard).
    """
    # stage 1: high shelf, about +4 dB above 1.5 kHz
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    b1 = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    a1 = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    # stage 2: high pass (RLB weighting), about 38 Hz
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    b2 = [1.0, -2.0, 1.0]
    a2 = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    sos = np.array([b1 + a1, b2 + a2], dtype=np.float64)
    return sos, _signal().sosfilt_zi(sos) * 0.0


def _signal():
    """scipy.signal, imported on first use: it takes about a second, which every process that
    only plans (the command line at start, `e2a chapters`, planning workers) would pay."""
    from scipy import signal

    return signal


def _as_float(chunk: np.ndarray) -> np.ndarray:
    if chunk.dtype.kind == "f":
        return chunk.astype(np.float64, copy=False)
    return chunk.astype(np.float64) / 32768.0


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of mono samples (int16, or float in [-1, 1]).

    -inf when nothing passes the gates (silence, or shorter than one 400 ms block).
    """
    step = max(1, round(0.1 * sample_rate))  # blocks of 4 steps (400 ms), hop of 1 step
    sos, zi = k_weighting(sample_rate)
    chunk = step * max(1, _CHUNK // step)
    n_steps = len(samples) // step
    if n_steps < 4:
        return -math.inf
    energy = np.empty(n_steps, dtype=np.float64)  # sum of squares per 100 ms step
    done = 0
    for start in range(0, len(samples), chunk):
        x = _as_float(samples[start : start + chunk])
        y, zi = _signal().sosfilt(sos, x, zi=zi)
        usable = min(len(y) // step, n_steps - done)
        if usable <= 0:
            break
        energy[done : done + usable] = (
            np.square(y[: usable * step]).reshape(usable, step).sum(axis=1)
        )
        done += usable
    blocks = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * step)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(blocks)
    gated = blocks[block_lufs > -70.0]
    if gated.size == 0:
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(float(gated.mean())) - 10.0
    final = blocks[(block_lufs > -70.0) & (block_lufs > relative)]
    if final.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(float(final.mean()))


@functools.cache
def _oversampling_filter() -> tuple[np.ndarray, float]:
    """48-tap interpolation filter for 4x oversampling (12 taps a phase, as in BS.1770 Annex 2)
    and the largest sum of |taps| of one phase (how far an output can exceed its inputs)."""
    h = _signal().firwin(48, 1.0 / _OVERSAMPLE, window=("kaiser", 5.0)) * _OVERSAMPLE
    bound = max(float(np.abs(h[p::_OVERSAMPLE]).sum()) for p in range(_OVERSAMPLE))
    return h, bound


def true_peak(samples: np.ndarray) -> float:
    """Peak of the 4x-oversampled signal, linear (1.0 = full scale); at least the sample peak.

    An interpolated value is a 12-tap dot product of the samples around it, so it exceeds the
    largest of them at most `bound` times: stretches too quiet to beat the sample peak (pauses,
    soft passages) are skipped, which gives the same result as oversampling everything.
    """
    n = len(samples)
    if n == 0:
        return 0.0
    h, bound = _oversampling_filter()
    h32 = h.astype(np.float32)
    reach = len(h) // _OVERSAMPLE  # input samples on either side an output depends on
    block = 4096
    n_blocks = -(-n // block)
    maxima = np.zeros(n_blocks, dtype=np.float64)
    per_chunk = _CHUNK // block
    for b0 in range(0, n_blocks, per_chunk):
        part = np.abs(_as_float(samples[b0 * block : (b0 + per_chunk) * block]))
        k = -(-len(part) // block)
        padded = np.zeros(k * block, dtype=np.float64)
        padded[: len(part)] = part
        maxima[b0 : b0 + k] = padded.reshape(k, block).max(axis=1)
    peak = float(maxima.max())
    if peak == 0.0:
        return 0.0
    # a block's outputs also see `reach` samples of its neighbours
    near = maxima.copy()
    near[1:] = np.maximum(near[1:], maxima[:-1])
    near[:-1] = np.maximum(near[:-1], maxima[1:])
    wanted = near * bound > peak
    delay = (len(h) - 1) // 2  # output index of input sample i is about 4*i + delay
    best = peak
    b = 0
    while b < n_blocks:
        if not wanted[b]:
            b += 1
            continue
        e = b
        while e < n_blocks and wanted[e] and e - b < per_chunk:
            e += 1
        start, end = b * block, min(n, e * block)
        lo, hi = max(0, start - reach), min(n, end + reach)
        x = _as_float(samples[lo:hi]).astype(np.float32)
        y = _signal().upfirdn(h32, x, _OVERSAMPLE)
        core = y[(start - lo) * _OVERSAMPLE + delay : (end - lo) * _OVERSAMPLE + delay]
        if core.size:
            best = max(best, float(np.max(np.abs(core))))
        b = e
    return best


def loudness_gain(samples: np.ndarray, sample_rate: int) -> float:
    """The linear gain that brings the samples to TARGET_LUFS within the TRUE_PEAK_DBTP ceiling.

    The true peak (4x oversampling, the costliest step) is only computed when it could bind: it
    is at most the sample peak times the interpolation filter's bound, so when even that stays
    under the ceiling after the gain the loudness asks for, that gain is the answer as it is.
    """
    lufs = integrated_loudness(samples, sample_rate)
    if not math.isfinite(lufs):
        return 1.0
    wanted_db = min(TARGET_LUFS - lufs, MAX_GAIN_DB)
    sample_peak = _sample_peak(samples)
    if sample_peak <= 0.0:
        return 1.0
    if 20.0 * math.log10(sample_peak * _oversampling_filter()[1]) + wanted_db <= TRUE_PEAK_DBTP:
        return 10.0 ** (wanted_db / 20.0)
    peak = true_peak(samples)
    gain_db = min(wanted_db, TRUE_PEAK_DBTP - 20.0 * math.log10(peak))
    return 10.0 ** (gain_db / 20.0)


def _sample_peak(samples: np.ndarray) -> float:
    """Largest |sample|, linear (1.0 = full scale)."""
    if samples.dtype == np.int16 and len(samples):  # exact, and 8x cheaper than through floats
        return max(-int(samples.min()), int(samples.max())) / 32768.0
    peak = 0.0
    for start in range(0, len(samples), _CHUNK):
        peak = max(peak, float(np.max(np.abs(_as_float(samples[start : start + _CHUNK])))))
    return peak


def apply_gain(pcm: np.ndarray, gain: float) -> None:
    """Multiply int16 samples by `gain` in place (rounded to nearest, clipped)."""
    if gain == 1.0:
        return
    for start in range(0, len(pcm), _CHUNK):
        x = pcm[start : start + _CHUNK].astype(np.float64)
        x *= gain
        np.rint(x, out=x)
        np.clip(x, -32768, 32767, out=x)
        pcm[start : start + _CHUNK] = x.astype(np.int16)


def normalize_in_place(pcm: np.ndarray, sample_rate: int) -> float:
    """Loudness-normalize an int16 chapter in place; returns the gain used."""
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 samples, not {pcm.dtype}")
    gain = loudness_gain(pcm, sample_rate)
    apply_gain(pcm, gain)
    return gain
