"""Tests for fasolfa.notes: hand-made posteriorgrams in, notes / pedal / MIDI out."""
from __future__ import annotations

import csv
import io

import numpy as np
import pretty_midi
import pytest

from fasolfa import config
from fasolfa.midi import Notes, Pedal, notes_to_targets, read_midi
from fasolfa.notes import (DEFAULT_VELOCITY, NoteThresholds, notes_table, notes_to_midi,
                           onset_peaks, posteriorgrams_to_midi, posteriorgrams_to_notes)

FPS = config.FRAMES_PER_SECOND
FRAME_S = 1.0 / FPS
C4 = 60
KEY_C4 = C4 - config.MIDI_PITCH_MIN


def empty_posteriorgrams(n_frames: int) -> dict[str, np.ndarray]:
    keys = np.zeros((config.N_KEYS, n_frames), np.float32)
    return {"onset": keys.copy(), "note": keys.copy(), "velocity": keys.copy(),
            "contour": np.zeros((config.N_CONTOUR_BINS, n_frames), np.float32),
            "pedal": np.zeros(n_frames, np.float32), "pedal_onset": np.zeros(n_frames, np.float32),
            "pedal_offset": np.zeros(n_frames, np.float32)}


def add_note(grams, pitch, first, end, onset=0.9, note=0.8, velocity=100):
    """A note on frames first .. end-1 with its onset peak at ``first``."""
    key = pitch - config.MIDI_PITCH_MIN
    grams["onset"][key, first] = onset
    grams["note"][key, first:end] = note
    grams["velocity"][key, first] = velocity / 127
    return grams


# --- notes -------------------------------------------------------------------------------

def test_single_note_times_pitch_and_velocity():
    grams = add_note(empty_posteriorgrams(60), C4, 10, 30, velocity=64)
    notes, pedal = posteriorgrams_to_notes(grams)
    assert len(notes) == 1 and len(pedal) == 0
    np.testing.assert_allclose(notes.onset_s, [10 * FRAME_S])
    np.testing.assert_allclose(notes.offset_s, [30 * FRAME_S])
    assert notes.pitch.tolist() == [C4] and notes.velocity.tolist() == [64]
    assert notes.channel.tolist() == [0]


def test_touching_notes_on_different_keys_share_a_boundary():
    grams = add_note(add_note(empty_posteriorgrams(60), C4, 5, 20), C4 + 2, 20, 40)
    notes, _ = posteriorgrams_to_notes(grams)
    assert notes.pitch.tolist() == [C4, C4 + 2]
    np.testing.assert_allclose(notes.offset_s[0], notes.onset_s[1])
    np.testing.assert_allclose(notes.offset_s[1], 40 * FRAME_S)


def test_restruck_key_makes_two_notes_the_first_ending_at_the_restrike():
    grams = add_note(add_note(empty_posteriorgrams(60), C4, 5, 20, velocity=50), C4, 20, 40,
                     velocity=90)  # note posteriorgram never drops between the two strikes
    notes, _ = posteriorgrams_to_notes(grams)
    assert notes.pitch.tolist() == [C4, C4]
    np.testing.assert_allclose(notes.onset_s, [5 * FRAME_S, 20 * FRAME_S])
    np.testing.assert_allclose(notes.offset_s, [20 * FRAME_S, 40 * FRAME_S])
    assert notes.velocity.tolist() == [50, 90]


def test_double_onset_closer_than_min_length_is_one_note():
    grams = add_note(empty_posteriorgrams(60), C4, 5, 30)
    grams["onset"][KEY_C4, 7] = 0.8       # a second peak two frames later
    notes, _ = posteriorgrams_to_notes(grams)
    assert len(notes) == 1
    np.testing.assert_allclose(notes.offset_s, [30 * FRAME_S])
    loose, _ = posteriorgrams_to_notes(grams, NoteThresholds(min_note_ms=0.0))
    assert len(loose) == 2


def test_silence_gives_no_notes_and_a_valid_midi_file(tmp_path):
    grams = empty_posteriorgrams(100)
    grams["note"][:] = 0.9                # sounding everywhere, but no onset: no note
    notes, pedal = posteriorgrams_to_notes(grams)
    assert len(notes) == 0 and len(pedal) == 0
    midi = posteriorgrams_to_midi(grams)
    path = tmp_path / "silence.mid"
    midi.write(str(path))
    back = pretty_midi.PrettyMIDI(str(path))
    assert [len(instrument.notes) for instrument in back.instruments] in ([], [0])
    assert notes_table(notes).strip() == "onset_s,offset_s,pitch,velocity"


