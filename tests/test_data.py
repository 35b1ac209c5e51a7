"""Tests for fasolfa.data: corpus readers, the render cache, windows and augmentation.

Every test makes its own tiny MIDI files; none reads the shared corpus."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import soundfile
import torch

from fasolfa import config, data, synth
from fasolfa.atomic import temporary_path
from fasolfa.augment import Augmentation, _reverberate, eq_gain_db, reverb_impulse_response
from fasolfa.corpus import MidiCorpus
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, apply_sustain, read_midi, write_midi

SR = config.SAMPLE_RATE
HOP = config.HOP_LENGTH
INSTALLED = synth.find_soundfonts()


@pytest.fixture(scope="module")
def soundfont():
    if not INSTALLED:
        pytest.skip("no soundfont installed (make setup)")
    return min(INSTALLED, key=lambda s: s.path.stat().st_size)


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def small_piece(seed=0, duration_s=3.0, n_notes=12) -> tuple[Notes, Pedal]:
    rng = np.random.default_rng(seed)
    onset_s = np.sort(rng.uniform(0.1, duration_s - 0.6, n_notes))
    notes = Notes.from_arrays(onset_s, onset_s + rng.uniform(0.05, 0.5, n_notes),
                              rng.integers(40, 90, n_notes), rng.integers(30, 120, n_notes))
    return notes, Pedal.from_arrays([0.2, 1.5], [1.2, duration_s - 0.3])


@pytest.fixture
def corpus_dir(tmp_path):
    """A tiny corpus: three MIDI files and a split.csv beside them."""
    folder = tmp_path / "corpus"
    rows = ["path,split,duration_s,composer,title"]
    for i, split in enumerate(("train", "train", "test")):
        notes, pedal = small_piece(i)
        write_midi(folder / "midi" / f"piece{i}.mid", notes, pedal)
        rows.append(f"midi/piece{i}.mid,{split},{3.0 + i},Composer{i % 2},Title {i}")
    (folder / "split.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    return data.RenderCache()


# --- the corpus ------------------------------------------------------------------------

def test_split_csv_is_read_with_paths_beside_it(corpus_dir):
    corpus = MidiCorpus.from_split_csv(corpus_dir / "split.csv")
    assert len(corpus) == 3 and len(corpus.split("train")) == 2 and len(corpus.split("test")) == 1
    assert len(corpus.split("validation")) == 0
    first = corpus[0]
    assert first.path == corpus_dir / "midi" / "piece0.mid" and first.path.is_file()
    assert (first.split, first.duration_s, first.composer, first.title) == ("train", 3.0, "Composer0", "Title 0")
    assert [e.path.name for e in corpus] == ["piece0.mid", "piece1.mid", "piece2.mid"]
    summary = corpus.summary()
    assert summary["train"]["performances"] == 2 and summary["train"]["pieces"] == 2
    assert summary["test"]["hours"] == pytest.approx(5.0 / 3600)
    with pytest.raises(ValueError):
        corpus.split("training")


def test_split_csv_default_location_follows_fasolfa_data(corpus_dir, monkeypatch):
    monkeypatch.setenv("FASOLFA_DATA", str(corpus_dir))
    assert len(MidiCorpus.from_split_csv()) == 3
    monkeypatch.setenv("FASOLFA_DATA", str(corpus_dir / "nowhere"))
    with pytest.raises(FasolfaError) as error:
        MidiCorpus.from_split_csv()
    assert str(corpus_dir / "nowhere" / "split.csv") in one_line(error)
    assert "FASOLFA_DATA" in str(error.value)


@pytest.mark.parametrize("content, expected", [
    ("path,split,title\nmidi/piece0.mid,train,x\n", "missing column(s) duration_s"),
    ("path,split,duration_s\nmidi/piece0.mid,training,3.0\n", "line 2: unknown split 'training'"),
    ("path,split,duration_s\nmidi/piece0.mid,train,long\n", "line 2: bad duration 'long'"),
    ("path,split,duration_s\nmidi/piece0.mid,train\n", "line 2: wrong number of fields"),
    ("path,split,duration_s\nmidi/missing.mid,train,3.0\n", "line 2: MIDI file midi/missing.mid not found"),
    ("path,split,duration_s\n", "no rows"),
    ("", "missing column(s) path, split, duration_s"),
])
def test_bad_split_csv_is_a_one_line_error_naming_it(corpus_dir, content, expected):
    path = corpus_dir / "bad.csv"
    path.write_text(content)
    with pytest.raises(FasolfaError) as error:
        MidiCorpus.from_split_csv(path)
    message = one_line(error)
    assert message.startswith(f"{path}: ") and expected in message


def test_unreadable_split_csv_is_a_one_line_error(corpus_dir):
    binary = corpus_dir / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x82 not text")
    with pytest.raises(FasolfaError) as error:
        MidiCorpus.from_split_csv(binary)
    assert one_line(error).startswith(f"{binary}: cannot read")
    with pytest.raises(FasolfaError) as error:          # a folder where the file should be
        MidiCorpus.from_split_csv(corpus_dir / "midi")
    assert one_line(error).startswith(f"{corpus_dir / 'midi'}: cannot read")


MAESTRO_ROWS = [
    {"canonical_composer": "Chopin", "canonical_title": "Ballade", "split": "train",
     "year": 2018, "midi_filename": "2018/a.midi", "audio_filename": "2018/a.wav", "duration": 3.0},
    {"canonical_composer": "Bach", "canonical_title": "Fugue", "split": "validation",
     "year": 2017, "midi_filename": "2017/b.midi", "audio_filename": "2017/b.wav", "duration": 4.0},
    {"canonical_composer": "Liszt", "canonical_title": "Etude", "split": "test",
     "year": 2017, "midi_filename": "2017/c.midi", "audio_filename": "2017/c.wav", "duration": 5.0},
]


@pytest.fixture
def maestro_dir(tmp_path):
    root = tmp_path / "maestro-v3.0.0"
    for i, row in enumerate(MAESTRO_ROWS):
        write_midi(root / row["midi_filename"], *small_piece(i))
    return root


def _check_maestro(corpus, root):
    assert [e.split for e in corpus] == ["train", "validation", "test"]
    assert corpus[1].path == root / "2017" / "b.midi" and corpus[1].composer == "Bach"
    assert corpus[2].duration_s == 5.0 and corpus[0].title == "Ballade"


def test_maestro_csv(maestro_dir):
    columns = list(MAESTRO_ROWS[0])
    lines = [",".join(columns)] + [",".join(str(row[c]) for c in columns) for row in MAESTRO_ROWS]
    (maestro_dir / "maestro-v3.0.0.csv").write_text("\n".join(lines) + "\n")
    _check_maestro(MidiCorpus.from_maestro(maestro_dir), maestro_dir)
    _check_maestro(MidiCorpus.from_maestro(maestro_dir / "maestro-v3.0.0.csv"), maestro_dir)


def test_maestro_v3_json_is_column_oriented(maestro_dir):
    columns = {c: {str(i): row[c] for i, row in enumerate(MAESTRO_ROWS)} for c in MAESTRO_ROWS[0]}
    (maestro_dir / "maestro-v3.0.0.json").write_text(json.dumps(columns))
    _check_maestro(MidiCorpus.from_maestro(maestro_dir), maestro_dir)


def test_maestro_v2_json_is_a_list_of_rows(maestro_dir):
    (maestro_dir / "maestro-v2.0.0.json").write_text(json.dumps(MAESTRO_ROWS))
    _check_maestro(MidiCorpus.from_maestro(maestro_dir), maestro_dir)


def test_maestro_errors_name_the_folder_or_file(maestro_dir, tmp_path):
    with pytest.raises(FasolfaError) as error:
        MidiCorpus.from_maestro(maestro_dir)            # no CSV or JSON yet
    assert one_line(error).startswith(f"{maestro_dir}: no MAESTRO metadata")
    with pytest.raises(FasolfaError) as error:
        MidiCorpus.from_maestro(tmp_path / "not-there")
    assert one_line(error).startswith(f"{tmp_path / 'not-there'}: no such MAESTRO folder")
    broken = maestro_dir / "maestro-v3.0.0.json"
    broken.write_text("{not json")
    with pytest.raises(FasolfaError) as error:
        MidiCorpus.from_maestro(maestro_dir)
    assert one_line(error).startswith(f"{broken}: cannot read")
    broken.write_text(json.dumps({"split": {"0": "train"}}))
    with pytest.raises(FasolfaError, match="missing column"):
        MidiCorpus.from_maestro(maestro_dir)


# --- the render cache ------------------------------------------------------------------

def test_cache_dir_follows_fasolfa_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "elsewhere"))
    assert data.RenderCache().cache_dir == tmp_path / "elsewhere"


def test_cache_paths_are_stable_and_depend_on_what_changes_the_audio(corpus_dir, cache, tmp_path):
    corpus = MidiCorpus.from_split_csv(corpus_dir / "split.csv")
    entry = corpus[0]
    path = cache.path_for(entry, "TimGM6mb", 0)
    assert path == data.RenderCache(cache.cache_dir).path_for(entry.path, "TimGM6mb", 0)
    assert path.is_relative_to(cache.cache_dir) and path.suffix == ".flac"
    others = {cache.path_for(entry, "TimGM6mb", 1), cache.path_for(entry, "FluidR3_GM", 0),
              cache.path_for(corpus[1], "TimGM6mb", 0),
              data.RenderCache(cache.cache_dir, gain=0.3).path_for(entry, "TimGM6mb", 0)}
    assert path not in others and len(others) == 4
    copy = tmp_path / "copy" / entry.path.name                # same bytes elsewhere: same key
    copy.parent.mkdir()
    copy.write_bytes(entry.path.read_bytes())
    assert cache.path_for(copy, "TimGM6mb", 0) == path


def test_render_all_renders_once_and_resumes(corpus_dir, cache, soundfont, monkeypatch):
    corpus = MidiCorpus.from_split_csv(corpus_dir / "split.csv")
    items = cache.items(corpus, [soundfont], programs=(0, 1))
    calls = []
    real_render = synth.render

    def counting_render(*args, **kwargs):
        calls.append(args[2] if len(args) > 2 else kwargs.get("program"))
        if len(calls) == 3:
            raise KeyboardInterrupt                       # killed in the middle of the run
        return real_render(*args, **kwargs)

    monkeypatch.setattr(synth, "render", counting_render)
    with pytest.raises(KeyboardInterrupt):
        cache.render_all(items, progress=False)
    flacs = sorted(cache.cache_dir.rglob("*.flac"))
    assert len(flacs) == 2
    assert not list(cache.cache_dir.rglob("*partial*"))   # nothing half-written
    paths = cache.render_all(items, progress=False)
    assert len(calls) == 3 + 4                            # the two done ones were not redone
    assert all(p.is_file() for p in paths) and len(set(paths)) == 6
    cache.render_all(items, progress=False)
    assert len(calls) == 7
    assert len(list(cache.cache_dir.rglob("*.npz"))) == 3  # notes stored once per piece


def test_an_interrupted_write_leaves_no_file(corpus_dir, cache, soundfont, monkeypatch):
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[0]
    real_write = soundfile.write

    def dying_write(file, audio, *args, **kwargs):
        real_write(file, audio[: len(audio) // 2], *args, **kwargs)   # half the file is there
        raise KeyboardInterrupt

    monkeypatch.setattr(soundfile, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        cache.render_all([(entry, soundfont, 0)], progress=False)
    assert not cache.path_for(entry, soundfont, 0).exists()
    assert not [p for p in cache.cache_dir.rglob("*") if p.is_file() and p.suffix != ".npz"]


def test_leftovers_of_killed_runs_are_removed(corpus_dir, cache, soundfont):
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[0]
    final = cache.path_for(entry, soundfont, 0)
    final.parent.mkdir(parents=True)
    dead = temporary_path(final, pid=2 ** 22 + 17)                      # above Linux's pid_max
    dead.write_bytes(b"half a file")
    alive = temporary_path(final.with_name("other.flac"), pid=os.getpid())   # a writer still running
    alive.write_bytes(b"being written")
    cache.render_all([(entry, soundfont, 0)], progress=False)
    assert final.is_file() and not dead.exists() and alive.exists()


def test_load_gives_the_rendering_and_notes(corpus_dir, cache, soundfont):
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[1]
    audio = cache.load(entry, soundfont, 0)                 # rendered on demand
    direct = synth.render(entry.path, soundfont, 0)
    assert audio.dtype == np.float32 and audio.shape == direct.shape
    assert np.max(np.abs(audio - direct)) <= 1.0 / 32768 + 1e-7   # 16-bit FLAC
    notes, pedal, duration_s = cache.load_notes(entry)
    performance = read_midi(entry.path)
    np.testing.assert_array_equal(notes.onset_s, performance.notes.onset_s)
    np.testing.assert_array_equal(notes.velocity, performance.notes.velocity)
    np.testing.assert_array_equal(pedal.offset_s, performance.pedal.offset_s)
    assert duration_s == performance.duration_s


def test_corrupt_cached_flac_is_a_one_line_error_naming_it(corpus_dir, cache, soundfont):
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[0]
    cache.render_all([(entry, soundfont, 0)], progress=False)
    path = cache.path_for(entry, soundfont, 0)
    path.write_bytes(b"fLaC" + os.urandom(200))
    with pytest.raises(FasolfaError) as error:
        cache.load(entry, soundfont, 0)
    message = one_line(error)
    assert message.startswith(f"{path}: corrupt") and "delete it" in message
    dataset = data.WindowDataset.from_cache(cache, [entry], [soundfont], n_windows=2, progress=False)
    with pytest.raises(FasolfaError, match="corrupt"):
        dataset[0]
    path.unlink()                                          # deleting it is the cure
    assert len(cache.load(entry, soundfont, 0)) > 0


def test_corrupt_cached_notes_is_a_one_line_error(corpus_dir, cache):
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[0]
    cache.load_notes(entry)
    path = cache.notes_path_for(entry)
    path.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(FasolfaError) as error:
        cache.load_notes(entry)
    assert one_line(error).startswith(f"{path}: corrupt")


# --- windows ---------------------------------------------------------------------------

@pytest.fixture
def dataset_parts(corpus_dir, cache, soundfont):
    corpus = MidiCorpus.from_split_csv(corpus_dir / "split.csv")
    cache.render_all(cache.items(corpus, [soundfont], (0, 1)), progress=False)
    return cache, list(corpus), [soundfont]


def make_dataset(dataset_parts, **kwargs):
    cache, entries, soundfonts = dataset_parts
    kwargs.setdefault("n_windows", 8)
    return data.WindowDataset.from_cache(cache, entries, soundfonts, (0, 1), progress=False,
                                         render_missing=False, **kwargs)


def test_window_items_have_the_documented_shapes(dataset_parts):
    dataset = make_dataset(dataset_parts, window_n_samples=64 * HOP)
    assert len(dataset) == 8
    item = dataset[3]
    n_frames = 1 + 64 * HOP // HOP
    expected = {"audio": (64 * HOP,), "onset": (88, n_frames), "note": (88, n_frames),
                "velocity": (88, n_frames), "contour": (264, n_frames), "pedal": (n_frames,),
                "pedal_onset": (n_frames,), "pedal_offset": (n_frames,), "pedal_known": (),
                "level_kept": ()}
    assert {k: tuple(v.shape) for k, v in item.items()} == expected
    assert all(v.dtype == torch.float32 for v in item.values())
    default = make_dataset(dataset_parts)[0]
    assert default["audio"].shape == (config.WINDOW_N_SAMPLES,)
    assert default["note"].shape == (88, 1 + config.WINDOW_N_SAMPLES // HOP)


def test_windows_are_reproducible_from_the_seed(dataset_parts):
    first = make_dataset(dataset_parts, seed=5)
    second = make_dataset(dataset_parts, seed=5)
    for i in (0, 7, 3):
        a, b = first[i], second[i]
        assert all(torch.equal(a[k], b[k]) for k in a)
    other_seed = make_dataset(dataset_parts, seed=6)
    assert not all(torch.equal(first[i]["audio"], other_seed[i]["audio"]) for i in range(8))
    before = [first[i]["audio"] for i in range(8)]
    first.set_epoch(1)
    assert not all(torch.equal(before[i], first[i]["audio"]) for i in range(8))
    first.set_epoch(0)
    assert all(torch.equal(before[i], first[i]["audio"]) for i in range(8))
    with pytest.raises(IndexError):
        first.window(8)


def test_windows_pick_every_rendition_and_stay_inside_the_piece(dataset_parts):
    dataset = make_dataset(dataset_parts, n_windows=60, window_n_samples=32 * HOP,
                           augmentation=Augmentation.none())
    windows = [dataset.window(i) for i in range(60)]
    assert {(w.rendition.soundfont, w.rendition.program) for w in windows} == \
        {(dataset.pieces[0].renditions[0].soundfont, p) for p in (0, 1)}
    assert len({w.piece for w in windows}) == 3
    for w in windows:
        assert w.start_sample % HOP == 0
        assert 0 <= w.start_sample <= dataset.pieces[w.piece].n_samples - 32 * HOP


def test_window_audio_is_the_cached_audio_at_its_start(dataset_parts):
    cache, entries, soundfonts = dataset_parts
    dataset = make_dataset(dataset_parts, augmentation=Augmentation.none(),
                           window_n_samples=32 * HOP)
    for i in range(4):
        window = dataset.window(i)
        entry = entries[window.piece]
        full = cache.load(entry, soundfonts[0], window.rendition.program)
        np.testing.assert_array_equal(window.audio, window.clean_audio)
        np.testing.assert_array_equal(window.audio, full[window.start_sample:window.start_sample + 32 * HOP])


def test_note_targets_sit_where_the_rendered_energy_is(tmp_path, cache, soundfont):
    """A lone note: its onset frame in the target is where the audio's energy appears."""
    onset_s = 1.0 + 100 / SR                                # between frame centres on purpose
    path = write_midi(tmp_path / "lone.mid", Notes.from_arrays([onset_s], [onset_s + 0.4], [69], [100]))
    dataset = data.WindowDataset.from_cache(cache, [path], [soundfont], n_windows=40, seed=1,
                                            window_n_samples=64 * HOP, progress=False,
                                            augmentation=Augmentation.none())
    stored_onset_s = float(cache.load_notes(path)[0].onset_s[0])    # to the MIDI tick (~1 ms)
    checked = 0
    for i in range(len(dataset)):
        window = dataset.window(i)
        onset_frames = np.flatnonzero(window.targets.onset.max(axis=0))
        if len(onset_frames) != 1 or not 2 <= onset_frames[0] <= 60:
            continue
        frame = onset_frames[0]
        assert np.flatnonzero(window.targets.onset[:, frame]) == [69 - config.MIDI_PITCH_MIN]
        # energy in frame i: samples centred on i * HOP (frame 0 centred on the first sample)
        padded = np.pad(window.audio, HOP // 2)
        energy = np.array([np.sum(padded[j * HOP:(j + 1) * HOP] ** 2) for j in range(65)])
        first_loud = np.argmax(energy > 1e-3 * energy.max())
        assert abs(int(first_loud) - int(frame)) <= 1
        assert window.start_s + frame * HOP / SR == pytest.approx(stored_onset_s, abs=HOP / SR / 2)
        checked += 1
    assert checked >= 3


def test_sustain_extends_note_targets_and_can_be_turned_off(dataset_parts):
    with_pedal = make_dataset(dataset_parts, augmentation=Augmentation.none())
    without = make_dataset(dataset_parts, augmentation=Augmentation.none(), sustain=False)
    a = [with_pedal.window(i) for i in range(8)]
    b = [without.window(i) for i in range(8)]
    total_a = sum(w.targets.note.sum() for w in a)
    total_b = sum(w.targets.note.sum() for w in b)
    assert total_a > total_b
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa.targets.onset, wb.targets.onset)
        np.testing.assert_array_equal(wa.targets.pedal, wb.targets.pedal)
        assert np.all(wa.targets.note >= wb.targets.note)
    # the targets are what notes_to_targets gives for the sustained notes
    cache, entries, _ = dataset_parts
    notes, pedal, _ = cache.load_notes(entries[a[0].piece])
    from fasolfa.midi import notes_to_targets
    expected = notes_to_targets(apply_sustain(notes, pedal), pedal, with_pedal.n_frames, a[0].start_s)
    np.testing.assert_array_equal(a[0].targets.note, expected.note)
    np.testing.assert_array_equal(a[0].targets.pedal_onset, expected.pedal_onset)


