"""Tests for fasolfa.evaluate: hand-computed cases, and agreement with mir_eval's own scores."""
from __future__ import annotations

import warnings

import mir_eval
import numpy as np
import pretty_midi
import pytest

from fasolfa import config
from fasolfa.errors import FasolfaError
from fasolfa.evaluate import (METRICS, mean_scores, pedal_press_windows, piano_roll, pooled_scores, score,
                              score_midi, scores_from_counts, velocity_agreement)
from fasolfa.midi import Notes, Pedal, write_midi
from fasolfa.notes import notes_to_midi

FPS = config.FRAMES_PER_SECOND


def four_notes(**changes) -> Notes:
    columns = dict(onset_s=[0.5, 1.0, 1.5, 2.0], offset_s=[0.9, 1.4, 1.9, 2.4],
                   pitch=[60, 62, 64, 65], velocity=[40, 60, 80, 100])
    columns.update(changes)
    return Notes.from_arrays(**columns)


def prf(result, metric):
    return tuple(round(result[metric][name], 6) for name in ("precision", "recall", "f1"))


def test_perfect_estimate_scores_one_everywhere():
    pedal = Pedal.from_arrays([0.7, 1.8], [1.2, 2.6])
    result = score(four_notes(), pedal, four_notes(), pedal)
    assert set(result) == set(METRICS)
    for metric in METRICS:
        assert prf(result, metric) == (1.0, 1.0, 1.0), metric


def test_one_missed_note_out_of_four():
    reference = four_notes()
    estimate = reference.select(np.array([True, True, False, True]))
    result = score(reference, None, estimate)
    for metric in ("onset", "onset_offset", "onset_offset_velocity"):
        assert prf(result, metric) == (1.0, 0.75, round(2 * 0.75 / 1.75, 6)), metric
        assert result[metric]["counts"] == {"tp": 3, "fp": 0, "fn": 1}
    assert result["frame"]["precision"] == 1.0 and 0.7 < result["frame"]["recall"] < 0.8


def test_an_extra_note_costs_precision_only():
    reference = four_notes()
    extra = Notes.from_arrays(np.r_[reference.onset_s, 3.0], np.r_[reference.offset_s, 3.5],
                              np.r_[reference.pitch, 70], np.r_[reference.velocity, 90])
    assert prf(score(reference, None, extra), "onset") == (0.8, 1.0, round(2 * 0.8 / 1.8, 6))


@pytest.mark.parametrize("delay_s, hit", [(0.04, True), (0.06, False), (-0.04, True), (-0.06, False)])
def test_onset_tolerance_is_50_ms(delay_s, hit):
    reference = four_notes()
    late = four_notes(onset_s=reference.onset_s + np.array([delay_s, 0, 0, 0]))
    assert score(reference, None, late)["onset"]["counts"]["tp"] == (4 if hit else 3)
    wide = score(reference, None, late, onset_tolerance_s=0.1)
    assert wide["onset"]["counts"]["tp"] == 4


def test_a_wrong_pitch_never_matches():
    estimate = four_notes(pitch=[61, 62, 64, 65])
    assert score(four_notes(), None, estimate)["onset"]["counts"] == {"tp": 3, "fp": 1, "fn": 1}


def test_offset_tolerance_is_20_percent_of_the_duration_or_50_ms():
    # reference note 1.0 .. 2.0 s: offset tolerance max(0.2 * 1.0, 0.05) = 0.2 s
    reference = Notes.from_arrays([1.0], [2.0], [60])
    for offset_s, hit in ((2.15, True), (1.85, True), (2.25, False), (1.75, False)):
        result = score(reference, None, Notes.from_arrays([1.0], [offset_s], [60]))
        assert result["onset"]["counts"]["tp"] == 1
        assert result["onset_offset"]["counts"]["tp"] == int(hit), offset_s
    # reference note 1.0 .. 1.1 s: 0.2 * 0.1 = 20 ms < 50 ms, so 50 ms applies
    short = Notes.from_arrays([1.0], [1.1], [60])
    assert score(short, None, Notes.from_arrays([1.0], [1.14], [60]))["onset_offset"]["counts"]["tp"] == 1
    assert score(short, None, Notes.from_arrays([1.0], [1.16], [60]))["onset_offset"]["counts"]["tp"] == 0