def test_notes_at_the_first_and_last_frames():
    n_frames = 40
    grams = add_note(empty_posteriorgrams(n_frames), C4, 0, 10)
    add_note(grams, C4 + 5, n_frames - 6, n_frames)
    notes, _ = posteriorgrams_to_notes(grams, start_s=2.0)
    np.testing.assert_allclose(notes.onset_s, [2.0, 2.0 + (n_frames - 6) * FRAME_S])
    np.testing.assert_allclose(notes.offset_s, [2.0 + 10 * FRAME_S, 2.0 + n_frames * FRAME_S])
    # a one-frame note on the very last frame is kept once the minimum length allows it
    last = add_note(empty_posteriorgrams(n_frames), C4, n_frames - 1, n_frames)
    assert len(posteriorgrams_to_notes(last)[0]) == 0
    notes, _ = posteriorgrams_to_notes(last, NoteThresholds(min_note_ms=0.0))
    np.testing.assert_allclose(notes.onset_s, [(n_frames - 1) * FRAME_S])
    np.testing.assert_allclose(notes.offset_s, [n_frames * FRAME_S])


@pytest.mark.parametrize("min_note_ms, kept", [(50.0, [5, 6]), (40.0, [4, 5, 6]), (0.0, [1, 4, 5, 6])])
def test_min_length_filter(min_note_ms, kept):
    grams = empty_posteriorgrams(100)
    for index, length in enumerate([1, 4, 5, 6]):   # 4 frames = 46 ms, 5 frames = 58 ms
        add_note(grams, C4 + index, 10, 10 + length)
    notes, _ = posteriorgrams_to_notes(grams, NoteThresholds(min_note_ms=min_note_ms))
    lengths = np.rint((notes.offset_s - notes.onset_s) * FPS).astype(int)
    assert sorted(lengths.tolist()) == kept


def test_a_strong_onset_makes_a_note_even_where_the_note_fades_at_once():
    """Rule 4's exception: an onset peak >= strong_onset that the note posteriorgram holds for
    one frame only is kept, min_note_ms long (clipped at the input's end); weaker ones are not."""
    grams = empty_posteriorgrams(60)
    add_note(grams, C4, 10, 11, onset=0.9)          # a clear strike, gone at once
    add_note(grams, C4 + 2, 10, 11, onset=0.6)      # a weaker one, gone as fast
    add_note(grams, C4 + 4, 58, 59, onset=0.9)      # a clear strike two frames before the end
    assert len(posteriorgrams_to_notes(grams)[0]) == 0
    notes, _ = posteriorgrams_to_notes(grams, NoteThresholds(strong_onset=0.8))
    assert notes.pitch.tolist() == [C4, C4 + 4]
    lengths = np.rint((notes.offset_s - notes.onset_s) * FPS).astype(int)
    assert lengths.tolist() == [5, 2]               # 50 ms is 5 frames; the last one is clipped
    assert len(posteriorgrams_to_notes(grams, NoteThresholds(strong_onset=0.95))[0]) == 0
    with pytest.raises(ValueError, match="strong_onset"):
        NoteThresholds(onset=0.6, strong_onset=0.5)


def test_short_dips_are_bridged_and_long_ones_end_the_note():
    grams = add_note(empty_posteriorgrams(80), C4, 5, 60)
    grams["note"][KEY_C4, 20:22] = 0.1     # a two-frame dip: bridged by default
    notes, _ = posteriorgrams_to_notes(grams)
    np.testing.assert_allclose(notes.offset_s, [60 * FRAME_S])
    notes, _ = posteriorgrams_to_notes(grams, NoteThresholds(max_gap_frames=1))
    np.testing.assert_allclose(notes.offset_s, [20 * FRAME_S])
    grams["note"][KEY_C4, 20:23] = 0.1     # three frames: ends the note at the dip
    notes, _ = posteriorgrams_to_notes(grams)
    np.testing.assert_allclose(notes.offset_s, [20 * FRAME_S])