# --- augmentation ----------------------------------------------------------------------

def _only(**kwargs) -> Augmentation:
    none = Augmentation.none()
    return Augmentation(**{**none.__dict__, **kwargs})


def _rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def test_level_kept_says_whether_a_gain_was_drawn(dataset_parts):
    """``level_kept`` is 1 exactly for the windows played at their recorded level (what
    TrainConfig.velocity_from_level trains velocity on); with half the windows left alone,
    both kinds occur."""
    dataset = make_dataset(dataset_parts, augmentation=_only(gain_probability=0.5), n_windows=16)
    kept = []
    for i in range(16):
        window, item = dataset.window(i), dataset[i]
        kept.append(float(item["level_kept"]))
        assert kept[-1] == (1.0 if window.augmentation["gain_db"] is None else 0.0)
        if kept[-1]:
            np.testing.assert_array_equal(window.audio, window.clean_audio)
    assert 0 < sum(kept) < 16


def test_no_augmentation_changes_nothing_and_keeps_the_same_windows(dataset_parts):
    plain = make_dataset(dataset_parts, augmentation=Augmentation.none())
    augmented = make_dataset(dataset_parts, augmentation=Augmentation())
    for i in range(8):
        p, a = plain.window(i), augmented.window(i)
        np.testing.assert_array_equal(p.audio, p.clean_audio)
        assert set(p.augmentation.values()) == {None}
        assert (p.piece, p.rendition, p.start_sample) == (a.piece, a.rendition, a.start_sample)
        if a.augmentation["detune_cents"] is None:       # detuning happens as the audio is read
            np.testing.assert_array_equal(p.clean_audio, a.clean_audio)


