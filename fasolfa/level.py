"""A recording's level, and the gain that brings it to the level the network knows.

Explained in ``notebooks/08_evaluation.ipynb`` (section 7, robustness).

The gain of a recording says nothing about the music: the same performance can sit 20 dB
lower on a phone than on a mastered CD. The network, though, reads absolute level (its input
is a log-magnitude HCQT, and velocity is read from level), and it was trained on renderings
whose level sits in a band around -22 dBFS. Measured on the validation excerpts
(``tests/bench/check_robustness.py``), the shipped network lost 0.05 of note-onset F1 on a
recording peak-normalised to -1 dBFS, as most audio files are, and 0.25 on one 30 dB quieter.

So :func:`fasolfa.transcribe` first measures the recording's level, the 99.9th percentile of
``|x|`` over the whole recording in dBFS (:func:`level_db`: the loudest strikes, not a single
peak or the silences), and scales the audio to the checkpoint's ``input_level_db``, chosen on
the validation excerpts by :func:`fasolfa.train.finalize`. The transcription then no longer
depends on the recording's gain, and velocities read dynamics relative to the piece's loudest
passages. Streams are measured with :class:`LevelMeter`, a histogram of ``|x|`` in dB, exact to
:data:`BIN_DB`.
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
        magnitude = np.abs(np.asarray(block, np.float64).ravel())
        decibels = 20.0 * np.log10(np.maximum(magnitude, 10.0 ** (FLOOR_DB / 20.0)))
        index = np.clip(np.ceil((decibels - FLOOR_DB) / BIN_DB - 1e-9), 0, len(self.counts) - 1).astype(np.int64)
        self.counts += np.bincount(index, minlength=len(self.counts))
        self.n_samples += magnitude.size

    def level_db(self) -> float:
        if self.n_samples == 0:
            return FLOOR_DB
        # np.quantile's default (linear) puts the q-quantile of n values at sorted index q (n - 1)
        rank = int(np.floor(self.quantile * (self.n_samples - 1)))
        index = int(np.searchsorted(np.cumsum(self.counts), rank + 1))
        return FLOOR_DB + index * BIN_DB


def gain_db(measured_db: float, reference_db: float, max_gain_db: float = MAX_GAIN_DB) -> float:
    """The gain in dB that takes a recording at ``measured_db`` to ``reference_db``, raising by
    at most ``max_gain_db``."""
    return float(min(reference_db - measured_db, max_gain_db))


def scaled_to(audio: np.ndarray, reference_db: float) -> tuple[np.ndarray, float]:
    """``audio`` ``(n_samples,)`` scaled to ``reference_db`` (float32) and the gain applied in
    dB: what :func:`fasolfa.transcribe` does to a whole recording, on an array."""
    applied_db = gain_db(level_db(audio), reference_db)
    return (np.asarray(audio, np.float32) * np.float32(10.0 ** (applied_db / 20.0))), applied_db
