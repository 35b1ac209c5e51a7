"""A recording's level, and the gain that brings it to the level the network knows.

Explained in ``notebooks/08_evaluation.ipynb`` (section 7, robustness).

The gain of a recording says nothing about the music: the same performance can sit 20 dB
lower on a phone than on a mastered CD. The network, though, reads absolute level (its input
is a log-magnitude HCQT, and velocity is read from level), and it was trained on renderings
whose level sits in a band around -22 dBFS. Measured on the validation excerpts
(``tests/bench/check_robustness.py``), the shipped network lost 0.05 of note-onset F1 on a
recording peak-normalised to -1 dBFS, as most audio files are, and 0.25 on one 30 dB quieter
(0.52 on the MAPS pianos).

So :func:`fasolfa.transcribe` first measures the recording's level, the 99.9th percentile of
``|x|`` over the whole recording in dBFS (:func:`level_db`: the loudest strikes, not a single
peak or the silences), and brings it into the checkpoint's ``input_level_db``: a band
``(low, high)`` — a recording inside it is read as it is (its level still tells soft playing
from loud), one outside it is scaled to the nearer end — or a single level every recording is
scaled to. :func:`fasolfa.train.finalize` chooses it on the validation excerpts, read at their
own levels and at random gains. Streams are measured with :class:`LevelMeter`, a histogram of
``|x|`` in dB, exact to :data:`BIN_DB`.
"""
from __future__ import annotations

import numpy as np

LEVEL_QUANTILE = 0.999      # of |x|: the loudest strikes' level, not one sample's
BIN_DB = 0.05               # histogram resolution of LevelMeter
FLOOR_DB = -150.0           # lowest level measured (quieter samples count here)
CEILING_DB = 70.0           # highest (audio_stream refuses samples beyond 1000, +60 dBFS)
MAX_GAIN_DB = 40.0          # never raise a recording by more (near-silence stays near-silent)


def level_db(audio: np.ndarray, quantile: float = LEVEL_QUANTILE) -> float:
    """The level of ``audio`` ``(n_samples,)``: 20 log10 of the ``quantile`` of ``|x|``, in
    dBFS (:data:`FLOOR_DB` for silence)."""
    audio = np.asarray(audio)
    if audio.size == 0:
        return FLOOR_DB
    value = float(np.quantile(np.abs(audio), quantile))
    return max(20.0 * np.log10(value), FLOOR_DB) if value > 0 else FLOOR_DB


class LevelMeter:
    """:func:`level_db` of a recording given block by block (:meth:`add`), in bounded memory:
    counts of ``20 log10 |x|`` in bins of :data:`BIN_DB`; :meth:`level_db` is the upper edge of
    the bin where the ``quantile`` falls (within :data:`BIN_DB` above the exact value)."""

    def __init__(self, quantile: float = LEVEL_QUANTILE):
        self.quantile = float(quantile)
        self.counts = np.zeros(int(round((CEILING_DB - FLOOR_DB) / BIN_DB)) + 1, np.int64)
        self.n_samples = 0

    def add(self, block: np.ndarray) -> None:
        magnitude = np.abs(np.asarray(block, np.float32).ravel())              # float32: 1e-5 dB, 4x faster
        decibels = 20.0 * np.log10(np.maximum(magnitude, np.float32(10.0 ** (FLOOR_DB / 20.0))))
        index = np.clip(np.ceil((decibels - FLOOR_DB) / BIN_DB - 1e-3), 0, len(self.counts) - 1).astype(np.intp)
        self.counts += np.bincount(index, minlength=len(self.counts))
        self.n_samples += magnitude.size

    def level_db(self) -> float:
        if self.n_samples == 0:
            return FLOOR_DB
        # np.quantile's default (linear) puts the q-quantile of n values at sorted index q (n - 1)
        rank = int(np.floor(self.quantile * (self.n_samples - 1)))
        index = int(np.searchsorted(np.cumsum(self.counts), rank + 1))
        return FLOOR_DB + index * BIN_DB


def level_range(reference_db) -> tuple[float, float]:
    """``(low, high)`` in dBFS of a checkpoint's ``input_level_db``: a pair, or one number
    (``low == high``: every recording scaled to it)."""
    if np.ndim(reference_db) == 0:
        return float(reference_db), float(reference_db)
    low, high = (float(value) for value in reference_db)
    if low > high:
        raise ValueError(f"input level band ({low}, {high}): low above high")
    return low, high


def gain_db(measured_db: float, reference_db, max_gain_db: float = MAX_GAIN_DB) -> float:
    """The gain in dB that brings a recording at ``measured_db`` into ``reference_db``
    (:func:`level_range`: 0 inside the band, else to its nearer end), raising by at most
    ``max_gain_db``."""
    low, high = level_range(reference_db)
    return float(min(min(max(measured_db, low), high) - measured_db, max_gain_db))


def scaled_to(audio: np.ndarray, reference_db) -> tuple[np.ndarray, float]:
    """``audio`` ``(n_samples,)`` brought into ``reference_db`` (float32) and the gain applied in
    dB: what :func:`fasolfa.transcribe` does to a whole recording, on an array."""
    applied_db = gain_db(level_db(audio), reference_db)
    return (np.asarray(audio, np.float32) * np.float32(10.0 ** (applied_db / 20.0))), applied_db