def test_gain_stays_in_its_range(dataset_parts):
    dataset = make_dataset(dataset_parts, n_windows=12,
                           augmentation=_only(gain_probability=1.0, gain_db=(-9.0, -3.0)))
    drawn = []
    for i in range(12):
        window = dataset.window(i)
        gain_db = window.augmentation["gain_db"]
        assert -9.0 <= gain_db <= -3.0
        drawn.append(gain_db)
        if _rms(window.clean_audio) > 1e-5:
            measured_db = 20 * np.log10(_rms(window.audio) / _rms(window.clean_audio))
            assert measured_db == pytest.approx(gain_db, abs=1e-3)
    assert np.ptp(drawn) > 1.0                                # it does vary


def test_noise_is_added_at_the_drawn_snr(dataset_parts):
    dataset = make_dataset(dataset_parts, n_windows=10,
                           augmentation=_only(noise_probability=1.0, noise_snr_db=(10.0, 20.0)))
    colors = set()
    for i in range(10):
        window = dataset.window(i)
        snr_db = window.augmentation["noise"]["snr_db"]
        assert 10.0 <= snr_db <= 20.0
        colors.add(window.augmentation["noise"]["color"])
        noise = window.audio - window.clean_audio
        if _rms(window.clean_audio) > 1e-3:
            measured = 20 * np.log10(_rms(window.clean_audio) / _rms(noise))
            assert measured == pytest.approx(snr_db, abs=0.05)
    assert colors == {"white", "pink"}


