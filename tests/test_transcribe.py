"""Tests for `fasolfa.transcribe` and `fasolfa transcribe`: any audio in, a valid MIDI or one
line naming the file out, the same notes whatever the chunking, no partial files.

Every test uses a small random checkpoint made here (never the shipped one): what is tested is
the machinery, not the weights.
"""
import io
from dataclasses import replace
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fasolfa
from fasolfa import config
from fasolfa.audio_stream import open_audio
from fasolfa.cli import main
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, write_midi
from fasolfa.model import FasolfaNet, ModelConfig
from fasolfa.notes import NoteThresholds, posteriorgrams_to_notes
from fasolfa.posteriorgrams import VELOCITY_FLOOR, audio_chunks, audio_span, chunk_spans, n_frames_for, velocity_floor
from fasolfa.train import save_weights

# subharmonic_keys=(): with them, this random network's onset head is nearly flat (two values hold
# 99 % of its cells) and the chunking test below finds no thresholds that make notes; the keys below
# are checked for chunk invariance in test_model.py
SMALL = ModelConfig(subharmonic_keys=(), contour_channels=2, key_channels=4, time_dilations=(1, 2), onset_channels=2,
                    pedal_channels=4, pedal_dilations=(1, 2))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = FasolfaNet(SMALL)
    with torch.no_grad():                     # random batch-norm statistics: not the identity
        for module in net.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return save_weights(tmp_path_factory.mktemp("ckpt") / "small.pt", net)


