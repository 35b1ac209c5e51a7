"""The constant-Q transform (CQT), from its formula to a fast batched PyTorch module.

Explained in notebooks/02_cqt_from_scratch.ipynb.

**The definition** (Brown 1991, with the scaling of ``librosa.cqt(..., scale=True)``). Bin ``k``
is centred on ``f_k = fmin_hz * 2**(k / bins_per_octave)``. All bins share one quality factor
``Q = filter_scale / alpha``, where ``alpha = (r**2 - 1) / (r**2 + 1)`` and
``r = 2**(1 / bins_per_octave)``, so bin ``k`` looks at ``L_k = Q * sample_rate / f_k`` samples
(a float; 41 649 samples at A0, 106.5 at the top bin). Its window ``w_k`` is a periodic Hann window
of ``l_k = floor(L_k/2) - floor(-L_k/2)`` samples, laid on offsets ``n = -floor(L_k/2) ...
l_k - 1 - floor(L_k/2)`` around the frame centre (window sample ``j = n + floor(L_k/2)``).
Frame ``m`` is centred on sample ``m * hop_length`` and the audio is zero outside itself::

    X[k, m] = (1 / sqrt(L_k)) * (L_k / sum_n w_k(n))
              * sum_n  y[m * hop_length + n] * w_k(n) * exp(-2j * pi * f_k * n / sample_rate)

``L_k / sum_n w_k(n)`` makes the window average the signal (L1 normalisation) and ``1/sqrt(L_k)``
gives white noise the same expected power in every bin. A full-scale sine of amplitude ``a`` at
``f_k`` gives ``|X| = a * sqrt(L_k) / 2``. :func:`textbook_cqt` computes exactly this sum.

**The fast transform** (Schoerkhuber & Klapuri 2010, as ``librosa.cqt`` computes it): the
lowest bins need windows of 41 649 samples but only look at frequencies below 55 Hz, so each
octave below the top one is computed on a copy of the audio decimated by 2 (and ``hop_length``
halved) once more than the octave above, where its windows are only 105..210 samples long.
librosa decimates with soxr's "HQ" low-pass filter; :func:`decimation_filter` measures that
filter's impulse response from soxr itself, and :class:`CQT` applies it with FFTs, so fasolfa
decimates the way librosa does.
Two consequences of the multirate scheme are part of what ``librosa.cqt`` returns, and fasolfa
returns them too (notebook 02 maps them):

* the decimation filter rolls off between 91 % and 100 % of each new Nyquist frequency: the top
  three bins of every octave but the highest are attenuated by 0.5, 6 and 25 dB;
* within an octave, librosa multiplies the FFT of each (centred, unwindowed) frame of
  ``n_fft`` samples by the one-sided spectrum of each kernel, after dropping the smallest
  spectrum values that add up to ``sparsity`` = 1 % of its L1 norm. Far from a strong partial
  this leaves a floor some 50 dB below it.

:class:`CQT` computes each octave's frames-times-kernels in one of two exact ways, whichever is
cheaper for that octave (both are float32 and tested against each other and against librosa):

* *direct*: each kernel's (sparse, one-sided) spectrum turned back into ``n_fft`` time samples,
  then one matrix product ``frames @ kernels``. Cheap while frames overlap little (top octaves).
* *fold*: lower octaves read every sample ``n_fft / hop`` times (up to 256 times at hop 1).
  Instead, the audio is cut into FFT blocks of ~8 frame lengths; each block's spectrum times a
  kernel's spectrum is their correlation at *every* sample, and reading it only every ``hop``
  samples is the same as summing (folding) the spectrum's ``hop`` slices of ``block / hop`` bins
  before a small inverse FFT.

**The clean mode** (``CQT(match_librosa=False)``, the model's front end through
:class:`fasolfa.hcqt.HCQT`) drops both: rates planned so every decimated bin lies in the flat
passband of a low-pass designed here (:func:`clean_decimation_filter`), filter tails kept at the
audio's ends, and exact (textbook) kernels sampled at each rate. It is :func:`textbook_cqt` to
within ~0.001 dB (median) on noise and tones; tones at bin centres read within 0.01 dB.

When the plan decimates nothing (an odd ``hop_length``, or one octave high enough to need no
early decimation) and ``sparsity=0``, the fast transform is the textbook sum up to float32
rounding; ``tests/test_cqt.py`` checks that, and checks every configuration against librosa.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.profiler import record_function

from fasolfa import config

LIBROSA_SPARSITY = 0.01          # librosa.cqt's default ``sparsity``
DECIMATION_BLOCK = 8192          # FFT block of the decimation filter (samples at its input rate)
FOLD_BLOCK = 8                   # fold: FFT blocks of about 8 frame lengths
FOLD_MIN_OVERLAP = 16            # fold when frames overlap 16 times or more (n_fft >= 16 hops)
FOLD_SUM_HOP = 4                 # fold: up to this hop, multiply-and-sum; beyond, matrix products
_TAP_THRESHOLD = 1e-7            # decimation filter taps below this (relative) are soxr's noise


# --- the definition ---------------------------------------------------------------------

def cqt_frequencies(n_bins: int = config.N_CQT_BINS, fmin_hz: float = config.FMIN_HZ,
                    bins_per_octave: int = config.BINS_PER_OCTAVE) -> np.ndarray:
    """Centre frequencies ``f_k = fmin_hz * 2**(k / bins_per_octave)``, shape ``(n_bins,)``, in Hz.

    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    return fmin_hz * 2.0 ** (np.arange(n_bins) / bins_per_octave)


