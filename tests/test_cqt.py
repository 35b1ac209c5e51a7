"""The CQT: its definition, the fast module, and agreement with librosa (properties, no snapshots)."""
import warnings

import numpy as np
import pytest
import torch

from fasolfa import config
from fasolfa.cqt import (CLEAN_PASSBAND, CLEAN_STOPBAND_DB, CLEAN_TRANSITION, CQT, clean_decimation_filter,
                         compare_magnitudes_db, cqt, cqt_frequencies, decimation_filter,
                         filter_lengths, multirate_plan, n_frames, quality_factor, textbook_cqt,
                         _decimate)
from fasolfa.errors import FasolfaError

librosa = pytest.importorskip("librosa")

SR, HOP, FMIN, BPO, N_BINS = (config.SAMPLE_RATE, config.HOP_LENGTH, config.FMIN_HZ,
                              config.BINS_PER_OCTAVE, config.N_CQT_BINS)
FREQS = cqt_frequencies(N_BINS, FMIN, BPO)
SECONDS = 2.0


def _librosa_cqt(audio, **kw):
    args = dict(sr=SR, hop_length=HOP, fmin=FMIN, n_bins=N_BINS, bins_per_octave=BPO)
    args.update(kw)
    with warnings.catch_warnings():      # "n_fft too large" for the last, shortest octaves
        warnings.simplefilter("ignore", UserWarning)
        return librosa.cqt(audio, **args)


def _time(seconds=SECONDS):
    return np.arange(int(seconds * SR)) / SR


def _tone(freq_hz, seconds=SECONDS, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * freq_hz * _time(seconds))).astype(np.float32)


def _signals():
    rng = np.random.default_rng(0)
    t = _time()
    sweep_rate = np.log(FREQS[-1] / FMIN) / SECONDS          # log chirp A0 -> top bin
    phase = 2 * np.pi * FMIN * (np.exp(sweep_rate * t) - 1) / sweep_rate
    at_centres = sum(_tone(FREQS[k], amplitude=0.1) for k in (5, 58, 130, 166, 202, 238, 274, 300))
    between = sum(_tone(FMIN * 2 ** ((k + 0.5) / BPO), amplitude=0.1) for k in (20, 93, 165, 237, 290))
    return {
        "tones at bin centres": at_centres,
        "tones between bin centres": between,
        "log chirp A0 to top bin": (0.5 * np.sin(phase)).astype(np.float32),
        "white noise": (0.1 * rng.standard_normal(len(t))).astype(np.float32),
    }


# --- the definition ------------------------------------------------------------------------

def test_grid_quality_factor_and_lengths():
    assert np.allclose(FREQS[::BPO], FMIN * 2.0 ** np.arange(len(FREQS[::BPO])))
    q = quality_factor(BPO)
    ratio = 2 ** (1 / BPO)
    assert q == pytest.approx((ratio ** 2 + 1) / (ratio ** 2 - 1))
    lengths = filter_lengths(FREQS, SR, BPO)
    assert lengths[0] == pytest.approx(q * SR / FMIN)
    assert np.allclose(lengths[:-BPO] / lengths[BPO:], 2.0)       # an octave up, half as long
    assert N_BINS == 311 and FREQS[-1] < SR / 2


def test_too_many_bins_is_a_programming_error():
    CQT(n_bins=N_BINS)
    with pytest.raises(ValueError, match="Nyquist"):
        CQT(n_bins=N_BINS + 1)
    with pytest.raises(ValueError, match="Nyquist"):
        textbook_cqt(np.zeros(100), n_bins=N_BINS + 1)


@pytest.mark.parametrize("bad", [np.zeros((2, 1000), np.float32), np.zeros(0, np.float32),
                                 np.array([0.0, np.nan, 0.0], np.float32)],
                         ids=["stereo", "empty", "nan"])
def test_bad_array_is_a_programming_error(bad):
    # the caller built the array: a ValueError, not a FasolfaError (see fasolfa.errors)
    with pytest.raises(ValueError) as raised:
        cqt(bad)
    assert not isinstance(raised.value, FasolfaError)


