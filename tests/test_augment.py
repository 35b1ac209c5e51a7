"""The "room" reverb of fasolfa.augment, and changing the augmentation from a training config.

Properties, not snapshots: each octave band of the impulse response decays at the rate asked
for, nothing arrives before the pre-delay, the energy is one.
"""
import numpy as np
import pytest
import scipy.signal

from fasolfa import config
from fasolfa.augment import Augmentation, augment, room_impulse_response, room_rt60_s
from fasolfa.errors import FasolfaError
from fasolfa.train import TrainConfig, training_augmentation

SR = config.SAMPLE_RATE


def band_rt60_s(response: np.ndarray, centre_hz: float) -> float:
    """RT60 of one octave band of ``response`` from the slope of its Schroeder curve between
    -5 and -25 dB (T20, extrapolated to 60 dB), as room acousticians measure it."""
    sos = scipy.signal.butter(4, [centre_hz / np.sqrt(2), min(centre_hz * np.sqrt(2), 0.95 * SR / 2)], btype="band",
                              fs=SR, output="sos")
    band = scipy.signal.sosfilt(sos, response.astype(np.float64))
    remaining = np.cumsum(band[::-1] ** 2)[::-1]
    level_db = 10 * np.log10(remaining / remaining[0] + 1e-30)
    start, end = np.argmax(level_db < -5), np.argmax(level_db < -25)
    return 3.0 * (end - start) / SR


@pytest.mark.parametrize("rt60_s,hf_ratio,bass_ratio", [(0.8, 0.5, 1.2), (2.0, 0.3, 1.0), (1.2, 0.8, 1.4)])
def test_room_decays_in_each_band_as_asked(rt60_s, hf_ratio, bass_ratio):
    response = room_impulse_response(rt60_s, seed=3, hf_ratio=hf_ratio, bass_ratio=bass_ratio,
                                     predelay_s=0.01, n_reflections=6)
    assert response.dtype == np.float32 and np.sum(response.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-4)
    for centre_hz in (125.0, 1000.0, 6000.0):
        expected = float(room_rt60_s(centre_hz, rt60_s, hf_ratio, bass_ratio))
        assert band_rt60_s(response, centre_hz) == pytest.approx(expected, rel=0.2), centre_hz
    # treble dies sooner than the middle, as in real rooms
    assert band_rt60_s(response, 6000.0) < band_rt60_s(response, 1000.0)


def test_room_ratios_are_pinned_where_documented():
    assert room_rt60_s(1000.0, 1.5, 0.4, 1.3) == pytest.approx(1.5)
    assert room_rt60_s(8000.0, 1.5, 0.4, 1.3) == pytest.approx(0.6)
    assert room_rt60_s(16000.0, 1.5, 0.4, 1.3) == pytest.approx(0.6)
    assert room_rt60_s(125.0, 1.5, 0.4, 1.3) == pytest.approx(1.95)
    assert room_rt60_s(30.0, 1.5, 0.4, 1.3) == pytest.approx(1.95)