def test_frame_threshold_sets_where_a_decaying_note_ends():
    grams = empty_posteriorgrams(80)
    grams["onset"][KEY_C4, 5] = 0.9
    grams["note"][KEY_C4, 5:75] = np.linspace(1.0, 0.0, 70)   # decays linearly
    ends = [posteriorgrams_to_notes(grams, NoteThresholds(frame=frame))[0].offset_s[0]
            for frame in (0.2, 0.4, 0.6)]
    assert ends[0] > ends[1] > ends[2]


def test_offset_threshold_ends_notes_earlier_and_never_drops_one():
    grams = empty_posteriorgrams(80)
    grams["onset"][KEY_C4, 5] = 0.9
    grams["note"][KEY_C4, 5:15] = 0.9      # held ...
    grams["note"][KEY_C4, 15:40] = 0.5     # ... then a slow release tail
    grams["onset"][KEY_C4 + 1, 5] = 0.9
    grams["note"][KEY_C4 + 1, 5:7] = 0.9   # a note whose loud part is shorter than min_note_ms
    grams["note"][KEY_C4 + 1, 7:30] = 0.5
    def ends(**kwargs):
        notes, _ = posteriorgrams_to_notes(grams, NoteThresholds(frame=0.3, **kwargs), pedal=False)
        return dict(zip(notes.pitch.tolist(), np.rint(notes.offset_s * FPS).astype(int).tolist()))
    assert ends() == ends(offset=None) == ends(offset=0.2) == {C4: 40, C4 + 1: 30}   # at or below frame: no change
    min_frames = NoteThresholds().min_frames(50.0, FPS)
    assert ends(offset=0.6) == {C4: 15, C4 + 1: 5 + min_frames}    # never shorter than min_note_ms
    rng = np.random.default_rng(1)
    for _ in range(20):                    # random posteriorgrams: the same notes, none longer
        grams = random_posteriorgrams(rng)
        plain, _ = posteriorgrams_to_notes(grams, NoteThresholds(frame=0.2), pedal=False)
        early, _ = posteriorgrams_to_notes(grams, NoteThresholds(frame=0.2, offset=0.5), pedal=False)
        assert len(early) == len(plain)
        np.testing.assert_array_equal(early.onset_s, plain.onset_s)
        assert np.all(early.offset_s <= plain.offset_s + 1e-9)


def test_onset_peaks_are_local_maxima_and_plateaus_count_once():
    onset = np.zeros((config.N_KEYS, 12))
    onset[0, 2:5] = [0.6, 0.9, 0.6]       # one peak at 3
    onset[1, 2:5] = [0.7, 0.7, 0.2]       # plateau: one peak at its first frame, 2
    onset[2, 2:5] = [0.6, 0.6, 0.9]       # rising plateau is no peak; peak at 4
    onset[3, 0] = 0.8                     # at the first frame
    onset[4, 11] = 0.8                    # at the last frame
    onset[5, 6] = 0.4                     # below the threshold
    keys, frames = np.nonzero(onset_peaks(onset, 0.5))
    assert list(zip(keys.tolist(), frames.tolist())) == [(0, 3), (1, 2), (2, 4), (3, 0), (4, 11)]


def random_posteriorgrams(rng, n_frames=120):
    """Smoothed noise: many peaks of all heights, notes that come and go."""
    grams = empty_posteriorgrams(n_frames)
    kernel = np.array([0.25, 0.5, 0.25])
    keys = rng.choice(config.N_KEYS, size=6, replace=False)
    for name in ("onset", "note"):
        noise = rng.random((len(keys), n_frames)) ** 3
        smooth = np.apply_along_axis(np.convolve, 1, noise, kernel, mode="same")
        grams[name][keys] = smooth / smooth.max()
    grams["velocity"][:] = rng.random(grams["velocity"].shape)
    return grams