def test_pure_tone_lands_in_its_bin_with_the_expected_magnitude():
    # a sine of amplitude a at f_k gives |X| = a * sqrt(L_k) / 2 (see fasolfa.cqt's docstring);
    # bins at the top of an octave (other than the highest) are left out: librosa's decimation
    # filter attenuates them, tested against librosa below
    lengths = filter_lengths(FREQS, SR, BPO)
    for k in (0, 40, 100, 150, 190, 250, 280, 310):
        values = cqt(_tone(FREQS[k], amplitude=0.5))
        middle = values[:, values.shape[1] // 2]
        assert np.argmax(np.abs(middle)) == k
        assert 20 * np.log10(np.abs(middle[k]) / (0.5 * np.sqrt(lengths[k]) / 2)) == pytest.approx(0, abs=0.05)


def test_frames_are_centred_and_counted_like_librosa():
    for n in (1, 255, 256, 257, 5000, 44032):
        assert n_frames(n, HOP) == 1 + n // HOP
        assert cqt(np.zeros(n, np.float32)).shape == (N_BINS, 1 + n // HOP)
    # a click at sample 10 * HOP peaks in frame 10 in the top bins (short windows)
    click = np.zeros(int(0.5 * SR), np.float32)
    click[10 * HOP] = 1.0
    assert np.argmax(np.abs(cqt(click)[-1])) == 10


# --- the fast module against the textbook sum and against librosa ---------------------------

@pytest.mark.parametrize("hop_length, fmin_hz, n_bins", [(255, 220.0, 72), (256, 2637.0, 36)],
                         ids=["odd hop, 2 octaves", "one octave, no decimation"])
@pytest.mark.parametrize("method", ["direct", "fold"])
def test_fast_equals_textbook_when_nothing_is_decimated(hop_length, fmin_hz, n_bins, method):
    early, octaves = multirate_plan(SR, hop_length, fmin_hz, n_bins, BPO)
    assert early == 1 and not any(o.decimate_after for o in octaves)
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(int(0.3 * SR))
             + _tone(fmin_hz * 1.5, seconds=0.3)).astype(np.float32)
    module = CQT(SR, hop_length, fmin_hz, n_bins, BPO, sparsity=0.0, method=method)
    with torch.no_grad():
        fast = module(torch.from_numpy(audio)[None])[0].numpy()
    slow = textbook_cqt(audio, SR, hop_length, fmin_hz, n_bins, BPO)
    assert fast.shape == slow.shape
    assert np.abs(fast - slow).max() <= 1e-5 * np.abs(slow).max()     # float32 rounding


def test_textbook_formula_is_librosas_without_its_shortcuts():
    # librosa with no decimation (odd hop) and no kernel sparsification computes the formula
    audio = _signals()["white noise"][: int(0.3 * SR)]
    kw = dict(hop_length=255, fmin=220.0, n_bins=48, sparsity=0.0)
    reference = _librosa_cqt(audio, **kw)
    slow = textbook_cqt(audio, SR, 255, 220.0, 48, BPO)
    assert np.abs(slow - reference).max() <= 1e-5 * np.abs(reference).max()


@pytest.mark.parametrize("kind", list(_signals()))
def test_matches_librosa(kind):
    audio = _signals()[kind]
    ours, reference = cqt(audio), _librosa_cqt(audio)
    stats = compare_magnitudes_db(ours, reference, range_db=60)
    assert stats["median_db"] <= 0.1 and stats["p99_db"] <= 1.0, stats
    assert stats["n_compared"] > 1000
    # stronger than the acceptance bound: the complex values agree to float32 precision
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()


def _rendered_piano():
    synth = pytest.importorskip("fasolfa.synth")
    from fasolfa.midi import Notes
    # a rising arpeggio over seven octaves, then a four-octave chord from A0
    pitches = [36, 48, 55, 60, 64, 67, 72, 76, 79, 84, 91, 96, 103, 21, 45, 69, 93]
    onsets = np.r_[np.arange(13) * 0.2, np.full(4, 2.7)]
    offsets = np.r_[onsets[:13] + 0.8, np.full(4, 3.4)]
    velocities = np.r_[np.full(13, 90), np.full(4, 70)]
    try:
        return synth.render(Notes.from_arrays(onsets, offsets, pitches, velocities), tail_s=0.3)
    except (FasolfaError, OSError, ImportError) as error:
        pytest.skip(f"FluidSynth or a soundfont is unavailable: {error}")


def test_matches_librosa_on_rendered_piano():
    audio = _rendered_piano()
    assert np.abs(audio).max() > 0.01
    ours, reference = cqt(audio), _librosa_cqt(audio)
    stats = compare_magnitudes_db(ours, reference, range_db=60)
    assert stats["median_db"] <= 0.1 and stats["p99_db"] <= 1.0, stats
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()


@pytest.mark.parametrize("kw", [dict(fmin=32.7, n_bins=84, bins_per_octave=12),
                                dict(fmin=55.0, n_bins=200, hop_length=512),
                                dict(fmin=440.0, n_bins=36)],
                         ids=["12 bins per octave", "hop 512", "early decimation"])
def test_other_configurations_match_librosa(kw):
    audio = _signals()["white noise"]
    reference = _librosa_cqt(audio, **kw)
    ours = cqt(audio, SR, kw.get("hop_length", HOP), kw["fmin"], kw["n_bins"], kw.get("bins_per_octave", BPO))
    stats = compare_magnitudes_db(ours, reference)
    assert stats["median_db"] <= 0.1 and stats["p99_db"] <= 1.0, stats


def test_librosa_attenuates_octave_tops_and_so_do_we():
    # the top 3 bins of each decimated octave lie in the decimation filter's roll-off: a tone
    # there reads 0.5..25 dB below the exact a * sqrt(L) / 2, in librosa and in fasolfa alike
    lengths = filter_lengths(FREQS, SR, BPO)
    for k in (272, 273, 274, 236, 237, 238):
        audio = _tone(FREQS[k], amplitude=0.5)
        middle = lambda values: np.abs(values[k, values.shape[1] // 2])
        ours, theirs = middle(cqt(audio)), middle(_librosa_cqt(audio))
        assert 20 * np.log10(ours / theirs) == pytest.approx(0, abs=0.01)
        assert 20 * np.log10(ours / (0.5 * np.sqrt(lengths[k]) / 2)) < -0.3


def test_decimation_filter_is_soxrs():
    soxr = pytest.importorskip("soxr")
    taps = decimation_filter(2)
    assert len(taps) % 2 == 1 and np.allclose(taps, taps[::-1], atol=1e-7)   # linear phase
    assert taps.sum() == pytest.approx(1.0, abs=1e-5)                         # unit gain at DC
    x = np.random.default_rng(2).standard_normal(30001)
    ours = _decimate(torch.from_numpy(x)[None], 2, torch.from_numpy(taps))[0].numpy()
    theirs = soxr.resample(x, 2, 1, quality="soxr_hq")
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-5 * np.abs(theirs).max()


def test_batched_module_equals_one_at_a_time():
    signals = _signals()
    batch = np.stack([signals["white noise"], signals["log chirp A0 to top bin"]])
    module = CQT()
    with torch.no_grad():
        together = module(torch.from_numpy(batch))
        alone = [module(torch.from_numpy(row)[None])[0] for row in batch]
    assert together.shape == (2, N_BINS, 1 + batch.shape[1] // HOP)
    assert together.dtype == torch.complex64
    for i in range(2):
        assert torch.allclose(together[i], alone[i], rtol=0, atol=1e-6 * alone[i].abs().max().item())
    with pytest.raises(ValueError):
        module(torch.zeros(1000))


def test_methods_agree_and_buffers_follow_the_module():
    audio = torch.from_numpy(_signals()["tones between bin centres"])[None]
    with torch.no_grad():
        direct = CQT(method="direct")(audio)
        fold = CQT(method="fold")(audio)
        moved = CQT().to("cpu", torch.float64)(audio)      # buffers move; compute stays float32
    assert torch.allclose(direct, fold, rtol=0, atol=2e-6 * direct.abs().max().item())
    assert moved.dtype == torch.complex64


# --- the clean mode (match_librosa=False): the textbook transform, no notches ----------------

CLEAN_SECONDS = 0.5


def _clean_signals():
    rng = np.random.default_rng(3)
    at_centres = sum(_tone(FREQS[k], CLEAN_SECONDS, 0.1) for k in (130, 166, 202, 237, 238, 273, 274, 300))
    between = sum(_tone(FMIN * 2 ** ((k + 0.5) / BPO), CLEAN_SECONDS, 0.1) for k in (93, 165, 201, 237, 266, 290))
    return {"tones at bin centres": at_centres, "tones between bin centres": between,
            "white noise": (0.1 * rng.standard_normal(int(CLEAN_SECONDS * SR))).astype(np.float32)}


@pytest.fixture(scope="module")
def clean_cqt():
    return CQT(match_librosa=False)


@pytest.mark.parametrize("kind", list(_clean_signals()))
def test_clean_mode_is_the_textbook_transform(clean_cqt, kind):
    audio = _clean_signals()[kind]
    with torch.no_grad():
        fast = clean_cqt(torch.from_numpy(audio)[None])[0].numpy()
    slow = textbook_cqt(audio)
    stats = compare_magnitudes_db(fast, slow, range_db=60)
    # noise: float32 and the low-pass's 100 dB stopband. Tones: bins 40..60 dB below the
    # maximum are the skirts of tones (and of their abrupt starts and ends), where the textbook's
    # far side lobes still see what the decimation removed: a few tenths of a dB at most there
    median_db, p99_db = (0.002, 0.1) if kind == "white noise" else (0.03, 0.4)
    assert stats["median_db"] <= median_db and stats["p99_db"] <= p99_db, stats
    assert np.abs(fast - slow).max() <= 3e-3 * np.abs(slow).max()


def test_clean_mode_has_no_notches(clean_cqt):
    # a tone at any bin's centre reads a * sqrt(L_k) / 2 there (the textbook's value), top bins
    # of every decimated librosa octave (236..238, 272..274, ...) included
    lengths = filter_lengths(FREQS, SR, BPO)
    bins = (130, 166, 200, 201, 202, 230, 231, 236, 237, 238, 266, 267, 272, 273, 274, 300)
    audio = np.stack([_tone(FREQS[k], CLEAN_SECONDS, 0.5) for k in bins])
    with torch.no_grad():
        values = clean_cqt(torch.from_numpy(audio)).numpy()
    middle = values.shape[-1] // 2
    gains_db = [20 * np.log10(np.abs(values[i, k, middle]) / (0.5 * np.sqrt(lengths[k]) / 2))
                for i, k in enumerate(bins)]
    assert np.max(np.abs(gains_db)) <= 0.01, dict(zip(bins, np.round(gains_db, 4)))
    librosa_mode = cqt(_tone(FREQS[238], CLEAN_SECONDS, 0.5))
    clean_mode = cqt(_tone(FREQS[238], CLEAN_SECONDS, 0.5), match_librosa=False)
    notch_db = 20 * np.log10(np.abs(librosa_mode[238, middle]) / np.abs(clean_mode[238, middle]))
    assert notch_db <= -10, notch_db               # librosa's notch, documented by a test


def test_clean_plan_keeps_every_decimated_bin_in_the_passband():
    early, octaves = multirate_plan(SR, HOP, FMIN, N_BINS, BPO, passband=CLEAN_PASSBAND)
    cutoffs_hz = FREQS * (1 + 0.5 * config.HANN_BANDWIDTH / quality_factor(BPO))
    assert early == 1 and octaves[0].hi == N_BINS and octaves[-1].lo == 0
    for above, below in zip(octaves, octaves[1:]):
        assert below.hi == above.lo and below.sample_rate == above.sample_rate / 2
        assert cutoffs_hz[below.hi - 1] <= CLEAN_PASSBAND * below.sample_rate / 2
    assert octaves[0].hi - octaves[0].lo > BPO               # the top rate takes a few more bins
    taps = clean_decimation_filter(2)
    assert taps.sum() == pytest.approx(1.0) and np.allclose(taps, taps[::-1])
    assert np.all(taps[len(taps) // 2 + 2::2] == pytest.approx(0, abs=1e-15))   # half-band
    gain_db = 20 * np.log10(np.abs(np.fft.rfft(taps, 1 << 15)) + 1e-30)
    freqs = np.linspace(0, 1, len(gain_db))                   # in units of the input's Nyquist
    assert np.abs(gain_db[freqs <= 0.5 * (1 - CLEAN_TRANSITION)]).max() < 1e-3   # flat passband
    assert gain_db[freqs >= 0.5 * (1 + CLEAN_TRANSITION)].max() < -CLEAN_STOPBAND_DB + 1