def noise(seconds, sample_rate=config.SAMPLE_RATE, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    shape = (int(seconds * sample_rate), channels) if channels > 1 else (int(seconds * sample_rate),)
    return (0.1 * rng.standard_normal(shape)).astype(np.float32)


def listing(folder):
    return sorted(p.name for p in folder.rglob("*"))


def is_valid_midi(midi):
    """Writes, reads back with the same notes (an instrument without notes is not written)."""
    buffer = io.BytesIO()
    midi.write(buffer)
    reread = pretty_midi.PrettyMIDI(io.BytesIO(buffer.getvalue()))
    return (sum(len(i.notes) for i in reread.instruments)
            == sum(len(i.notes) for i in midi.instruments))


# --- the stream of audio chunks -------------------------------------------------------------

@pytest.mark.parametrize("n_samples,chunk,margin,block", [(44_100, 37, 5, 1000), (300, 8, 3, 7),
                                                          (0, 5, 2, 10), (70_000, 50, 50, 65_536)])
def test_audio_chunks_equal_the_spans_of_the_whole_recording(n_samples, chunk, margin, block):
    audio = np.random.default_rng(0).standard_normal(n_samples).astype(np.float32)
    blocks = [audio[i:i + block] for i in range(0, n_samples, block)]
    streamed = list(audio_chunks(blocks, chunk, margin))
    expected = list(chunk_spans(n_frames_for(n_samples), chunk, margin))
    assert [s[:4] for s in streamed] == expected
    hop, context = config.HOP_LENGTH, config.CONTEXT_N_SAMPLES
    for (first, last, input_first, input_last, span) in streamed:
        whole = audio_span(audio, input_first * hop - context, (input_last - 1) * hop + context)
        np.testing.assert_array_equal(span, whole)


def test_audio_chunks_read_only_what_the_next_chunk_needs():
    """Memory is bounded by the chunk: the first chunk comes out after a few blocks of a stream
    that would never end."""
    consumed = []

    def endless():
        while True:
            consumed.append(1)
            yield np.zeros(1000, np.float32)

    first = next(iter(audio_chunks(endless(), 100, 10)))
    needed = (100 + 10 - 1) * config.HOP_LENGTH + config.CONTEXT_N_SAMPLES
    assert first[:2] == (0, 100) and len(consumed) == -(-needed // 1000)


# --- the API ------------------------------------------------------------------------------

def test_import_fasolfa_stays_cheap_and_exports_transcribe():
    code = ("import sys, fasolfa; assert 'torch' not in sys.modules; "
            "assert callable(fasolfa.transcribe) and fasolfa.Transcription.__name__ == 'Transcription'")
    subprocess.run([sys.executable, "-c", code], check=True)


def between(values, quantile, other=None):
    """A threshold half-way between two neighbouring distinct values near ``quantile``. With
    ``other`` (the same posteriorgram computed another way), the nearest such threshold that no
    cell has on different sides in the two: a chunk's convolutions may sum in another order than
    one pass's (oneDNN's, on few channels), and a float32 difference of one rounding step can
    round to the neighbouring float16 value of the stored posteriorgram."""
    values = np.asarray(values, np.float64)
    distinct = np.unique(values)
    start = int(np.clip(np.searchsorted(distinct, np.quantile(values, quantile)), 1, len(distinct) - 1))
    for step in range(len(distinct)):
        for i in (start - step, start + step):        # lower first: more cells above it
            if 1 <= i < len(distinct):
                threshold = float((distinct[i - 1] + distinct[i]) / 2)
                if other is None or np.array_equal(values >= threshold, np.asarray(other, np.float64) >= threshold):
                    return threshold
    raise AssertionError("no threshold on which the two posteriorgrams agree")


def test_same_notes_whatever_the_chunking(checkpoint):
    """Notes, re-struck keys and a held pedal across chunk borders: chunks of 37 frames give the
    posteriorgrams of one pass to one float16 step, and exactly its notes and pedal. Thresholds
    are set from the posteriorgrams so that the random network yields many notes and pedal
    presses that cross the borders (and away from the rare cells that differ by that step)."""
    audio = noise(4.0, 44_100, channels=2)
    one_pass = fasolfa.transcribe(audio, 44_100, checkpoint=checkpoint, chunk_frames=100_000)
    chunked = fasolfa.transcribe(audio, 44_100, checkpoint=checkpoint, chunk_frames=37)
    post, other = one_pass.posteriorgrams, chunked.posteriorgrams
    for name, values in post.items():
        difference = np.abs(values.astype(np.float32) - other[name].astype(np.float32))
        assert difference.max() <= 2.0 ** -11 + 1e-9, name        # one float16 step at most, below 1
    thresholds = NoteThresholds(onset=between(post["onset"], 0.97, other["onset"]),
                                frame=between(post["note"], 0.4, other["note"]),
                                pedal=between(post["pedal"], 0.5, other["pedal"]), min_pedal_ms=20,
                                pedal_edge_frames=0)   # argmax of a flat random head: ties
    one_pass = fasolfa.transcribe(audio, 44_100, checkpoint=checkpoint, chunk_frames=100_000,
                                  thresholds=thresholds)
    chunked = fasolfa.transcribe(audio, 44_100, checkpoint=checkpoint, chunk_frames=37,
                                 thresholds=thresholds)
    notes, pedal = one_pass.notes, one_pass.pedal
    borders = np.arange(37, 400, 37) / config.FRAMES_PER_SECOND
    crossing = [(notes.onset_s < b) & (notes.offset_s > b) for b in borders]
    assert np.any(crossing) and len(notes) > 20
    restruck = [(p, o) for p, o in zip(notes.pitch, notes.offset_s)
                if np.any((notes.pitch == p) & np.isclose(notes.onset_s, o))]
    assert restruck, "no re-struck key in the test input"
    assert any(np.any((pedal.onset_s < b) & (pedal.offset_s > b)) for b in borders)
    for field in ("onset_s", "offset_s", "pitch", "velocity"):
        np.testing.assert_array_equal(getattr(chunked.notes, field), getattr(notes, field))
    np.testing.assert_array_equal(chunked.pedal.onset_s, pedal.onset_s)
    np.testing.assert_array_equal(chunked.pedal.offset_s, pedal.offset_s)


def test_velocity_only_at_onsets_gives_the_notes_of_the_dense_head(tmp_path, monkeypatch):
    """transcribe runs the velocity head only where the onset probability reaches
    ``velocity_floor`` of its threshold: the same notes, velocities included, as the dense head,
    for many notes and few; 0 elsewhere; nowhere without velocity."""
    torch.manual_seed(1)
    net = FasolfaNet(replace(SMALL, velocity_frames=5, velocity_level_frames=(-3, 4), velocity_hidden=3))
    with torch.no_grad():                     # a velocity head whose notes differ in velocity
        for name, parameter in net.named_parameters():
            if name.startswith("velocity_"):
                parameter.normal_(0, 1.0)
        net.onset_head.bias -= 4.0            # most cells' onsets below VELOCITY_FLOOR, as a trained network's
    checkpoint = save_weights(tmp_path / "velocity.pt", net)
    audio = noise(3.0)
    dense_post = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint).posteriorgrams
    for quantile in (0.9, 0.995):
        thresholds = NoteThresholds(onset=between(dense_post["onset"], quantile), frame=between(dense_post["note"], 0.4))
        sparse = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint, thresholds=thresholds)
        with monkeypatch.context() as patch:
            patch.setattr(fasolfa.posteriorgrams, "velocity_floor", lambda onset_threshold: None)
            dense = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint, thresholds=thresholds)
        assert len(dense.notes) > 10 and len(set(dense.notes.velocity.tolist())) > 3
        for field in ("onset_s", "offset_s", "pitch", "velocity"):
            np.testing.assert_array_equal(getattr(sparse.notes, field), getattr(dense.notes, field))
        onset = sparse.posteriorgrams["onset"]                              # float16: rounded
        computed = onset >= min(thresholds.onset, VELOCITY_FLOOR)
        skipped = onset < velocity_floor(thresholds.onset) * (1 - 2.0 ** -9)
        assert 0 < computed.mean() < 0.5 and skipped.mean() > 0.2
        np.testing.assert_array_equal(sparse.posteriorgrams["velocity"][computed], dense.posteriorgrams["velocity"][computed])
        assert np.all(sparse.posteriorgrams["velocity"][skipped] == 0)
    without = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint, velocity=False)
    assert np.all(without.posteriorgrams["velocity"] == 0) and np.all(without.notes.velocity == 80)


