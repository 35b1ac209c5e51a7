"""Tests for fasolfa.level and the input level of a transcription: a sine's level is its
amplitude, the streaming meter agrees with the exact quantile, and with a checkpoint that
stores an input level the transcription does not depend on the recording's gain."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

import fasolfa
from fasolfa import config, level
from fasolfa.audio_stream import ReadAhead, open_audio
from fasolfa.cli import main
from fasolfa.model import FasolfaNet
from fasolfa.train import save_weights
from tests.test_transcribe import SMALL


@pytest.fixture(scope="module")
def leveled_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    return save_weights(tmp_path_factory.mktemp("ckpt") / "leveled.pt", FasolfaNet(SMALL), {"input_level_db": -20.0})


def piano_like(seconds=3.0, seed=0):
    """Decaying tones with some noise: loud strikes, quiet tails, like a recording."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * config.SAMPLE_RATE)) / config.SAMPLE_RATE
    audio = 0.001 * rng.standard_normal(len(time_s))
    for onset_s, freq_hz in zip(np.arange(0.1, seconds, 0.37), rng.uniform(100, 1500, 20)):
        after = time_s >= onset_s
        audio[after] += 0.2 * np.exp(-3 * (time_s[after] - onset_s)) * np.sin(2 * np.pi * freq_hz * (time_s[after] - onset_s))
    return audio.astype(np.float32)


def test_a_sines_level_is_its_amplitude():
    time_s = np.arange(config.SAMPLE_RATE) / config.SAMPLE_RATE
    for amplitude in (1.0, 0.1, 0.003):
        sine = amplitude * np.sin(2 * np.pi * 441.0 * time_s)
        assert level.level_db(sine) == pytest.approx(20 * np.log10(amplitude), abs=0.02)   # sampled peaks
    assert level.level_db(np.zeros(100)) == level.FLOOR_DB == level.level_db(np.zeros(0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_meter_agrees_with_the_exact_quantile_block_by_block(seed):
    rng = np.random.default_rng(seed)
    audio = piano_like(2.0, seed) * 10 ** rng.uniform(-3, 0)
    meter = level.LevelMeter()
    for start in range(0, len(audio), 7919):          # blocks of a prime length
        meter.add(audio[start:start + 7919])
    exact = level.level_db(audio)
    assert exact - 1e-3 <= meter.level_db() <= exact + level.BIN_DB + 1e-3     # float32 decibels
    assert level.LevelMeter().level_db() == level.FLOOR_DB


def test_gain_takes_a_recording_into_the_band_and_is_capped():
    assert level.gain_db(-35.0, -20.0) == pytest.approx(15.0)           # one level: always to it
    assert level.gain_db(-3.0, -20.0) == pytest.approx(-17.0)
    assert level.gain_db(level.FLOOR_DB, -20.0) == level.MAX_GAIN_DB
    assert level.gain_db(-25.0, (-30.0, -20.0)) == 0.0                    # a band: inside, as it is
    assert level.gain_db(-35.0, (-30.0, -20.0)) == pytest.approx(5.0)      # outside: to the nearer end
    assert level.gain_db(-3.0, [-30.0, -20.0]) == pytest.approx(-17.0)
    with pytest.raises(ValueError, match="low above high"):
        level.level_range((-10.0, -20.0))
    scaled, applied_db = level.scaled_to(piano_like(), -20.0)
    assert level.level_db(scaled) == pytest.approx(-20.0, abs=1e-4)
    assert applied_db == pytest.approx(-20.0 - level.level_db(piano_like()))


def test_a_file_and_its_read_ahead_measure_the_same_level(tmp_path):
    path = tmp_path / "take.flac"
    soundfile.write(path, piano_like(), config.SAMPLE_RATE)
    source = open_audio(path)
    ahead = ReadAhead(open_audio(path), 4096)
    try:
        assert ahead.level_db() == source.level_db() == pytest.approx(level.level_db(piano_like()), abs=0.06)
        assert sum(len(block) for block in ahead.blocks()) == len(piano_like())   # its blocks still all come
    finally:
        ahead.close()


def test_the_transcription_does_not_depend_on_the_recordings_gain(leveled_checkpoint):
    audio = piano_like()
    loud = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=leveled_checkpoint)
    quiet = fasolfa.transcribe(audio * np.float32(0.02), config.SAMPLE_RATE, checkpoint=leveled_checkpoint)
    assert quiet.gain_db - loud.gain_db == pytest.approx(-20 * np.log10(0.02), abs=level.BIN_DB + 1e-3)
    as_is = fasolfa.transcribe(audio * np.float32(0.02), config.SAMPLE_RATE, checkpoint=leveled_checkpoint,
                               level=False)
    assert as_is.gain_db == 0.0

    def distance(a, b):
        return max(float(np.abs(a.posteriorgrams[name].astype(np.float32)
                                - b.posteriorgrams[name].astype(np.float32)).max()) for name in a.posteriorgrams)
    # scaled: the same posteriorgrams but for float16 steps; unscaled, the 34 dB show (0.02 here)
    assert distance(quiet, loud) <= 2e-3
    assert distance(as_is, loud) > 5 * max(distance(quiet, loud), 2e-3)


def test_a_checkpoint_without_a_level_reads_the_recording_as_it_is(tmp_path):
    plain = save_weights(tmp_path / "plain.pt", FasolfaNet(SMALL))
    result = fasolfa.transcribe(piano_like(), config.SAMPLE_RATE, checkpoint=plain)
    assert result.gain_db == 0.0


def test_a_band_keeps_a_recording_inside_it_and_brings_the_others_to_its_ends(tmp_path):
    band = save_weights(tmp_path / "band.pt", FasolfaNet(SMALL), {"input_level_db": [-30.0, -10.0]})
    measured = level.level_db(piano_like())                 # about -14 dBFS: inside
    assert -30.0 < measured < -10.0
    inside = fasolfa.transcribe(piano_like(), config.SAMPLE_RATE, checkpoint=band)
    loud = fasolfa.transcribe(np.clip(piano_like() * 8, -1, 1), config.SAMPLE_RATE, checkpoint=band)
    quiet = fasolfa.transcribe(piano_like() * np.float32(0.01), config.SAMPLE_RATE, checkpoint=band)
    assert inside.gain_db == 0.0
    assert loud.gain_db < 0 and quiet.gain_db == pytest.approx(-30.0 - (measured - 40.0), abs=0.1)


def test_the_command_line_says_the_gain_and_keep_level_turns_it_off(tmp_path, leveled_checkpoint, capsys):
    path = tmp_path / "take.wav"
    soundfile.write(path, piano_like() * np.float32(0.1), config.SAMPLE_RATE)
    assert main(["transcribe", str(path), "--checkpoint", str(leveled_checkpoint)]) == 0
    expected = -20.0 - level.level_db(piano_like() * np.float32(0.1))
    printed = capsys.readouterr().out
    assert f"level {expected:+.1f} dB" in printed or f"level {expected + 0.05:+.1f} dB" in printed
    assert main(["transcribe", str(path), "--checkpoint", str(leveled_checkpoint), "--keep-level",
                 "-o", str(tmp_path / "kept.mid")]) == 0
    assert "level" not in capsys.readouterr().out
