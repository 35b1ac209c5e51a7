"""Audio augmentation of training windows: gain, EQ, reverb and noise (numpy and scipy only).

Explained in ``notebooks/04_rendering_a_dataset.ipynb``.

:class:`Augmentation` says which effects a window gets and draws their parameters from a
``numpy.random.Generator``; :func:`augment` applies drawn parameters to an audio array.
This module needs neither torch nor FluidSynth, so :mod:`fasolfa.plots` may import it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import scipy.fft

from fasolfa import config
from fasolfa.errors import FasolfaError

REVERB_MODELS = ("noise", "room")
# octave bands of the "room" model's decay (Hz), and where its RT60 ratios are pinned
ROOM_BANDS_HZ = (62.5, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)


@dataclass(frozen=True)
class Augmentation:
    """How windows are changed before training. Each effect is applied with its probability;
    its parameters are drawn uniformly from the given ``(low, high)`` ranges.

    * gain: ``gain_db``;
    * EQ: a spectral tilt (``eq_tilt_db_per_octave`` around 1 kHz), a low shelf below
      ``eq_low_hz`` and a high shelf above ``eq_high_hz`` (``eq_shelf_db`` each), at most
      ``eq_max_db`` either way, applied as a zero-phase FFT filter;
    * reverb: convolution with a synthetic impulse response (``reverb_rt60_s``: time to decay by
      60 dB), mixed in at ``reverb_wet`` (0 dry .. 1 wet) beside the dry sound, which keeps the
      onsets where they were. ``reverb_model`` ``"noise"``: exponentially decaying white noise
      (:func:`reverb_impulse_response`); ``"room"``: a room whose high frequencies die sooner
      than its middle (``room_hf_ratio``: RT60 at 8 kHz over RT60 at 1 kHz) and its bass later
      (``room_bass_ratio``, at 125 Hz), with a pre-delay and a few early reflections
      (:func:`room_impulse_response`);
    * noise: white or pink noise at ``noise_snr_db`` below the window's RMS;
    * detuning: the whole window played ``detune_cents`` sharp or flat (a piano is rarely at
      exactly A = 440 Hz), by resampling — :class:`fasolfa.data.WindowDataset` applies it, moving
      the notes' times with the audio so the labels stay aligned;
    * band limit: a steep low-pass at ``band_limit_hz`` (many recordings are made or stored at
      16 kHz or less, so nothing above 8 kHz).

    Choosing the soundfont and program is done by :class:`WindowDataset` (each window picks
    one of its piece's renditions). ``Augmentation.none()`` changes nothing (validation).
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    gain_probability: float = 1.0
    gain_db: tuple[float, float] = (-18.0, 6.0)
    eq_probability: float = 0.5
    eq_tilt_db_per_octave: tuple[float, float] = (-2.0, 2.0)
    eq_shelf_db: tuple[float, float] = (-9.0, 9.0)
    eq_low_hz: tuple[float, float] = (80.0, 400.0)
    eq_high_hz: tuple[float, float] = (2000.0, 8000.0)
    eq_max_db: float = 15.0
    reverb_probability: float = 0.3
    reverb_rt60_s: tuple[float, float] = (0.2, 1.5)
    reverb_wet: tuple[float, float] = (0.05, 0.4)
    reverb_model: str = "noise"
    room_hf_ratio: tuple[float, float] = (0.25, 0.8)
    room_bass_ratio: tuple[float, float] = (0.9, 1.4)
    room_predelay_s: tuple[float, float] = (0.0, 0.03)
    room_reflections: tuple[int, int] = (3, 12)
    noise_probability: float = 0.3
    noise_snr_db: tuple[float, float] = (15.0, 45.0)
    detune_probability: float = 0.5
    detune_cents: tuple[float, float] = (-25.0, 25.0)
    band_limit_probability: float = 0.25
    band_limit_hz: tuple[float, float] = (4000.0, 10000.0)

    @classmethod
    def none(cls) -> "Augmentation":
        """No augmentation at all (for validation and tests)."""
        return cls(gain_probability=0.0, eq_probability=0.0, reverb_probability=0.0,
                   noise_probability=0.0, detune_probability=0.0, band_limit_probability=0.0)

    def draw(self, rng: np.random.Generator) -> dict:
        """Draw one window's augmentation parameters (``None`` for effects not applied).

        Every value is drawn whatever the probabilities, so changing one probability does not
        change the others' draws."""
        uniform = lambda bounds: float(rng.uniform(*bounds))  # noqa: E731
        applied = rng.random(4) < np.array([self.gain_probability, self.eq_probability,
                                            self.reverb_probability, self.noise_probability])
        gain = uniform(self.gain_db)
        eq = {"tilt_db_per_octave": uniform(self.eq_tilt_db_per_octave),
              "low_shelf_db": uniform(self.eq_shelf_db), "low_hz": uniform(self.eq_low_hz),
              "high_shelf_db": uniform(self.eq_shelf_db), "high_hz": uniform(self.eq_high_hz)}
        reverb = {"rt60_s": uniform(self.reverb_rt60_s), "wet": uniform(self.reverb_wet),
                  "seed": int(rng.integers(2 ** 31))}
        noise = {"snr_db": uniform(self.noise_snr_db), "color": ("white", "pink")[int(rng.integers(2))],
                 "seed": int(rng.integers(2 ** 31))}
        more = rng.random(2) < np.array([self.detune_probability, self.band_limit_probability])
        detune, cutoff = uniform(self.detune_cents), uniform(self.band_limit_hz)
        # drawn last, so that the draws above are those of the "noise" model
        room = {"model": "room", "hf_ratio": uniform(self.room_hf_ratio),
                "bass_ratio": uniform(self.room_bass_ratio), "predelay_s": uniform(self.room_predelay_s),
                "n_reflections": int(rng.integers(self.room_reflections[0], self.room_reflections[1] + 1))}
        if self.reverb_model == "room":
            reverb.update(room)
        return {"gain_db": gain if applied[0] else None, "eq": eq if applied[1] else None,
                "reverb": reverb if applied[2] else None, "noise": noise if applied[3] else None,
                "detune_cents": detune if more[0] else None, "band_limit_hz": cutoff if more[1] else None}

    @property
    def reverb_max_samples(self) -> int:
        """Longest impulse response (so the audio needed before a window), in samples."""
        if self.reverb_probability <= 0:
            return 0
        if self.reverb_model == "room":
            longest_s = self.room_predelay_s[1] + self.reverb_rt60_s[1] * max(self.room_bass_ratio[1], 1.0)
            return int(np.ceil(longest_s * config.SAMPLE_RATE)) + 1
        return int(np.ceil(self.reverb_rt60_s[1] * config.SAMPLE_RATE))

    def __post_init__(self):
        if self.reverb_model not in REVERB_MODELS:
            raise FasolfaError(f"reverb_model {self.reverb_model!r}: choose one of {', '.join(REVERB_MODELS)}")

    def with_changes(self, changes: dict) -> "Augmentation":
        """A copy with the fields named in ``changes`` set (``(low, high)`` ranges may come as
        lists, as from JSON); an unknown name is one clear :class:`FasolfaError`."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise FasolfaError(f"augmentation: unknown setting(s) {', '.join(unknown)}; "
                               f"known: {', '.join(sorted(names))}")
        return replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})


def eq_gain_db(frequencies_hz: np.ndarray, tilt_db_per_octave: float, low_shelf_db: float,
               low_hz: float, high_shelf_db: float, high_hz: float,
               max_db: float = 15.0) -> np.ndarray:
    """Gain in dB of the augmentation EQ at ``frequencies_hz`` (smooth shelves, one octave wide).
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    octaves = np.log2(np.maximum(frequencies_hz, 1.0) / 1000.0)
    low = 1.0 / (1.0 + np.exp(4.0 * (np.log2(np.maximum(frequencies_hz, 1.0) / low_hz))))
    high = 1.0 / (1.0 + np.exp(-4.0 * (np.log2(np.maximum(frequencies_hz, 1.0) / high_hz))))
    gain_db = tilt_db_per_octave * octaves + low_shelf_db * low + high_shelf_db * high
    return np.clip(gain_db, -max_db, max_db)


def apply_eq(audio: np.ndarray, sample_rate: int = config.SAMPLE_RATE, max_db: float = 15.0,
             **eq) -> np.ndarray:
    """Filter ``audio`` (shape ``(n_samples,)``) with :func:`eq_gain_db`: zero phase, applied
    to the window's FFT (a circular filter; the smooth curve's response lasts a few ms).
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    n_fft = len(audio)
    spectrum = scipy.fft.rfft(np.asarray(audio, np.float32), n_fft)
    frequencies_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    spectrum *= (10.0 ** (eq_gain_db(frequencies_hz, max_db=max_db, **eq) / 20.0)).astype(np.float32)
    return scipy.fft.irfft(spectrum, n_fft)[:len(audio)].astype(np.float32)


def reverb_impulse_response(rt60_s: float, seed: int, sample_rate: int = config.SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: Gaussian noise decaying by 60 dB over ``rt60_s`` seconds, unit energy.
    Shape ``(round(rt60_s * sample_rate),)``.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    n_samples = max(int(round(rt60_s * sample_rate)), 1)
    time_s = np.arange(n_samples) / sample_rate
    envelope = 10.0 ** (-3.0 * time_s / rt60_s)            # -60 dB at rt60_s
    noise = np.random.default_rng(seed).standard_normal(n_samples) * envelope
    return (noise / np.sqrt(np.sum(noise ** 2))).astype(np.float32)


def room_rt60_s(frequency_hz, rt60_s: float, hf_ratio: float, bass_ratio: float):
    """RT60 of the "room" model at ``frequency_hz``: ``rt60_s`` at 1 kHz, ``hf_ratio`` times that
    at 8 kHz and above, ``bass_ratio`` times that at 125 Hz and below, straight lines in
    log-frequency between (air and walls absorb treble more than bass)."""
    octave = np.log2(np.asarray(frequency_hz, float) / 1000.0)             # 0 at 1 kHz
    ratio = np.where(octave >= 0, 1.0 + (hf_ratio - 1.0) * np.clip(octave / 3.0, 0, 1),
                     1.0 + (bass_ratio - 1.0) * np.clip(-octave / 3.0, 0, 1))
    return rt60_s * ratio


def room_impulse_response(rt60_s: float, seed: int, sample_rate: int = config.SAMPLE_RATE, *,
                          hf_ratio: float = 0.5, bass_ratio: float = 1.1, predelay_s: float = 0.01,
                          n_reflections: int = 6, build_up_s: float = 0.005) -> np.ndarray:
    """A synthetic room with frequency-dependent decay, unit energy, shape ``(n_samples,)``.

    Nothing before ``predelay_s`` (the direct sound is the dry path, mixed in by :func:`augment`);
    then ``n_reflections`` early reflections (single taps of random sign, spread over the
    next 80 ms, as loud as a few times the tail there) and a diffuse tail: white noise split
    into octave bands (:data:`ROOM_BANDS_HZ`, raised-cosine crossovers in log-frequency that
    sum to one), each band decaying by 60 dB in its own :func:`room_rt60_s`, the tail's density
    building up over ``build_up_s``. ``n_samples`` covers the predelay and the longest band's
    RT60. Explained in notebooks/04_rendering_a_dataset.ipynb."""
    rng = np.random.default_rng(seed)
    band_rt60_s = room_rt60_s(np.array(ROOM_BANDS_HZ), rt60_s, hf_ratio, bass_ratio)   # (n_bands,)
    predelay_n = int(round(predelay_s * sample_rate))
    tail_n = max(int(np.ceil(band_rt60_s.max() * sample_rate)), 2)
    n_fft = scipy.fft.next_fast_len(tail_n, real=True)
    spectrum = scipy.fft.rfft(rng.standard_normal(n_fft, dtype=np.float32))   # (n_fft // 2 + 1,) white
    octave = np.log2(np.maximum(np.fft.rfftfreq(n_fft, 1.0 / sample_rate), 1e-3) / ROOM_BANDS_HZ[0])
    time_s = np.arange(tail_n, dtype=np.float32) / sample_rate
    tail = np.zeros(tail_n, np.float32)
    for b, band_rt60 in enumerate(band_rt60_s):
        distance = octave - b                                               # octaves from band b's centre
        weight = np.cos(0.5 * np.pi * np.clip(distance, -1, 1)) ** 2        # neighbours sum to 1
        if b == 0:
            weight[distance < 0] = 1.0                                      # the lowest band takes all below
        if b == len(band_rt60_s) - 1:
            weight[distance > 0] = 1.0                                      # the highest all above
        band = scipy.fft.irfft(spectrum * weight.astype(np.float32), n_fft)[:tail_n]
        tail += band * np.exp(np.float32(-3.0 * np.log(10.0) / band_rt60) * time_s)   # -60 dB at band_rt60
    tail *= 1.0 - np.exp(-time_s / max(build_up_s, 1e-4))
    response = np.zeros(predelay_n + tail_n, np.float64)
    response[predelay_n:] = tail
    early_n = min(int(0.08 * sample_rate), tail_n - 1)
    for _ in range(int(n_reflections)):
        at = int(rng.integers(0, early_n + 1))
        amplitude = rng.uniform(1.0, 4.0) * 10.0 ** (-3.0 * (at / sample_rate) / rt60_s)
        response[predelay_n + at] += amplitude * rng.choice((-1.0, 1.0))
    return (response / np.sqrt(np.sum(response ** 2))).astype(np.float32)


def _colored_noise(n_samples: int, color: str, seed: int) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(n_samples, dtype=np.float32)
    if color == "pink":                # 1/f power: divide the amplitude spectrum by sqrt(f)
        n_fft = scipy.fft.next_fast_len(n_samples, real=True)
        spectrum = scipy.fft.rfft(white, n_fft)
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum), dtype=np.float32))
        spectrum[0] = 0
        white = scipy.fft.irfft(spectrum, n_fft)[:n_samples]
    return (white / np.sqrt(np.mean(white.astype(np.float64) ** 2))).astype(np.float32)


def _reverberate(audio: np.ndarray, response: np.ndarray, preroll: np.ndarray | None) -> np.ndarray:
    """The last ``len(audio)`` samples of ``concat(preroll, audio) * response`` (convolution),
    with silence before ``preroll``. A circular FFT convolution over just the needed span
    suffices: wrap-around only reaches outputs earlier than ``len(response) - 1`` samples."""
    n_history = len(response) - 1
    before = np.zeros(0, np.float32)
    if preroll is not None and n_history:
        before = np.asarray(preroll[max(len(preroll) - n_history, 0):], np.float32)
    source = np.concatenate([np.zeros(n_history - len(before), np.float32), before, audio])
    n_fft = scipy.fft.next_fast_len(len(source), real=True)
    wet = scipy.fft.irfft(scipy.fft.rfft(source, n_fft) * scipy.fft.rfft(response, n_fft), n_fft)
    return wet[n_history:n_history + len(audio)].astype(np.float32)


def low_pass(audio: np.ndarray, cutoff_hz: float, sample_rate: int = config.SAMPLE_RATE,
             transition: float = 0.05) -> np.ndarray:
    """Zero-phase low-pass of ``audio`` ``(n_samples,)``: gain 1 below ``cutoff_hz``, a raised-cosine
    fall to 0 over the next ``transition`` fraction of it (applied to the FFT of the window)."""
    n_fft = len(audio)
    spectrum = scipy.fft.rfft(np.asarray(audio, np.float32), n_fft)
    frequencies_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    position = np.clip((frequencies_hz - cutoff_hz) / (transition * cutoff_hz), 0.0, 1.0)
    spectrum *= (0.5 + 0.5 * np.cos(np.pi * position)).astype(np.float32)
    return scipy.fft.irfft(spectrum, n_fft)[:len(audio)].astype(np.float32)


def augment(audio: np.ndarray, params: dict, sample_rate: int = config.SAMPLE_RATE,
            eq_max_db: float = 15.0, preroll: np.ndarray | None = None) -> np.ndarray:
    """Apply drawn augmentation ``params`` (see :meth:`Augmentation.draw`) to a window.

    Order: reverb (fed by ``preroll``, the audio just before the window, so notes struck
    earlier ring into it), EQ, band limit, gain, noise (detuning is applied when the window is
    read, see :class:`fasolfa.data.WindowDataset`). Returns float32 of the same shape as ``audio``.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    out = audio.astype(np.float32, copy=True)
    if params.get("reverb"):
        reverb = params["reverb"]
        if reverb.get("model") == "room":
            response = room_impulse_response(reverb["rt60_s"], reverb["seed"], sample_rate,
                                             hf_ratio=reverb["hf_ratio"], bass_ratio=reverb["bass_ratio"],
                                             predelay_s=reverb["predelay_s"],
                                             n_reflections=reverb["n_reflections"])
        else:
            response = reverb_impulse_response(reverb["rt60_s"], reverb["seed"], sample_rate)
        wet = _reverberate(out, response, preroll)
        dry_rms = np.sqrt(np.mean(out ** 2)) + 1e-12
        wet_rms = np.sqrt(np.mean(wet ** 2)) + 1e-12
        mix = params["reverb"]["wet"]
        out = ((1 - mix) * out + mix * wet * (dry_rms / wet_rms)).astype(np.float32)
    if params.get("eq"):
        out = apply_eq(out, sample_rate, max_db=eq_max_db, **params["eq"])
    if params.get("band_limit_hz"):
        out = low_pass(out, params["band_limit_hz"], sample_rate)
    if params.get("gain_db") is not None:
        out *= np.float32(10.0 ** (params["gain_db"] / 20.0))
    if params.get("noise"):
        signal_rms = max(float(np.sqrt(np.mean(out ** 2))), 1e-4)   # silence: noise at -80 dBFS-ish
        noise_rms = signal_rms / 10.0 ** (params["noise"]["snr_db"] / 20.0)
        out += np.float32(noise_rms) * _colored_noise(len(out), params["noise"]["color"],
                                                      params["noise"]["seed"])
    return out
