"""Tests for fasolfa.midi: reading, writing, sustain, frame targets. Every MIDI is built here."""
from __future__ import annotations

import warnings

import mido
import numpy as np
import pytest

from fasolfa import config
from fasolfa.errors import FasolfaError
from fasolfa.midi import (Notes, Pedal, apply_sustain, notes_to_targets, notes_in_window,
                          read_midi, release_tails, time_to_frame, write_midi)

TICKS_PER_BEAT = 480
SECONDS_PER_TICK = 60.0 / (120.0 * TICKS_PER_BEAT)   # write_midi's default clock


def save_tracks(path, tracks, ticks_per_beat=TICKS_PER_BEAT):
    """Write a type-1 file; each track is a list of (absolute_tick, mido message)."""
    midi_file = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for events in tracks:
        track = mido.MidiTrack()
        previous = 0
        for tick, message in sorted(events, key=lambda event: event[0]):
            track.append(message.copy(time=tick - previous))
            previous = tick
        midi_file.tracks.append(track)
    midi_file.save(path)
    return path


def note(tick_on, tick_off, pitch, velocity=80, channel=0):
    return [(tick_on, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)),
            (tick_off, mido.Message("note_off", note=pitch, velocity=0, channel=channel))]


def sustain(tick, value, channel=0):
    return (tick, mido.Message("control_change", control=64, value=value, channel=channel))


def tempo(tick, bpm):
    return (tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))


def random_notes(rng, n_notes=300, duration_s=30.0):
    onset_s = rng.uniform(0, duration_s, n_notes)
    return Notes.from_arrays(onset_s, onset_s + rng.uniform(0.01, 2.0, n_notes),
                             rng.integers(21, 109, n_notes), rng.integers(1, 128, n_notes))


# --- reading and writing ------------------------------------------------------------------

def test_round_trip_preserves_every_note_within_one_tick(tmp_path):
    rng = np.random.default_rng(0)
    notes = random_notes(rng)
    # write_midi resolves same-pitch overlaps like a piano would; compare against a clean set
    notes = notes.select(_no_same_pitch_overlap(notes))
    pedal = Pedal.from_arrays([1.0, 5.0, 12.0], [3.5, 9.0, 20.0])
    back = read_midi(write_midi(tmp_path / "round.mid", notes, pedal))
    assert len(back.notes) == len(notes)
    for name in ("onset_s", "offset_s"):
        assert np.abs(getattr(back.notes, name) - getattr(notes, name)).max() <= SECONDS_PER_TICK
    np.testing.assert_array_equal(back.notes.pitch, notes.pitch)
    np.testing.assert_array_equal(back.notes.velocity, notes.velocity)
    assert len(back.pedal) == 3
    assert np.abs(back.pedal.onset_s - pedal.onset_s).max() <= SECONDS_PER_TICK
    assert np.abs(back.pedal.offset_s - pedal.offset_s).max() <= SECONDS_PER_TICK


def _no_same_pitch_overlap(notes):
    keep = np.ones(len(notes), bool)
    last_offset = {}
    for index, (onset, offset, pitch) in enumerate(zip(notes.onset_s, notes.offset_s, notes.pitch)):
        if onset <= last_offset.get(pitch, -1.0) + 2 * SECONDS_PER_TICK:
            keep[index] = False
        else:
            last_offset[pitch] = offset
    return keep


def test_pedal_on_its_own_track_applies_to_its_channel(tmp_path):
    # track 0: tempo; track 1: notes on channel 0; track 2: only the sustain pedal, channel 0
    path = save_tracks(tmp_path / "pedal_track.mid", [
        [tempo(0, 120)],
        note(0, 240, 60) + note(480, 720, 64),
        [sustain(120, 127), sustain(960, 0)],
    ])
    performance = read_midi(path)
    assert len(performance.notes) == 2
    assert len(performance.pedal) == 1
    assert performance.pedal.onset_s[0] == pytest.approx(120 * SECONDS_PER_TICK)
    assert performance.pedal.offset_s[0] == pytest.approx(960 * SECONDS_PER_TICK)
    sustained = apply_sustain(performance.notes, performance.pedal)
    np.testing.assert_allclose(sustained.offset_s, 960 * SECONDS_PER_TICK)