def test_raising_the_onset_threshold_never_adds_notes():
    rng = np.random.default_rng(0)
    n_exercised = 0
    for _ in range(30):
        grams = random_posteriorgrams(rng)
        strong = [None, float(rng.uniform(0.5, 1.0))][int(rng.integers(0, 2))]
        base = dict(frame=float(rng.uniform(0.05, 0.5)), min_note_ms=float(rng.uniform(0, 120)),
                    max_gap_frames=int(rng.integers(0, 4)), strong_onset=strong)
        counts = [len(posteriorgrams_to_notes(grams, NoteThresholds(onset=onset, **base),
                                              pedal=False)[0])
                  for onset in np.linspace(0.05, strong or 1.0, 12)]
        assert all(later <= earlier for earlier, later in zip(counts, counts[1:])), counts
        n_exercised += counts[0] > counts[-1]
    assert n_exercised >= 20          # the thresholds did remove notes in most cases


def test_a_weaker_strike_at_a_partial_of_a_clearer_lower_one_is_dropped():
    """Rule 6 (partial_onset): a note struck with a lower key 12, 19, 24, 28 or 31 keys below whose
    onset is at least as clear, and itself below partial_onset, is taken for that key's partial;
    a clearer strike, a later one, one at another interval, or rule 6 off keeps it."""
    bass = 37                                                  # C#2
    def transcribe(upper_pitch, upper_first=20, upper_onset=0.8, bass_onset=0.95, partial_onset=0.85):
        grams = add_note(empty_posteriorgrams(100), bass, 20, 80, onset=bass_onset)
        add_note(grams, upper_pitch, upper_first, 80, onset=upper_onset)
        notes, _ = posteriorgrams_to_notes(grams, NoteThresholds(onset=0.5, frame=0.5, partial_onset=partial_onset),
                                           pedal=False)
        return sorted(notes.pitch.tolist())
    for interval in (12, 19, 24, 28, 31):
        assert transcribe(bass + interval) == [bass]                              # dropped
        assert transcribe(bass + interval, upper_first=22) == [bass]              # 2 frames apart: together
    assert transcribe(bass + 12, upper_onset=0.9) == [bass, bass + 12]            # clear enough
    assert transcribe(bass + 12, upper_first=23) == [bass, bass + 12]             # struck 3 frames later
    assert transcribe(bass + 13) == [bass, bass + 13]                             # no partial there
    assert transcribe(bass + 12, bass_onset=0.75) == [bass, bass + 12]            # the lower strike is less clear
    assert transcribe(bass + 12, partial_onset=None) == [bass, bass + 12]         # rule 6 off
    with pytest.raises(ValueError, match="partial_onset"):
        NoteThresholds(partial_onset=1.5)


def test_raising_the_onset_threshold_never_adds_notes_with_the_partial_rule():
    """Rule 6 does not depend on the onset threshold, so rules 1-6 together stay monotone: on
    random posteriorgrams with notes at partial intervals, a higher onset threshold never adds a
    note."""
    rng = np.random.default_rng(1)
    n_exercised = 0
    for _ in range(30):
        grams = random_posteriorgrams(rng)
        for name in ("onset", "note"):                # copies 12 and 19 keys up, a little weaker
            for interval in (12, 19):
                grams[name][interval:] = np.maximum(grams[name][interval:], 0.9 * grams[name][:-interval])
        counts = [len(posteriorgrams_to_notes(grams, NoteThresholds(onset=onset, frame=0.2, partial_onset=0.95),
                                              pedal=False)[0]) for onset in np.linspace(0.05, 0.95, 12)]
        assert all(later <= earlier for earlier, later in zip(counts, counts[1:])), counts
        off = len(posteriorgrams_to_notes(grams, NoteThresholds(onset=0.3, frame=0.2), pedal=False)[0])
        n_exercised += off > len(posteriorgrams_to_notes(grams, NoteThresholds(onset=0.3, frame=0.2,
                                                                               partial_onset=0.95), pedal=False)[0])
    assert n_exercised >= 20          # the rule did drop notes in most cases


def test_refined_onset_moves_toward_the_larger_neighbour():
    grams = empty_posteriorgrams(40)
    key = KEY_C4
    grams["onset"][key, 9:12] = [0.5, 1.0, 0.9]
    grams["onset"][key + 1, 9:12] = [0.5, 1.0, 0.5]
    grams["note"][key:key + 2, 10:30] = 0.9
    refined, _ = posteriorgrams_to_notes(grams, NoteThresholds(refine_onsets=True))
    plain, _ = posteriorgrams_to_notes(grams)
    np.testing.assert_allclose(plain.onset_s, [10 * FRAME_S] * 2)
    by_pitch = np.argsort(refined.pitch)
    # parabola through (-1, 0.5), (0, 1.0), (1, 0.9): vertex at +1/3 frame; symmetric: 0
    np.testing.assert_allclose(refined.onset_s[by_pitch], [(10 + 1 / 3) * FRAME_S, 10 * FRAME_S],
                               rtol=1e-6)


