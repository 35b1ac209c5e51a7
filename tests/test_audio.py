"""Tests for fasolfa.audio: any file in, mono float32 at SAMPLE_RATE out; clear errors."""
import numpy as np
import pytest
import soundfile

from fasolfa import config
from fasolfa.audio import load_audio, write_audio
from fasolfa.errors import FasolfaError


def tone(freq_hz, duration_s, sample_rate):
    time_s = np.arange(int(duration_s * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq_hz * time_s)).astype(np.float32)


def test_stereo_at_another_rate_becomes_mono_at_sample_rate(tmp_path):
    left, right = tone(440, 1.0, 44100), tone(440, 1.0, 44100) * 0.5
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 44100)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - config.SAMPLE_RATE) <= 1
    # mono is the mean of the channels: amplitude 0.375; the tone stays at 440 Hz
    assert np.max(np.abs(audio[1000:-1000])) == pytest.approx(0.375, abs=0.01)
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * config.SAMPLE_RATE / len(audio)
    assert peak_hz == pytest.approx(440, abs=2)


def test_flac_round_trip_and_silence_is_valid(tmp_path):
    silence = np.zeros(config.SAMPLE_RATE // 2, np.float32)
    path = write_audio(tmp_path / "silence.flac", silence)
    np.testing.assert_array_equal(load_audio(path), silence)


@pytest.mark.parametrize("name, content, problem", [
    ("take1.wav", b"this is not audio at all", "not an audio file"),
    ("take2.wav", b"", "not an audio file"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FasolfaError, match=problem) as error:
        load_audio(path)
    assert name in str(error.value) and "\n" not in str(error.value)


def test_missing_and_empty_audio(tmp_path):
    with pytest.raises(FasolfaError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.float32), config.SAMPLE_RATE)
    with pytest.raises(FasolfaError, match="empty.wav: the audio file holds no samples"):
        load_audio(path)


def test_write_audio_leaves_nothing_behind_on_failure(tmp_path):
    with pytest.raises(Exception):
        write_audio(tmp_path / "out.xyz", np.zeros(10, np.float32))   # unknown format
    assert list(tmp_path.iterdir()) == []
