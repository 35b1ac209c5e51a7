"""Harmonic stacking: shifts, zero fill, log magnitude, and harmonics lining up on a note."""
import math

import numpy as np
import pytest
import torch

from fasolfa import config
from fasolfa.cqt import cqt_frequencies, filter_lengths
from fasolfa.hcqt import HCQT, harmonic_shifts, log_magnitude

SR, BPO = config.SAMPLE_RATE, config.BINS_PER_OCTAVE


@pytest.fixture(scope="module")
def hcqt():
    return HCQT()


def _harmonic_tone(f0_hz, n_partials, seconds=1.5):
    t = np.arange(int(seconds * SR)) / SR
    partials = [0.3 / k * np.sin(2 * np.pi * k * f0_hz * t + k) for k in range(1, n_partials + 1)
                if k * f0_hz < 0.45 * SR]
    return np.sum(partials, axis=0).astype(np.float32)


def test_shifts_are_rounded_log2_distances():
    shifts = harmonic_shifts(config.HARMONICS, BPO)
    assert shifts == [round(BPO * math.log2(h)) for h in config.HARMONICS]
    assert shifts == [-36, 0, 36, 57, 72, 84, 93, 101]
    for h, shift in zip(config.HARMONICS, shifts):          # within half a bin of the exact place
        assert abs(BPO * math.log2(h) - shift) < 0.5


def test_shape_range_and_zero_fill(hcqt):
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3000)).astype(np.float32))
    with torch.no_grad():
        stack = hcqt(audio)
    n_frames = 1 + 3000 // config.HOP_LENGTH
    assert stack.shape == (2, len(config.HARMONICS), config.N_CONTOUR_BINS, n_frames)
    assert stack.dtype == torch.float32
    assert stack.min() >= 0 and stack.max() <= 1
    for i, shift in enumerate(hcqt.shifts):
        source = np.arange(config.N_CONTOUR_BINS) + shift
        outside = (source < 0) | (source >= config.N_CQT_BINS)
        assert torch.all(stack[:, i, outside] == 0)                 # below A0 / above Nyquist
        assert torch.all(stack[:, i, ~outside] > 0)                 # noise is everywhere else
    assert (np.arange(config.N_CONTOUR_BINS) + hcqt.shifts[-1] >= config.N_CQT_BINS).sum() == 264 + 101 - 311


def test_channels_are_shifted_copies_of_the_cqt(hcqt):
    audio = torch.from_numpy(_harmonic_tone(220.0, 7))[None]
    with torch.no_grad():
        stack = hcqt(audio)[0]
        base = log_magnitude(hcqt.cqt(audio)[0], hcqt.cqt.lengths)
    for i, shift in enumerate(hcqt.shifts):
        lo, hi = max(0, -shift), min(config.N_CONTOUR_BINS, config.N_CQT_BINS - shift)
        assert torch.equal(stack[i, lo:hi], base[lo + shift:hi + shift])


@pytest.mark.parametrize("f0_bin", [24, 140, 150, 129, 165])
def test_harmonics_line_up_on_the_fundamental(hcqt, f0_bin):
    # partial k has amplitude 0.3 / k; through channel h, partial h must sit on the fundamental's
    # bin, as a peak at its own level. (129 and 165: E's, whose octaves and harmonics 2, 4 fall
    # on bins that librosa's multirate CQT notches; the clean CQT does not.)
    f0_hz = cqt_frequencies(config.N_CQT_BINS)[f0_bin]
    audio = torch.from_numpy(_harmonic_tone(f0_hz, 7))[None]
    with torch.no_grad():
        stack = hcqt(audio)[0]
    middle = stack[..., stack.shape[-1] // 2].numpy()             # (harmonics, bins)
    checked = 0
    for i, h in enumerate(hcqt.harmonics):
        partial = max(h, 1)                                        # channel 0.5 sees f0 as partial 2 of f0/2
        at = f0_bin if h >= 1 else f0_bin + BPO
        if partial * f0_hz >= 0.45 * SR or at >= config.N_CONTOUR_BINS:
            continue
        window = middle[i, at - 3:at + 4]
        assert np.argmax(window) == 3, (h, window)
        level_db = (middle[i, at] - 1) * 80
        assert level_db == pytest.approx(20 * np.log10(0.3 / partial), abs=1.5), h
        checked += 1
    assert checked >= 6


def test_log_magnitude_reference_and_floor():
    lengths = filter_lengths(cqt_frequencies(4), SR, BPO)
    full_scale = np.sqrt(lengths) / 2
    values = torch.tensor(np.stack([full_scale, full_scale * 0.1, full_scale * 1e-6, np.zeros(4)], 1),
                          dtype=torch.complex64)
    scaled = log_magnitude(values, lengths, top_db=80.0)
    assert torch.allclose(scaled[:, 0], torch.ones(4))                 # a full-scale sine -> 1
    assert torch.allclose(scaled[:, 1], torch.full((4,), 1 - 20 / 80))  # -20 dB
    assert torch.all(scaled[:, 2:] == 0)                               # below -80 dB, silence -> 0


def test_librosa_mode_notches_what_the_clean_mode_keeps():
    # an E (bin 237 = top bins of a decimated librosa octave): clean mode at full level, librosa's ~6 dB down
    tone = torch.from_numpy(_harmonic_tone(cqt_frequencies(config.N_CQT_BINS)[237], 1, seconds=0.5))[None]
    with torch.no_grad():
        clean = HCQT()(tone)[0, 1, 237]
        notched = HCQT(match_librosa=True)(tone)[0, 1, 237]
    middle = clean.shape[-1] // 2
    assert (clean[middle] - 1) * 80 == pytest.approx(20 * np.log10(0.3), abs=0.05)
    assert (clean[middle] - notched[middle]) * 80 > 5