def test_velocity_and_pedal_can_be_left_out():
    grams = add_note(empty_posteriorgrams(50), C4, 5, 30, velocity=30)
    grams["pedal"][:] = 1.0
    for name in ("velocity", "pedal", "pedal_onset", "pedal_offset", "contour"):
        del grams[name]
    notes, pedal = posteriorgrams_to_notes(grams, velocity=False, pedal=False)
    assert notes.velocity.tolist() == [DEFAULT_VELOCITY] and len(pedal) == 0
    midi = posteriorgrams_to_midi(grams, velocity=False, pedal=False)
    assert midi.instruments[0].control_changes == []


def test_bad_inputs_raise_value_error():
    grams = empty_posteriorgrams(30)
    with pytest.raises(ValueError, match="shape"):
        posteriorgrams_to_notes({**grams, "onset": grams["onset"][:80]})
    with pytest.raises(ValueError, match="shape"):
        posteriorgrams_to_notes({**grams, "pedal": np.zeros(29)})
    with pytest.raises(ValueError, match="shape"):
        posteriorgrams_to_notes({**grams, "contour": grams["onset"]})
    with pytest.raises(ValueError, match="shape"):
        posteriorgrams_to_notes({**grams, "onset": grams["onset"].T})
    with pytest.raises(ValueError, match="lack"):
        posteriorgrams_to_notes({"onset": grams["onset"], "note": grams["note"]})
    with pytest.raises(ValueError, match="NaN"):
        posteriorgrams_to_notes({**grams, "note": np.full_like(grams["note"], np.nan)})
    for bad in (dict(onset=1.5), dict(frame=-0.1), dict(min_note_ms=-1.0), dict(max_gap_frames=1.5),
                dict(pedal=0.4, pedal_release=0.6), dict(offset=1.2)):
        with pytest.raises(ValueError):
            NoteThresholds(**bad)


# --- pedal -------------------------------------------------------------------------------

def test_pedal_held_across_the_whole_input():
    grams = empty_posteriorgrams(50)
    grams["pedal"][:] = 0.9
    _, pedal = posteriorgrams_to_notes(grams, start_s=1.5)
    np.testing.assert_allclose(pedal.onset_s, [1.5])
    np.testing.assert_allclose(pedal.offset_s, [1.5 + 50 * FRAME_S])
    assert pedal.channel.tolist() == [0]


def test_pedal_hysteresis_keeps_a_wavering_pedal_down():
    grams = empty_posteriorgrams(60)
    grams["pedal"][10:50] = 0.8
    grams["pedal"][28:31] = 0.4               # wavers below the press threshold
    _, plain = posteriorgrams_to_notes(grams)
    _, hysteresis = posteriorgrams_to_notes(grams, NoteThresholds(pedal_release=0.3))
    assert len(plain) == 2
    np.testing.assert_allclose(np.c_[hysteresis.onset_s, hysteresis.offset_s],
                               [[10 * FRAME_S, 50 * FRAME_S]])


def test_pedal_edges_snap_to_the_pedal_onset_and_offset_peaks():
    grams = empty_posteriorgrams(60)
    grams["pedal"][12:40] = 0.8
    grams["pedal_onset"][10] = 0.9            # the press, two frames before the pedal rises
    grams["pedal_offset"][41] = 0.9           # the release, one frame after it falls
    _, pedal = posteriorgrams_to_notes(grams)
    np.testing.assert_allclose(np.c_[pedal.onset_s, pedal.offset_s], [[10 * FRAME_S, 41 * FRAME_S]])
    _, unsnapped = posteriorgrams_to_notes(grams, NoteThresholds(pedal_edge_frames=0))
    np.testing.assert_allclose(np.c_[unsnapped.onset_s, unsnapped.offset_s],
                               [[12 * FRAME_S, 40 * FRAME_S]])