def test_velocity_floor_lies_below_every_cell_that_float16_rounds_onto_the_threshold():
    """A cell whose stored (float16) onset reaches the threshold was computed in float32 at or
    above ``velocity_floor``: no note reads a velocity that was not computed."""
    for threshold in (0.0, 0.01, 0.05, 0.3, 0.7, 1.0):
        floor = velocity_floor(threshold)
        assert floor <= min(threshold, VELOCITY_FLOOR)
        cells = np.linspace(floor * 0.98, min(threshold, VELOCITY_FLOOR), 20_001, dtype=np.float32)
        stored = cells.astype(np.float16)
        assert np.all(cells[stored >= min(threshold, VELOCITY_FLOOR)] >= floor)


def test_notes_are_those_of_the_returned_posteriorgrams(checkpoint):
    result = fasolfa.transcribe(noise(2.0), config.SAMPLE_RATE, checkpoint=checkpoint,
                                thresholds=NoteThresholds(onset=0.2, frame=0.2))
    notes, pedal = posteriorgrams_to_notes(result.posteriorgrams, NoteThresholds(onset=0.2, frame=0.2))
    np.testing.assert_array_equal(result.notes.onset_s, notes.onset_s)
    assert result.posteriorgrams["note"].shape == (config.N_KEYS, n_frames_for(2 * config.SAMPLE_RATE))
    assert result.posteriorgrams["contour"].shape[0] == config.N_CONTOUR_BINS
    assert result.duration_s == pytest.approx(2.0)
    assert is_valid_midi(result.midi)


def test_file_read_in_blocks_equals_file_read_whole(tmp_path, checkpoint):
    """Block reading and streaming resampling (44.1 kHz stereo FLAC) change nothing."""
    path = tmp_path / "take.flac"
    soundfile.write(path, noise(3.0, 44_100, channels=2), 44_100)
    small = fasolfa.transcribe(path, checkpoint=checkpoint, chunk_frames=41)
    whole = fasolfa.transcribe(path, checkpoint=checkpoint, chunk_frames=100_000)
    for name, values in whole.posteriorgrams.items():
        np.testing.assert_allclose(small.posteriorgrams[name].astype(np.float32), values, atol=2e-3)