def test_eq_stays_within_its_limit(dataset_parts):
    augmentation = _only(eq_probability=1.0, eq_max_db=6.0, eq_shelf_db=(-20.0, 20.0),
                         eq_tilt_db_per_octave=(-4.0, 4.0))
    dataset = make_dataset(dataset_parts, n_windows=8, augmentation=augmentation)
    changed = 0
    for i in range(8):
        window = dataset.window(i)
        eq = window.augmentation["eq"]
        assert -4.0 <= eq["tilt_db_per_octave"] <= 4.0 and 80 <= eq["low_hz"] <= 400
        clean, out = np.fft.rfft(window.clean_audio), np.fft.rfft(window.audio)
        strong = np.abs(clean) > 1e-3 * np.abs(clean).max()
        ratio_db = 20 * np.log10(np.abs(out[strong]) / np.abs(clean[strong]))
        assert np.all(np.abs(ratio_db) <= 6.0 + 1e-3)
        changed += not np.allclose(window.audio, window.clean_audio)
    assert changed == 8
    gains = eq_gain_db(np.array([50.0, 1000.0, 10000.0]), 0.0, 6.0, 200.0, -6.0, 4000.0)
    assert gains[0] > 5.0 and abs(gains[1]) < 0.5 and gains[2] < -5.0   # low shelf up, high down


