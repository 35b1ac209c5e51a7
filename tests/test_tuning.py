"""Tests for fasolfa.tuning: a harmonic tone's tuning is found to a cent, streams agree with one
pass, noise asks for no correction, and in an HCQT that follows the tuning a detuned tone lands
in the bin of its key (librosa-style: a pure tone lands in its bin)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

import fasolfa
from fasolfa import config, tuning
from fasolfa.cli import main
from fasolfa.hcqt import HCQT
from fasolfa.model import FasolfaNet
from fasolfa.train import save_weights
from tests.test_transcribe import SMALL


def tones(cents: float, seconds: float = 3.0, pitches=(45, 57, 60, 64, 69, 72), seed: int = 0) -> np.ndarray:
    """Harmonic tones (6 partials, decaying) of ``pitches`` played ``cents`` sharp, one after another."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * config.SAMPLE_RATE)) / config.SAMPLE_RATE
    audio = 1e-4 * rng.standard_normal(len(time_s))
    step_s = seconds / len(pitches)
    for k, pitch in enumerate(pitches):
        f0_hz = 440.0 * 2 ** ((pitch - 69) / 12 + cents / 1200)
        t = time_s - k * step_s
        on = (t >= 0) & (t < step_s)
        for partial in range(1, 7):
            audio[on] += 0.1 / partial * np.exp(-2 * t[on]) * np.sin(2 * np.pi * partial * f0_hz * t[on])
    return audio.astype(np.float32)


@pytest.mark.parametrize("cents", [-38.0, -12.5, 0.0, 7.0, 21.0, 44.0])
def test_a_harmonic_tones_tuning_is_found_to_a_cent(cents):
    found, strength = tuning.estimate_tuning(tones(cents))
    assert found == pytest.approx(cents, abs=1.0)
    assert strength > 0.8


def test_the_stream_meter_agrees_with_one_pass():
    audio = tones(15.0)
    meter = tuning.TuningMeter()
    for start in range(0, len(audio), 5003):
        meter.add(audio[start:start + 5003])
    whole = tuning.estimate_tuning(audio)
    assert meter.cents() == pytest.approx(whole[0], abs=1e-6)
    assert meter.strength() == pytest.approx(whole[1], abs=1e-6)


def test_noise_and_silence_ask_for_no_correction():
    noise = np.random.default_rng(0).standard_normal(3 * config.SAMPLE_RATE).astype(np.float32)
    assert tuning.estimate_tuning(noise)[1] < tuning.MIN_STRENGTH
    assert tuning.estimate_tuning(np.zeros(config.SAMPLE_RATE, np.float32)) == (0.0, 0.0)
    assert tuning.correction_cents(20.0, 0.1) == 0.0              # the peaks do not agree
    assert tuning.correction_cents(1.5, 0.9) == 0.0               # within the estimate's own spread
    assert tuning.correction_cents(-20.0, 0.9) == -20.0


def test_a_detuned_tone_lands_in_its_keys_bin_in_the_tuned_hcqt():
    """A4 played 30 cents sharp: the plain HCQT's peak bin is one above A4's centre bin (30
    cents is 0.9 of a bin at 3 bins per semitone); the HCQT that follows the tuning puts it back."""
    time_s = np.arange(config.SAMPLE_RATE) / config.SAMPLE_RATE
    tone = torch.tensor(0.5 * np.sin(2 * np.pi * 440.0 * 2 ** (30 / 1200) * time_s), dtype=torch.float32)[None]
    centre = (69 - config.MIDI_PITCH_MIN) * config.BINS_PER_SEMITONE     # A4 sits on its bin (bin 0 is A0)
    fundamental = list(config.HARMONICS).index(1)
    for hcqt, expected in ((HCQT(), centre + 1), (tuning.tuned_hcqt(30.0), centre)):
        spectrum = hcqt(tone)[0, fundamental, :, 20:-20].mean(dim=-1)          # (264,)
        assert int(spectrum.argmax()) == expected
    assert tuning.tuned_hcqt(30.0) is tuning.tuned_hcqt(30.04)                 # built once per tenth of a cent


def test_transcribe_follows_the_recordings_tuning_and_says_so(tmp_path, capsys):
    checkpoint = save_weights(tmp_path / "small.pt", FasolfaNet(SMALL))
    audio = tones(25.0)
    followed = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint)
    plain = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint, tuning=False)
    assert followed.tuning_cents == pytest.approx(25.0, abs=1.0) and plain.tuning_cents == 0.0
    assert followed.posteriorgrams["note"].shape == plain.posteriorgrams["note"].shape    # the same frames
    assert fasolfa.transcribe(tones(0.5), config.SAMPLE_RATE, checkpoint=checkpoint).tuning_cents == 0.0
    path = tmp_path / "sharp.wav"
    soundfile.write(path, audio, config.SAMPLE_RATE)
    assert main(["transcribe", str(path), "--checkpoint", str(checkpoint)]) == 0
    assert f"tuning {followed.tuning_cents:+.1f} cents" in capsys.readouterr().out
    assert main(["transcribe", str(path), "--checkpoint", str(checkpoint), "--no-tuning", "-o",
                 str(tmp_path / "plain.mid")]) == 0
    assert "tuning" not in capsys.readouterr().out