@pytest.mark.parametrize("suffix,subtype", [(".wav", "PCM_16"), (".wav", "PCM_24"), (".wav", "PCM_32"),
                                            (".wav", "FLOAT"), (".flac", None), (".ogg", None),
                                            (".mp3", None)])
def test_every_format_and_rate_is_read(tmp_path, checkpoint, suffix, subtype):
    path = tmp_path / f"piece{suffix}"
    soundfile.write(path, 0.5 * noise(1.0, 32_000, channels=2), 32_000, subtype=subtype)
    result = fasolfa.transcribe(path, checkpoint=checkpoint)
    assert result.duration_s == pytest.approx(1.0, abs=0.06)       # mp3 pads a little
    assert abs(result.posteriorgrams["note"].shape[1] - n_frames_for(config.SAMPLE_RATE)) <= 6
    assert is_valid_midi(result.midi)


def test_silence_and_a_few_milliseconds_give_valid_midi_without_notes(checkpoint):
    for audio in (np.zeros(config.SAMPLE_RATE), np.zeros(40)):
        result = fasolfa.transcribe(audio, config.SAMPLE_RATE, checkpoint=checkpoint)
        assert len(result.notes) == 0 and is_valid_midi(result.midi)


def test_save_methods_write_whole_files(tmp_path, checkpoint):
    result = fasolfa.transcribe(noise(1.0), config.SAMPLE_RATE, checkpoint=checkpoint,
                                thresholds=NoteThresholds(onset=0.1, frame=0.1))
    result.save(tmp_path / "a.mid")
    result.save_notes_csv(tmp_path / "a.csv")
    result.save_posteriorgrams(tmp_path / "a.npz")
    assert listing(tmp_path) == ["a.csv", "a.mid", "a.npz"]
    assert len(pretty_midi.PrettyMIDI(str(tmp_path / "a.mid")).instruments[0].notes) == len(result.notes)
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0] == "onset_s,offset_s,pitch,velocity" and len(lines) == len(result.notes) + 1
    with np.load(tmp_path / "a.npz") as saved:
        np.testing.assert_array_equal(saved["note"], result.posteriorgrams["note"])


def test_missing_shipped_checkpoint_says_how_to_get_one(tmp_path, monkeypatch):
    from fasolfa import transcription
    monkeypatch.setattr(transcription, "SHIPPED_CHECKPOINT", tmp_path / "fasolfa.pt")
    with pytest.raises(FasolfaError, match="no shipped checkpoint at .*make train or pass --checkpoint"):
        fasolfa.transcribe(np.zeros(100), config.SAMPLE_RATE)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(duration_s=st.floats(0.0, 1.0), channels=st.integers(1, 3),
       sample_rate=st.one_of(st.integers(1, 400_000), st.sampled_from([8000, 22050, 44100, 96000])),
       values=st.sampled_from(["noise", "loud", "nan", "inf", "huge", "int16", "zeros"]),
       seed=st.integers(0, 2 ** 16))
def test_random_arrays_give_valid_midi_or_fasolfa_error(checkpoint, duration_s, channels,
                                                        sample_rate, values, seed):
    """Lengths from none to a second, any rate (out-of-range ones too), 1-3 channels, values
    from silence to NaN: a valid MIDI or a one-line FasolfaError, never anything else."""
    rng = np.random.default_rng(seed)
    n_samples = int(duration_s * sample_rate)
    shape = (n_samples,) if channels == 1 else (n_samples, channels)
    audio = {"noise": lambda: 0.3 * rng.standard_normal(shape),
             "loud": lambda: 5.0 * rng.standard_normal(shape),
             "huge": lambda: 1e30 * rng.standard_normal(shape),
             "int16": lambda: rng.integers(-32768, 32767, shape).astype(np.int16),
             "zeros": lambda: np.zeros(shape, np.float32)}.get(values, lambda: rng.standard_normal(shape))()
    if values in ("nan", "inf") and audio.size:
        audio.flat[rng.integers(audio.size)] = np.nan if values == "nan" else -np.inf
    try:
        result = fasolfa.transcribe(audio, sample_rate, checkpoint=checkpoint, chunk_frames=300)
    except FasolfaError as error:
        assert "\n" not in str(error) and str(error).startswith("audio array")
        return
    assert is_valid_midi(result.midi)
    assert values not in ("nan", "inf", "huge") or audio.size == 0