def test_reverb_adds_a_decaying_tail(dataset_parts):
    dataset = make_dataset(dataset_parts, n_windows=6,
                           augmentation=_only(reverb_probability=1.0, reverb_rt60_s=(0.3, 0.8),
                                              reverb_wet=(0.3, 0.5)))
    for i in range(6):
        window = dataset.window(i)
        reverb = window.augmentation["reverb"]
        assert 0.3 <= reverb["rt60_s"] <= 0.8 and 0.3 <= reverb["wet"] <= 0.5
        assert np.all(np.isfinite(window.audio))
        assert not np.allclose(window.audio, window.clean_audio)
    response = reverb_impulse_response(0.5, seed=0)
    assert len(response) == round(0.5 * SR) and np.sum(response ** 2) == pytest.approx(1.0, rel=1e-5)
    early = _rms(response[: SR // 20])
    late = _rms(response[len(response) - SR // 20:])
    assert 20 * np.log10(early / late) > 40                   # decays by ~55 dB over the window


# --- workers ---------------------------------------------------------------------------

def test_dataset_pickles_without_state_and_workers_give_the_same_batches(dataset_parts):
    dataset = make_dataset(dataset_parts, n_windows=4, window_n_samples=32 * HOP)
    reference = [dataset[i] for i in range(4)]
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._notes == {}
    assert torch.equal(clone[2]["audio"], reference[2]["audio"])
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2 and batches[0]["audio"].shape == (2, 32 * HOP)
    for b, batch in enumerate(batches):
        for k in range(2):
            assert torch.equal(batch["note"][k], reference[2 * b + k]["note"])
            assert torch.equal(batch["audio"][k], reference[2 * b + k]["audio"])


def test_rendering_in_worker_processes_gives_the_same_files(corpus_dir, tmp_path, soundfont):
    corpus = MidiCorpus.from_split_csv(corpus_dir / "split.csv")
    items = data.RenderCache.items(corpus[:2], [soundfont], (0,))
    serial = data.RenderCache(tmp_path / "serial").render_all(items, progress=False)
    parallel = data.RenderCache(tmp_path / "parallel").render_all(items, progress=False, workers=2)
    for a, b in zip(serial, parallel):
        assert a.relative_to(tmp_path / "serial") == b.relative_to(tmp_path / "parallel")
        np.testing.assert_array_equal(data.read_flac(a), data.read_flac(b))


def test_pieces_know_their_rendered_length(dataset_parts):
    dataset = make_dataset(dataset_parts)
    for piece in dataset.pieces:
        for rendition in piece.renditions:
            assert soundfile.info(str(rendition.audio_path)).frames == piece.n_samples


def test_split_csv_saved_by_a_spreadsheet_with_a_bom(corpus_dir):
    text = (corpus_dir / "split.csv").read_text()
    (corpus_dir / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(MidiCorpus.from_split_csv(corpus_dir / "bom.csv")) == 3


def test_reverb_of_a_window_is_the_reverb_of_the_continuous_audio():
    """Notes before the window ring into it: the window's wet signal equals a slice of the
    convolution of the whole audio (preroll + window) with the room."""
    from scipy.signal import fftconvolve
    rng = np.random.default_rng(3)
    response = reverb_impulse_response(0.4, seed=1)
    window = rng.standard_normal(4000).astype(np.float32)
    for n_before in (0, 50, len(response) + 100):
        before = rng.standard_normal(n_before).astype(np.float32)
        expected = fftconvolve(np.concatenate([before, window]), response)[n_before:n_before + 4000]
        got = _reverberate(window, response, before)
        assert np.max(np.abs(got - expected)) < 1e-4 * np.max(np.abs(expected))


# --- issue 7: names, epochs, context, MAPS ----------------------------------------------

def test_cache_paths_do_not_depend_on_how_the_soundfont_is_named(corpus_dir, cache, soundfont,
                                                                  tmp_path, monkeypatch):
    aliases = tmp_path / "aliases"
    aliases.mkdir()
    (aliases / f"MyPiano{soundfont.path.suffix}").symlink_to(soundfont.path)
    monkeypatch.setenv("FASOLFA_SOUNDFONTS", str(aliases))
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[0]
    written = cache.render_all([(entry, soundfont, 0)], progress=False)[0]
    for name in (soundfont.name, soundfont.name.lower(), soundfont.name.upper(), "MyPiano",
                 "mypiano", str(aliases / f"MyPiano{soundfont.path.suffix}"), str(soundfont.path)):
        assert cache.path_for(entry, name, 0) == written, name
        assert cache.is_cached(entry, name, 0), name


def test_set_epoch_reaches_persistent_workers(dataset_parts):
    dataset = make_dataset(dataset_parts, n_windows=4, window_n_samples=32 * HOP,
                           augmentation=Augmentation.none())
    expected = {}
    for epoch in (0, 1, 2):
        dataset.set_epoch(epoch)
        expected[epoch] = torch.stack([dataset[i]["audio"] for i in range(4)])
    assert not torch.equal(expected[0], expected[1]) and not torch.equal(expected[1], expected[2])
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2, persistent_workers=True)
    for epoch in (0, 1, 2, 1):
        dataset.set_epoch(epoch)
        got = torch.cat([batch["audio"] for batch in loader])
        assert torch.equal(got, expected[epoch]), epoch


def test_context_is_the_real_audio_around_the_window(dataset_parts):
    cache, entries, soundfonts = dataset_parts
    context = 100 * HOP                                  # longer than some start frames
    plain = make_dataset(dataset_parts, n_windows=30, window_n_samples=32 * HOP,
                         augmentation=Augmentation.none())
    wide = make_dataset(dataset_parts, n_windows=30, window_n_samples=32 * HOP,
                        augmentation=Augmentation.none(), context_n_samples=context)
    with pytest.raises(ValueError):
        make_dataset(dataset_parts, context_n_samples=HOP + 1)
    saw_left_zeros = False
    for i in range(30):
        a, b = plain[i], wide[i]
        assert b["audio"].shape == (context + 32 * HOP + context,)
        assert torch.equal(b["audio"][context:context + 32 * HOP], a["audio"])
        assert all(torch.equal(a[k], b[k]) for k in a if k != "audio")     # same targets
        window = wide.window(i)
        full = cache.load(entries[window.piece], soundfonts[0], window.rendition.program)
        padded = np.concatenate([np.zeros(context, np.float32), full, np.zeros(context + 32 * HOP, np.float32)])
        np.testing.assert_array_equal(window.clean_audio,
                                      padded[window.start_sample:window.start_sample + 2 * context + 32 * HOP])
        if window.start_sample < context:
            saw_left_zeros = True
            assert not np.any(window.clean_audio[:context - window.start_sample])
    assert saw_left_zeros


def test_augmentation_applies_to_the_context_too(dataset_parts):
    everything = Augmentation(gain_probability=1.0, eq_probability=1.0, reverb_probability=1.0,
                              noise_probability=1.0)
    wide = make_dataset(dataset_parts, n_windows=2, window_n_samples=32 * HOP,
                        augmentation=everything, context_n_samples=8 * HOP)
    window = wide.window(1)
    assert window.audio.shape == window.clean_audio.shape == (48 * HOP,)
    edge = slice(0, 8 * HOP)
    assert not np.array_equal(window.audio[edge], window.clean_audio[edge])


@pytest.fixture
def maps_recording(tmp_path):
    from fasolfa.corpus import MapsRecording
    rate = 16000
    time_s = np.arange(3 * rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * time_s) * (time_s > 1.0)).astype(np.float32)
    audio = tmp_path / "maps" / "MAPS_MUS-test_AkPnBcht.flac"
    audio.parent.mkdir()
    soundfile.write(audio, tone, rate)
    notes = tmp_path / "maps" / "MAPS_MUS-test_AkPnBcht.tsv"
    notes.write_text("# onset,offset,note,velocity\n1.0\t2.5\t69\t80\n")
    return MapsRecording(audio, notes, "train", 3.0, "AkPnBcht", "test")


def test_maps_recordings_become_resampled_pieces_without_pedal(maps_recording, cache, monkeypatch):
    pieces = data.maps_pieces([maps_recording], cache, progress=False)
    piece = pieces[0]
    assert not piece.has_pedal and piece.n_samples == 3 * SR
    flac = piece.renditions[0].audio_path
    assert flac.parent == cache.cache_dir / "maps" and soundfile.info(flac).samplerate == SR
    audio = data.read_flac(flac)
    spectrum = np.abs(np.fft.rfft(audio[int(1.5 * SR):int(2.5 * SR)]))
    assert np.fft.rfftfreq(SR, 1 / SR)[np.argmax(spectrum)] == pytest.approx(440.0, abs=1.0)
    assert np.max(np.abs(audio[: int(0.9 * SR)])) < 1e-3          # a real resampler: no ringing
    notes, pedal, _ = data.read_notes(piece.notes_path)
    assert notes.pitch.tolist() == [69] and notes.velocity.tolist() == [80] and len(pedal) == 0
    # a second call only reads the cache
    monkeypatch.setattr(soundfile, "write", lambda *a, **k: pytest.fail("wrote again"))
    assert data.maps_pieces([maps_recording], cache, progress=False) == pieces


def test_maps_windows_say_their_pedal_is_unknown(maps_recording, dataset_parts, cache):
    maps = data.maps_pieces([maps_recording], cache, progress=False)
    rendered = make_dataset(dataset_parts).pieces
    dataset = data.WindowDataset(maps + rendered, 24, window_n_samples=32 * HOP,
                                 augmentation=Augmentation.none())
    known = {}
    for i in range(24):
        item, window = dataset[i], dataset.window(i)
        assert item["pedal_known"].shape == () and item["pedal_known"].dtype == torch.float32
        known[window.piece == 0] = float(item["pedal_known"])
        if window.piece == 0:                       # MAPS: notes as annotated, no sustain
            assert not item["pedal"].any()
            frames = window.start_s + np.arange(dataset.n_frames) * HOP / SR
            sounding = (frames >= 1.0 - HOP / SR / 2) & (frames < 2.5 - HOP / SR / 2)
            np.testing.assert_array_equal(item["note"][69 - 21].numpy() > 0, sounding)
    assert known == {True: 0.0, False: 1.0}


def test_maps_release_tails_are_left_out_of_the_note_targets(maps_recording, dataset_parts, cache):
    """release_unknown_s: in a MAPS window the release_unknown_s seconds after A4's release
    (2.5 s) are unknown (0) in note_known and around A4's contour bins; every other cell, and
    every cell of a rendered window, is known. Without it the items carry no such masks."""
    maps = data.maps_pieces([maps_recording], cache, progress=False)
    rendered = make_dataset(dataset_parts).pieces
    plain = data.WindowDataset(maps + rendered, 4, window_n_samples=32 * HOP, augmentation=Augmentation.none())
    assert "note_known" not in plain[0] and plain.window(0).note_known is None
    dataset = data.WindowDataset(maps + rendered, 40, window_n_samples=32 * HOP,
                                 augmentation=Augmentation.none(), release_unknown_s=0.3)
    seen = set()
    for i in range(40):
        item, window = dataset[i], dataset.window(i)
        assert item["note_known"].shape == item["note"].shape
        assert item["contour_known"].shape == item["contour"].shape
        if window.piece != 0:
            assert item["note_known"].all() and item["contour_known"].all()
            continue
        frames = window.start_s + np.arange(dataset.n_frames) * HOP / SR
        half = HOP / SR / 2
        tail = (frames >= 2.5 - half) & (frames < 2.8 - half)
        expected = np.ones((88, dataset.n_frames), np.float32)
        expected[69 - 21, tail] = 0.0
        np.testing.assert_array_equal(item["note_known"].numpy(), expected)
        contour_unknown = item["contour_known"].numpy() == 0
        assert np.array_equal(contour_unknown.any(axis=0), tail)
        rows = np.flatnonzero(contour_unknown.any(axis=1))
        assert rows.size == 0 or abs(rows.mean() - (69 - 21) * config.BINS_PER_SEMITONE) < 1
        assert not (contour_unknown & (item["contour"].numpy() > 0)).any()   # a target that is on is known
        seen.add(bool(tail.any()))
    assert seen == {True, False}          # windows over the tail and away from it were drawn
    with pytest.raises(ValueError):
        data.WindowDataset(maps, 4, release_unknown_s=-1.0)


def test_missing_maps_audio_is_a_one_line_error(maps_recording, cache):
    maps_recording.audio_path.write_bytes(b"not audio at all")
    with pytest.raises(FasolfaError) as error:
        data.maps_pieces([maps_recording], cache, progress=False)
    assert one_line(error).startswith(f"{maps_recording.audio_path}: not an audio file")


def test_read_span_pads_with_zeros_and_detunes(tmp_path):
    """read_span: ratio 1 is a plain slice with zeros outside the file; ratio r plays a sine r
    times higher, in place (the span's middle stays aligned)."""
    time_s = np.arange(SR * 2) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * time_s)).astype(np.float32)
    path = tmp_path / "tone.flac"
    soundfile.write(path, tone, SR, subtype="PCM_24")
    plain = data.read_span(path, -100, 400)
    assert np.all(plain[:100] == 0) and np.allclose(plain[100:], tone[:300], atol=1e-6)
    tail = data.read_span(path, len(tone) - 50, 100)
    assert np.allclose(tail[:50], tone[-50:], atol=1e-6) and np.all(tail[50:] == 0)
    ratio = 2 ** (50 / 1200)                                      # 50 cents sharp
    sharp = data.read_span(path, 4000, 16384, ratio)
    spectrum = np.abs(np.fft.rfft(sharp * np.hanning(len(sharp))))
    peak_hz = np.argmax(spectrum) * SR / len(sharp)
    assert abs(peak_hz - 440.0 * ratio) < 1.5 * SR / len(sharp)
    assert abs(peak_hz - 440.0) > 5


def test_detuned_window_moves_its_labels_with_the_audio(soundfont, tmp_path):
    """A window played 100 cents sharp (an exaggerated detune) runs 2**(1/12) times faster:
    its onset labels sit at (original - start) / ratio, the first onset within a frame."""
    from fasolfa.augment import Augmentation
    cache = data.RenderCache(tmp_path / "cache")
    plain = data.WindowDataset.from_cache(cache, [config.EXAMPLES_DIR / "phrase.mid"], [soundfont],
                                          n_windows=4, seed=5, progress=False,
                                          augmentation=Augmentation.none())
    sharp = data.WindowDataset(plain.pieces, 4, seed=5, augmentation=Augmentation(
        gain_probability=0, eq_probability=0, reverb_probability=0, noise_probability=0,
        detune_probability=1.0, detune_cents=(100.0, 100.0), band_limit_probability=0))
    ratio = 2 ** (100 / 1200)
    moved = 0
    for index in range(4):
        a, b = plain.window(index), sharp.window(index)
        assert a.start_sample == b.start_sample and b.augmentation["detune_cents"] == 100.0
        keys_a, frames_a = np.nonzero(a.targets.onset)
        keys_b, frames_b = np.nonzero(b.targets.onset)
        for key, frame in zip(keys_b, frames_b):      # every onset of b is an onset of a, moved
            if frame * ratio >= a.targets.onset.shape[1] - 1:
                continue                                # b reaches further into the piece
            same_key = frames_a[keys_a == key]
            assert np.min(np.abs(frame - same_key / ratio)) <= 1.0
        moved += int(np.sum(frames_b > 40))
    assert moved, "some onsets lie far enough into the window to show the move"


# --- transposed renditions ----------------------------------------------------------------

def test_transposed_notes_move_and_leave_the_keyboard_when_they_must():
    notes = Notes.from_arrays([0.0, 0.5, 1.0], [0.4, 0.9, 1.4], [21, 60, 105], [40, 80, 120])
    up = notes.transposed(5)
    assert up.pitch.tolist() == [26, 65] and up.velocity.tolist() == [40, 80]   # 110 > C8: dropped
    down = notes.transposed(-3)
    assert down.pitch.tolist() == [57, 102] and down.onset_s.tolist() == [0.5, 1.0]
    assert notes.transposed(0).pitch.tolist() == notes.pitch.tolist()


def test_transposed_cache_paths_keep_the_untransposed_ones(corpus_dir, cache):
    entry = MidiCorpus.from_split_csv(corpus_dir / "split.csv")[0]
    plain = cache.path_for(entry, "TimGM6mb", 0)
    assert cache.path_for(entry, "TimGM6mb", 0, semitones=0) == plain
    shifted = {s: cache.path_for(entry, "TimGM6mb", 0, semitones=s) for s in (-7, 5, 7)}
    assert len(set(shifted.values()) | {plain}) == 4
    assert shifted[7].name.startswith("piece0+7-") and shifted[-7].name.startswith("piece0-7-")
    assert cache.notes_path_for(entry, 7) != cache.notes_path_for(entry) == cache.notes_path_for(entry, 0)


def test_a_transposed_rendering_sounds_at_the_transposed_pitch(tmp_path, cache, soundfont):
    """A lone A4 rendered 7 semitones up has its strongest partial at E5 (659.3 Hz), and its
    stored notes say so; the untransposed rendering stays at 440 Hz."""
    path = write_midi(tmp_path / "a4.mid", Notes.from_arrays([0.1], [1.1], [69], [100]))

    def peak_hz(audio):
        spectrum = np.abs(np.fft.rfft(audio[int(0.2 * SR):int(0.2 * SR) + SR] * np.hanning(SR)))
        return float(np.argmax(spectrum))            # one second of samples: 1 Hz per bin
    assert peak_hz(cache.load(path, soundfont, 0)) == pytest.approx(440.0, abs=3)
    assert peak_hz(cache.load(path, soundfont, 0, semitones=7)) == pytest.approx(659.26, abs=4)
    assert cache.load_notes(path, 7)[0].pitch.tolist() == [76]
    assert cache.load_notes(path)[0].pitch.tolist() == [69]


def test_transposed_pieces_are_one_drawn_shift_and_preset_per_entry(corpus_dir, cache, soundfont):
    entries = MidiCorpus.from_split_csv(corpus_dir / "split.csv").entries
    pieces = data.transposed_pieces(cache, entries, [soundfont], (0, 1), max_semitones=4, seed=3,
                                    progress=False)
    again = data.transposed_pieces(cache, entries, [soundfont], (0, 1), max_semitones=4, seed=3,
                                   progress=False)
    assert [p.renditions for p in pieces] == [p.renditions for p in again]
    for entry, piece in zip(entries, pieces):
        shift = int(piece.name[len(entry.path.stem):])
        assert 1 <= abs(shift) <= 4 and len(piece.renditions) == 1
        original = cache.load_notes(entry)[0].transposed(shift)
        assert data.read_notes(piece.notes_path)[0].pitch.tolist() == original.pitch.tolist()
        assert piece.renditions[0].audio_path.is_file()
    with pytest.raises(ValueError):
        data.transposed_pieces(cache, entries, [soundfont], max_semitones=0)


def test_lowered_pieces_move_every_entry_down_within_the_range(corpus_dir, cache, soundfont):
    """Each entry once, transposed down by a drawn 3..5 semitones (the same draw every call), its
    notes the original's moved by that much; a range that is not 1 <= low <= high is refused."""
    entries = MidiCorpus.from_split_csv(corpus_dir / "split.csv").entries
    pieces = data.lowered_pieces(cache, entries, [soundfont], (0, 1), (3, 5), seed=3, progress=False)
    again = data.lowered_pieces(cache, entries, [soundfont], (0, 1), (3, 5), seed=3, progress=False)
    assert [p.renditions for p in pieces] == [p.renditions for p in again]
    for entry, piece in zip(entries, pieces):
        shift = int(piece.name[len(entry.path.stem):])
        assert -5 <= shift <= -3 and len(piece.renditions) == 1
        original = cache.load_notes(entry)[0].transposed(shift)
        assert data.read_notes(piece.notes_path)[0].pitch.tolist() == original.pitch.tolist()
    for bad in [(0, 4), (5, 3)]:
        with pytest.raises(ValueError):
            data.lowered_pieces(cache, entries, [soundfont], (0,), bad)