def test_sustain_threshold_is_64(tmp_path):
    path = save_tracks(tmp_path / "threshold.mid", [
        note(0, 100, 60) + [sustain(10, 63), sustain(20, 64), sustain(30, 100), sustain(40, 63)]])
    pedal = read_midi(path).pedal
    assert len(pedal) == 1   # 63 is up; 64 presses; 100 while down changes nothing; 63 releases
    assert pedal.onset_s[0] == pytest.approx(20 * SECONDS_PER_TICK)
    assert pedal.offset_s[0] == pytest.approx(40 * SECONDS_PER_TICK)


def test_tempo_changes_on_a_separate_track_are_honoured(tmp_path):
    # 120 bpm for the first beat (0.5 s), then 60 bpm: tick 960 is 0.5 s + 1.0 s
    path = save_tracks(tmp_path / "tempo.mid", [
        [tempo(0, 120), tempo(480, 60)],
        note(960, 1440, 62)])
    notes = read_midi(path).notes
    assert notes.onset_s[0] == pytest.approx(1.5)
    assert notes.offset_s[0] == pytest.approx(2.5)


def test_drums_are_ignored_with_a_warning(tmp_path):
    path = save_tracks(tmp_path / "drums.mid", [note(0, 100, 60) + note(0, 100, 36, channel=9)])
    with pytest.warns(UserWarning, match="drum"):
        performance = read_midi(path)
    assert performance.notes.pitch.tolist() == [60]
    assert performance.n_drum_notes == 1


def test_zero_length_notes_are_dropped_and_counted(tmp_path):
    path = save_tracks(tmp_path / "zero.mid", [note(0, 0, 60) + note(10, 200, 62)])
    with pytest.warns(UserWarning, match="zero-length"):
        performance = read_midi(path)
    assert performance.notes.pitch.tolist() == [62]
    assert performance.n_dropped_notes == 1


def test_restruck_pitch_ends_the_sounding_note(tmp_path):
    # second note_on of pitch 60 before the first note_off
    events = [(0, mido.Message("note_on", note=60, velocity=50)),
              (240, mido.Message("note_on", note=60, velocity=90)),
              (480, mido.Message("note_off", note=60)),
              (720, mido.Message("note_off", note=60))]   # stray note-off: ignored
    performance = read_midi(save_tracks(tmp_path / "overlap.mid", [events]))
    notes = performance.notes
    assert performance.n_overlaps == 1
    np.testing.assert_allclose(notes.onset_s, [0, 240 * SECONDS_PER_TICK])
    np.testing.assert_allclose(notes.offset_s, [240 * SECONDS_PER_TICK, 480 * SECONDS_PER_TICK])
    assert notes.velocity.tolist() == [50, 90]


def test_note_off_at_a_restrike_ends_the_earlier_note_as_pretty_midi_does(tmp_path):
    # a key re-struck while held: the note-off at the re-strike's tick releases the first strike
    events = [(0, mido.Message("note_on", note=60, velocity=50)),
              (480, mido.Message("note_on", note=60, velocity=90)),
              (480, mido.Message("note_off", note=60)),
              (960, mido.Message("note_off", note=60))]
    path = save_tracks(tmp_path / "restrike.mid", [events])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # nothing is dropped
        performance = read_midi(path)
    assert performance.n_dropped_notes == 0
    np.testing.assert_allclose(performance.notes.onset_s, [0.0, 0.5])
    np.testing.assert_allclose(performance.notes.offset_s, [0.5, 1.0])
    assert performance.notes.velocity.tolist() == [50, 90]
    import pretty_midi
    reference = sorted((n.start, n.end) for n in pretty_midi.PrettyMIDI(str(path)).instruments[0].notes)
    np.testing.assert_allclose(reference, np.c_[performance.notes.onset_s, performance.notes.offset_s])


def test_note_on_and_off_at_one_tick_is_still_a_zero_length_note(tmp_path):
    events = [(0, mido.Message("note_on", note=60, velocity=50)),
              (480, mido.Message("note_off", note=60)),
              (600, mido.Message("note_on", note=60, velocity=70)),     # not a re-strike: key up
              (600, mido.Message("note_off", note=60)),
              (700, mido.Message("note_on", note=62, velocity=70)),
              (800, mido.Message("note_off", note=62))]
    with pytest.warns(UserWarning, match="dropped 1 zero-length"):
        performance = read_midi(save_tracks(tmp_path / "zero.mid", [events]))
    assert performance.notes.pitch.tolist() == [60, 62]


