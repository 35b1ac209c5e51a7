"""Tests for fasolfa.corpus's MAPS reader: tiny MAPS-like files are made here."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from fasolfa.corpus import MAPS_DEFAULT_VELOCITY, MapsCorpus, read_maps_notes
from fasolfa.errors import FasolfaError

MAPS_RATE = 16000
TSV_HEADER = "# onset,offset,note,velocity\n"


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def write_tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TSV_HEADER + "".join("\t".join(f"{v:.6f}" for v in row) + "\n" for row in rows))
    return path


@pytest.fixture
def maps_dir(tmp_path):
    """A shared-corpus-like maps.csv with two recordings (16 kHz FLAC and note TSVs)."""
    folder = tmp_path / "data"
    lines = ["audio,notes,split,piano,piece,duration_s,sample_rate,n_notes"]
    for i, (piece, piano, split) in enumerate((("alb_esp2", "AkPnCGdD", "train"),
                                               ("chpn_op25_e4", "SptkBGCl", "validation"))):
        stem = f"MAPS_MUS-{piece}_{piano}"
        (folder / "maps" / "flac").mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / "maps" / "flac" / f"{stem}.flac", np.zeros(MAPS_RATE * 2, np.float32),
                        MAPS_RATE)
        write_tsv(folder / "maps" / "tsv" / f"{stem}.tsv", [(0.5, 1.0, 60 + i, 70), (0.75, 1.5, 64, 40)])
        lines.append(f"maps/flac/{stem}.flac,maps/tsv/{stem}.tsv,{split},{piano},{piece},2.0,16000,2")
    (folder / "maps.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_maps_csv_is_read_with_paths_beside_it(maps_dir, monkeypatch):
    corpus = MapsCorpus.from_csv(maps_dir / "maps.csv")
    assert len(corpus) == 2 and len(corpus.split("validation")) == 1
    first = corpus[0]
    assert first.audio_path == maps_dir / "maps" / "flac" / "MAPS_MUS-alb_esp2_AkPnCGdD.flac"
    assert first.notes_path.is_file() and (first.piano, first.piece) == ("AkPnCGdD", "alb_esp2")
    assert corpus.duration_s == pytest.approx(4.0)
    monkeypatch.setenv("FASOLFA_DATA", str(maps_dir))
    assert len(MapsCorpus.from_csv()) == 2                  # default: config.corpus_dir()


def test_maps_csv_problems_are_one_line_errors_naming_the_file(maps_dir, tmp_path):
    with pytest.raises(FasolfaError) as error:
        MapsCorpus.from_csv(tmp_path / "none.csv")
    assert one_line(error).startswith(f"{tmp_path / 'none.csv'}: no such file")
    text = (maps_dir / "maps.csv").read_text()
    for broken, problem in ((text.replace("audio,", "sound,", 1), "missing column(s) audio"),
                            (text.replace(",validation,", ",holdout,"), "line 3: unknown split"),
                            (text.replace(",2.0,", ",soon,", 1), "line 2: bad duration"),
                            (b"\x89PNG\r\n\x1a\n\xff\xfe", "cannot read")):
        path = maps_dir / "broken.csv"
        path.write_bytes(broken if isinstance(broken, bytes) else broken.encode())
        with pytest.raises(FasolfaError) as error:
            MapsCorpus.from_csv(path)
        assert one_line(error).startswith(f"{path}: ") and problem in str(error.value)
    (maps_dir / "maps" / "tsv" / "MAPS_MUS-alb_esp2_AkPnCGdD.tsv").unlink()
    with pytest.raises(FasolfaError, match="line 2: notes file .* not found"):
        MapsCorpus.from_csv(maps_dir / "maps.csv")


def test_tsv_and_original_txt_note_lists(tmp_path):
    tsv = write_tsv(tmp_path / "a.tsv", [(1.0, 1.5, 72, 90), (0.25, 0.5, 21, 12), (2.0, 2.0, 60, 50)])
    notes = read_maps_notes(tsv)
    assert notes.onset_s.tolist() == [0.25, 1.0] and notes.pitch.tolist() == [21, 72]  # sorted,
    assert notes.velocity.tolist() == [12, 90]                       # zero-length one dropped
    txt = tmp_path / "MAPS_MUS-x_ENSTDkCl.txt"
    txt.write_text("OnsetTime\tOffsetTime\tMidiPitch\n0.5\t1.25\t60\n0.75\t1.0\t64\n")
    original = read_maps_notes(txt)
    assert original.offset_s.tolist() == [1.25, 1.0] and original.pitch.tolist() == [60, 64]
    assert original.velocity.tolist() == [MAPS_DEFAULT_VELOCITY] * 2   # MAPS gives none


@pytest.mark.parametrize("content, problem", [
    ("", "no notes"),
    (TSV_HEADER, "no notes"),
    (TSV_HEADER + "0.5\t1.0\tC4\t80\n", "line 2: expected onset, offset, pitch"),
    (TSV_HEADER + "0.5\t1.0\n", "line 2: expected onset, offset, pitch"),
    (TSV_HEADER + "0.5\t1.0\t60\t80\n0.6\t1.0\t61\n", "some lines have a velocity"),
    (TSV_HEADER + "0.5\t1.0\t160\t80\n", "pitches MIDI numbers"),
])
def test_bad_note_lists_are_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "take.tsv"
    path.write_text(content)
    with pytest.raises(FasolfaError) as error:
        read_maps_notes(path)
    assert one_line(error).startswith(f"{path}: ") and problem in str(error.value)
    with pytest.raises(FasolfaError, match="no such MAPS note list"):
        read_maps_notes(tmp_path / "missing.tsv")


def test_original_maps_folder_layout(tmp_path):
    root = tmp_path / "MAPS"
    for piano, piece in (("AkPnBcht", "bach_846"), ("AkPnBcht", "mz_331_1"), ("StbgTGd2", "bach_846")):
        folder = root / piano / "MUS"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"MAPS_MUS-{piece}_{piano}"
        soundfile.write(folder / f"{stem}.wav", np.zeros(MAPS_RATE * 3, np.float32), MAPS_RATE)
        (folder / f"{stem}.txt").write_text("OnsetTime\tOffsetTime\tMidiPitch\n0.5\t1.0\t60\n")
    corpus = MapsCorpus.from_maps_folder(root, validation_pieces=("mz_331_1",))
    assert len(corpus) == 3 and [r.piece for r in corpus.split("validation")] == ["mz_331_1"]
    assert {r.piano for r in corpus} == {"AkPnBcht", "StbgTGd2"}
    assert all(r.duration_s == pytest.approx(3.0) for r in corpus)
    assert all(r.notes_path.suffix == ".txt" for r in corpus)
    next(root.rglob("*.txt")).unlink()
    with pytest.raises(FasolfaError, match="no note list"):
        MapsCorpus.from_maps_folder(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FasolfaError, match="no MAPS_MUS"):
        MapsCorpus.from_maps_folder(tmp_path / "empty")
    with pytest.raises(FasolfaError, match="no such MAPS folder"):
        MapsCorpus.from_maps_folder(tmp_path / "absent")
