"""Tests for fasolfa.synth: finding soundfonts, rendering with FluidSynth, and clear errors."""
from __future__ import annotations

import ctypes.util
import os
import sys

import numpy as np
import pytest

from fasolfa import config, synth
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, read_midi, write_midi

SR = config.SAMPLE_RATE


def _installed():
    try:
        return synth.find_soundfonts()
    except Exception:
        return []


INSTALLED = _installed()
needs_soundfont = pytest.mark.skipif(not INSTALLED, reason="no soundfont installed (make setup)")


@pytest.fixture(scope="module")
def soundfont():
    """The smallest installed soundfont (fast to load)."""
    if not INSTALLED:
        pytest.skip("no soundfont installed (make setup)")
    return min(INSTALLED, key=lambda s: s.path.stat().st_size)


def one_note(onset_s=0.5, duration_s=0.3, pitch=60, velocity=100, channel=0) -> Notes:
    return Notes.from_arrays([onset_s], [onset_s + duration_s], [pitch], [velocity], [channel])


def rms(audio, start_s, stop_s, sample_rate=SR):
    part = audio[int(start_s * sample_rate):int(stop_s * sample_rate)]
    return float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))


# --- finding soundfonts ----------------------------------------------------------------

def test_find_soundfonts_resolves_symlinks_and_skips_aliases(tmp_path, monkeypatch):
    folder = tmp_path / "fonts"
    folder.mkdir()
    (folder / "MyPiano.sf2").write_bytes(b"not really a soundfont")
    (folder / "Piano_Alias.sf3").symlink_to(folder / "MyPiano.sf2")
    (folder / "default-GM.sf2").symlink_to(folder / "MyPiano.sf2")
    (folder / "Broken.sf2").symlink_to(folder / "missing.sf2")
    (folder / "notes.txt").write_text("not a soundfont")
    other = tmp_path / "Other.sf2"
    other.write_bytes(b"x")
    monkeypatch.setenv("FASOLFA_SOUNDFONTS", f"{other}{os.pathsep}{tmp_path / 'nowhere'}")

    found = synth.find_soundfonts(extra_dirs=[folder])
    names = [s.name for s in found]
    assert names[:2] == ["MyPiano", "Other"]             # extra_dirs first, then $FASOLFA_SOUNDFONTS
    assert len(names) == len(set(names))
    mine = found[0]
    assert mine.path == (folder / "MyPiano.sf2").resolve()
    assert mine.aliases == ("Piano_Alias",)
    assert "default-GM" not in names and "Broken" not in names
    assert len({s.path for s in found}) == len(found)     # every file once
    by_alias_path = synth.get_soundfont(folder / "Piano_Alias.sf3")
    assert by_alias_path.path == mine.path and by_alias_path.name == "MyPiano"


def test_system_aliases_are_not_listed_twice():
    paths = [s.path for s in INSTALLED]
    assert len(paths) == len(set(paths))
    assert not any(s.name.lower().startswith("default") for s in INSTALLED)


def test_missing_soundfont_file_is_a_one_line_error(tmp_path):
    missing = tmp_path / "NoSuchPiano.sf2"
    with pytest.raises(FasolfaError) as error:
        synth.render(one_note(), missing)
    message = str(error.value)
    assert str(missing) in message and "\n" not in message
    assert "apt-get install" in message and "fluid-soundfont-gm" in message


def test_unknown_soundfont_name_lists_the_installed_ones():
    with pytest.raises(FasolfaError, match="NoSuchFont: no installed soundfont"):
        synth.get_soundfont("NoSuchFont")


def test_damaged_soundfont_is_a_one_line_error_and_fluidsynth_stays_quiet(tmp_path, capfd):
    bad = tmp_path / "Damaged.sf2"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00garbage" * 10)
    with pytest.raises(FasolfaError) as error:
        synth.render(one_note(), bad)
    assert str(bad) in str(error.value) and "\n" not in str(error.value)
    captured = capfd.readouterr()
    assert "fluidsynth" not in (captured.out + captured.err).lower()


