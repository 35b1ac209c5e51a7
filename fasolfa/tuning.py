"""A recording's tuning — how far its notes sit from equal temperament at A = 440 Hz, in cents —
and an HCQT whose bins follow it.

Explained in ``notebooks/08_evaluation.ipynb`` (section 7).

A piano is rarely at exactly A = 440 Hz: orchestras tune to 442–443 Hz (+8 to +12 cents), an
untended upright drifts flat, the MAPS pianos sit up to 8 cents off. The network reads an HCQT
with three bins per semitone centred on the keys of A = 440 Hz, and training's detuning
augmentation (±25 cents) did not make it blind to the offset: on the validation excerpts
(``tests/bench/check_robustness.py``) 20 cents sharp cost 0.03 of note-onset F1 on the
renderings and 0.05 on the MAPS pianos, and 45 cents made it fail.

So :func:`fasolfa.transcribe` estimates the tuning in the same first pass that measures the level
(:class:`TuningMeter`), and computes the HCQT with every bin moved by that many cents
(:func:`tuned_hcqt`): the network then sees the keys where it learnt them, the frames keep the
recording's time, and the notes keep their nearest key.

The estimate (a re-derivation of the usual peak-histogram method; cf. librosa's
``estimate_tuning``): in each frame of a 4096-point Hann STFT, the spectral peaks between 60 Hz and
2 kHz within 40 dB of the frame's strongest, their frequencies refined by a parabola through the
log magnitudes, each one's deviation from the nearest equal-tempered pitch mapped to an angle
(100 cents = one turn) and the angles averaged as unit vectors weighted by magnitude. The mean
vector's angle is the tuning in ``[-50, 50)`` cents, its length (0..1) how much the peaks agree.
Below 2 kHz, piano partials are close to harmonic, so their stretch moves the estimate by about
a cent. A tuning near ±50 cents is ambiguous (a quarter tone sharp of one key or flat of the
next): the notes then land on either key.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft

from fasolfa import config

N_FFT = 4096                 # samples at 22050 Hz: 5.4 Hz between bins, 186 ms
HOP = 1024
FMIN_HZ, FMAX_HZ = 60.0, 2000.0
PEAK_RANGE_DB = 40.0         # peaks within this much of the frame's strongest count
MIN_CORRECTION_CENTS = 2.0   # closer to 440 Hz than this: no correction (the estimate's own spread)
MIN_STRENGTH = 0.3           # peaks that agree less than this (noise, no notes): no correction
A4_HZ = 440.0


class TuningMeter:
    """The tuning of a recording given block by block (:meth:`add`; consecutive blocks of one
    recording at ``sample_rate``): a magnitude-weighted sum of unit vectors, one per spectral
    peak. :meth:`cents` and :meth:`strength` read it."""

    def __init__(self, sample_rate: float = config.SAMPLE_RATE):
        self.sample_rate = float(sample_rate)
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.total = 0j
        self.weight = 0.0
        self._tail = np.zeros(0, np.float32)        # samples not yet in a whole frame

    def add(self, block: np.ndarray) -> None:
        buffer = np.concatenate([self._tail, np.asarray(block, np.float32).ravel()])
        n_frames = 0 if len(buffer) < N_FFT else 1 + (len(buffer) - N_FFT) // HOP
        self._tail = buffer[n_frames * HOP:]
        if n_frames:
            frames = np.lib.stride_tricks.sliding_window_view(buffer, N_FFT)[::HOP][:n_frames]   # (n_frames, N_FFT)
            self._add_peaks(np.abs(scipy.fft.rfft(frames * self.window, axis=1)))      # float32 throughout

    def _add_peaks(self, magnitude: np.ndarray) -> None:
        """``magnitude``: ``(n_frames, N_FFT // 2 + 1)``."""
        low = max(int(FMIN_HZ * N_FFT / self.sample_rate), 1)
        high = min(int(FMAX_HZ * N_FFT / self.sample_rate), magnitude.shape[1] - 2)
        left, centre, right = (magnitude[:, low - 1:high - 1], magnitude[:, low:high], magnitude[:, low + 1:high + 1])
        floor = magnitude[:, low:high].max(axis=1, keepdims=True) * 10.0 ** (-PEAK_RANGE_DB / 20.0)
        peak = (centre > left) & (centre >= right) & (centre > floor) & (centre > 0)
        if not peak.any():
            return
        a, b, c = (np.log(np.maximum(x[peak], 1e-20)) for x in (left, centre, right))
        offset = 0.5 * (a - c) / np.where(np.abs(a - 2 * b + c) > 1e-12, a - 2 * b + c, -1e-12)   # in bins, |.| <= 0.5
        bins = np.nonzero(peak)[1] + low + np.clip(offset, -0.5, 0.5)
        cents = 1200.0 * np.log2(bins * self.sample_rate / N_FFT / A4_HZ)
        weights = centre[peak].astype(np.float64)
        self.total += np.sum(weights * np.exp(2j * np.pi * cents / 100.0))
        self.weight += float(weights.sum())

    def cents(self) -> float:
        """The tuning in cents, ``[-50, 50)`` (0 when nothing was heard)."""
        if self.weight <= 0:
            return 0.0
        return float(100.0 * np.angle(self.total) / (2 * np.pi))

    def strength(self) -> float:
        """How much the peaks agree, 0 (spread evenly) .. 1 (all at one tuning)."""
        return float(abs(self.total) / self.weight) if self.weight > 0 else 0.0


def estimate_tuning(audio: np.ndarray, sample_rate: float = config.SAMPLE_RATE) -> tuple[float, float]:
    """``(cents, strength)`` of ``audio`` ``(n_samples,)`` (:class:`TuningMeter` over it)."""
    meter = TuningMeter(sample_rate)
    meter.add(audio)
    return meter.cents(), meter.strength()


def correction_cents(cents: float, strength: float) -> float:
    """The tuning the HCQT follows: ``cents``, or 0 when it is within :data:`MIN_CORRECTION_CENTS`
    of A = 440 Hz or the peaks agree less than :data:`MIN_STRENGTH`."""
    if strength < MIN_STRENGTH or abs(cents) < MIN_CORRECTION_CENTS:
        return 0.0
    return float(cents)


def tuned_hcqt(cents: float, device="cpu"):
    """A :class:`fasolfa.hcqt.HCQT` with every bin ``cents`` higher (``fmin_hz = FMIN_HZ *
    2**(cents / 1200)``; bins that would pass Nyquist are dropped, their channels read 0 as
    beyond the top); built once per tenth of a cent and device."""
    return _tuned_hcqt(round(float(cents), 1), str(device))


@functools.lru_cache(maxsize=8)
def _tuned_hcqt(cents: float, device: str):
    from fasolfa.hcqt import HCQT
    fmin_hz = config.FMIN_HZ * 2.0 ** (cents / 1200.0)
    n_bins = min(config.N_CQT_BINS, config.max_cqt_bins(config.SAMPLE_RATE, fmin_hz))
    return HCQT(fmin_hz=fmin_hz, n_bins=n_bins).to(device)