def test_velocity_counts_only_up_to_a_straight_line():
    reference = four_notes(velocity=[20, 50, 80, 110])
    scaled = four_notes(velocity=[15, 30, 45, 60])        # 0.5 * v + 5: a straight line
    assert prf(score(reference, None, scaled), "onset_offset_velocity") == (1.0, 1.0, 1.0)
    flat = four_notes(velocity=[64, 64, 64, 64])          # best line: 0.5 on the [0, 1] range
    result = score(reference, None, flat)
    # normalised reference velocities 0, 1/3, 2/3, 1 are all further than 0.1 from 0.5
    assert result["onset_offset"]["counts"]["tp"] == 4
    assert result["onset_offset_velocity"]["counts"] == {"tp": 0, "fp": 4, "fn": 4}
    swapped = four_notes(velocity=[20, 50, 110, 80])      # two loudnesses exchanged
    assert score(reference, None, swapped)["onset_offset_velocity"]["counts"]["tp"] < 4


def test_sustain_pedal_extends_reference_and_estimate_offsets():
    reference = Notes.from_arrays([1.0], [1.5], [60])
    pedal = Pedal.from_arrays([1.2], [3.0])               # held when the key is released
    sustained_estimate = Notes.from_arrays([1.0], [3.0], [60])
    key_estimate = Notes.from_arrays([1.0], [1.5], [60])
    hits = lambda result: result["onset_offset"]["counts"]["tp"]
    assert hits(score(reference, pedal, sustained_estimate)) == 1
    assert hits(score(reference, pedal, key_estimate)) == 0
    assert hits(score(reference, None, key_estimate)) == 1
    assert hits(score(reference, None, sustained_estimate)) == 0
    # an estimate with pedal is extended by its own pedal
    assert hits(score(reference, pedal, key_estimate, pedal)) == 1
    # the onset metric never looks at offsets
    for estimate in (sustained_estimate, key_estimate):
        for reference_pedal in (pedal, None):
            assert score(reference, reference_pedal, estimate)["onset"]["counts"]["tp"] == 1


def test_pedal_press_matches_within_50_ms():
    reference = Pedal.from_arrays([1.0, 3.0], [2.0, 4.0])
    near = Pedal.from_arrays([1.03, 2.97], [2.0, 4.0])
    far = Pedal.from_arrays([1.07, 3.0], [2.0, 4.0])
    notes = four_notes()
    assert prf(score(notes, reference, notes, near), "pedal") == (1.0, 1.0, 1.0)
    assert score(notes, reference, notes, far)["pedal"]["counts"] == {"tp": 1, "fp": 1, "fn": 1}
    assert prf(score(notes, reference, notes, None), "pedal") == (1.0, 0.0, 0.0)
    frame = score(notes, reference, notes, far)["pedal_frame"]
    assert frame["recall"] < 1.0 and frame["precision"] == 1.0


def test_pedal_press_windows_reach_back_to_the_last_ending_the_audio_lets_you_hear():
    # key releases at 0.5 (pedal up: heard), 1.3 and 1.8 (under the first press: silent), 2.6
    # (under the second), 3.2 and 3.35 (between presses: heard); the third press holds none.
    notes = Notes.from_arrays([0.0, 1.0, 1.0, 2.1, 2.9, 3.3], [0.5, 1.3, 1.8, 2.6, 3.2, 3.35],
                              [60, 62, 64, 65, 67, 69], [80] * 6)
    pedal = Pedal.from_arrays([1.1, 2.05, 3.4, 4.0], [2.0, 2.8, 3.9, 4.5])
    after_s, lift_s, heard = pedal_press_windows(notes, pedal)
    # before press 1 the last ending is the release at 0.5; before press 2, the lift at 2.0
    # (it stops the notes the first press holds); before presses 3 and 4, the release at 3.35:
    # the third press holds no note, so its lift at 3.9 stops nothing and is not heard
    np.testing.assert_allclose(after_s, [0.5, 2.0, 3.35, 3.35])
    np.testing.assert_allclose(lift_s, [2.0, 2.8, 3.9, 4.5])
    assert heard.tolist() == [True, True, False, False]
    # no ending before the first press: the window opens at the start
    assert pedal_press_windows(notes.select(notes.onset_s > 0.5), pedal)[0][0] == 0.0
    empty = pedal_press_windows(Notes.empty(), Pedal.empty())
    assert all(len(a) == 0 for a in empty)