def test_reversed_and_zero_length_notes_are_dropped_from_arrays():
    notes = Notes.from_arrays([0.0, 1.0, 2.0], [0.5, 1.0, 1.5], [60, 61, 62])
    clean, n_dropped = notes.drop_invalid()
    assert n_dropped == 2 and clean.pitch.tolist() == [60]


@pytest.mark.parametrize("content, problem", [
    (b"", "not a MIDI file"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a MIDI file"),
])
def test_not_a_midi_file_is_a_one_line_error(tmp_path, content, problem):
    path = tmp_path / "take1.mid"
    path.write_bytes(content)
    with pytest.raises(FasolfaError, match=problem) as error:
        read_midi(path)
    assert "take1.mid" in str(error.value) and "\n" not in str(error.value)


def test_missing_empty_and_drums_only_files_are_one_line_errors(tmp_path):
    with pytest.raises(FasolfaError, match="no such MIDI file"):
        read_midi(tmp_path / "missing.mid")
    empty = save_tracks(tmp_path / "empty.mid", [[tempo(0, 100)]])
    with pytest.raises(FasolfaError, match="empty.mid: no notes"):
        read_midi(empty)
    drums = save_tracks(tmp_path / "drums_only.mid", [note(0, 100, 36, channel=9)])
    with pytest.raises(FasolfaError, match="drums_only.mid: only drum notes"):
        read_midi(drums)


def test_write_midi_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out.mid"
    bad = Notes(np.array([0.0]), np.array([1.0]), np.array([60]), np.array([80]), np.array([99]))
    with pytest.raises(Exception):
        write_midi(target, bad)       # channel 99 is not a MIDI channel
    assert list(tmp_path.iterdir()) == []


# --- sustain --------------------------------------------------------------------------------

def test_apply_sustain_extends_to_release_and_cuts_at_restrike():
    notes = Notes.from_arrays(onset_s=[0.0, 0.2, 1.0, 3.0], offset_s=[0.5, 0.4, 1.2, 3.2],
                              pitch=[60, 64, 60, 67])
    pedal = Pedal.from_arrays([0.3], [2.0])
    sustained = apply_sustain(notes, pedal)
    # 60 released at 0.5 under the pedal -> would ring to 2.0, but 60 is struck again at 1.0
    # 64 released at 0.4 under the pedal -> 2.0; second 60 released at 1.2 -> 2.0
    # 67 released at 3.2 with the pedal up -> unchanged
    np.testing.assert_allclose(sustained.offset_s, [1.0, 2.0, 2.0, 3.2])
    assert np.all(sustained.offset_s >= notes.offset_s)


def test_release_tails_follow_each_release_until_the_key_is_struck_again():
    notes = Notes.from_arrays(onset_s=[0.0, 0.2, 1.0, 3.0], offset_s=[0.5, 0.4, 1.2, 3.2],
                              pitch=[60, 64, 60, 67])
    tails = release_tails(notes, 2.0)
    # 60 released at 0.5, struck again at 1.0; 64 at 0.4 -> 2.4; second 60 at 1.2 -> 3.2; 67 at 3.2 -> 5.2
    np.testing.assert_allclose(tails.onset_s, notes.offset_s)
    np.testing.assert_allclose(tails.offset_s, [1.0, 2.4, 3.2, 5.2])
    assert tails.pitch.tolist() == notes.pitch.tolist()
    np.testing.assert_allclose(release_tails(notes, 0.0).offset_s, notes.offset_s)   # nothing unknown
    with pytest.raises(ValueError):
        release_tails(notes, -1.0)


def test_release_tails_never_cover_a_later_strike_of_their_key():
    rng = np.random.default_rng(5)
    notes = random_notes(rng, 300, 20.0)
    tails = release_tails(notes, 1.5)
    assert np.all(tails.offset_s >= tails.onset_s) and np.all(tails.offset_s <= notes.offset_s + 1.5 + 1e-9)
    for i in range(len(notes)):
        later = (notes.pitch == notes.pitch[i]) & (notes.onset_s >= notes.offset_s[i])
        assert not np.any((notes.onset_s[later] > tails.onset_s[i]) & (notes.onset_s[later] < tails.offset_s[i]))


def test_apply_sustain_is_per_channel():
    notes = Notes.from_arrays([0.0, 0.0], [0.5, 0.5], [60, 62], channel=[0, 1])
    pedal = Pedal.from_arrays([0.1], [2.0], channel=[1])
    np.testing.assert_allclose(apply_sustain(notes, pedal).offset_s, [0.5, 2.0])


def test_apply_sustain_never_shortens_random_notes():
    rng = np.random.default_rng(3)
    notes = random_notes(rng, 200, 20.0)
    starts = np.sort(rng.uniform(0, 20, 10))
    pedal = Pedal.from_arrays(starts, starts + rng.uniform(0.1, 1.5, 10))
    sustained = apply_sustain(notes, pedal)
    assert np.all(sustained.offset_s >= notes.offset_s)
    assert np.all(sustained.offset_s > sustained.onset_s)


# --- frame targets --------------------------------------------------------------------------

def test_targets_mark_onset_frame_note_frames_and_velocity():
    fps = config.FRAMES_PER_SECOND
    notes = Notes.from_arrays([0.5], [1.0], [60], [127])
    targets = notes_to_targets(notes, None, n_frames=120)
    key = 60 - config.MIDI_PITCH_MIN
    on_frame, off_frame = round(0.5 * fps), round(1.0 * fps)
    assert np.flatnonzero(targets.onset[key]).tolist() == [on_frame]
    assert np.flatnonzero(targets.note[key]).tolist() == list(range(on_frame, off_frame))
    assert targets.velocity[key, on_frame] == pytest.approx(1.0)
    assert targets.onset.sum() == 1 and targets.note.sum() == off_frame - on_frame
    assert targets.velocity.sum() == pytest.approx(1.0)


def test_contour_peaks_on_the_key_bin_and_is_symmetric():
    notes = Notes.from_arrays([0.0], [0.5], [69])   # A4
    targets = notes_to_targets(notes, None, n_frames=50)
    key = 69 - config.MIDI_PITCH_MIN
    column = targets.contour[:, 10]
    centre = key * config.BINS_PER_SEMITONE
    assert int(np.argmax(column)) == centre
    assert column[centre] == 1.0
    np.testing.assert_allclose(column[centre - 2:centre], column[centre + 1:centre + 3][::-1])
    assert 0 < column[centre + 1] < 1


def test_very_short_note_fills_one_frame_and_out_of_range_pitches_are_ignored():
    notes = Notes.from_arrays([0.1, 0.2, 0.3], [0.101, 0.3, 0.4], [60, 10, 120])
    targets = notes_to_targets(notes, None, n_frames=40)
    assert targets.note.sum() == 1 and targets.onset.sum() == 1


def test_window_targets_equal_a_slice_of_the_whole_piece():
    """Over 300 random pieces, pedals and start frames (frame 0 and frames where a pedal is
    pressed or released included), a window's targets are the whole piece's targets sliced."""
    fps = config.FRAMES_PER_SECOND
    rng = np.random.default_rng(1)
    n_frames_total, n_frames = int(12 * fps), 173
    for case in range(300):
        notes = random_notes(rng, int(rng.integers(0, 60)), 10.0)
        # pedal presses and releases on frame centres (exact) or anywhere (rounded)
        edges = np.sort(rng.choice(n_frames_total - 20, size=2 * int(rng.integers(1, 6)), replace=False))
        edges_s = edges / fps + (rng.uniform(-0.49, 0.49, len(edges)) / fps if case % 2 else 0.0)
        pedal = Pedal.from_arrays(edges_s[0::2], edges_s[1::2])
        whole = notes_to_targets(notes, pedal, n_frames_total)
        last_start = n_frames_total - n_frames
        candidates = [0, int(rng.integers(last_start + 1))] + [e for e in edges.tolist() if e <= last_start]
        start_frame = int(rng.choice(candidates))
        start_s = start_frame / fps
        frame_s = 1 / fps
        end_s = start_s + n_frames * frame_s
        mask = (pedal.offset_s > start_s - frame_s) & (pedal.onset_s < end_s + frame_s)
        window = notes_to_targets(notes_in_window(notes, start_s - frame_s, end_s + frame_s),
                                  Pedal(pedal.onset_s[mask], pedal.offset_s[mask], pedal.channel[mask]),
                                  n_frames, start_s=start_s)
        for name, array in window.as_dict().items():
            expected = whole.as_dict()[name][..., start_frame:start_frame + n_frames]
            np.testing.assert_array_equal(array, expected, err_msg=f"case {case}: {name} at frame {start_frame}")


def test_pedal_released_on_a_windows_first_frame_is_an_offset():
    pedal = Pedal.from_arrays([0.0], [100 / config.FRAMES_PER_SECOND])
    targets = notes_to_targets(Notes.empty(), pedal, n_frames=20, start_s=100 / config.FRAMES_PER_SECOND)
    assert np.flatnonzero(targets.pedal_offset).tolist() == [0]
    assert targets.pedal.sum() == 0


def test_pedal_targets():
    fps = config.FRAMES_PER_SECOND
    pedal = Pedal.from_arrays([0.5], [1.5])
    targets = notes_to_targets(Notes.empty(), pedal, n_frames=200)
    down, up = round(0.5 * fps), round(1.5 * fps)
    assert np.flatnonzero(targets.pedal).tolist() == list(range(down, up))
    assert np.flatnonzero(targets.pedal_onset).tolist() == [down]
    assert np.flatnonzero(targets.pedal_offset).tolist() == [up]


def test_time_to_frame_matches_frame_centres():
    frame_times_s = np.arange(10) * config.HOP_LENGTH / config.SAMPLE_RATE
    np.testing.assert_array_equal(time_to_frame(frame_times_s), np.arange(10))


def test_written_bytes_read_back_as_the_events_mido_would_write(tmp_path):
    """midi_file_bytes writes the Standard MIDI File format itself; mido reads it back as exactly
    the messages (tempo, program change, notes, pedal, same order and delta times) of the file
    mido builds from the same events (mido's own bytes differ only by running status)."""
    import io

    import mido

    from fasolfa.midi import midi_file_bytes
    rng = np.random.default_rng(7)
    onset = np.sort(rng.uniform(0, 20, 300))
    notes = Notes.from_arrays(onset, onset + rng.uniform(0.01, 3, 300), rng.integers(21, 109, 300),
                              rng.integers(1, 128, 300))
    pedal = Pedal(np.array([1.0, 5.0, 30.0]), np.array([2.5, 9.0, 31.0]), np.zeros(3, np.int64))
    ours = midi_file_bytes(notes, pedal, ticks_per_beat=480, tempo_bpm=120.0)

    seconds_per_tick = 60.0 / (120.0 * 480)
    events = [(0, -1, mido.Message("program_change", channel=0, program=0))]
    for a, b, p, v in zip(notes.onset_s, notes.offset_s, notes.pitch, notes.velocity):
        on = int(np.rint(a / seconds_per_tick))
        off = max(int(np.rint(b / seconds_per_tick)), on + 1)
        events += [(on, 2, mido.Message("note_on", note=int(p), velocity=int(v))),
                   (off, 0, mido.Message("note_off", note=int(p), velocity=0))]
    for a, b in zip(pedal.onset_s, pedal.offset_s):
        on = int(round(a / seconds_per_tick))
        off = max(int(round(b / seconds_per_tick)), on + 1)
        events += [(on, 1, mido.Message("control_change", control=64, value=127)),
                   (off, 1, mido.Message("control_change", control=64, value=0))]
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)])
    previous = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - previous))
        previous = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    reference = mido.MidiFile(type=0, ticks_per_beat=480)
    reference.tracks.append(track)
    buffer = io.BytesIO()
    reference.save(file=buffer)
    parsed = mido.MidiFile(file=io.BytesIO(ours))
    assert parsed.type == 0 and parsed.ticks_per_beat == 480 and len(parsed.tracks) == 1
    assert list(parsed.tracks[0]) == list(mido.MidiFile(file=io.BytesIO(buffer.getvalue())).tracks[0])
    with pytest.raises(ValueError, match="pitch"):
        midi_file_bytes(Notes.from_arrays([0.0], [1.0], [128]))