def test_short_pedal_blips_are_dropped():
    grams = empty_posteriorgrams(60)
    grams["pedal"][10:13] = 0.8               # 3 frames, 35 ms
    assert len(posteriorgrams_to_notes(grams)[1]) == 0
    assert len(posteriorgrams_to_notes(grams, NoteThresholds(min_pedal_ms=0.0))[1]) == 1


# --- round trip through the training targets ---------------------------------------------

def random_clean_notes(rng, duration_s=6.0, max_gap_frames=2):
    """Random notes the targets can represent: per pitch, strikes at least 8 frames apart;
    two notes of one pitch touch or leave a gap longer than ``max_gap_frames``."""
    onsets, offsets, pitches = [], [], []
    for pitch in rng.choice(np.arange(21, 109), size=15, replace=False):
        time_s = rng.uniform(0, 0.5)
        while time_s < duration_s - 0.2:
            length_s = rng.uniform(8.5, 60) * FRAME_S
            onsets.append(time_s); offsets.append(time_s + length_s); pitches.append(pitch)
            gap_frames = 0 if rng.random() < 0.4 else rng.uniform(max_gap_frames + 1.5, 30)
            time_s += length_s + gap_frames * FRAME_S
    return Notes.from_arrays(onsets, offsets, pitches, rng.integers(1, 128, len(onsets)))


def test_round_trip_through_training_targets_recovers_the_notes():
    rng = np.random.default_rng(1)
    for _ in range(5):
        notes = random_clean_notes(rng)
        pedal = Pedal.from_arrays([0.5, 3.0], [2.0, 5.5])
        n_frames = int(np.ceil(notes.end_s * FPS)) + 2
        grams = notes_to_targets(notes, pedal, n_frames).as_dict()
        found, found_pedal = posteriorgrams_to_notes(grams)
        assert len(found) == len(notes)
        # both sorted by onset then pitch; equal frames can swap order only within one frame
        order = np.lexsort((notes.onset_s, notes.pitch))
        found_order = np.lexsort((found.onset_s, found.pitch))
        assert found.pitch[found_order].tolist() == notes.pitch[order].tolist()
        assert np.abs(found.onset_s[found_order] - notes.onset_s[order]).max() <= FRAME_S
        assert np.abs(found.offset_s[found_order] - notes.offset_s[order]).max() <= FRAME_S
        assert found.velocity[found_order].tolist() == notes.velocity[order].tolist()
        assert len(found_pedal) == 2
        assert np.abs(found_pedal.onset_s - pedal.onset_s).max() <= FRAME_S
        assert np.abs(found_pedal.offset_s - pedal.offset_s).max() <= FRAME_S


# --- MIDI and table ----------------------------------------------------------------------

def test_midi_file_reads_back_as_the_same_notes_and_pedal(tmp_path):
    notes = Notes.from_arrays([0.1, 0.5, 0.5], [0.4, 1.0, 1.2], [60, 64, 67], [30, 80, 127])
    pedal = Pedal.from_arrays([0.3], [1.5])
    midi = notes_to_midi(notes, pedal)
    assert len(midi.instruments) == 1 and midi.instruments[0].program == 0
    assert not midi.instruments[0].is_drum
    path = tmp_path / "out.mid"
    midi.write(str(path))
    back = read_midi(path)
    tick_s = 60.0 / (120 * 220)
    assert back.notes.pitch.tolist() == notes.pitch.tolist()
    assert back.notes.velocity.tolist() == notes.velocity.tolist()
    assert np.abs(back.notes.onset_s - notes.onset_s).max() <= tick_s
    assert np.abs(back.notes.offset_s - notes.offset_s).max() <= tick_s
    assert np.abs(back.pedal.onset_s - pedal.onset_s).max() <= tick_s
    assert np.abs(back.pedal.offset_s - pedal.offset_s).max() <= tick_s
    values = [change.value for change in midi.instruments[0].control_changes]
    assert values == [127, 0]


def test_notes_table_has_one_row_per_note():
    notes = Notes.from_arrays([0.25, 0.1], [0.5, 0.3], [62, 60], [90, 40])
    rows = list(csv.DictReader(io.StringIO(notes_table(notes))))
    assert [row["pitch"] for row in rows] == ["60", "62"]
    assert float(rows[1]["onset_s"]) == 0.25 and float(rows[1]["offset_s"]) == 0.5
    assert rows[0]["velocity"] == "40"