@pytest.mark.parametrize("predelay_s", [0.0, 0.004, 0.025])
def test_nothing_arrives_before_the_predelay_and_the_length_covers_the_longest_band(predelay_s):
    response = room_impulse_response(1.0, seed=1, hf_ratio=0.5, bass_ratio=1.3, predelay_s=predelay_s)
    predelay_n = round(predelay_s * SR)
    assert np.all(response[:predelay_n] == 0) and np.any(response[predelay_n:predelay_n + SR // 100] != 0)
    assert len(response) == predelay_n + int(np.ceil(1.3 * SR))
    assert np.array_equal(response, room_impulse_response(1.0, seed=1, hf_ratio=0.5, bass_ratio=1.3,
                                                          predelay_s=predelay_s))
    assert not np.array_equal(response, room_impulse_response(1.0, seed=2, hf_ratio=0.5, bass_ratio=1.3,
                                                              predelay_s=predelay_s))


def test_room_reverb_keeps_the_onset_where_it_was():
    """A click reverberated by the room model: nothing before the click, and the mix peaks at it."""
    click = np.zeros(SR, np.float32)
    click[SR // 2] = 1.0
    augmentation = Augmentation.none().with_changes({"reverb_probability": 1.0, "reverb_model": "room",
                                                    "reverb_wet": [0.5, 0.5]})
    params = augmentation.draw(np.random.default_rng(0))
    assert params["reverb"]["model"] == "room"
    out = augment(click, params)
    assert np.all(np.abs(out[:SR // 2]) < 1e-6)
    assert int(np.argmax(np.abs(out))) == SR // 2


def test_noise_model_draws_are_unchanged_by_the_room_settings():
    """The room's own parameters are drawn last: the default ("noise") draws stay as they were."""
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    noise = Augmentation(reverb_probability=1.0).draw(rng_a)
    room = Augmentation(reverb_probability=1.0, reverb_model="room").draw(rng_b)
    assert set(noise["reverb"]) == {"rt60_s", "wet", "seed"}
    assert {k: room["reverb"][k] for k in noise["reverb"]} == noise["reverb"]
    assert {k: v for k, v in room.items() if k != "reverb"} == {k: v for k, v in noise.items() if k != "reverb"}
    draws = [Augmentation(reverb_probability=1.0, reverb_model="room").draw(np.random.default_rng(s))["reverb"] for s in range(50)]
    assert all(0.25 <= d["hf_ratio"] <= 0.8 and 0.0 <= d["predelay_s"] <= 0.03 and 3 <= d["n_reflections"] <= 12
               for d in draws)


def test_reverb_preroll_covers_the_longest_room():
    augmentation = Augmentation(reverb_model="room", reverb_rt60_s=(0.3, 2.5))
    longest = room_impulse_response(2.5, seed=0, hf_ratio=0.8, bass_ratio=1.4, predelay_s=0.03)
    assert augmentation.reverb_max_samples >= len(longest)


def test_training_config_changes_the_augmentation_with_one_clear_error_for_a_typo():
    cfg = TrainConfig(augmentation={"reverb_model": "room", "reverb_rt60_s": [0.3, 3.0], "reverb_probability": 0.5})
    augmentation = training_augmentation(cfg)
    assert augmentation.reverb_model == "room" and augmentation.reverb_rt60_s == (0.3, 3.0)
    assert augmentation.reverb_probability == 0.5 and augmentation.gain_db == Augmentation().gain_db
    assert TrainConfig.from_dict(cfg.to_dict()).augmentation == cfg.augmentation
    with pytest.raises(FasolfaError, match="reverb_rt60"):
        training_augmentation(TrainConfig(augmentation={"reverb_rt60": [0.3, 3.0]}))
    with pytest.raises(FasolfaError, match="reverb_model"):
        training_augmentation(TrainConfig(augmentation={"reverb_model": "cave"}))
    assert training_augmentation(TrainConfig(augment=False, augmentation={"reverb_model": "room"})) == Augmentation.none()


def test_the_benchs_image_source_room_keeps_onsets_and_rings_as_long_as_asked():
    """tests/bench/check_robustness.py's held-out rooms (pyroomacoustics): the direct sound at
    sample 0, so a click convolved with the room starts where the click was; the tail decays at
    about the Sabine RT60 asked for."""
    pytest.importorskip("pyroomacoustics")
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    from check_robustness import shoebox_response
    response = shoebox_response([6.0, 5.0, 3.0], 0.6, [2.0, 3.0, 1.0], [4.2, 1.8, 1.5])
    assert np.sum(response.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-4)
    assert int(np.argmax(np.abs(response))) == 0
    click = np.zeros(SR, np.float32)
    click[SR // 4] = 1.0
    wet = scipy.signal.fftconvolve(click, response)[:SR]
    assert np.all(np.abs(wet[:SR // 4]) < 1e-6) and int(np.argmax(np.abs(wet))) == SR // 4
    assert 0.3 < band_rt60_s(response, 1000.0) < 1.2       # image-source decay is not exactly Sabine's