def test_empty_reference_and_estimate_do_not_crash():
    notes, empty = four_notes(), Notes.empty()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # and mir_eval warns about nothing
        both = score(empty, None, empty)
        missing = score(notes, None, empty)
        invented = score(empty, None, notes)
    for metric in METRICS:
        assert prf(both, metric) == (1.0, 1.0, 1.0), metric
    for metric in ("onset", "onset_offset", "onset_offset_velocity", "frame"):
        assert prf(missing, metric) == (1.0, 0.0, 0.0)
        assert prf(invented, metric) == (0.0, 1.0, 0.0)


def test_scores_from_counts_define_zero_over_zero_as_one():
    assert scores_from_counts(0, 0, 0)["f1"] == 1.0
    assert scores_from_counts(3, 1, 2)["precision"] == 0.75
    assert scores_from_counts(3, 1, 2)["recall"] == 0.6
    assert scores_from_counts(3, 1, 2)["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    with pytest.raises(ValueError):
        scores_from_counts(-1, 0, 0)


def random_notes(rng, n_notes=40, duration_s=8.0, pitches=(55, 70)):
    onset_s = rng.uniform(0.0, duration_s, n_notes)
    return Notes.from_arrays(onset_s, onset_s + rng.uniform(0.03, 1.0, n_notes),
                             rng.integers(*pitches, n_notes), rng.integers(1, 128, n_notes))


def jitter(rng, notes, spread_s=0.04):
    n_notes = len(notes)
    onset_s = np.maximum(notes.onset_s + rng.normal(0, spread_s, n_notes), 0.0)
    offset_s = np.maximum(notes.offset_s + rng.normal(0, 3 * spread_s, n_notes), onset_s + 0.01)
    pitch = np.where(rng.random(n_notes) < 0.1, notes.pitch + 1, notes.pitch)
    velocity = np.clip(notes.velocity + rng.integers(-15, 16, n_notes), 1, 127)
    keep = rng.random(n_notes) < 0.9
    return Notes.from_arrays(onset_s[keep], offset_s[keep], pitch[keep], velocity[keep])


def test_note_scores_agree_with_mir_eval_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(10):
        reference = random_notes(rng)
        estimate = jitter(rng, reference)
        result = score(reference, None, estimate)
        ref_args = (np.c_[reference.onset_s, reference.offset_s],
                    pretty_midi.note_number_to_hz(reference.pitch))
        est_args = (np.c_[estimate.onset_s, estimate.offset_s],
                    pretty_midi.note_number_to_hz(estimate.pitch))
        for metric, offset_ratio in (("onset", None), ("onset_offset", 0.2)):
            expected = mir_eval.transcription.precision_recall_f1_overlap(
                *ref_args, *est_args, offset_ratio=offset_ratio)[:3]
            np.testing.assert_allclose(prf(result, metric), expected, atol=1e-6)
        expected = mir_eval.transcription_velocity.precision_recall_f1_overlap(
            ref_args[0], ref_args[1], reference.velocity, est_args[0], est_args[1],
            estimate.velocity)[:3]
        np.testing.assert_allclose(prf(result, "onset_offset_velocity"), expected, atol=1e-6)


def test_frame_scores_agree_with_mir_eval_multipitch():
    rng = np.random.default_rng(1)
    for _ in range(5):
        reference = random_notes(rng)
        estimate = jitter(rng, reference)
        result = score(reference, None, estimate)
        n_frames = int(np.ceil(max(reference.end_s, estimate.end_s) * FPS)) + 2
        times_s = np.arange(n_frames) / FPS

        def frequencies(notes):
            roll = piano_roll(notes, n_frames)
            return [pretty_midi.note_number_to_hz(np.flatnonzero(column)) for column in roll.T]

        expected = mir_eval.multipitch.evaluate(times_s, frequencies(reference),
                                                times_s, frequencies(estimate))
        assert result["frame"]["precision"] == pytest.approx(expected["Precision"])
        assert result["frame"]["recall"] == pytest.approx(expected["Recall"])


def test_piano_roll_follows_the_target_convention():
    notes = Notes.from_arrays([0.0, 10 / FPS, 20.2 / FPS], [3 / FPS, 10.2 / FPS, 25 / FPS], [60, 61, 62])
    roll = piano_roll(notes, 30)
    assert np.flatnonzero(roll[60]).tolist() == [0, 1, 2]
    assert np.flatnonzero(roll[61]).tolist() == [10]            # a short note fills one frame
    assert np.flatnonzero(roll[62]).tolist() == [20, 21, 22, 23, 24]


def test_mean_and_pooled_scores():
    reference = four_notes()
    perfect = score(reference, None, reference)
    half = score(reference, None, reference.select(np.array([True, True, False, False])))
    single = score(Notes.from_arrays([0.5], [1.0], [60]), None, Notes.empty())
    mean = mean_scores([perfect, half])
    assert mean["onset"]["recall"] == pytest.approx(0.75)
    assert mean["onset"]["precision"] == pytest.approx(1.0)
    pooled = pooled_scores([perfect, half, single])
    assert pooled["onset"]["counts"] == {"tp": 6, "fp": 0, "fn": 3}
    assert pooled["onset"]["recall"] == pytest.approx(6 / 9)
    assert mean_scores([perfect, half, single])["onset"]["recall"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mean_scores([])


def test_bad_inputs_raise_value_error():
    notes = four_notes()
    with pytest.raises(ValueError, match="offset_s <= onset_s"):
        score(notes, None, Notes.from_arrays([1.0], [1.0], [60]))
    with pytest.raises(ValueError):
        score(notes, None, notes, onset_tolerance_s=0.0)
    with pytest.raises(ValueError):
        score(notes, None, np.zeros((4, 2)))


def test_score_midi_reads_both_files_with_their_pedal(tmp_path):
    reference = Notes.from_arrays([1.0, 3.5], [1.5, 4.0], [60, 64], [70, 90])
    pedal = Pedal.from_arrays([1.2], [3.0])
    reference_path = write_midi(tmp_path / "reference.mid", reference, pedal)
    same_path = write_midi(tmp_path / "same.mid", reference, pedal)
    no_pedal_path = write_midi(tmp_path / "no_pedal.mid", reference)
    assert prf(score_midi(reference_path, same_path), "onset_offset") == (1.0, 1.0, 1.0)
    # without its pedal the estimate's first note ends at 1.5 s, the reference's at 3.0 s;
    # the second note starts after the pedal is up
    result = score_midi(reference_path, no_pedal_path)
    assert result["onset_offset"]["counts"]["tp"] == 1
    assert prf(result, "pedal") == (1.0, 0.0, 0.0)
    silence_path = tmp_path / "silence.mid"
    notes_to_midi(Notes.empty()).write(str(silence_path))
    assert prf(score_midi(reference_path, silence_path), "onset") == (1.0, 0.0, 0.0)
    with pytest.raises(FasolfaError):
        score_midi(reference_path, tmp_path / "missing.mid")


def test_velocity_agreement_follows_the_order_of_loudness_not_its_scale():
    """Pearson r of matched notes' velocities: 1 for any increasing linear map of the reference's,
    -1 for a reversed one; offsets do not decide which notes count; an unmatched note is not read."""
    reference = four_notes()
    assert velocity_agreement(reference, reference) == {"matched": 4, "pearson_r": pytest.approx(1.0),
                                                        "register_tilt": pytest.approx(0.0, abs=1e-9)}
    scaled = four_notes(velocity=[10, 30, 50, 70], offset_s=[0.6, 1.1, 1.6, 2.1])   # other scale, early ends
    assert velocity_agreement(reference, scaled)["pearson_r"] == pytest.approx(1.0)
    assert velocity_agreement(reference, four_notes(velocity=[100, 80, 60, 40]))["pearson_r"] == pytest.approx(-1.0)
    shifted = four_notes(onset_s=[0.5, 1.0, 1.5, 2.2], velocity=[40, 60, 80, 1])      # the last misses by 200 ms
    assert velocity_agreement(reference, shifted)["matched"] == 3
    assert velocity_agreement(reference, shifted)["pearson_r"] == pytest.approx(1.0)
    noisy = velocity_agreement(reference, four_notes(velocity=[40, 80, 60, 100]))
    assert 0 < noisy["pearson_r"] < 1
    two = four_notes(pitch=[60, 62, 70, 71])                                            # two keys match
    assert velocity_agreement(reference, two)["matched"] == 2 and np.isnan(velocity_agreement(reference, two)["pearson_r"])
    assert np.isnan(velocity_agreement(reference, Notes.empty())["pearson_r"])
    assert np.isnan(velocity_agreement(reference, four_notes(velocity=[64] * 4))["pearson_r"])   # constant estimate


def test_register_tilt_reads_a_brighter_or_darker_estimate_not_a_recalibration():
    """An estimate that reads the treble too loud (a brighter piano than the training sound) has a
    positive tilt, one reading the bass too loud a negative one, of about the size put in; an
    affine map of the reference's velocities, which the +velocity metric forgives, has none."""
    rng = np.random.default_rng(0)
    pitch = np.arange(36, 96, 2)                                    # 30 keys, five octaves
    velocity = rng.integers(30, 110, len(pitch))                    # loudness not tied to the key
    reference = Notes.from_arrays(onset_s=np.arange(len(pitch)) * 0.5, offset_s=np.arange(len(pitch)) * 0.5 + 0.3,
                                  pitch=pitch, velocity=velocity)
    def estimate(velocities):
        return Notes.from_arrays(onset_s=reference.onset_s, offset_s=reference.offset_s, pitch=pitch,
                                 velocity=np.clip(np.rint(velocities), 1, 127))
    assert velocity_agreement(reference, estimate(0.5 * velocity + 20))["register_tilt"] == pytest.approx(0.0, abs=0.1)
    octaves = (pitch - 66) / 12
    brighter = velocity_agreement(reference, estimate(velocity + 6 * octaves))["register_tilt"]
    darker = velocity_agreement(reference, estimate(velocity - 6 * octaves))["register_tilt"]
    assert 4 < brighter < 7 and -7 < darker < -4
    one_key = four_notes(pitch=[60] * 4, onset_s=[0.5, 1.0, 1.5, 2.0])
    assert np.isnan(velocity_agreement(one_key, one_key)["register_tilt"])


def test_error_analysis_tells_a_true_weak_restrike_from_a_false_one():
    """tests/bench/bench_errors.py: the peak near a missed note, and what a lower threshold for
    re-strikes would add — a peak inside a transcribed note of its key near a missed strike is a
    true re-strike, one with no strike near a false one; peaks outside every note, or below the
    lower threshold, are not counted."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    from bench_errors import peak_near, weak_restrikes
    fps = config.FRAMES_PER_SECOND
    onset = np.zeros((config.N_KEYS, 300), np.float32)
    row = 60 - config.MIDI_PITCH_MIN
    for time_s, value in ((0.1, 0.9), (0.5, 0.3), (1.0, 0.6), (1.5, 0.55), (2.2, 0.6)):
        onset[row, int(round(time_s * fps))] = value
    estimate = Notes.from_arrays([0.1], [2.0], [60], [80])
    reference = Notes.from_arrays([0.1, 1.0], [0.9, 1.4], [60, 60], [80, 60])
    ref_hit = np.array([True, False])
    assert weak_restrikes(onset, estimate, reference, ref_hit, 0.7, 0.5, 0.05) == (1, 1)
    assert weak_restrikes(onset, estimate, reference, ref_hit, 0.7, 0.6, 0.05) == (1, 0)
    assert weak_restrikes(onset, estimate, reference, np.array([True, True]), 0.7, 0.5, 0.05) == (0, 2)
    assert weak_restrikes(onset, estimate, reference, ref_hit, 0.7, 0.2, 0.05) == (1, 2)
    assert peak_near(onset, 1.0, 60) == pytest.approx(0.6) and peak_near(onset, 1.2, 60) == 0.0


def test_piece_bootstrap_draws_a_pieces_excerpts_together():
    """evaluate.paired_differences / piece_bootstrap: a render's excerpts (one per soundfont) form
    one piece and a MAPS recording another; the mean is over excerpts; when every piece differs
    alike the interval is that difference, and one piece far off widens it."""
    from fasolfa.evaluate import paired_differences, piece_bootstrap, piece_of
    assert piece_of("asap-Bach-X/FluidR3_GM") == ("rendered", "asap-Bach-X")
    assert piece_of("MAPS_MUS-alb_esp3_AkPnCGdD") == ("maps", "MAPS_MUS-alb_esp3_AkPnCGdD")
    a = {f"p{i}/{sf}": {"onset": 0.9} for i in range(4) for sf in ("A", "B")} | {"MAPS_x": {"onset": 0.8}}
    b = {name: {"onset": scores["onset"] + 0.01} for name, scores in a.items()}
    pieces = paired_differences(a, b, "onset")
    assert set(pieces) == {"rendered", "maps"} and len(pieces["rendered"]) == 4
    assert all(len(values) == 2 for values in pieces["rendered"].values())
    alike = piece_bootstrap(pieces["rendered"], draws=500, level=0.9)
    assert alike["low"] == pytest.approx(0.01) and alike["high"] == pytest.approx(0.01) and alike["excerpts"] == 8
    b["p0/A"]["onset"] = b["p0/B"]["onset"] = 0.7                           # one piece far behind
    apart = piece_bootstrap(paired_differences(a, b, "onset")["rendered"], draws=500, level=0.9)
    assert apart["low"] < apart["mean"] < apart["high"] and apart["mean"] == pytest.approx((6 * 0.01 - 2 * 0.2) / 8)
    assert "frame" not in str(paired_differences(a, b, "frame"))            # a metric no excerpt has: nothing
    with pytest.raises(ValueError, match="at least one piece"):
        piece_bootstrap({})


def test_piece_bootstrap_interval_narrows_as_pieces_grow():
    """Pieces whose differences scatter alike: nine times the pieces give an interval about a
    third as wide (the standard error of a mean), centred near the same true difference."""
    from fasolfa.evaluate import piece_bootstrap
    rng = np.random.default_rng(1)
    widths = {}
    for n_pieces in (8, 72):
        pieces = {f"p{i}": list(0.01 + 0.02 * rng.standard_normal(3)) for i in range(n_pieces)}
        row = piece_bootstrap(pieces, draws=4000, level=0.9)
        widths[n_pieces] = row["high"] - row["low"]
        standard_error = 0.02 / np.sqrt(3 * n_pieces)
        assert abs(row["mean"] - 0.01) < 4 * standard_error and row["low"] < row["mean"] < row["high"]
        assert 2 * 1.645 * standard_error * 0.6 < widths[n_pieces] < 2 * 1.645 * standard_error * 1.4
    assert 0.2 < widths[72] / widths[8] < 0.5


def test_partial_ghost_counts_false_notes_on_a_lower_notes_partials():
    """tests/bench/partial_ghosts.py: an unmatched note an octave above a lower estimate with the
    same onset is a ghost at a partial; one a tritone above is false but not at a partial; a
    matched octave is not false; bass references below A1 are counted and found."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    from partial_ghosts import count
    from fasolfa.midi import Notes
    references = Notes.from_arrays([0.5, 0.5, 2.0], [1.5, 1.5, 3.0], [25, 40, 60])
    estimates = Notes.from_arrays([0.5, 0.51, 0.5, 2.0, 2.01], [1.5, 1.5, 1.5, 3.0, 3.0], [25, 37, 40, 60, 66])
    counts = count(references, estimates, (12, 19, 24, 28, 31), 2, 86.1328125)
    assert counts == {"estimates": 5, "false": 2, "false_at_partials": 1, "references": 3,
                      "bass_references": 1, "bass_found": 1}
    late = Notes.from_arrays([0.5, 0.6], [1.5, 1.5], [25, 37])        # 0.1 s later: past 2 frames
    assert count(Notes.from_arrays([0.5], [1.5], [25]), late, (12,), 2, 86.1328125)["false_at_partials"] == 0


def test_bass_probe_clip_counts_found_keys_and_ghosts_at_partials():
    """tests/bench/bass_probe.py: the struck keys found at the strike, every other note a ghost,
    those 12/19/24/28/31 keys above the lowest struck key at its partials."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    from bass_probe import ONSET_S, clip_counts
    from fasolfa.midi import Notes
    estimates = Notes.from_arrays([ONSET_S, ONSET_S, ONSET_S + 0.01, ONSET_S], [2.0] * 4, [25, 37, 44, 30])
    assert clip_counts(estimates, [25]) == {"found": [True], "ghosts": 3, "ghosts_at_partials": 2,
                                            "ghost_keys": [30, 37, 44]}
    assert clip_counts(estimates, [25, 37])["found"] == [True, True]
    assert clip_counts(Notes.from_arrays([ONSET_S + 0.2], [2.0], [25]), [25])["found"] == [False]