# --- the command line -----------------------------------------------------------------------

def test_cli_writes_midi_beside_the_input_and_extras_on_request(tmp_path, checkpoint, capsys):
    path = tmp_path / "piece.wav"
    soundfile.write(path, noise(1.5, 48_000), 48_000)
    assert main(["transcribe", str(path), "--checkpoint", str(checkpoint), "--notes-csv",
                 "--save-posteriorgrams", "--figure", str(tmp_path / "piece.png"),
                 "--onset-threshold", "0.3", "--no-velocity"]) == 0
    assert listing(tmp_path) == ["piece.csv", "piece.mid", "piece.npz", "piece.png", "piece.wav"]
    printed = capsys.readouterr().out
    assert str(tmp_path / "piece.mid") in printed and str(tmp_path / "piece.png") in printed
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "piece.mid"))
    assert all(note.velocity == 80 for note in midi.instruments[0].notes)


def test_cli_folder_run_skips_a_bad_file_and_writes_the_others(tmp_path, checkpoint, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    soundfile.write(inputs / "good.flac", noise(1.0), config.SAMPLE_RATE)
    (inputs / "bad.wav").write_text("not audio")
    assert main(["transcribe", str(inputs), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoint)]) == 1
    assert listing(tmp_path / "out") == ["good.mid"]
    errors = capsys.readouterr().err.strip().splitlines()
    assert any("bad.wav" in line for line in errors) and "1 of 2 files failed" in errors[-1]


def bad_inputs(tmp_path, checkpoint):
    """(name, argv, words that must appear in the one stderr line)."""
    ok = tmp_path / "ok.wav"
    soundfile.write(ok, noise(0.5), config.SAMPLE_RATE)
    (tmp_path / "text.wav").write_text("hello, I am not a wav file\n")
    (tmp_path / "empty.wav").write_bytes(b"")
    soundfile.write(tmp_path / "whole.wav", noise(1.0), config.SAMPLE_RATE, subtype="PCM_16")
    whole = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "whole.wav").unlink()
    nan_audio = noise(1.0)
    nan_audio[5000] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan_audio, config.SAMPLE_RATE, subtype="FLOAT")
    inf_audio = noise(1.0)
    inf_audio[-3] = np.inf
    soundfile.write(tmp_path / "inf.flac", np.clip(inf_audio, -1, 1), config.SAMPLE_RATE)
    soundfile.write(tmp_path / "inf.wav", inf_audio, config.SAMPLE_RATE, subtype="FLOAT")
    write_midi(tmp_path / "song.mid", Notes.from_arrays([0.0], [0.5], [60]), Pedal.empty())
    (tmp_path / "noaudio").mkdir()
    (tmp_path / "noaudio" / "readme.txt").write_text("nothing here")
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(0).bytes(2000))
    other = FasolfaNet(SMALL).state_dict()
    torch.save({"format": "fasolfa-weights-1", "model_config": ModelConfig().to_dict(),
                "state_dict": other, "metadata": {}}, tmp_path / "other.pt")
    (tmp_path / "afile").write_text("a file, not a folder")
    ck = ["--checkpoint", str(checkpoint)]
    return [
        ("missing", ["transcribe", str(tmp_path / "missing.wav"), *ck], ["missing.wav", "no such"]),
        ("folder without audio", ["transcribe", str(tmp_path / "noaudio"), *ck], ["noaudio", "no audio"]),
        ("text named .wav", ["transcribe", str(tmp_path / "text.wav"), *ck], ["text.wav", "not an audio file"]),
        ("empty", ["transcribe", str(tmp_path / "empty.wav"), *ck], ["empty.wav", "empty"]),
        ("truncated", ["transcribe", str(tmp_path / "cut.wav"), *ck], ["cut.wav", "truncated"]),
        ("nan", ["transcribe", str(tmp_path / "nan.wav"), *ck], ["nan.wav", "NaN"]),
        ("inf", ["transcribe", str(tmp_path / "inf.wav"), *ck], ["inf.wav", "infinite"]),
        ("midi", ["transcribe", str(tmp_path / "song.mid"), *ck], ["song.mid", "MIDI file"]),
        ("random checkpoint", ["transcribe", str(ok), "--checkpoint", str(tmp_path / "random.pt")],
         ["random.pt", "not a fasolfa checkpoint"]),
        ("other shape", ["transcribe", str(ok), "--checkpoint", str(tmp_path / "other.pt")],
         ["other.pt", "does not fit"]),
        ("missing checkpoint", ["transcribe", str(ok), "--checkpoint", str(tmp_path / "nope.pt")],
         ["nope.pt", "no such checkpoint"]),
        ("unwritable output", ["transcribe", str(ok), "-o", str(tmp_path / "afile" / "ok.mid"), *ck],
         ["afile", "cannot write"]),
        ("bad threshold", ["transcribe", str(ok), "--onset-threshold", "1.5", *ck], ["--onset-threshold"]),
    ]


