"""Tests for `fasolfa evaluate` (fasolfa.scorecard, fasolfa.compare, fasolfa.peer): pairing by
stem, empty predictions, JSON/CSV shape, agreement with mir_eval by hand, one-line errors."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import types

import mir_eval
import numpy as np
import pytest

from fasolfa import compare, peer, scorecard
from fasolfa.cli import main
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, apply_sustain, write_midi

REFERENCE = dict(onset_s=[0.5, 1.0, 1.5, 2.0, 2.5], offset_s=[0.9, 1.3, 1.9, 2.3, 2.9],
                 pitch=[60, 62, 64, 65, 67], velocity=[40, 60, 80, 100, 70])
REFERENCE_PEDAL = ([1.1], [2.1])        # sustains the note of 1.0 s to 2.1 s


def reference_notes() -> Notes:
    return Notes.from_arrays(**REFERENCE)


def estimate_notes() -> Notes:
    """Onsets: two exact, one 30 ms late (still found), one 80 ms late (missed), one wrong
    pitch; plus one extra note."""
    return Notes.from_arrays([0.5, 1.0, 1.53, 2.08, 2.5, 3.0], [0.9, 2.1, 1.6, 2.3, 2.9, 3.2],
                             [60, 62, 64, 65, 68, 70], [40, 60, 80, 100, 70, 50])


def write_pair(folder, stem, estimate_name=None):
    folder.mkdir(exist_ok=True)
    ref_dir, est_dir = folder / "ref", folder / "est"
    write_midi(ref_dir / f"{stem}.mid", reference_notes(), Pedal.from_arrays(*REFERENCE_PEDAL))
    if estimate_name:
        write_midi(est_dir / estimate_name, estimate_notes())
    return ref_dir, est_dir


def read_json(path):
    return json.loads(path.read_text())


def test_folders_match_by_stem_including_basic_pitch_suffix(tmp_path, capsys):
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    write_pair(tmp_path, "b", "b_basic_pitch.mid")
    write_midi(est_dir / "stray.mid", estimate_notes())           # no reference: left out
    assert main(["evaluate", str(ref_dir), str(est_dir), "--json", str(tmp_path / "s.json")]) == 0
    report = read_json(tmp_path / "s.json")
    assert sorted(report["pieces"]) == ["a", "b"]
    # same notes under both names: the same scores
    assert report["pieces"]["a"] == report["pieces"]["b"]
    assert report["pieces"]["a"]["onset"]["recall"] == pytest.approx(3 / 5)
    assert "stray.mid" in capsys.readouterr().err


def test_two_predictions_for_one_piece_is_an_error(tmp_path, capsys):
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    write_midi(est_dir / "a_basic_pitch.mid", estimate_notes())
    assert main(["evaluate", str(ref_dir), str(est_dir)]) == 1
    assert "'a'" in capsys.readouterr().err


def test_reference_without_prediction_scores_as_empty(tmp_path):
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    write_pair(tmp_path, "lonely")
    assert main(["evaluate", str(ref_dir), str(est_dir), "--json", str(tmp_path / "s.json")]) == 0
    report = read_json(tmp_path / "s.json")
    lonely = report["pieces"]["lonely"]
    for metric in scorecard.REPORT_METRICS:
        assert lonely[metric]["recall"] == 0.0 and lonely[metric]["f1"] == 0.0
    # the mean halves piece a's F1; the micro pool counts lonely's notes as missed
    a = report["pieces"]["a"]
    assert report["mean"]["onset"]["f1"] == pytest.approx(a["onset"]["f1"] / 2)
    assert report["micro"]["onset"]["recall"] == pytest.approx(3 / 10)


def test_json_schema_and_csv_columns(tmp_path):
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    write_pair(tmp_path, "b", "b.mid")
    json_path, csv_path = tmp_path / "out" / "s.json", tmp_path / "out" / "s.csv"
    assert main(["evaluate", str(ref_dir), str(est_dir), "--json", str(json_path),
                 "--csv", str(csv_path)]) == 0
    report = read_json(json_path)
    assert set(report) == {"pieces", "mean", "micro"}
    for scores in [*report["pieces"].values(), report["mean"], report["micro"]]:
        assert set(scores) == {"onset", "onset_offset", "onset_offset_velocity", "frame", "pedal"}
        for value in scores.values():
            assert set(value) == {"precision", "recall", "f1"}
            assert all(0.0 <= v <= 1.0 for v in value.values())
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == scorecard.csv_columns()
    assert [(row["piece"], row["kind"]) for row in rows] == [
        ("a", "piece"), ("b", "piece"), ("(all)", "mean"), ("(all)", "micro")]
    assert float(rows[2]["onset_f1"]) == pytest.approx(report["mean"]["onset"]["f1"], abs=1e-6)


def test_agrees_with_mir_eval_by_hand(tmp_path):
    """The reference's offsets extended by its pedal by hand, then mir_eval's own functions."""
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    assert main(["evaluate", str(ref_dir / "a.mid"), str(est_dir / "a.mid"),
                 "--json", str(tmp_path / "s.json")]) == 0
    piece = read_json(tmp_path / "s.json")["pieces"]["a"]
    ref_intervals = np.array([REFERENCE["onset_s"], REFERENCE["offset_s"]]).T
    ref_intervals[1:3, 1] = 2.1           # the notes of 1.0 s and 1.5 s, released under the pedal
    sustained = apply_sustain(reference_notes(), Pedal.from_arrays(*REFERENCE_PEDAL))
    assert np.allclose(sustained.offset_s, ref_intervals[:, 1])
    est = estimate_notes()
    est_intervals = np.stack([est.onset_s, est.offset_s], axis=1)
    ref_hz = mir_eval.util.midi_to_hz(np.array(REFERENCE["pitch"], float))
    est_hz = mir_eval.util.midi_to_hz(est.pitch.astype(float))
    for metric, offset_ratio in (("onset", None), ("onset_offset", 0.2)):
        expected = mir_eval.transcription.precision_recall_f1_overlap(
            ref_intervals, ref_hz, est_intervals, est_hz, onset_tolerance=0.05,
            offset_ratio=offset_ratio, offset_min_tolerance=0.05)[:3]
        got = tuple(piece[metric][name] for name in ("precision", "recall", "f1"))
        assert got == pytest.approx(expected, abs=1e-9), metric
    expected = mir_eval.transcription_velocity.precision_recall_f1_overlap(
        ref_intervals, ref_hz, np.array(REFERENCE["velocity"], float), est_intervals, est_hz,
        est.velocity.astype(float), onset_tolerance=0.05, offset_ratio=0.2,
        offset_min_tolerance=0.05, velocity_tolerance=0.1)[:3]
    got = tuple(piece["onset_offset_velocity"][name] for name in ("precision", "recall", "f1"))
    assert got == pytest.approx(expected, abs=1e-9)
    # sanity of the case itself: 3 onsets found of 5, 6 estimated
    assert piece["onset"]["recall"] == pytest.approx(3 / 5)
    assert piece["onset"]["precision"] == pytest.approx(3 / 6)


def test_tsv_reference_has_pedal_not_applicable(tmp_path):
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    lines = ["# onset,offset,note,velocity"] + [
        f"{on}\t{off}\t{p}\t{v}" for on, off, p, v in zip(*REFERENCE.values())]
    (ref_dir / "MAPS_x.tsv").write_text("\n".join(lines) + "\n")
    write_pair(tmp_path, "m", "m.mid")                     # a MIDI reference beside it
    est_dir = tmp_path / "est"
    write_midi(est_dir / "MAPS_x.mid", reference_notes(), Pedal.from_arrays([0.1], [0.2]))
    json_path, csv_path = tmp_path / "s.json", tmp_path / "s.csv"
    assert main(["evaluate", str(ref_dir), str(est_dir), "--json", str(json_path),
                 "--csv", str(csv_path)]) == 0
    report = read_json(json_path)
    assert report["pieces"]["MAPS_x"]["pedal"] is None
    assert report["pieces"]["MAPS_x"]["onset"]["f1"] == 1.0
    # the pedal mean and micro come from the MIDI piece alone
    assert report["mean"]["pedal"] == report["pieces"]["m"]["pedal"]
    assert report["micro"]["pedal"] == report["pieces"]["m"]["pedal"]
    rows = {row["piece"]: row for row in csv.DictReader(open(csv_path, newline=""))}
    assert rows["MAPS_x"]["pedal_f1"] == "" and rows["m"]["pedal_f1"] != ""


def test_tsv_reference_scores_the_predicted_notes_as_written(tmp_path):
    """No pedal in the reference: the prediction's pedal must not lengthen its notes, so a pedal
    held over the whole piece changes no note or frame score, while the same pedal against a MIDI
    reference (whose pedal is known) does lengthen them."""
    lines = ["# onset,offset,note,velocity"] + [
        f"{on}\t{off}\t{p}\t{v}" for on, off, p, v in zip(*REFERENCE.values())]
    reference = tmp_path / "MAPS_x.tsv"
    reference.write_text("\n".join(lines) + "\n")
    plain, pedalled = tmp_path / "plain.mid", tmp_path / "pedalled.mid"
    write_midi(plain, reference_notes(), Pedal.empty())
    write_midi(pedalled, reference_notes(), Pedal.from_arrays([0.0], [30.0]))
    from fasolfa.scorecard import Pair, score_pair
    as_written = score_pair(Pair("x", reference, plain))
    with_pedal = score_pair(Pair("x", reference, pedalled))
    assert as_written["frame"]["f1"] == 1.0 and as_written["onset_offset"]["f1"] == 1.0
    for metric in ("onset", "onset_offset", "onset_offset_velocity", "frame"):
        assert with_pedal[metric]["f1"] == as_written[metric]["f1"], metric
    midi_reference = tmp_path / "ref.mid"
    write_midi(midi_reference, reference_notes(), Pedal.empty())
    assert score_pair(Pair("x", midi_reference, pedalled))["frame"]["f1"] < 1.0


@pytest.mark.parametrize("case", ["missing_folder", "not_midi", "corrupt_midi", "wav_reference"])
def test_bad_input_is_one_line_error_and_writes_nothing(tmp_path, case):
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    if case == "missing_folder":
        ref = tmp_path / "nowhere"
    elif case == "not_midi":                      # a text file posing as a prediction
        (est_dir / "a.mid").write_text("hello")
        ref = ref_dir
    elif case == "corrupt_midi":                  # a bad reference next to a good one
        write_pair(tmp_path, "b", "b.mid")
        (ref_dir / "b.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
        ref = ref_dir
    else:
        ref = tmp_path / "take.wav"
        ref.write_bytes(b"RIFF....WAVEfmt ")
        est_dir = est_dir / "a.mid"
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "fasolfa.cli", "evaluate", str(ref), str(est_dir),
                             "--json", str(out / "s.json"), "--csv", str(out / "s.csv")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fasolfa: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_reference_folder_with_prediction_file_is_an_error(tmp_path, capsys):
    ref_dir, est_dir = write_pair(tmp_path, "a", "a.mid")
    assert main(["evaluate", str(ref_dir), str(est_dir / "a.mid")]) == 1
    assert "prediction folder" in capsys.readouterr().err


# --- --compare-basic-pitch with stand-ins for both transcribers -----------------------------

class FakeTranscription:
    def __init__(self, notes):
        self.notes, self.pedal = notes, Pedal.empty()

    def save(self, path):
        return write_midi(path, self.notes, self.pedal)


def test_compare_with_fake_transcribers(tmp_path, monkeypatch, capsys):
    """A stand-in fasolfa.transcription (no network needed) gives the reference
    back (F1 1), a stand-in Basic Pitch gives the estimate (its scores as computed above)."""
    import soundfile
    ref_dir, _ = write_pair(tmp_path, "a", None)
    write_pair(tmp_path, "b", None)
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    for stem in ("a", "b"):
        soundfile.write(audio_dir / f"{stem}.wav", np.zeros(22050 * 2, np.float32), 22050)
    calls = []
    fake = types.ModuleType("fasolfa.transcription")
    fake.transcribe = lambda path, **options: (calls.append((path, options))
                                               or FakeTranscription(reference_notes()))
    monkeypatch.setitem(sys.modules, "fasolfa.transcription", fake)

    def fake_basic_pitch(audio_paths, output_dir):
        for path in audio_paths:
            write_midi(output_dir / f"{path.stem}_basic_pitch.mid", estimate_notes())
        return peer.BasicPitchRun([output_dir / f"{p.stem}_basic_pitch.mid" for p in audio_paths],
                                  [0.5] * len(audio_paths), 1.0, 2.0, "ONNX")
    monkeypatch.setattr(peer, "run_basic_pitch", fake_basic_pitch)
    monkeypatch.setattr(peer, "peer_python", lambda: tmp_path)
    json_path, csv_path = tmp_path / "c.json", tmp_path / "c.csv"
    assert main(["evaluate", "--compare-basic-pitch", str(audio_dir), str(ref_dir), "--json",
                 str(json_path), "--csv", str(csv_path), "--midi-dir", str(tmp_path / "midi")]) == 0
    printed = capsys.readouterr().out
    assert "fasolfa" in printed and "Basic Pitch" in printed and "× real time" in printed
    result = read_json(json_path)
    assert result["n_pieces"] == 2 and result["audio_seconds"] == pytest.approx(4.0)
    assert len(calls) == 2 and calls[0][1] == {}
    ours, theirs = result["tools"]["fasolfa"], result["tools"]["basic_pitch"]
    assert ours["mean"]["onset"]["f1"] == 1.0
    assert theirs["mean"]["onset"]["recall"] == pytest.approx(3 / 5)
    assert theirs["timing"]["wall_s"] == 2.0
    assert theirs["timing"]["times_real_time"] == pytest.approx(2.0)
    assert ours["timing"]["times_real_time"] > 0
    rows = list(csv.DictReader(open(csv_path, newline="")))
    assert list(rows[0]) == scorecard.csv_columns(with_tool=True)
    assert {row["tool"] for row in rows} == {"fasolfa", "basic_pitch"}


def test_compare_without_peer_environment_says_make_peer(tmp_path, monkeypatch, capsys):
    import soundfile
    ref_dir, _ = write_pair(tmp_path, "a", None)
    soundfile.write(tmp_path / "a.wav", np.zeros(2205, np.float32), 22050)
    monkeypatch.setenv("FASOLFA_PEER_VENV", str(tmp_path / "no-venv"))
    assert main(["evaluate", "--compare-basic-pitch", str(tmp_path), str(ref_dir)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "make peer" in error


# --- the real Basic Pitch (skipped without `make peer`) --------------------------------------

@pytest.mark.skipif(not peer.is_available(), reason="no .venv-peer: run `make peer`")
def test_basic_pitch_transcribes_a_rendered_file(tmp_path):
    pytest.importorskip("fluidsynth")
    from fasolfa import audio, synth
    notes = Notes.from_arrays([0.2, 0.7], [0.6, 1.2], [60, 67], [90, 90])
    audio.write_audio(tmp_path / "two.wav", synth.render((notes, Pedal.empty()), program=0))
    run = peer.run_basic_pitch([tmp_path / "two.wav"], tmp_path / "out")
    assert run.backend == "ONNX"
    assert run.midi_paths == [tmp_path / "out" / "two_basic_pitch.mid"]
    assert run.process_s >= run.load_s + sum(run.per_file_s) > 0
    write_midi(tmp_path / "ref.mid", notes)
    result = scorecard.score_pair(scorecard.Pair("two", tmp_path / "ref.mid", run.midi_paths[0]))
    assert result["onset"]["recall"] == 1.0