def test_missing_libfluidsynth_says_how_to_install(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.delenv("HOMEBREW_PREFIX", raising=False)
    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    monkeypatch.setattr(synth, "_fluidsynth_module", None)
    with pytest.raises(FasolfaError) as error:
        synth._fluidsynth()
    message = str(error.value)
    assert "apt-get install fluidsynth" in message
    assert "conda install -c conda-forge fluidsynth" in message
    assert "\n" not in message


def test_render_rejects_other_inputs(soundfont):
    with pytest.raises(TypeError):
        synth.render([1, 2, 3], soundfont)
    with pytest.raises(ValueError):
        synth.render(one_note(), soundfont, program=200)


# --- rendering -------------------------------------------------------------------------

def test_render_is_mono_float32_and_as_long_as_announced(soundfont):
    notes = one_note(0.2, 0.5)
    pedal = Pedal.from_arrays([0.1], [1.5])
    audio = synth.render((notes, pedal), soundfont, tail_s=0.5)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == synth.render_length(notes, pedal, tail_s=0.5) == round(2.0 * SR)
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 1e-3
    slow = synth.render(notes, soundfont, sample_rate=16000, tail_s=0.5)
    assert len(slow) == round(1.2 * 16000)


def test_no_notes_renders_silence(soundfont):
    audio = synth.render(Notes.empty(), soundfont, tail_s=0.25)
    assert len(audio) == round(0.25 * SR) and not audio.any()


def test_render_is_deterministic_whatever_was_rendered_before(soundfont):
    notes = Notes.from_arrays([0.1, 0.4, 0.45], [0.6, 0.9, 1.2], [48, 64, 67], [90, 60, 110])
    first = synth.render(notes, soundfont)
    busy = Notes.from_arrays(np.arange(40) * 0.02, np.arange(40) * 0.02 + 0.5,
                             30 + np.arange(40), np.full(40, 120))
    synth.render((busy, Pedal.from_arrays([0.0], [2.0])), soundfont, program=2)
    again = synth.render(notes, soundfont)
    np.testing.assert_array_equal(first, again)
    synth.clear_synth_cache()
    fresh = synth.render(notes, soundfont)
    np.testing.assert_array_equal(first, fresh)


@pytest.mark.parametrize("font", INSTALLED, ids=lambda s: s.name)
@pytest.mark.parametrize("onset_s", [0.3, 0.5 + 31 / SR, 0.75 + 50 / SR])
def test_a_note_starts_within_a_few_ms_of_its_onset(font, onset_s):
    audio = synth.render(one_note(onset_s, 0.3, pitch=64, velocity=100), font)
    assert not audio[:int((onset_s - 0.005) * SR)].any()      # silent until then
    first_sound = np.argmax(np.abs(audio) > 1e-4 * np.abs(audio).max())
    assert abs(first_sound / SR - onset_s) < 0.004


def test_louder_velocity_gives_higher_rms(soundfont):
    levels = [rms(synth.render(one_note(0.1, 0.5, velocity=v), soundfont), 0.1, 0.6)
              for v in (20, 60, 120)]
    assert levels[0] < levels[1] < levels[2]
    assert levels[2] > 2 * levels[0]


def test_sustain_pedal_keeps_a_released_note_ringing(soundfont):
    notes = one_note(0.1, 0.3, pitch=60, velocity=100)
    dry = synth.render(notes, soundfont, tail_s=1.9)
    pedalled = synth.render((notes, Pedal.from_arrays([0.05], [2.0])), soundfont, tail_s=0.3)
    assert len(dry) == len(pedalled)
    assert rms(pedalled, 1.0, 1.9) > 10 * rms(dry, 1.0, 1.9)
    # once the pedal comes up the note is damped
    assert rms(pedalled, 2.15, 2.3) < 0.2 * rms(pedalled, 1.7, 1.9)


@pytest.mark.parametrize("font", INSTALLED, ids=lambda s: s.name)
@pytest.mark.parametrize("program", [0, 1, 2, 3])
def test_a_press_is_silent_and_a_key_released_under_the_pedal_sounds_held(font, program):
    """What fasolfa.evaluate.pedal_press_windows builds on, for every training preset: a press
    while keys are held changes no sample, and keys released under the pedal sound exactly as
    keys held until the pedal comes up; a key released before the press does change them."""
    held = Notes.from_arrays([0.2, 0.2, 0.2], [1.6, 1.6, 1.6], [48, 64, 67], [90, 90, 90])
    released = Notes.from_arrays([0.2, 0.2, 0.2], [0.8, 1.0, 1.2], [48, 64, 67], [90, 90, 90])
    plain = synth.render(held, font, program, tail_s=0.5)
    pressed_while_held = synth.render((held, Pedal.from_arrays([0.6], [1.3])), font, program, tail_s=0.5)
    released_under_pedal = synth.render((released, Pedal.from_arrays([0.5], [1.6])), font, program, tail_s=0.5)
    released_before = synth.render((released, Pedal.from_arrays([0.9], [1.6])), font, program, tail_s=0.5)
    np.testing.assert_array_equal(pressed_while_held, plain)
    np.testing.assert_array_equal(released_under_pedal, plain)
    assert rms(released_before - plain, 0.8, 1.6) > 0.05 * rms(plain, 0.8, 1.6)


def test_pedal_acts_on_its_own_channel_only(soundfont):
    notes = one_note(0.1, 0.3, pitch=60, velocity=100, channel=1)
    other_channel = synth.render((notes, Pedal.from_arrays([0.05], [2.0], [0])), soundfont)
    same_channel = synth.render((notes, Pedal.from_arrays([0.05], [2.0], [1])), soundfont)
    assert rms(same_channel, 1.0, 1.9) > 10 * rms(other_channel, 1.0, 1.9)


def test_midi_file_renders_like_what_it_contains(soundfont, tmp_path):
    notes = Notes.from_arrays([0.1, 0.3], [0.4, 0.9], [60, 67], [70, 100])
    path = write_midi(tmp_path / "two.mid", notes, Pedal.from_arrays([0.2], [1.0]))
    from_path = synth.render(str(path), soundfont)
    np.testing.assert_array_equal(from_path, synth.render(read_midi(path), soundfont))
    # the file holds the notes to within a tick (~1 ms), so the audio hardly differs
    direct = synth.render((notes, Pedal.from_arrays([0.2], [1.0])), soundfont)
    n = min(len(direct), len(from_path))
    assert rms(from_path[:n] - direct[:n], 0, n / SR) < 0.1 * rms(direct, 0, n / SR)


def test_programs_select_different_pianos(soundfont):
    notes = one_note(0.1, 0.4, pitch=60)
    acoustic, electric = synth.render(notes, soundfont, 0), synth.render(notes, soundfont, 4)
    assert not np.allclose(acoustic, electric)


def test_reverb_is_an_option_and_stays_deterministic(soundfont):
    notes = one_note(0.1, 0.2, pitch=72)
    dry = synth.render(notes, soundfont)
    wet = synth.render(notes, soundfont, reverb=synth.Reverb(room_size=0.9, level=0.9, send=127))
    again = synth.render(notes, soundfont, reverb=synth.Reverb(room_size=0.9, level=0.9, send=127))
    np.testing.assert_array_equal(wet, again)
    assert not np.allclose(dry, wet)
    assert rms(wet, 0.6, 1.2) > rms(dry, 0.6, 1.2)       # the room rings after the note
    chorus = synth.render(notes, soundfont, chorus=True)
    assert not np.allclose(dry, chorus)


def test_preset_names_come_from_the_soundfont(soundfont):
    name = synth.preset_name(soundfont, 0)
    assert isinstance(name, str) and name.strip()
    assert synth.preset_name(soundfont, 0) != synth.preset_name(soundfont, 4)
    assert synth.preset_name(soundfont, 0, bank=77) is None


def _render_in_child(path):
    return float(np.abs(synth.render(one_note(0.05, 0.2), path)).max())


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_rendering_works_in_a_forked_process(soundfont):
    """libfluidsynth loads soundfonts with OpenMP; a forked child must not hang in it."""
    import multiprocessing
    parent_peak = _render_in_child(soundfont.path)               # the parent has loaded it
    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        child_peak = pool.apply_async(_render_in_child, (soundfont.path,)).get(timeout=60)
    finally:
        pool.terminate()
    assert child_peak == parent_peak
