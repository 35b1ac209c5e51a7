"""Tests for fasolfa.pack: a window pack of the example phrase gives the same notes as the
whole rendering, windows that stay inside the clips' margins, clear errors, and a training run
that reads it (no ../shared needed)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from fasolfa import config, data, pack
from fasolfa.augment import Augmentation
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, apply_sustain, notes_to_targets
from tests.test_train import small_soundfont, tiny_config


def phrase_windows(tmp_path, **kwargs):
    cache = data.RenderCache(tmp_path / "cache")
    return data.WindowDataset.from_cache(cache, [config.EXAMPLES_DIR / "phrase.mid"], [small_soundfont()],
                                         n_windows=8, progress=False, **kwargs)


def test_clip_notes_sustain_to_the_same_notes_as_the_whole_piece():
    """A note released before the clip but held into it by the pedal is kept (raw), and
    sustaining the clip's notes again gives the whole piece's sustained notes, shifted."""
    notes = Notes.from_arrays([0.0, 0.5, 3.0, 6.0], [0.4, 1.0, 3.5, 6.5], [60, 64, 67, 72])
    pedal = Pedal(np.array([0.3]), np.array([2.5]), np.array([0]))
    clip, clip_pedal = pack.clip_notes(notes, pedal, True, 2.0, 5.0)
    assert sorted(clip.pitch.tolist()) == [60, 64, 67]          # 60 and 64 ring until 2.5 s
    whole = apply_sustain(notes, pedal)
    inside = (whole.offset_s > 2.0) & (whole.onset_s < 5.0)
    again = apply_sustain(clip, clip_pedal)
    np.testing.assert_allclose(np.sort(again.offset_s), np.sort(whole.offset_s[inside] - 2.0))
    np.testing.assert_allclose(clip_pedal.onset_s, [-1.7])
    without, _ = pack.clip_notes(notes, pedal, False, 2.0, 5.0)    # no pedal: raw notes only
    assert without.pitch.tolist() == [67]


@pytest.mark.parametrize("audio_format", ["flac", "ogg"])
def test_a_pack_reproduces_the_rendering_and_its_targets(tmp_path, audio_format):
    source = phrase_windows(tmp_path)
    manifest_path = pack.make_pack(None, tmp_path / "pack", 0.004, clip_s=6.0, margin_s=1.0,
                                   audio_format=audio_format, progress=False, training_data=source)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["clips"] and all(c["n_samples"] == manifest["clips"][0]["n_samples"] for c in manifest["clips"])
    piece, clip = source.pieces[0], manifest["clips"][0]
    start, n_samples = clip["start_sample"], clip["n_samples"]
    whole = data.read_flac(piece.renditions[0].audio_path)
    packed = data.read_flac(tmp_path / "pack" / clip["audio"])
    expected = np.zeros(n_samples, np.float32)
    part = whole[start:start + n_samples]
    expected[:len(part)] = part
    error = np.sqrt(np.mean((packed - expected) ** 2)) / np.sqrt(np.mean(expected ** 2))
    assert error < (1e-4 if audio_format == "flac" else 0.1)     # Vorbis: about 30 dB below the signal

    # the clip's targets at any frame equal the whole piece's at the same instant
    windows = pack.pack_windows(tmp_path / "pack", 16, augmentation=Augmentation.none())
    notes, pedal = source._piece_notes(0)
    compared = 0
    for index in range(16):
        window = windows.window(index)
        if window.piece != 0:
            continue
        compared += 1
        start_s = (start + window.start_sample) / config.SAMPLE_RATE
        reference = notes_to_targets(notes, pedal, windows.n_frames, start_s)
        for name in ("onset", "note", "velocity", "pedal"):
            np.testing.assert_array_equal(getattr(window.targets, name), getattr(reference, name), err_msg=name)
        assert window.targets.onset.sum() + window.targets.note.sum() > 0     # a window with notes in it
    assert compared >= 3


def test_windows_stay_inside_the_margins(tmp_path):
    source = phrase_windows(tmp_path)
    pack.make_pack(None, tmp_path / "pack", 0.003, clip_s=5.0, margin_s=1.0, audio_format="flac",
                   progress=False, training_data=source)
    windows = pack.pack_windows(tmp_path / "pack", 64, window_n_samples=config.HOP_LENGTH * 40)
    margin = windows.pieces[0].margin_n_samples
    starts = [windows.window(i).start_sample for i in range(64)]
    assert min(starts) >= margin
    assert max(starts) + windows.window_n_samples + margin <= windows.pieces[0].n_samples
    assert len(set(starts)) > 10                      # and they move about inside


def test_bad_packs_are_one_clear_error(tmp_path):
    with pytest.raises(FasolfaError, match="no window pack"):
        pack.pack_pieces(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pack.json").write_text("{not json")
    with pytest.raises(FasolfaError, match="unreadable"):
        pack.pack_pieces(tmp_path / "bad")
    source = phrase_windows(tmp_path)
    pack.make_pack(None, tmp_path / "p", 0.002, clip_s=5.0, audio_format="flac", progress=False,
                   training_data=source)
    with pytest.raises(FasolfaError, match="a pack is there already"):
        pack.make_pack(None, tmp_path / "p", 0.002, clip_s=5.0, progress=False, training_data=source)
    with pytest.raises(FasolfaError, match="no room"):
        pack.make_pack(None, tmp_path / "q", 0.002, clip_s=2.0, progress=False, training_data=source)
    next((tmp_path / "p" / "clips").glob("*.flac")).unlink()
    with pytest.raises(FasolfaError, match="missing from the window pack"):
        pack.pack_pieces(tmp_path / "p")


def test_a_lower_vorbis_quality_makes_smaller_clips(tmp_path):
    source = phrase_windows(tmp_path)
    sizes = []
    for quality in (0.0, 0.6):
        pack.make_pack(None, tmp_path / f"q{quality}", 0.003, clip_s=6.0, vorbis_quality=quality, progress=False,
                       training_data=source)
        assert pack.read_manifest(tmp_path / f"q{quality}")["vorbis_quality"] == quality
        sizes.append(sum(p.stat().st_size for p in (tmp_path / f"q{quality}" / "clips").glob("*.ogg")))
    assert sizes[1] < 0.8 * sizes[0]


def test_the_command_line_refuses_a_bad_config_in_one_line(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2")
    result = subprocess.run([sys.executable, "-m", "fasolfa.pack", str(tmp_path / "config.json"),
                             str(tmp_path / "out"), "--hours", "0.01"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "not a readable training config" in result.stderr
    assert not (tmp_path / "out" / "pack.json").exists()


def test_a_time_budgeted_run_reads_a_pack_and_keeps_snapshots(tmp_path):
    """``data: "pack"`` with no validation excerpts and ``time_budget_s``: the run ends when its
    training seconds are spent (long before `steps`), saving a snapshot at every validation step
    and at the end; no best.pt, since nothing was validated."""
    from fasolfa.train import train
    source = phrase_windows(tmp_path)
    pack.make_pack(None, tmp_path / "pack", 0.003, clip_s=5.0, audio_format="flac", progress=False,
                   training_data=source)
    cfg = tiny_config(tmp_path, data="pack", pack=str(tmp_path / "pack"), steps=100000, validate_every=2,
                      validation_pieces=0, keep_snapshots=True, time_budget_s=3.0)
    torch.manual_seed(0)
    train(cfg, progress=False)
    run = tmp_path / "run"
    state = torch.load(run / "state.pt", weights_only=False)
    assert 0 < state["step"] < 100000 and state["elapsed_s"] >= 3.0
    snapshots = sorted((run / "snapshots").glob("step-*.pt"))
    assert snapshots and snapshots[-1].name == f"step-{state['step']:06d}.pt"
    assert not (run / "best.pt").exists()
