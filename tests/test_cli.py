"""Tests for the `fasolfa` command line: outputs, one-line errors, no partial files."""
import subprocess
import sys

import numpy as np
import pytest

from fasolfa import config
from fasolfa.audio import load_audio
from fasolfa.cli import main
from fasolfa.examples import EXAMPLE_MIDI
from fasolfa.midi import Notes, write_midi

pytest.importorskip("fluidsynth")


def short_midi(path):
    return write_midi(path, Notes.from_arrays([0.0, 0.25], [0.2, 0.5], [60, 67], [90, 70]))


def test_render_writes_audio_and_figure(tmp_path, capsys):
    audio_path, figure_path = tmp_path / "phrase.flac", tmp_path / "phrase.png"
    assert main(["render", str(EXAMPLE_MIDI), "-o", str(audio_path), "--figure", str(figure_path)]) == 0
    audio = load_audio(audio_path)
    assert len(audio) / config.SAMPLE_RATE >= 10.0        # the phrase lasts 10 s
    assert np.sqrt(np.mean(audio ** 2)) > 0.01             # not silence
    assert figure_path.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert str(audio_path) in printed and str(figure_path) in printed


def test_bad_midi_is_one_line_error_and_no_output(tmp_path):
    bad = tmp_path / "take1.mid"
    bad.write_bytes(b"RIFF....WAVEfmt ")
    result = subprocess.run([sys.executable, "-m", "fasolfa.cli", "render", str(bad),
                             "-o", str(tmp_path / "take1.flac")], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fasolfa: error: ") and "take1.mid" in lines[0]
    assert not (tmp_path / "take1.flac").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take1.mid"]


def test_missing_soundfont_says_how_to_install(tmp_path, capsys):
    midi_path = short_midi(tmp_path / "a.mid")
    code = main(["render", str(midi_path), "--soundfont", str(tmp_path / "nope.sf2")])
    error = capsys.readouterr().err
    assert code == 1 and "nope.sf2" in error and "apt-get install" in error
    assert not (tmp_path / "a.flac").exists()


def test_folder_run_skips_a_bad_file_and_renders_the_rest(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    short_midi(inputs / "good.mid")
    (inputs / "broken.mid").write_bytes(b"not midi")
    code = main(["render", str(inputs), "-o", str(tmp_path / "out")])
    assert code == 1
    assert (tmp_path / "out" / "good.flac").exists()
    assert not (tmp_path / "out" / "broken.flac").exists()
    assert "broken.mid" in capsys.readouterr().err


def test_soundfonts_lists_installed_ones(capsys):
    assert main(["soundfonts"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize("program", ["200", "-1", "128"])
def test_out_of_range_program_is_a_one_line_error(tmp_path, capsys, program):
    target = tmp_path / "out.flac"
    assert main(["render", str(EXAMPLE_MIDI), "-o", str(target), "--program", program]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"fasolfa: error: --program {program}:")
    assert "Traceback" not in err and not target.exists()


@pytest.mark.parametrize("argv", [["--help"], ["render", "--help"], ["soundfonts", "--help"]])
def test_help_is_plain_text_for_a_terminal(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out
    assert "usage: fasolfa" in out and "``" not in out and ":class:" not in out
