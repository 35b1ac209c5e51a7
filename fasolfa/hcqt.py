"""Harmonic stacking of CQT bins: the model's input.

Explained in notebooks/03_harmonic_stacking.ipynb.

A piano note at ``f0`` sounds partials near ``2 f0, 3 f0, ...``. On a CQT with
``bins_per_octave`` bins per octave, harmonic ``h`` of the note in bin ``b`` lies
``bins_per_octave * log2(h)`` bins higher, wherever ``b`` is. Shifting the CQT down by that many
bins, once per harmonic, lines every note's partials up on its fundamental's bin: a small
convolution kernel then sees, at one place, whether the harmonics a fundamental needs are there.

:class:`HCQT` computes one CQT (``N_CQT_BINS`` bins from ``FMIN_HZ``, every bin below Nyquist),
turns it into a log magnitude (:func:`log_magnitude`), and stacks, for each ``h`` in
``HARMONICS = (0.5, 1, 2, 3, 4, 5, 6, 7)``, the CQT shifted by ``round(bins_per_octave * log2 h)``
bins (-36, 0, 36, 57, 72, 84, 93, 101 at 36 bins per octave; the rounding moves partial 5 by 0.41
bins, the others by less than 0.07), cropped to the ``N_CONTOUR_BINS = 264`` output bins A0..C8 + 2/3 semitone.
Where a shifted bin falls outside the CQT (below A0 for ``h = 0.5``, above the top CQT bin near
Nyquist for high ``h``) the stack holds 0, the value of silence.

The CQT is :class:`fasolfa.cqt.CQT`'s clean mode (``match_librosa=False``): the textbook
transform, every bin at full gain. librosa's multirate scheme would notch the top three bins of
every octave below the highest (0.5, 6 and 25 dB: the E's of every octave), so every E and its
harmonics would read quieter; ``HCQT(match_librosa=True)`` still gives librosa's values.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from fasolfa import config
from fasolfa.cqt import CQT

TOP_DB = 80.0        # dynamic range kept by log_magnitude, in dB below a full-scale sine


def harmonic_shifts(harmonics=config.HARMONICS, bins_per_octave: int = config.BINS_PER_OCTAVE) -> list[int]:
    """Bins between a fundamental and each harmonic: ``round(bins_per_octave * log2 h)``.

    Explained in notebooks/03_harmonic_stacking.ipynb.
    """
    return [int(round(bins_per_octave * math.log2(h))) for h in harmonics]


def log_magnitude(values: torch.Tensor, lengths, top_db: float = TOP_DB) -> torch.Tensor:
    """CQT values ``(..., n_bins, n_frames)`` -> log magnitude in ``[0, 1]``, same shape (float32, contiguous).

    The level of each bin in dB relative to a full-scale sine at that bin's frequency (whose
    CQT magnitude is ``sqrt(L_k) / 2``, see :mod:`fasolfa.cqt`), clipped to ``[-top_db, 0]`` and
    mapped linearly to ``[0, 1]``: 1 is a full-scale sine, 0 is ``top_db`` dB below it (or
    silence). A fixed reference, not the loudest value of each input, so a soft passage stays
    soft (the velocity head needs that) and chunks of a long recording are scaled alike.
    ``lengths``: the filter lengths ``L_k``, shape ``(n_bins,)``.
    Explained in notebooks/03_harmonic_stacking.ipynb.
    """
    inverse_full_scale = torch.as_tensor(2 / np.sqrt(np.asarray(lengths, np.float64)), dtype=torch.float32,
                                         device=values.device)[:, None]
    level = torch.empty(values.shape, dtype=torch.float32, device=values.device)   # contiguous
    torch.abs(values, out=level)
    level.mul_(inverse_full_scale).clamp_(min=10.0 ** (-top_db / 20))
    return level.log10_().mul_(20 / top_db).add_(1)


class HCQT(torch.nn.Module):
    """Harmonic CQT: audio ``(batch, n_samples)`` -> ``(batch, n_harmonics, n_output_bins, n_frames)``.

    Values are :func:`log_magnitude` in ``[0, 1]`` (float32); channel ``i`` holds harmonic
    ``harmonics[i]``: ``out[:, i, b] = log_magnitude(cqt)[:, b + shift_i]``, or 0 where that bin
    does not exist. Frames as :class:`fasolfa.cqt.CQT` (``1 + n_samples // hop_length``).
    ``match_librosa``: passed to :class:`fasolfa.cqt.CQT` (default ``False``, the clean mode).
    Explained in notebooks/03_harmonic_stacking.ipynb.
    """

    def __init__(self, harmonics=config.HARMONICS, n_output_bins: int = config.N_CONTOUR_BINS, *,
                 sample_rate: float = config.SAMPLE_RATE, hop_length: int = config.HOP_LENGTH,
                 fmin_hz: float = config.FMIN_HZ, n_bins: int = config.N_CQT_BINS,
                 bins_per_octave: int = config.BINS_PER_OCTAVE, top_db: float = TOP_DB,
                 match_librosa: bool = False):
        super().__init__()
        self.harmonics = tuple(harmonics)
        self.n_output_bins, self.top_db = int(n_output_bins), float(top_db)
        self.cqt = CQT(sample_rate, hop_length, fmin_hz, n_bins, bins_per_octave, match_librosa=match_librosa)
        self.shifts = harmonic_shifts(self.harmonics, bins_per_octave)
        # output bins lo:hi of channel i copy CQT bins lo + shift : hi + shift; the rest is 0
        self.spans = [(max(0, -shift), min(self.n_output_bins, n_bins - shift)) for shift in self.shifts]

    @property
    def freqs_hz(self) -> np.ndarray:
        """Centre frequency of each output bin (the fundamental's), shape ``(n_output_bins,)``."""
        return self.cqt.freqs_hz[:self.n_output_bins]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        level = log_magnitude(self.cqt(audio), self.cqt.lengths, self.top_db)
        batch, _, frames = level.shape                                  # (batch, n_bins, frames)
        stacked = level.new_empty(batch, len(self.harmonics), self.n_output_bins, frames)
        for i, (shift, (lo, hi)) in enumerate(zip(self.shifts, self.spans)):
            stacked[:, i, :lo] = 0
            stacked[:, i, lo:hi] = level[:, lo + shift:hi + shift]
            stacked[:, i, hi:] = 0
        return stacked

    def with_context(self, audio: torch.Tensor, context_n_samples: int) -> torch.Tensor:
        """HCQT of the audio between ``context_n_samples`` of context on each side, context frames
        dropped: ``(batch, context + n * HOP_LENGTH + context)`` -> ``(batch, 8, 264, n + 1)``.

        Frame ``j`` of the result is centred on sample ``context + j * hop_length`` of ``audio``.
        With ``context_n_samples >= config.CONTEXT_N_SAMPLES`` (half the longest CQT kernel) the
        frames equal those computed inside the whole recording (the context is real audio, or
        zeros past the recording's ends), so training windows and inference chunks see the same
        input. Explained in notebooks/05_the_model.ipynb.
        """
        if context_n_samples % self.cqt.hop_length:
            raise ValueError(f"context_n_samples must be a multiple of hop_length={self.cqt.hop_length}")
        inner = audio.shape[-1] - 2 * context_n_samples
        if inner < 0 or inner % self.cqt.hop_length:
            raise ValueError(f"audio of {audio.shape[-1]} samples is not context + n * hop + context")
        first = context_n_samples // self.cqt.hop_length
        return self(audio)[..., first:first + inner // self.cqt.hop_length + 1]