def quality_factor(bins_per_octave: int = config.BINS_PER_OCTAVE,
                   filter_scale: float = config.CQT_FILTER_SCALE) -> float:
    """``Q = filter_scale / alpha``, ``alpha = (r**2 - 1) / (r**2 + 1)``, ``r = 2**(1/bins_per_octave)``.

    ``alpha`` is the bandwidth of a bin relative to its centre frequency: the distance to the
    neighbouring bins, measured symmetrically. Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    ratio_sq = 2.0 ** (2.0 / bins_per_octave)
    return filter_scale / ((ratio_sq - 1) / (ratio_sq + 1))


def filter_lengths(freqs_hz, sample_rate: float = config.SAMPLE_RATE,
                   bins_per_octave: int = config.BINS_PER_OCTAVE,
                   filter_scale: float = config.CQT_FILTER_SCALE) -> np.ndarray:
    """Window length ``L_k = Q * sample_rate / f_k`` of each bin, in samples (floats), shape ``(n_bins,)``.

    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    return quality_factor(bins_per_octave, filter_scale) * sample_rate / np.asarray(freqs_hz, float)


def cqt_kernel(freq_hz: float, filter_length: float,
               sample_rate: float = config.SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """The kernel of one bin: ``X[k, m] = sum(kernel * y[m * hop_length + offsets])``.

    Returns ``(offsets, kernel)``, both of shape ``(l_k,)``: integer sample offsets ``n`` from the
    frame centre and the complex weights ``(sqrt(L)/sum(w)) * w(n) * exp(-2j*pi*f*n/sample_rate)``
    (see the module docstring). Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    half = math.floor(filter_length / 2)
    n_taps = half - math.floor(-filter_length / 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_taps) / n_taps)   # periodic Hann
    offsets = np.arange(n_taps) - half
    kernel = (np.sqrt(filter_length) / window.sum()) * window \
        * np.exp(-2j * np.pi * freq_hz * offsets / sample_rate)
    return offsets, kernel


def n_frames(n_samples: int, hop_length: int = config.HOP_LENGTH) -> int:
    """Frames of a centred transform: ``1 + n_samples // hop_length`` (frame ``m`` at ``m * hop_length``).

    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    return 1 + int(n_samples) // int(hop_length)


def _check_mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape (n_samples,), got shape {audio.shape}")
    if audio.size == 0:
        raise ValueError("the audio is empty (0 samples)")
    return audio


def check_cqt_parameters(sample_rate: float, fmin_hz: float, n_bins: int, bins_per_octave: int,
                         filter_scale: float = config.CQT_FILTER_SCALE) -> None:
    """Raise :class:`ValueError` unless the top bin's filter stays below Nyquist (as librosa).

    A filter centred on ``f`` reaches ``f * (1 + HANN_BANDWIDTH / (2 Q))``.
    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    if n_bins < 1 or bins_per_octave < 1 or fmin_hz <= 0 or sample_rate <= 0:
        raise ValueError(f"invalid CQT parameters: n_bins={n_bins}, bins_per_octave="
                           f"{bins_per_octave}, fmin_hz={fmin_hz}, sample_rate={sample_rate}")
    top_hz = cqt_frequencies(n_bins, fmin_hz, bins_per_octave)[-1]
    reach_hz = top_hz * (1 + 0.5 * config.HANN_BANDWIDTH / quality_factor(bins_per_octave, filter_scale))
    if reach_hz > sample_rate / 2:
        limit = config.max_cqt_bins(sample_rate, fmin_hz, bins_per_octave, filter_scale)
        raise ValueError(f"n_bins={n_bins} from {fmin_hz:g} Hz reaches {reach_hz:.0f} Hz, above "
                           f"Nyquist ({sample_rate / 2:g} Hz); use at most {limit} bins")


def textbook_cqt(audio, sample_rate: float = config.SAMPLE_RATE, hop_length: int = config.HOP_LENGTH,
                 fmin_hz: float = config.FMIN_HZ, n_bins: int = config.N_CQT_BINS,
                 bins_per_octave: int = config.BINS_PER_OCTAVE) -> np.ndarray:
    """The CQT as the plain sum of the formula: one bin at a time, every sample at full rate.

    ``audio``: mono, shape ``(n_samples,)``. Returns complex128 ``(n_bins, 1 + n_samples //
    hop_length)``. Slow (seconds for a few seconds of audio), exact: the reference that
    :class:`CQT` is tested against. Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    audio = _check_mono(audio).astype(np.float64)
    check_cqt_parameters(sample_rate, fmin_hz, n_bins, bins_per_octave)
    freqs_hz = cqt_frequencies(n_bins, fmin_hz, bins_per_octave)
    lengths = filter_lengths(freqs_hz, sample_rate, bins_per_octave)
    frames = n_frames(len(audio), hop_length)
    pad = int(np.ceil(lengths.max() / 2)) + 1
    padded = np.pad(audio, (pad, pad + hop_length))
    starts = pad + hop_length * np.arange(frames)             # frame centres in `padded`
    out = np.empty((n_bins, frames), np.complex128)
    for k in range(n_bins):
        offsets, kernel = cqt_kernel(freqs_hz[k], lengths[k], sample_rate)
        # every frame's samples under the window, as a (frames, l_k) view of `padded`
        windows = np.lib.stride_tricks.sliding_window_view(padded, len(kernel))
        out[k] = windows[starts + offsets[0]] @ kernel
    return out


def compare_magnitudes_db(values, reference, range_db: float = 60.0) -> dict:
    """How far ``|values|`` is from ``|reference|`` in dB, over the reference's loud bins.

    Both are complex (or magnitude) arrays of the same shape. Bins where the reference lies within
    ``range_db`` of its maximum are compared; returns ``{"median_db", "p99_db", "max_db",
    "n_compared"}`` of ``|20 log10|values| - 20 log10|reference||``.
    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    tiny = np.finfo(np.float32).tiny
    ours_db = 20 * np.log10(np.maximum(np.abs(np.asarray(values)), tiny))
    reference_db = 20 * np.log10(np.maximum(np.abs(np.asarray(reference)), tiny))
    if ours_db.shape != reference_db.shape:
        raise ValueError(f"shapes differ: {ours_db.shape} vs {reference_db.shape}")
    loud = reference_db >= reference_db.max() - range_db
    diff = np.abs(ours_db - reference_db)[loud]
    return {"median_db": float(np.median(diff)), "p99_db": float(np.percentile(diff, 99)),
            "max_db": float(diff.max()), "n_compared": int(loud.sum())}


# --- the decimation filter librosa uses ---------------------------------------------------

@functools.lru_cache(maxsize=None)
def decimation_filter(factor: int = 2) -> np.ndarray:
    """Impulse response of librosa's anti-aliasing low-pass (soxr "HQ") for decimating by ``factor``.

    Measured, not assumed: ``factor`` impulses (one per phase) go through
    ``soxr.resample(x, factor, 1, quality="soxr_hq")``; output ``q`` of an impulse at sample
    ``p`` is tap ``factor * q - p``. The filter is linear-phase and centred on tap 0; taps below
    ``1e-7`` of the largest (soxr's 20-bit noise) are dropped. Returns float64 ``(2 * half + 1,)``,
    tap ``i`` at offset ``i - half``. Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    import soxr   # a dependency of librosa

    factor = int(factor)
    n_out = 8192
    centre = factor * (n_out // 2)
    taps = {}
    for phase in range(factor):
        impulse = np.zeros(factor * n_out)
        impulse[centre + phase] = 1.0
        out = soxr.resample(impulse, factor, 1, quality="soxr_hq")
        for q, value in enumerate(out):
            taps[factor * q - centre - phase] = value
    offsets = np.array(sorted(taps))
    values = np.array([taps[o] for o in offsets])
    big = np.abs(values) > _TAP_THRESHOLD * np.abs(values).max()
    half = int(np.abs(offsets[big]).max())
    keep = np.abs(offsets) <= half
    return values[keep]


CLEAN_PASSBAND = 0.85          # clean mode: every decimated bin's cutoff <= 0.85 of its Nyquist
CLEAN_TRANSITION = 0.1         # clean low-pass: flat to 0.9 of the new Nyquist, stopband from 1.1
CLEAN_STOPBAND_DB = 100.0      # clean low-pass: stopband attenuation (Kaiser design target)


@functools.lru_cache(maxsize=None)
def clean_decimation_filter(factor: int = 2, transition: float = CLEAN_TRANSITION,
                            stopband_db: float = CLEAN_STOPBAND_DB) -> np.ndarray:
    """A linear-phase low-pass for decimating by ``factor``, designed here (no soxr): the clean mode.

    A Kaiser-windowed sinc (Kaiser 1974): ideal low-pass ``h[n] = sinc(n / factor) / factor`` cut
    at the new Nyquist ``nyq = sample_rate / (2 factor)``, times a Kaiser window of
    ``beta = 0.1102 (A - 8.7)`` for ``A = stopband_db``. Its transition band is symmetric about
    the cutoff, from ``(1 - transition) nyq`` (passband: ripple ~ ``10**(-A/20)``, a few
    thousandths of a dB at most) to ``(1 + transition) nyq`` (stopband: at least ``A`` dB down);
    Kaiser's formula ``N = (A - 7.95) / (2.285 * 2 pi * transition / factor)`` gives its length
    (131 taps for ``factor = 2``, 0.1 and 100 dB, every other one 0). For ``factor = 2`` it is a half-band filter
    (every other tap is 0). Taps are scaled to unit DC gain.

    Why aliasing is harmless: decimating folds ``[nyq, (1 + transition) nyq]`` (attenuated by
    0..``A`` dB) onto ``[(1 - transition) nyq, nyq]``; everything above is ``A`` dB down. The clean
    plan (:func:`multirate_plan` with ``passband``) only computes, at a decimated rate, bins
    whose cutoff ``f_k (1 + HANN_BANDWIDTH / (2 Q))`` is at most ``CLEAN_PASSBAND = 0.85 nyq``:
    their kernels see the flat passband, and the folded band lies above their cutoff, where
    their Hann response is falling into its side lobes. ``tests/test_cqt.py`` measures the
    result against :func:`textbook_cqt`. Returns float64 ``(2 * half + 1,)``, tap ``i`` at
    offset ``i - half``. Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    factor = int(factor)
    n_taps = (stopband_db - 7.95) / (2.285 * 2 * np.pi * transition / factor)
    half = int(math.ceil(n_taps / 2))
    offsets = np.arange(-half, half + 1)
    beta = 0.1102 * (stopband_db - 8.7)
    taps = np.sinc(offsets / factor) * np.kaiser(2 * half + 1, beta)
    return taps / taps.sum()


def _decimate(audio: torch.Tensor, factor: int, taps: torch.Tensor) -> torch.Tensor:
    """Low-pass with ``taps`` (centred) and keep every ``factor``-th sample: ``(batch, n)`` ->
    ``(batch, ceil(n / factor))``. The audio is zero outside itself and output ``q`` is input
    ``factor * q``, as soxr does (librosa's ``scale=True`` factor ``sqrt(factor)`` is not applied).
    Explained in notebooks/02_cqt_from_scratch.ipynb."""
    taps = taps.to(device=audio.device, dtype=torch.float32)
    decimator = _Decimator(taps.shape[0], factor, gain=1.0)
    signal = _Signal.pad(audio.to(torch.float32), decimator.overlap, decimator.block_size(audio.shape[-1]))
    return decimator(signal, taps, tail=0).unpadded()


class _Signal:
    """A batch of signals inside a zero buffer: ``buffer[:, margin:margin + length]`` is the audio,
    with at least ``margin`` zeros before it and ``tail`` zeros after it."""

    def __init__(self, buffer: torch.Tensor, margin: int, length: int):
        self.buffer, self.margin, self.length = buffer, margin, length

    @classmethod
    def pad(cls, audio: torch.Tensor, margin: int, tail: int) -> "_Signal":
        batch, length = audio.shape
        buffer = audio.new_empty(batch, margin + length + tail)
        buffer[:, :margin] = 0
        buffer[:, margin + length:] = 0
        buffer[:, margin:margin + length] = audio
        return cls(buffer, margin, length)

    def span(self, start: int, stop: int) -> torch.Tensor:
        """Samples ``start:stop`` relative to the start of the audio (negative: the zeros before)."""
        if start + self.margin < 0 or stop + self.margin > self.buffer.shape[-1]:
            raise RuntimeError("internal error: a CQT frame reaches beyond the padding")
        return self.buffer[:, self.margin + start:self.margin + stop]

    def unpadded(self) -> torch.Tensor:
        return self.span(0, self.length)


class _Decimator:
    """FFT overlap-save low-pass and decimation by ``factor`` (in blocks of ``DECIMATION_BLOCK``),
    output times ``gain``. The taps are passed at each call (a module's buffer, wherever it is).

    ``keep_tails=False`` (soxr, librosa): the output is cut to the audio's ``ceil(n / factor)``
    samples. ``keep_tails=True`` (the clean mode): the low-pass's response reaching up to
    ``overlap`` input samples before and after the audio is kept too (it is part of the
    band-limited signal the textbook kernels see)."""

    def __init__(self, n_taps: int, factor: int, gain: float, keep_tails: bool = False):
        self.factor, self.gain = factor, gain
        half = (n_taps - 1) // 2
        self.overlap = -(-half // factor) * factor             # >= half, a multiple of factor
        self.lead = self.overlap if keep_tails else 0          # input samples kept on each side
        self._responses: dict = {}

    def block_size(self, length: int) -> int:
        need = 1 << max(int(math.ceil(math.log2(length + 2 * self.lead + 2 * self.overlap))), 1)
        block = min(max(DECIMATION_BLOCK, 4 * self.overlap), need)
        return -(-block // (2 * self.factor)) * (2 * self.factor)

    def response(self, block: int, taps: torch.Tensor) -> torch.Tensor:
        key = (block, taps.device)
        if key not in self._responses:
            half = (taps.shape[0] - 1) // 2
            circular = torch.zeros(block, dtype=torch.float64, device=taps.device)
            taps = taps.to(torch.float64)
            circular[:half + 1] = taps[half:]
            circular[block - half:] = taps[:half]
            keep = block // (2 * self.factor) + 1
            response = torch.fft.rfft(circular)[:keep] * (self.gain / self.factor)
            self._responses[key] = response.to(torch.complex64)
        return self._responses[key]

    def __call__(self, signal: _Signal, taps: torch.Tensor, tail: int) -> _Signal:
        factor, overlap, lead = self.factor, self.overlap, self.lead
        block = self.block_size(signal.length)
        step = block - 2 * overlap
        n_blocks = -(-(signal.length + 2 * lead) // step)
        n_out = -(-signal.length // factor)
        blocks = signal.span(-overlap - lead, (n_blocks - 1) * step + block - overlap - lead).unfold(-1, block, step)
        spectrum = torch.fft.rfft(blocks)[..., :block // (2 * factor) + 1] * self.response(block, taps)
        decimated = torch.fft.irfft(spectrum, n=block // factor)
        start, per_block = overlap // factor, step // factor
        batch, margin = blocks.shape[0], signal.margin
        first, stop = margin - lead // factor, margin + n_out + lead // factor   # kept: first:stop
        tail = max(tail, self.block_size(n_out)) + lead // factor
        buffer = decimated.new_empty(batch, max(first + n_blocks * per_block, margin + n_out + tail))
        buffer[:, :first] = 0
        buffer[:, first:first + n_blocks * per_block].view(batch, n_blocks, per_block).copy_(
            decimated[..., start:start + per_block])
        buffer[:, stop:] = 0
        return _Signal(buffer, margin, n_out)


# --- the plan: which bins at which rate (librosa's multirate scheme) -----------------------

@dataclass(frozen=True)
class Octave:
    """One octave of bins computed at one rate: bins ``lo:hi`` from audio at ``sample_rate``
    (after decimation), frames every ``hop_length`` samples of it, frame FFT of ``n_fft``."""
    lo: int
    hi: int
    sample_rate: float
    hop_length: int
    n_fft: int
    decimate_after: bool


def _two_factors(value: int) -> int:
    count = 0
    while value > 0 and value % 2 == 0:
        value //= 2
        count += 1
    return count


def multirate_plan(sample_rate: float, hop_length: int, fmin_hz: float, n_bins: int,
                   bins_per_octave: int, filter_scale: float = config.CQT_FILTER_SCALE,
                   passband: float | None = None) -> tuple[int, list[Octave]]:
    """Which bins at which rate: an early decimation factor and the octaves, top octave first.

    ``passband=None``: librosa's plan. Octaves are ``bins_per_octave`` bins counted down from the
    top bin; early decimation (by a power of two, before any bin) happens only when the top filter
    lies far below Nyquist; after each octave the audio is decimated by 2 while the hop stays even.
    The top bins of every decimated octave then sit at its Nyquist, in the low-pass's roll-off.

    ``passband=p`` (the clean mode, ``p = CLEAN_PASSBAND``): a bin is computed at a decimated rate
    only if its cutoff ``f_k (1 + HANN_BANDWIDTH / (2 Q))`` is at most ``p`` times that rate's
    Nyquist. Each rate takes the bins the next (half) rate cannot, so the top rate takes a few
    more than an octave and each decimated rate one octave of bins, all well inside the
    decimation filter's flat passband. Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    check_cqt_parameters(sample_rate, fmin_hz, n_bins, bins_per_octave, filter_scale)
    freqs_hz = cqt_frequencies(n_bins, fmin_hz, bins_per_octave)
    q_factor = quality_factor(bins_per_octave, filter_scale)
    cutoffs_hz = freqs_hz * (1 + 0.5 * config.HANN_BANDWIDTH / q_factor)
    if passband is None:
        n_octaves = int(math.ceil(n_bins / bins_per_octave))
        count_nyquist = max(0, int(math.ceil(math.log2(sample_rate / 2 / cutoffs_hz[-1]))) - 2)
    else:   # octaves: bins whose cutoff lies in (p nyq / 2, p nyq], down from the top rate
        n_octaves = 1 + max(0, int(math.ceil(math.log2(passband * sample_rate / 4 / cutoffs_hz[0]))))
        count_nyquist = max(0, int(math.floor(math.log2(passband * sample_rate / 2 / cutoffs_hz[-1]))))
    count_hop = max(0, _two_factors(hop_length) - n_octaves + 1)
    early = 2 ** min(count_nyquist, count_hop)
    rate, hop = sample_rate / early, hop_length // early
    octaves = []
    hi = n_bins
    while hi > 0:
        decimate = hop % 2 == 0 and len(octaves) < n_octaves - 1
        if passband is None:
            lo = max(0, hi - bins_per_octave)
        else:       # the bins the next rate takes (cutoff <= p * rate / 4), if there is one
            lo = int(np.searchsorted(cutoffs_hz, passband * rate / 4, side="right")) if decimate else 0
            decimate = decimate and lo > 0
        longest = q_factor * rate / freqs_hz[lo]
        n_fft = int(2 ** math.ceil(math.log2(longest)))
        octaves.append(Octave(lo, hi, rate, hop, n_fft, decimate))
        hi = lo
        if hop % 2 == 0:
            rate, hop = rate / 2, hop // 2
    return early, octaves


def octave_kernel_spectra(octave: Octave, freqs_hz: np.ndarray, bins_per_octave: int,
                          filter_scale: float = config.CQT_FILTER_SCALE,
                          sparsity: float = LIBROSA_SPARSITY, exact_at_hz: float | None = None
                          ) -> np.ndarray:
    """One octave's kernels as librosa builds them, in the frequency domain.

    Each kernel is the formula's Hann-windowed complex exponential at the octave's (decimated)
    rate, L1-normalised, times ``L/n_fft``, centred in ``n_fft`` samples; its FFT is kept on the
    non-negative frequencies ``0..n_fft/2`` and the smallest values adding up to ``sparsity``
    of its L1 norm are set to zero. Returns complex128 ``(hi - lo, n_fft // 2 + 1)``:
    ``sum_p spectra[k, p] * FFT(frame)[p]`` is bin ``lo + k`` before scaling.

    ``exact_at_hz`` (the clean mode: the input's sample rate): the textbook kernel, laid on that
    rate's grid (its window, length and L1 norm), is sampled at the octave's rate (every
    ``exact_at_hz / octave.sample_rate``-th tap; exact for audio band-limited below the octave's
    Nyquist, by the sampling theorem) and all ``n_fft`` frequencies are kept (two-sided
    spectra ``(hi - lo, n_fft)``). librosa instead builds a new, shorter Hann window at each rate,
    which differs from the textbook's by up to a tap's rounding (about 1 % of its values).
    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    q_factor = quality_factor(bins_per_octave, filter_scale)
    n_fft = octave.n_fft
    basis = np.zeros((octave.hi - octave.lo, n_fft), np.complex128)
    rate = exact_at_hz or octave.sample_rate
    step = int(round(rate / octave.sample_rate))                 # 1 for librosa's kernels
    for row, freq_hz in enumerate(freqs_hz[octave.lo:octave.hi]):
        length = q_factor * rate / freq_hz
        first = math.floor(-length / 2)
        n_taps = math.floor(length / 2) - first
        # only the taps on the octave's grid (every step-th offset at `rate`, 0 at n_fft // 2)
        # are evaluated; the whole periodic Hann window sums to n_taps / 2 (its cosine sums to 0)
        offsets = np.arange(-((-first) // step) * step, first + n_taps, step)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * (offsets - first) / n_taps)
        window_sum = n_taps / 2 if n_taps > 1 else 1.0
        kernel = window * np.exp(2j * np.pi * freq_hz * offsets / rate)
        basis[row, n_fft // 2 + offsets // step] = kernel / window_sum * (length / n_fft)
    spectra = np.fft.fft(basis, axis=1)[:, :n_fft // 2 + 1 if exact_at_hz is None else n_fft]
    if sparsity > 0:
        mags = np.abs(spectra)
        ordered = np.sort(mags, axis=1)
        cumulative = np.cumsum(ordered / mags.sum(axis=1, keepdims=True), axis=1)
        threshold = ordered[np.arange(len(ordered)), np.argmin(cumulative < sparsity, axis=1)]
        spectra = np.where(mags >= threshold[:, None], spectra, 0)
    return spectra


# --- the fast module ----------------------------------------------------------------------

class CQT(torch.nn.Module):
    """Batched constant-Q transform, ``(batch, n_samples)`` float -> ``(batch, n_bins, n_frames)`` complex64.

    ``match_librosa=True`` (default): same meaning, scaling, centring and frame count as
    ``librosa.cqt`` with the same arguments (and ``scale=True``, ``sparsity``), computed with
    librosa's multirate scheme, notches at the top of every decimated octave included (see the
    module docstring). ``match_librosa=False``, the clean mode (the model's front end): the
    same formula and frames, with the clean plan (``multirate_plan(..., passband=CLEAN_PASSBAND)``),
    the low-pass of :func:`clean_decimation_filter` and exact (two-sided, ``sparsity=0``)
    kernels: the textbook transform (:func:`textbook_cqt`) to within a few thousandths of a dB. Kernels and decimation filters are built once, in float64, and kept as real float32
    buffers (complex values as re/im pairs), so ``.to(device)`` moves them; ``forward`` runs on the
    input's device (CPU or CUDA) and always computes in float32 (complex64 out).
    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """

    def __init__(self, sample_rate: float = config.SAMPLE_RATE, hop_length: int = config.HOP_LENGTH,
                 fmin_hz: float = config.FMIN_HZ, n_bins: int = config.N_CQT_BINS,
                 bins_per_octave: int = config.BINS_PER_OCTAVE, *,
                 filter_scale: float = config.CQT_FILTER_SCALE, sparsity: float | None = None,
                 method: str = "auto", match_librosa: bool = True):
        super().__init__()
        if method not in ("auto", "direct", "fold"):
            raise ValueError(f"method must be 'auto', 'direct' or 'fold', got {method!r}")
        self.match_librosa = bool(match_librosa)
        if sparsity is None:      # librosa's default, or none for the exact kernels
            sparsity = LIBROSA_SPARSITY if self.match_librosa else 0.0
        self.sample_rate, self.hop_length = float(sample_rate), int(hop_length)
        self.fmin_hz, self.n_bins, self.bins_per_octave = float(fmin_hz), int(n_bins), int(bins_per_octave)
        self.early_factor, self.octaves = multirate_plan(
            self.sample_rate, self.hop_length, self.fmin_hz, self.n_bins, self.bins_per_octave, filter_scale,
            passband=None if self.match_librosa else CLEAN_PASSBAND)
        low_pass = decimation_filter if self.match_librosa else clean_decimation_filter
        self.freqs_hz = cqt_frequencies(self.n_bins, self.fmin_hz, self.bins_per_octave)
        self.lengths = filter_lengths(self.freqs_hz, self.sample_rate, self.bins_per_octave, filter_scale)
        self.methods = []
        self.early = self.halfband = None
        if self.early_factor > 1:
            self.register_buffer("early_taps", _as_float(low_pass(self.early_factor)))
            self.early = _Decimator(self.early_taps.shape[0], self.early_factor, math.sqrt(self.early_factor),
                                    keep_tails=not self.match_librosa)
        if any(o.decimate_after for o in self.octaves):
            self.register_buffer("halfband_taps", _as_float(low_pass(2)))
            self.halfband = _Decimator(self.halfband_taps.shape[0], 2, math.sqrt(2), keep_tails=not self.match_librosa)
        # zeros kept around every signal: frames reach n_fft/2 before the first sample, and
        # after the last up to a frame (direct) or two FFT blocks (fold); the decimation
        # filters reach `overlap` samples
        overlaps = [d.overlap + d.lead for d in (self.early, self.halfband) if d is not None]
        self.margin = max([o.n_fft // 2 for o in self.octaves] + overlaps)
        self.frame_tail = max(o.n_fft + o.hop_length + 2 * _fold_sizes(o)[0] for o in self.octaves)
        rate_after_early = self.sample_rate / self.early_factor
        lengths_after_early = self.lengths / self.early_factor
        for i, octave in enumerate(self.octaves):
            spectra = octave_kernel_spectra(octave, self.freqs_hz, self.bins_per_octave, filter_scale,
                                            sparsity,
                                            exact_at_hz=None if self.match_librosa else self.sample_rate)
            # (both modes) as librosa: kernels * sqrt(rate ratio) here, the audio * sqrt(factor) at each
            # decimation (forward), the result / sqrt(L at the early-decimated rate)
            gain = math.sqrt(rate_after_early / octave.sample_rate)
            spectra = spectra * (gain / np.sqrt(lengths_after_early[octave.lo:octave.hi]))[:, None]
            chosen = method if method != "auto" else _cheaper_method(octave)
            self.methods.append(chosen)
            if chosen == "direct":
                self._register_direct(i, octave, spectra)
            else:
                self._register_fold(i, octave, spectra)

    # -- kernels --------------------------------------------------------------------------

    def _register_direct(self, i: int, octave: Octave, spectra: np.ndarray) -> None:
        kernels = _time_kernels(spectra, octave.n_fft).T          # (n_fft, bins)
        self.register_buffer(f"direct_{i}", _as_float(_interleave(kernels)))

    def _register_fold(self, i: int, octave: Octave, spectra: np.ndarray) -> None:
        n_fft, hop = octave.n_fft, octave.hop_length
        block, n_folded, _ = _fold_sizes(octave)
        kernels = _time_kernels(spectra, n_fft)
        padded = np.zeros((len(kernels), block), np.complex128)
        padded[:, :n_fft] = kernels
        # G[k, f] = sum_j kernel_k[j] exp(+2j pi f j / block) / hop: the correlation's spectrum,
        # with the 1/hop of reading the inverse FFT every hop samples
        response = np.fft.ifft(padded, axis=1) * (block / hop)
        response = response.reshape(len(kernels), hop, n_folded)            # f = q * n_folded + r
        if hop <= FOLD_SUM_HOP:
            self.register_buffer(f"fold_{i}", _as_float(np.stack([response.real, response.imag], -1)))
        else:   # real (r, [re; im] of bins, [re; im] of q) for one real matrix product per r
            top = np.concatenate([response.real, -response.imag], axis=1)
            bottom = np.concatenate([response.imag, response.real], axis=1)
            self.register_buffer(f"fold_{i}", _as_float(np.concatenate([top, bottom], axis=0).transpose(2, 0, 1)))

    # -- forward --------------------------------------------------------------------------

    def n_frames(self, n_samples: int) -> int:
        """Frames for ``n_samples`` of audio (librosa keeps the count every octave reaches)."""
        n = -(-int(n_samples) // self.early_factor)
        counts = []
        for octave in self.octaves:
            counts.append(1 + n // octave.hop_length)
            if octave.decimate_after:
                n = -(-n // 2)
        return min(counts)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio`` ``(batch, n_samples)`` -> complex64 ``(batch, n_bins, n_frames)``.

        The result is a transposed view of a frame-major buffer (like librosa's Fortran-ordered
        arrays); call ``.contiguous()`` if you need bin-major memory.
        """
        if audio.ndim != 2:
            raise ValueError(f"CQT expects audio of shape (batch, n_samples), got {tuple(audio.shape)}")
        if audio.shape[-1] == 0:
            raise ValueError("the audio is empty (0 samples)")
        batch, n_samples = audio.shape
        frames = self.n_frames(n_samples)
        out = torch.empty(batch, frames, self.n_bins, dtype=torch.complex64, device=audio.device)
        first = self.early if self.early is not None else self.halfband
        tail = max(self.frame_tail, first.block_size(n_samples) + first.lead if first is not None else 0)
        # (profiler labels: tests/bench/bench_cqt.py reports where the time goes)
        with record_function("cqt.pad"):
            signal = _Signal.pad(audio.to(torch.float32), self.margin, tail)
        if self.early is not None:
            with record_function("cqt.decimate"):
                signal = self.early(signal, self.early_taps.to(torch.float32), self.frame_tail)
        for i, octave in enumerate(self.octaves):
            target = out[:, :, octave.lo:octave.hi]
            with record_function(f"cqt.octave.{self.methods[i]}"):
                if self.methods[i] == "direct":
                    self._direct(i, octave, signal, target)
                else:
                    self._fold(i, octave, signal, target)
            if octave.decimate_after:
                with record_function("cqt.decimate"):
                    signal = self.halfband(signal, self.halfband_taps.to(torch.float32), self.frame_tail)
        return out.transpose(1, 2)

    def _direct(self, i: int, octave: Octave, signal: _Signal, target: torch.Tensor) -> None:
        """Frames times time-domain kernels, into ``target`` (complex ``(batch, frames, bins)``)."""
        n_fft, hop = octave.n_fft, octave.hop_length
        frames = target.shape[1]
        samples = signal.span(-(n_fft // 2), (frames - 1) * hop + n_fft - n_fft // 2)
        windows = samples.unfold(-1, n_fft, hop)                 # (batch, frames, n_fft)
        kernels = getattr(self, f"direct_{i}").to(torch.float32)  # (n_fft, 2 bins), re/im interleaved
        target = torch.view_as_real(target).flatten(-2)          # (batch, frames, 2 bins)
        for item in range(windows.shape[0]):                     # mm writes into strided rows
            torch.mm(windows[item], kernels, out=target[item])

    def _fold(self, i: int, octave: Octave, signal: _Signal, target: torch.Tensor) -> None:
        """FFT correlation of long blocks with every kernel, read every ``hop`` samples by folding
        each block's spectrum to ``block / hop`` bins: into ``target`` (complex ``(batch, frames, bins)``)."""
        n_fft, hop = octave.n_fft, octave.hop_length
        block, n_folded, per_block = _fold_sizes(octave)
        batch, frames, n_bins = target.shape
        n_blocks = -(-frames // per_block)
        samples = signal.span(-(n_fft // 2), (n_blocks - 1) * per_block * hop + block - n_fft // 2)
        spectrum = torch.fft.fft(samples.unfold(-1, block, per_block * hop))    # (batch, blocks, block)
        response = getattr(self, f"fold_{i}").to(torch.float32)
        if hop <= FOLD_SUM_HOP:      # few terms per folded bin: multiply and sum
            response = torch.view_as_complex(response)
            folded = (spectrum.view(batch, n_blocks, 1, hop, n_folded) * response).sum(-2)
        else:                        # many: one small real matrix product per folded bin
            columns = torch.view_as_real(spectrum.view(batch * n_blocks, hop, n_folded))
            columns = columns.permute(2, 3, 1, 0).reshape(n_folded, 2 * hop, batch * n_blocks)
            folded = torch.bmm(response, columns).view(n_folded, 2, n_bins, batch, n_blocks)
            folded = torch.complex(folded[:, 0], folded[:, 1]).permute(2, 3, 1, 0)
        values = torch.fft.ifft(folded, dim=-1)[..., :per_block]             # (batch, blocks, bins, frames)
        target.copy_(values.transpose(-1, -2).reshape(batch, n_blocks * per_block, n_bins)[:, :frames])


def _fold_sizes(octave: Octave) -> tuple[int, int, int]:
    """Block (a multiple of the hop, about ``FOLD_BLOCK`` frame lengths), folded bins, frames per block."""
    n_folded = 1 << int(math.ceil(math.log2(FOLD_BLOCK * octave.n_fft / octave.hop_length)))
    block = n_folded * octave.hop_length
    return block, n_folded, (block - octave.n_fft) // octave.hop_length + 1


def _cheaper_method(octave: Octave) -> str:
    """The matrix product reads every sample ``n_fft / hop`` times; folding pays off when that is
    large (measured on 2 CPU cores: from 16 on, for ``n_fft = 256``)."""
    return "fold" if octave.n_fft >= FOLD_MIN_OVERLAP * octave.hop_length else "direct"


def _time_kernels(spectra: np.ndarray, n_fft: int) -> np.ndarray:
    """One-sided kernel spectra ``(bins, n_fft/2 + 1)`` -> the time kernels ``(bins, n_fft)`` that
    give the same result on a frame: ``kernel[j] = sum_p spectra[p] exp(-2j pi p j / n_fft)``."""
    full = np.zeros((spectra.shape[0], n_fft), np.complex128)
    full[:, :spectra.shape[1]] = spectra
    return np.fft.fft(full, axis=1)


def _interleave(matrix: np.ndarray) -> np.ndarray:
    """Complex ``(rows, cols)`` -> real ``(rows, 2 cols)`` as [re0, im0, re1, im1, ...]."""
    return np.stack([matrix.real, matrix.imag], axis=-1).reshape(matrix.shape[0], -1)


def _as_float(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


@functools.lru_cache(maxsize=8)
def _cached_module(sample_rate, hop_length, fmin_hz, n_bins, bins_per_octave, match_librosa) -> CQT:
    return CQT(sample_rate, hop_length, fmin_hz, n_bins, bins_per_octave, match_librosa=match_librosa)


def cqt(audio, sample_rate: float = config.SAMPLE_RATE, hop_length: int = config.HOP_LENGTH,
        fmin_hz: float = config.FMIN_HZ, n_bins: int = config.N_CQT_BINS,
        bins_per_octave: int = config.BINS_PER_OCTAVE, *, match_librosa: bool = True) -> np.ndarray:
    """The CQT of mono audio as numpy: complex64 ``(n_bins, 1 + n_samples // hop_length)``.

    Same meaning, scaling, centring and frame count as ``librosa.cqt(audio, sr=sample_rate,
    hop_length=hop_length, fmin=fmin_hz, n_bins=n_bins, bins_per_octave=bins_per_octave)``;
    with ``match_librosa=False``, the clean mode of :class:`CQT` (the textbook transform, without
    librosa's notches at the top of each octave). The module for this configuration is built
    once and cached.
    Explained in notebooks/02_cqt_from_scratch.ipynb.
    """
    audio = _check_mono(audio)
    if not np.all(np.isfinite(audio)):
        raise ValueError("the audio contains NaN or infinite samples")
    module = _cached_module(float(sample_rate), int(hop_length), float(fmin_hz), int(n_bins),
                            int(bins_per_octave), bool(match_librosa))
    with torch.no_grad():
        values = module(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None])
    return values[0].numpy()