def test_every_bad_input_is_one_line_exit_1_and_no_output(tmp_path, checkpoint, capsys):
    for name, argv, words in bad_inputs(tmp_path, checkpoint):
        before = listing(tmp_path)
        code = main(argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 1, name
        assert len(lines) == 1 and lines[0].startswith("fasolfa: error: "), (name, lines)
        assert all(word in lines[0] for word in words), (name, lines[0])
        assert listing(tmp_path) == before, name             # no output, no hidden .partial


def test_bad_input_from_the_shell_has_no_traceback(tmp_path, checkpoint):
    (tmp_path / "take.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    result = subprocess.run([sys.executable, "-m", "fasolfa.cli", "transcribe", str(tmp_path / "take.wav"),
                             "--checkpoint", str(checkpoint)], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "take.wav" in lines[0] and "Traceback" not in result.stderr
    assert listing(tmp_path) == ["take.wav"]


def test_help_has_examples():
    for argv in (["--help"], ["transcribe", "--help"]):
        result = subprocess.run([sys.executable, "-m", "fasolfa.cli", *argv], capture_output=True, text=True)
        assert result.returncode == 0 and "examples:" in result.stdout and "fasolfa transcribe" in result.stdout


def test_open_audio_reads_integer_arrays_as_pcm():
    source = open_audio(np.full((100, 2), 16384, np.int16), 8000)
    block = np.concatenate(list(source.blocks(1000, sample_rate=8000)))
    np.testing.assert_allclose(block, 0.5)


def test_thresholds_stored_with_the_checkpoint_are_the_default(tmp_path):
    """A checkpoint finalized with thresholds (train.finalize) makes them the default; the
    command line's options replace only what they name."""
    import argparse

    from fasolfa.cli import _thresholds_from_args
    from fasolfa.transcription import checkpoint_thresholds
    net = FasolfaNet(ModelConfig(contour_channels=2, key_channels=4, onset_channels=2, pedal_channels=2,
                                 time_dilations=(1,), pedal_dilations=(1,)))
    path = save_weights(tmp_path / "tuned.pt", net, {"thresholds": {"onset": 0.77, "frame": 0.44, "unknown": 1}})
    assert (checkpoint_thresholds(path).onset, checkpoint_thresholds(path).frame) == (0.77, 0.44)
    args = argparse.Namespace(onset_threshold=None, frame_threshold=0.5, offset_threshold=None, min_note_ms=None,
                              checkpoint=path)
    chosen = _thresholds_from_args(args)
    assert (chosen.onset, chosen.frame, chosen.min_note_ms) == (0.77, 0.5, NoteThresholds().min_note_ms)
    from fasolfa.cli import build_parser
    for given, expected in ((["--offset-threshold", "0.65"], 0.65), ([], None)):
        args = build_parser().parse_args(["transcribe", "x.wav", "--checkpoint", str(path), *given])
        assert _thresholds_from_args(args).offset == expected
    args = build_parser().parse_args(["transcribe", "x.wav", "--checkpoint", str(path), "--offset-threshold", "2"])
    with pytest.raises(FasolfaError, match="--offset-threshold 2"):
        _thresholds_from_args(args)
    plain = save_weights(tmp_path / "plain.pt", net)
    assert checkpoint_thresholds(plain) == NoteThresholds()


def test_onset_threshold_option_keeps_the_stored_strong_onset_above_it(tmp_path):
    """--onset-threshold above the checkpoint's strong_onset raises strong_onset with it (the
    pair stays valid); below it, strong_onset stays as stored."""
    from fasolfa.cli import _thresholds_from_args, build_parser
    net = FasolfaNet(SMALL)
    stored = {"onset": 0.5, "frame": 0.6, "strong_onset": 0.8}
    path = save_weights(tmp_path / "with_strong.pt", net, {"thresholds": stored})
    for given, expected in (("0.9", 0.9), ("0.3", 0.8)):
        args = build_parser().parse_args(["transcribe", "x.wav", "--checkpoint", str(path),
                                          "--onset-threshold", given])
        thresholds = _thresholds_from_args(args)
        assert thresholds.onset == float(given) and thresholds.strong_onset == expected
        assert thresholds.frame == 0.6


def test_read_ahead_gives_the_sources_blocks_and_bounds_what_it_holds(tmp_path):
    """ReadAhead: the same blocks as the source (a file at another rate, resampled), no more than
    max_blocks decoded ahead of the reader, a decoding error raised in the reader, and close()
    ending the thread whether or not the blocks were read."""
    import threading
    import time

    from fasolfa.audio_stream import ReadAhead
    path = tmp_path / "long.flac"
    soundfile.write(path, noise(6.0, 16_000), 16_000)
    expected = list(open_audio(path).blocks(4000))
    ahead = ReadAhead(open_audio(path), 4000, max_blocks=2)
    time.sleep(0.3)
    assert ahead._queue.qsize() <= 2 and ahead.duration_s == 6.0 and ahead.name == str(path)
    got = list(ahead.blocks())
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert not ahead._thread.is_alive()
    abandoned = ReadAhead(open_audio(path), 4000, max_blocks=1)
    abandoned.close()
    assert not abandoned._thread.is_alive()
    broken = np.zeros(50_000, np.float32)
    broken[30_000] = np.nan
    with pytest.raises(FasolfaError, match="NaN"):
        list(ReadAhead(open_audio(broken, 16_000), 4000).blocks())
    assert not any(t.name.startswith("read-ahead") and t.is_alive() for t in threading.enumerate())


def test_transcribing_a_read_ahead_source_equals_the_path(tmp_path, checkpoint):
    from fasolfa.audio_stream import ReadAhead
    from fasolfa.transcription import chunk_block_n_samples
    path = tmp_path / "piece.wav"
    soundfile.write(path, noise(3.0, 44_100), 44_100)
    source = open_audio(path)
    from_path = fasolfa.transcribe(path, checkpoint=checkpoint, chunk_frames=64)
    ahead = ReadAhead(source, chunk_block_n_samples(source.sample_rate, 64))
    from_ahead = fasolfa.transcribe(ahead, checkpoint=checkpoint, chunk_frames=64)
    for name, values in from_path.posteriorgrams.items():
        np.testing.assert_array_equal(values, from_ahead.posteriorgrams[name])


def test_keep_freed_memory_is_applied_on_glibc_and_harmless_elsewhere():
    import platform

    from fasolfa.cli import keep_freed_memory
    applied = keep_freed_memory()                  # never raises
    assert isinstance(applied, bool)
    if platform.libc_ver()[0] == "glibc":
        assert applied
