"""Every constant of fasolfa in one place.

Conventions used across the package (see ``DESIGN.md`` and notebook ``01_midi_encoding``):

* audio is mono ``float32`` at :data:`SAMPLE_RATE`;
* frame ``i`` is centred on sample ``i * HOP_LENGTH`` (librosa's ``center=True``), so a signal
  of ``n_samples`` samples has ``1 + n_samples // HOP_LENGTH`` frames;
* arrays are **frequency first, time last**: a CQT is ``(n_bins, n_frames)``, a frame target is
  ``(N_KEYS, n_frames)``, a batch adds a leading ``batch`` axis;
* piano key ``k`` (0..87) is MIDI pitch ``MIDI_PITCH_MIN + k``; contour bin ``b`` (0..263) is
  MIDI pitch ``MIDI_PITCH_MIN + b / BINS_PER_SEMITONE``, so key ``k`` is centred on bin
  ``BINS_PER_SEMITONE * k``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

# --- audio and frames -------------------------------------------------------------------
SAMPLE_RATE = 22050                      # Hz, every audio array in fasolfa
HOP_LENGTH = 256                         # samples between frames (~11.6 ms)
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH   # ~86.13 frames per second

# --- pitch grid -------------------------------------------------------------------------
MIDI_PITCH_MIN = 21                      # A0, the lowest piano key
MIDI_PITCH_MAX = 108                     # C8, the highest piano key
N_KEYS = MIDI_PITCH_MAX - MIDI_PITCH_MIN + 1   # 88
FMIN_HZ = 27.5                           # A0, frequency of CQT bin 0
BINS_PER_SEMITONE = 3
BINS_PER_OCTAVE = 12 * BINS_PER_SEMITONE       # 36
N_CONTOUR_BINS = N_KEYS * BINS_PER_SEMITONE    # 264, the model's pitch-contour resolution
CONTOUR_SIGMA_BINS = 1.0                 # std of the soft (Gaussian) contour target, in bins

# --- CQT / HCQT -------------------------------------------------------------------------
HARMONICS = (0.5, 1, 2, 3, 4, 5, 6, 7)   # harmonic stack of the model's input
CQT_FILTER_SCALE = 1.0                   # librosa's ``filter_scale``
HANN_BANDWIDTH = 1.50018310546875        # equivalent noise bandwidth of a Hann window, in bins


def max_cqt_bins(sample_rate: float = SAMPLE_RATE, fmin_hz: float = FMIN_HZ,
                 bins_per_octave: int = BINS_PER_OCTAVE,
                 filter_scale: float = CQT_FILTER_SCALE) -> int:
    """Largest ``n_bins`` whose top Hann-windowed CQT filter still fits below Nyquist.

    The relative bandwidth ``alpha = (r**2 - 1) / (r**2 + 1)`` with ``r = 2**(1/bins_per_octave)``
    gives ``Q = filter_scale / alpha``; a filter centred on ``f`` reaches up to
    ``f * (1 + HANN_BANDWIDTH / (2 Q))``, which must stay below ``sample_rate / 2``
    (the same rule ``librosa.cqt`` enforces).
    """
    ratio = 2.0 ** (1.0 / bins_per_octave)
    alpha = (ratio ** 2 - 1) / (ratio ** 2 + 1)
    q_factor = filter_scale / alpha
    top_hz = (sample_rate / 2) / (1 + 0.5 * HANN_BANDWIDTH / q_factor)
    return int(math.floor(bins_per_octave * math.log2(top_hz / fmin_hz))) + 1


N_CQT_BINS = max_cqt_bins()              # 311 at 22050 Hz: every bin up to Nyquist

# --- training windows -------------------------------------------------------------------
WINDOW_N_FRAMES = 172                    # frames of audio per training window (~2 s)
WINDOW_N_SAMPLES = WINDOW_N_FRAMES * HOP_LENGTH  # 44032 samples
CONTEXT_N_SAMPLES = 20992                # audio each side of a window/chunk for its HCQT: 82 frames,
                                         # half the longest CQT kernel (A0, 41,649 samples), rounded up
SUSTAIN_THRESHOLD = 64                   # CC64 value at or above which the pedal is down
PIANO_PROGRAMS = (0, 1, 2)               # General MIDI acoustic, bright and electric grand

# --- files ------------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
EXAMPLES_DIR = REPO_ROOT / "data" / "examples"
FIGURES_DIR = REPO_ROOT / "figures"


def cache_dir() -> Path:
    """Where rendered audio is cached: ``$FASOLFA_CACHE`` or ``~/.cache/fasolfa``."""
    return Path(os.environ.get("FASOLFA_CACHE", Path.home() / ".cache" / "fasolfa")).expanduser()


def corpus_dir() -> Path:
    """The shared performance-MIDI corpus: ``$FASOLFA_DATA`` or ``../shared/data`` beside the repo."""
    return Path(os.environ.get("FASOLFA_DATA", REPO_ROOT.parent / "shared" / "data")).expanduser()
