"""Tests for fasolfa.train: losses, the schedule, checkpoints, learning one window, and exact
resume after `kill -9`. Data: the shipped example phrase rendered with the smallest installed
soundfont (no ../shared needed)."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fasolfa import config, synth, train
from fasolfa.errors import FasolfaError
from fasolfa.model import FasolfaNet, ModelConfig
from fasolfa.train import (TrainConfig, learning_rate_factor, load_weights, losses, save_weights,
                           time_budget_factor)

INSTALLED = synth.find_soundfonts()


def small_soundfont() -> str:
    if not INSTALLED:
        pytest.skip("no soundfont installed (make setup)")
    return min(INSTALLED, key=lambda s: s.path.stat().st_size).name


def tiny_config(tmp_path, **changes) -> TrainConfig:
    values = dict(run_dir=str(tmp_path / "run"), data="example", soundfonts=(small_soundfont(),),
                  programs=(0,), batch_size=2, steps=6, validate_every=3, log_every=1, warmup_steps=2,
                  render_workers=1, workers=0, maps_validation=False, augment=False, threads=1,
                  model=ModelConfig(contour_channels=4, key_channels=6, onset_channels=4, pedal_channels=4,
                                    time_dilations=(1, 2), pedal_dilations=(1, 2)).to_dict())
    values.update(changes)
    return TrainConfig(**values)


def fake_batch(batch=2, frames=20, seed=0):
    rng = np.random.default_rng(seed)
    onset = (rng.random((batch, 88, frames)) < 0.02).astype(np.float32)
    item = {"onset": onset, "note": np.maximum(onset, (rng.random((batch, 88, frames)) < 0.1)).astype(np.float32),
            "velocity": onset * rng.random((batch, 88, frames)).astype(np.float32),
            "contour": rng.random((batch, 264, frames)).astype(np.float32),
            "pedal": (rng.random((batch, frames)) < 0.5).astype(np.float32),
            "pedal_onset": np.zeros((batch, frames), np.float32),
            "pedal_offset": np.zeros((batch, frames), np.float32),
            "pedal_known": np.array([1.0, 0.0], np.float32)[:batch]}
    return {k: torch.from_numpy(v) for k, v in item.items()}


def test_losses_are_finite_and_pedal_is_masked():
    cfg = TrainConfig()
    batch = fake_batch()
    logits = {name: torch.zeros_like(batch[name]) for name in
              ("contour", "note", "onset", "velocity", "pedal", "pedal_onset", "pedal_offset")}
    parts = losses(logits, batch, cfg)
    assert all(torch.isfinite(v) for v in parts.values())
    # the pedal of the window without pedal labels (item 1) does not count
    changed = dict(logits)
    changed["pedal"] = logits["pedal"].clone()
    changed["pedal"][1] = 50.0
    assert torch.isclose(losses(changed, batch, cfg)["pedal"], parts["pedal"])
    changed["pedal"][0] = 50.0
    assert not torch.isclose(losses(changed, batch, cfg)["pedal"], parts["pedal"])


def test_note_and_contour_losses_leave_out_unknown_cells():
    """With note_known / contour_known in the batch, the note and contour losses are means over
    the known cells: a logit changed where the target is unknown changes nothing, one changed
    where it is known does; all ones is the plain mean."""
    cfg = TrainConfig()
    batch = fake_batch()
    logits = {name: torch.zeros_like(batch[name]) for name in
              ("contour", "note", "onset", "velocity", "pedal", "pedal_onset", "pedal_offset")}
    plain = losses(logits, batch, cfg)
    ones = {**batch, "note_known": torch.ones_like(batch["note"]),
            "contour_known": torch.ones_like(batch["contour"])}
    for name in ("note", "contour"):
        assert torch.isclose(losses(logits, ones, cfg)[name], plain[name])
    masked = {**ones}
    masked["note_known"] = ones["note_known"].clone()
    masked["note_known"][1, 40, 5:15] = 0.0
    masked["contour_known"] = ones["contour_known"].clone()
    masked["contour_known"][0, 100:110, :8] = 0.0
    before = losses(logits, masked, cfg)
    changed = {**logits, "note": logits["note"].clone(), "contour": logits["contour"].clone()}
    changed["note"][1, 40, 5:15] = -30.0
    changed["contour"][0, 100:110, :8] = 30.0
    after = losses(changed, masked, cfg)
    assert torch.isclose(after["note"], before["note"]) and torch.isclose(after["contour"], before["contour"])
    assert not torch.isclose(losses(changed, ones, cfg)["note"], plain["note"])
    changed["note"][1, 41, 5:15] = -30.0                          # a known cell
    assert not torch.isclose(losses(changed, masked, cfg)["note"], before["note"])


def test_velocity_from_level_counts_only_windows_at_their_recorded_level():
    batch = fake_batch()
    batch["level_kept"] = torch.tensor([1.0, 0.0])              # window 1 had a gain drawn
    logits = {name: torch.zeros_like(batch[name]) for name in batch if name not in ("pedal_known", "level_kept")}
    louder = logits["velocity"].clone()
    louder[1] = 9.0                                             # a change in window 1 only
    plain, from_level = TrainConfig(), TrainConfig(velocity_from_level=0.5)
    assert torch.isclose(losses({**logits, "velocity": louder}, batch, from_level)["velocity"],
                         losses(logits, batch, from_level)["velocity"])
    assert not torch.isclose(losses({**logits, "velocity": louder}, batch, plain)["velocity"],
                             losses(logits, batch, plain)["velocity"])


def test_velocity_from_level_leaves_that_share_of_windows_without_gain(tmp_path, monkeypatch):
    from fasolfa.train import build_training_data
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    for share, expected in ((0.0, 1.0), (0.5, 0.5)):
        dataset = build_training_data(tiny_config(tmp_path, augment=True, transpose_semitones=0,
                                                  velocity_from_level=share), progress=False)
        assert dataset.augmentation.gain_probability == expected
    from fasolfa.augment import Augmentation
    from fasolfa.train import training_augmentation        # what ablations.py's arms use too
    cfg = tiny_config(tmp_path, velocity_from_level=0.25)
    assert training_augmentation(cfg, Augmentation()).gain_probability == 0.75
    assert training_augmentation(cfg, Augmentation.none()).gain_probability == 0.0


def test_window_seed_draws_other_windows_from_the_same_pieces(tmp_path, monkeypatch):
    """``window_seed`` changes which windows a run draws, never what was rendered: a
    continuation sees windows no earlier leg saw without re-rendering or another validation."""
    from fasolfa.train import build_training_data
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    plain = build_training_data(tiny_config(tmp_path, augment=True, transpose_semitones=0), progress=False)
    same = build_training_data(tiny_config(tmp_path, augment=True, transpose_semitones=0, window_seed=0),
                               progress=False)
    other = build_training_data(tiny_config(tmp_path, augment=True, transpose_semitones=0, window_seed=7),
                                progress=False)
    assert [p.name for p in other.pieces] == [p.name for p in plain.pieces]
    assert all(torch.equal(plain[i]["audio"], same[i]["audio"]) for i in range(4))
    assert not any(torch.equal(plain[i]["audio"], other[i]["audio"]) for i in range(4))
    assert tiny_config(tmp_path, seed=3).draw_seed == 3 and tiny_config(tmp_path, seed=3, window_seed=5).draw_seed == 5


def test_velocity_loss_only_at_onsets():
    cfg = TrainConfig()
    batch = fake_batch()
    logits = {name: torch.zeros_like(batch[name]) for name in batch if name != "pedal_known"}
    base = losses(logits, batch, cfg)["velocity"]
    elsewhere = logits["velocity"].clone()
    elsewhere[batch["onset"] == 0] = 9.0
    assert torch.isclose(losses({**logits, "velocity": elsewhere}, batch, cfg)["velocity"], base)


def test_learning_rate_schedule():
    factors = [learning_rate_factor(s, 10, 100) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))     # decays after warm-up
    assert factors[-1] == pytest.approx(0.05, abs=0.01)


def test_time_budget_schedule_runs_over_seconds():
    """Warm-up by steps, then the same cosine as by steps, driven by the training seconds."""
    assert time_budget_factor(4, 10, 0.0, 100.0) == pytest.approx(learning_rate_factor(4, 10, 100))
    by_time = [time_budget_factor(20, 10, t, 100.0) for t in range(0, 101, 10)]
    assert all(a >= b for a, b in zip(by_time, by_time[1:]))
    assert by_time[5] == pytest.approx(0.05 + 0.95 * 0.5) and by_time[-1] == pytest.approx(0.05)
    assert time_budget_factor(20, 10, 250.0, 100.0) == pytest.approx(0.05)      # past the budget


def test_weights_round_trip_and_bad_checkpoints(tmp_path):
    net = FasolfaNet(ModelConfig(key_channels=6))
    path = save_weights(tmp_path / "w.pt", net, {"step": 3})
    loaded, metadata = load_weights(path)
    assert metadata == {"step": 3}
    for (name, a), b in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    (tmp_path / "junk.pt").write_bytes(os.urandom(300))
    (tmp_path / "text.pt").write_text("hello")
    for bad in ("junk.pt", "text.pt", "missing.pt"):
        with pytest.raises(FasolfaError) as error:
            load_weights(tmp_path / bad)
        assert bad in str(error.value) and "\n" not in str(error.value)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["note_head.weight"] = torch.zeros(1, 3, 1, 1)
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(FasolfaError, match="does not fit"):
        load_weights(tmp_path / "other.pt")


def test_overfits_one_window(tmp_path):
    """The network learns one window of the example phrase: onset F1 near 1 within a CI budget."""
    from fasolfa import data
    from fasolfa.augment import Augmentation
    from fasolfa.hcqt import HCQT
    from fasolfa.notes import posteriorgrams_to_notes
    torch.manual_seed(0)
    cache = data.RenderCache(tmp_path / "cache")
    dataset = data.WindowDataset.from_cache(cache, [config.EXAMPLES_DIR / "phrase.mid"], [small_soundfont()],
                                            n_windows=1, seed=3, progress=False,
                                            augmentation=Augmentation.none(),
                                            context_n_samples=config.CONTEXT_N_SAMPLES)
    window = dataset.window(0)
    batch = {k: v[None] for k, v in dataset[0].items()}
    assert batch["onset"].sum() >= 8, "the window holds several onsets"
    hcqt = HCQT()
    with torch.no_grad():
        features = hcqt.with_context(batch["audio"], config.CONTEXT_N_SAMPLES)
    net = FasolfaNet()
    cfg = TrainConfig()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        optimiser.zero_grad()
        parts = losses(net(features), batch, cfg)
        sum(parts.values()).backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        posteriors = {k: torch.sigmoid(v)[0].numpy() for k, v in net(features).items()}
    notes, _ = posteriorgrams_to_notes(posteriors)
    assert score_from_targets(window.targets, notes) > 0.9


def score_from_targets(targets, notes) -> float:
    """Onset F1 of ``notes`` (times from the window start) against the window's onset targets."""
    from fasolfa.evaluate import score
    from fasolfa.midi import Notes
    keys, frames = np.nonzero(targets.onset)
    onset_s = frames / config.FRAMES_PER_SECOND
    reference = Notes.from_arrays(onset_s, onset_s + 0.1, keys + config.MIDI_PITCH_MIN)
    inside = notes.onset_s < (targets.onset.shape[1] - 1) / config.FRAMES_PER_SECOND
    estimate = notes.select(inside)
    return score(reference, None, estimate)["onset"]["f1"]


def run_training(cfg: TrainConfig, tmp_path: Path, name: str) -> subprocess.Popen:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg.to_dict()))
    env = dict(os.environ, FASOLFA_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "fasolfa.train", str(path), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_resume_after_kill_is_exact(tmp_path):
    """A run killed with SIGKILL mid-way and resumed ends with the same weights, bit for bit,
    as a run never interrupted; its log has one row per step."""
    whole = tiny_config(tmp_path, run_dir=str(tmp_path / "whole"), steps=8, checkpoint_every_s=0.0, ema_decay=0.9)
    killed = tiny_config(tmp_path, run_dir=str(tmp_path / "killed"), steps=8, checkpoint_every_s=0.0, ema_decay=0.9)
    assert run_training(whole, tmp_path, "whole").wait(timeout=300) == 0
    process = run_training(killed, tmp_path, "killed")
    state_path = Path(killed.run_dir) / "state.pt"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if state_path.is_file() and torch.load(state_path, weights_only=False)["step"] >= 4:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = torch.load(state_path, weights_only=False)["step"]
    assert 4 <= killed_at < 8
    assert run_training(killed, tmp_path, "killed").wait(timeout=300) == 0
    a = torch.load(Path(whole.run_dir) / "state.pt", weights_only=False)
    b = torch.load(state_path, weights_only=False)
    assert a["step"] == b["step"] == 8
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    for name, value in a["average"].items():       # the weight average resumes exactly too
        assert torch.equal(value, b["average"][name]), name
    steps = [int(line.split(",")[0]) for line in (Path(killed.run_dir) / "log.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 9))
    assert (Path(killed.run_dir) / "best.pt").is_file() and (Path(killed.run_dir) / "curves.png").is_file()


def test_restrike_weight_weighs_only_onsets_of_a_sounding_key():
    """restrike_weight scales the onset loss of cells whose key sounds in the frame before, and
    of no other cell: with logits at 0 each cell costs log 2 times its weight."""
    onset = torch.zeros(1, 88, 10)
    note = torch.zeros(1, 88, 10)
    note[0, 40, 2:8] = 1.0
    onset[0, 40, 2] = 1.0                    # a fresh strike: the key was silent before
    onset[0, 40, 5] = 1.0                    # a re-strike: the key sounds at frame 4
    batch = {**fake_batch(batch=1, frames=10), "onset": onset, "note": note}
    logits = {name: torch.zeros_like(value) for name, value in batch.items() if name != "pedal_known"}
    plain = TrainConfig(label_smoothing=0.0, onset_positive_weight=20.0)
    heavier = replace(plain, restrike_weight=3.0)
    difference = losses(logits, batch, heavier)["onset"] - losses(logits, batch, plain)["onset"]
    expected = (3.0 - 1.0) * 20.0 * math.log(2.0) / onset.numel()        # one cell, 20 -> 60
    assert float(difference) == pytest.approx(expected, rel=1e-5)


def test_partial_cells_mark_a_struck_notes_partials_but_not_a_struck_key():
    """partial_cells: the keys 12, 19, 24, 28 and 31 above a strike, 2 frames either side, are
    marked; the struck key itself is not, nor an upper key struck itself near that time (a real
    octave), nor anything later than 2 frames."""
    from fasolfa.train import partial_cells
    onset = torch.zeros(1, 88, 20)
    onset[0, 10, 5] = 1.0                    # a low key struck at frame 5
    onset[0, 22, 6] = 1.0                    # its octave really struck, a frame later
    cells = partial_cells(onset)
    for key in (29, 38):                     # the low key's twelfth and 2 octaves + a third: frames 3..7
        assert cells[0, key].nonzero().flatten().tolist() == [3, 4, 5, 6, 7], key
    for key in (34, 41):                     # also the octave's own octave and twelfth: frames 3..8
        assert cells[0, key].nonzero().flatten().tolist() == [3, 4, 5, 6, 7, 8], key
    assert cells[0, 22].nonzero().flatten().tolist() == [3]      # the octave's own strike covers 4..8
    assert cells[0, 10].sum() == 0 and cells[0, 11].sum() == 0
    marked_keys = set(cells[0].sum(dim=1).nonzero().flatten().tolist())
    assert marked_keys == {22, 29, 34, 38, 41} | {22 + k for k in (12, 19, 24, 28, 31)}
    assert partial_cells(torch.zeros(2, 88, 7)).sum() == 0


def test_partial_weight_weighs_the_partial_cells_only():
    """With logits at 0 every onset cell costs log 2 times its weight: partial_weight adds
    (w - 1) log 2 for each marked cell and nothing elsewhere."""
    from fasolfa.train import partial_cells
    onset = torch.zeros(1, 88, 12)
    onset[0, 5, 4] = 1.0
    batch = {**fake_batch(batch=1, frames=12), "onset": onset}
    logits = {name: torch.zeros_like(value) for name, value in batch.items() if name != "pedal_known"}
    plain = TrainConfig(label_smoothing=0.0)
    heavier = replace(plain, partial_weight=4.0)
    difference = losses(logits, batch, heavier)["onset"] - losses(logits, batch, plain)["onset"]
    n_marked = float(partial_cells(onset).sum())
    assert n_marked == 5 * 5
    assert float(difference) == pytest.approx(3.0 * math.log(2.0) * n_marked / onset.numel(), rel=1e-5)


def test_update_average_is_an_exponential_moving_average():
    """update_average: a <- d a + (1 - d) w with d = min(decay, (1 + step) / (10 + step)) on every
    float tensor (batch-norm statistics too); integer buffers are copied; a constant model is a
    fixed point."""
    from fasolfa.train import update_average
    small = ModelConfig(contour_channels=4, key_channels=6, onset_channels=4, pedal_channels=4)
    torch.manual_seed(0)
    average, model = FasolfaNet(small), FasolfaNet(small)
    before = {k: v.clone() for k, v in average.state_dict().items()}
    for name, value in model.state_dict().items():
        if not value.is_floating_point():
            value.fill_(7)
    update_average(average, model, decay=0.99, step=1000)
    after, current = average.state_dict(), model.state_dict()
    floats = [k for k, v in before.items() if v.is_floating_point()]
    assert any("running_mean" in k for k in floats), "batch-norm statistics are averaged too"
    for name in floats:
        torch.testing.assert_close(after[name], 0.99 * before[name] + 0.01 * current[name])
    assert all(torch.equal(after[k], current[k]) for k in before if k not in floats)
    update_average(average, model, decay=0.99, step=0)           # early: d = 1 / 10, not 0.99
    torch.testing.assert_close(average.state_dict()[floats[0]], 0.1 * after[floats[0]] + 0.9 * current[floats[0]])
    fixed = {k: v.clone() for k, v in model.state_dict().items()}
    update_average(model, model, decay=0.5, step=10)
    assert all(torch.equal(fixed[k], v) for k, v in model.state_dict().items())


def test_ema_run_validates_and_saves_the_average(tmp_path):
    """With ema_decay, best.pt holds the weight average (not the trained weights) and state.pt
    keeps both; a run started without an average refuses to resume with one."""
    from fasolfa.train import train
    cfg = tiny_config(tmp_path, steps=3, validate_every=3, ema_decay=0.5)
    best_path = train(cfg, progress=False)
    state = torch.load(Path(cfg.run_dir) / "state.pt", weights_only=False)
    best, metadata = load_weights(best_path)
    assert metadata["step"] == 3
    saved = best.state_dict()
    assert all(torch.equal(saved[k], v.float()) for k, v in state["average"].items())
    assert any(not torch.equal(state["average"][k], v) for k, v in state["model"].items() if v.is_floating_point())
    plain = tiny_config(tmp_path, run_dir=str(tmp_path / "plain"), steps=3, validate_every=3)
    train(plain, progress=False)
    with pytest.raises(FasolfaError, match=r"other settings \(ema_decay\)"):
        train(replace(plain, steps=6, ema_decay=0.5), progress=False)


def test_changed_settings_refuse_to_resume(tmp_path):
    cfg = tiny_config(tmp_path, steps=3)
    assert run_training(cfg, tmp_path, "first").wait(timeout=300) == 0
    from fasolfa.train import train
    with pytest.raises(FasolfaError, match="other settings"):
        train(tiny_config(tmp_path, steps=3, learning_rate=0.5), progress=False)


def test_finalize_writes_thresholds_chosen_on_validation(tmp_path):
    """finalize: every grid pair is scored, the best selection is chosen and stored."""
    from fasolfa.train import ValidationItem, finalize, sweep_thresholds
    from fasolfa.midi import Notes, Pedal
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(config.SAMPLE_RATE)).astype(np.float32)
    notes = Notes.from_arrays([0.2, 0.5], [0.4, 0.8], [60, 64])
    items = [ValidationItem("noise", "rendered", audio, notes, Pedal.empty(), True)]
    net = FasolfaNet(ModelConfig(key_channels=6, contour_channels=4, onset_channels=4, pedal_channels=4))
    weights = save_weights(tmp_path / "w.pt", net, {"step": 1})
    rows = sweep_thresholds(net, items, onset_thresholds=(0.3, 0.6), frame_thresholds=(0.4,),
                            strong_onsets=(None, 0.5))
    assert [(r["onset"], r["frame"], r["strong_onset"]) for r in rows] == [(0.3, 0.4, None), (0.3, 0.4, 0.5),
                                                                           (0.6, 0.4, None)]
    best = finalize(weights, tmp_path / "final.pt", items, levels=(-30.0, (-26.0, -20.0)))
    _, metadata = load_weights(tmp_path / "final.pt")
    assert metadata["step"] == 1 and len(metadata["threshold_sweep"]) > 1
    levels = metadata["level_sweep"]                # the input level first: own levels and random gains
    assert [r["input_level_db"] for r in levels] == [[-30.0, -30.0], [-26.0, -20.0]]
    assert all(r["selection"] == pytest.approx((r["own_level"]["selection"] + r["regained"]["selection"]) / 2)
               for r in levels)
    assert metadata["input_level_db"] == best["input_level_db"] == max(levels, key=lambda r: r["selection"])["input_level_db"]
    assert set(metadata["validation_tuning_cents"]) == {"noise"}
    finalize(weights, tmp_path / "as_is.pt", items, levels=())
    assert "input_level_db" not in load_weights(tmp_path / "as_is.pt")[1]
    assert metadata["thresholds"]["onset"] == best["onset"]
    assert metadata["thresholds"]["strong_onset"] == best["strong_onset"]
    assert best["selection"] == max(r["selection"] for r in metadata["threshold_sweep"])
    assert metadata["frame_tolerance"] == metadata["tie_tolerance"] == 0.0
    offsets = metadata["offset_sweep"]              # None, then only thresholds above the frame's
    assert offsets[0]["offset"] is None and all(r["offset"] > best["frame"] for r in offsets[1:])
    assert metadata["thresholds"]["offset"] == best["offset"]
    assert best["offset_selection"] == max(r["offset_selection"] for r in offsets)
    pedal = metadata["pedal_sweep"]                 # the pedal's grid: down, up (never above down), shortest
    assert all(r["pedal_release"] is None or r["pedal_release"] <= r["pedal"] for r in pedal)
    assert len({(r["pedal"], r["pedal_release"], r["min_pedal_ms"]) for r in pedal}) == len(pedal) > 6
    assert {k: metadata["thresholds"][k] for k in ("pedal", "pedal_release", "min_pedal_ms")} == \
        {k: best[k] for k in ("pedal", "pedal_release", "min_pedal_ms")}


def test_choose_thresholds_reads_any_posteriorgrams_and_steps_over_false_peaks():
    """choose_thresholds, on posteriorgrams that are the reference itself plus held notes with onset
    peaks of 0.55 where no note is: every note is found and the onset threshold chosen lies above those
    peaks (any lower one makes false notes); the scores it returns are those of its knobs."""
    from fasolfa.midi import Notes, Pedal, notes_to_targets
    from fasolfa.notes import NoteThresholds
    notes = Notes.from_arrays([0.2, 0.5, 1.0, 1.4], [0.45, 0.9, 1.3, 1.9], [60, 64, 67, 48], [40, 60, 80, 100])
    pedal = Pedal.from_arrays([0.3], [1.2])
    n_frames = int(2.2 * config.FRAMES_PER_SECOND)
    targets = notes_to_targets(notes, pedal, n_frames)
    posterior = {name: getattr(targets, name).copy() for name in
                 ("onset", "note", "velocity", "contour", "pedal", "pedal_onset", "pedal_offset")}
    for key, frame in [(10, 50), (30, 120), (70, 160)]:            # false notes on silent keys, weak onsets
        posterior["onset"][key, frame] = 0.55
        posterior["note"][key, frame:frame + 10] = 0.9
    items = [train.ValidationItem("perfect", "rendered", np.zeros(1, np.float32), notes, pedal, True)]
    choice = train.choose_thresholds(items, [posterior])
    chosen = choice["thresholds"]
    assert isinstance(chosen, NoteThresholds) and chosen.onset > 0.55
    assert choice["best_offset"]["rendered/onset_f1"] == pytest.approx(1.0)
    again = train._validation_scores(items, [posterior], chosen, per_item=True)
    assert again["rendered/onset_f1"] == choice["best_offset"]["rendered/onset_f1"]
    assert again["per_item"]["perfect"]["frame"] == again["rendered/frame_f1"]   # one excerpt: its mean
    assert again["rendered/frame_f1"] == choice["best_offset"]["rendered/frame_f1"]
    low = train._validation_scores(items, [posterior], replace(chosen, onset=0.5, strong_onset=None))
    assert low["rendered/onset_f1"] < 1.0                            # the false notes appear at 0.5


def test_validation_pieces_that_share_a_file_name_keep_their_own_audio(tmp_path, monkeypatch):
    """ASAP names a prelude and its fugue alike (``Prelude/bwv_868/X.mid``, ``Fugue/bwv_868/X.mid``):
    each validation excerpt is rendered from, cached as and named after its own file, so neither
    is scored against the other's audio."""
    from fasolfa.corpus import unique_name
    from fasolfa.midi import Notes, Pedal, write_midi
    corpus = tmp_path / "corpus"
    rows = ["path,split,duration_s,composer,title"]
    for title, onset_s in (("Prelude", 0.2), ("Fugue", 1.2)):           # one note each, at different times
        write_midi(corpus / "Bach" / title / "X.mid", Notes.from_arrays([onset_s], [onset_s + 0.5], [69], [100]),
                   Pedal.empty())
        rows.append(f"Bach/{title}/X.mid,validation,2.0,Bach,{title}")
    (corpus / "split.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("FASOLFA_DATA", str(corpus))
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    assert unique_name(corpus / "Bach" / "Fugue" / "X.mid") == "Bach-Fugue-X"
    assert unique_name(tmp_path / "elsewhere" / "Y.mid") == "Y"              # outside the corpus: its stem
    cfg = tiny_config(tmp_path, data="corpus", validation_pieces=2, validation_seconds=2.0)
    for _ in range(2):                                                       # rendered, then from the cache
        items = train.build_validation(cfg, progress=False)
        assert sorted(item.name.split("/")[0] for item in items) == ["Bach-Fugue-X", "Bach-Prelude-X"]
        for item in items:
            loud_s = np.argmax(np.abs(item.audio)) / config.SAMPLE_RATE        # the note sounds where its own file has it
            assert item.notes.onset_s[0] <= loud_s < item.notes.onset_s[0] + 0.5
    assert len(list((tmp_path / "cache" / "validation").glob("*.npy"))) == 2


def test_init_weights_start_a_run_from_a_checkpoint(tmp_path):
    """init_weights: a new run starts from those weights (with learning rate 0 its parameters stay
    theirs); narrower weights of the same design are widened first; weights of another shape are
    refused in one line naming the file."""
    from fasolfa.train import train
    model_config = ModelConfig.from_dict(tiny_config(tmp_path).model)
    torch.manual_seed(5)
    start = FasolfaNet(model_config)
    path = save_weights(tmp_path / "start.pt", start, {})
    cfg = tiny_config(tmp_path, steps=1, validate_every=1, learning_rate=0.0, init_weights=str(path))
    train(cfg, progress=False)
    state = torch.load(Path(cfg.run_dir) / "state.pt", weights_only=False)
    for name, value in start.named_parameters():
        assert torch.equal(value.detach(), state["model"][name]), name
    narrower = FasolfaNet(replace(model_config, key_channels=4, onset_channels=3))
    path = save_weights(tmp_path / "narrower.pt", narrower, {})
    cfg = tiny_config(tmp_path, run_dir=str(tmp_path / "run3"), steps=1, validate_every=1, learning_rate=0.0,
                      init_weights=str(path))
    train(cfg, progress=False)                 # widened (fasolfa.model.widen), same function
    state = torch.load(Path(cfg.run_dir) / "state.pt", weights_only=False)
    grown = FasolfaNet(model_config)
    grown.load_state_dict(state["model"])
    hcqt = torch.randn(1, 8, 264, 30)
    with torch.no_grad():           # batch statistics: the step moved the running ones
        assert torch.allclose(grown.train()(hcqt)["onset"], narrower.train()(hcqt)["onset"], atol=1e-5)
    other = save_weights(tmp_path / "other.pt", FasolfaNet(ModelConfig(key_channels=5)), {})
    with pytest.raises(FasolfaError, match="another model shape") as error:
        train(tiny_config(tmp_path, run_dir=str(tmp_path / "run2"), steps=1, init_weights=str(other)),
              progress=False)
    assert "other.pt" in str(error.value) and "\n" not in str(error.value)


def test_validation_keeps_the_best_threshold_pair_of_its_grid():
    """validate() without thresholds scores every pair of VALIDATION_GRID and keeps the best
    selection (and says which pair); with thresholds it scores that pair only."""
    from fasolfa.hcqt import HCQT
    from fasolfa.midi import Notes, Pedal
    from fasolfa.notes import NoteThresholds
    from fasolfa.train import VALIDATION_GRID, ValidationItem, validate
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    audio = (0.05 * rng.standard_normal(2 * config.SAMPLE_RATE)).astype(np.float32)
    notes = Notes.from_arrays([0.2, 0.5, 1.1], [0.4, 0.9, 1.5], [60, 64, 67])
    items = [ValidationItem("noise", "rendered", audio, notes, Pedal.empty(), False)]
    net = FasolfaNet(ModelConfig(key_channels=6, contour_channels=4, onset_channels=4, pedal_channels=4))
    with torch.no_grad():
        net.onset_head.bias.fill_(0.5)         # probabilities near 0.6: the pairs disagree
        net.note_head.bias.fill_(0.2)
    hcqt = HCQT()
    each = [validate(net, hcqt, items, "cpu", NoteThresholds(onset=o, frame=f)) for o, f in VALIDATION_GRID]
    best = validate(net, hcqt, items, "cpu")
    assert len({row["selection"] for row in each}) > 1          # the pairs do disagree here
    assert best["selection"] == max(row["selection"] for row in each)
    assert (best["onset_threshold"], best["frame_threshold"]) in VALIDATION_GRID
    assert each[0]["onset_threshold"] == VALIDATION_GRID[0][0]


def test_training_data_mixes_in_transposed_renditions(tmp_path, monkeypatch):
    """``transpose_semitones``: a ``transposed_share`` of the rendered windows comes from one
    transposed rendition of each piece (all of them at share 1: their onsets are the piece's
    moved by the drawn shift); 0 turns it off."""
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    from fasolfa.train import MixedWindows, build_training_data
    from fasolfa.data import WindowDataset, read_notes
    plain = build_training_data(tiny_config(tmp_path, transpose_semitones=0), progress=False)
    assert isinstance(plain, WindowDataset)
    mixed = build_training_data(tiny_config(tmp_path, transpose_semitones=5, transposed_share=1.0), progress=False)
    assert isinstance(mixed, MixedWindows) and mixed.epoch == plain.epoch
    piece = mixed.second.pieces[0]
    shift = int(piece.name[len("phrase"):])
    assert 1 <= abs(shift) <= 5
    original, transposed = (read_notes(p.notes_path)[0] for p in (plain.pieces[0], piece))
    assert transposed.pitch.tolist() == original.transposed(shift).pitch.tolist()
    for i in range(4):
        item, expected = mixed[i], mixed.second[i]
        assert torch.equal(item["onset"], expected["onset"]) and torch.equal(item["audio"], expected["audio"])
    mixed.set_epoch(3)
    assert mixed.second.epoch == 3 and mixed.epoch == 3


def test_training_data_mixes_in_lowered_renditions(tmp_path, monkeypatch):
    """``lowered_semitones``: at ``lowered_share`` 1 every rendered window comes from the piece
    played lower by a drawn shift in the range; the setting survives a config.json round trip."""
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    from fasolfa.train import MixedWindows, TrainConfig, build_training_data
    from fasolfa.data import read_notes
    cfg = tiny_config(tmp_path, transpose_semitones=0, lowered_semitones=(2, 4), lowered_share=1.0)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).lowered_semitones == (2, 4)
    mixed = build_training_data(cfg, progress=False)
    plain = build_training_data(tiny_config(tmp_path, transpose_semitones=0), progress=False)
    assert isinstance(mixed, MixedWindows)
    piece = mixed.second.pieces[0]
    shift = int(piece.name[len("phrase"):])
    assert -4 <= shift <= -2
    original, lowered = (read_notes(p.notes_path)[0] for p in (plain.pieces[0], piece))
    assert lowered.pitch.tolist() == original.transposed(shift).pitch.tolist()
    for i in range(4):
        assert torch.equal(mixed[i]["onset"], mixed.second[i]["onset"])


def test_train_only_moves_those_parameters_and_no_normalisation_statistics(tmp_path):
    """train_only: the named parameters learn; every other parameter and every frozen batch
    norm's running statistics end bit for bit where they started, so the frozen part computes
    in training what it computes at inference. A prefix that names nothing is refused."""
    from fasolfa.train import train
    model_config = replace(ModelConfig.from_dict(tiny_config(tmp_path).model), velocity_frames=3,
                           velocity_level_frames=(-1, 2))
    torch.manual_seed(3)
    start = FasolfaNet(model_config)
    path = save_weights(tmp_path / "start.pt", start, {})
    cfg = tiny_config(tmp_path, steps=3, validate_every=3, learning_rate=0.05, init_weights=str(path),
                      model=model_config.to_dict(), train_only=("velocity_",),
                      selection_metric="onset_offset_velocity")
    train(cfg, progress=False)
    state = torch.load(Path(cfg.run_dir) / "state.pt", weights_only=False)["model"]
    moved = {name for name, value in start.state_dict().items() if not torch.equal(value, state[name])}
    assert moved and all(name.startswith("velocity_") for name in moved), moved
    with pytest.raises(FasolfaError, match="no parameter"):
        train(replace(cfg, run_dir=str(tmp_path / "other"), train_only=("nothing_",)), progress=False)
    with pytest.raises(FasolfaError, match="selection_metric"):     # refused before the first step
        train(replace(cfg, run_dir=str(tmp_path / "third"), selection_metric="pitch"), progress=False)
    assert not (tmp_path / "third" / "state.pt").exists()


def test_selection_metric_chooses_what_validation_ranks_by():
    from fasolfa.midi import Notes, Pedal
    from fasolfa.notes import NoteThresholds
    from fasolfa.train import ValidationItem, _validation_scores
    notes = Notes.from_arrays([0.2, 0.6], [0.4, 0.9], [60, 64], [30, 100])
    item = ValidationItem("two", "rendered", np.zeros(10, np.float32), notes, Pedal.empty(), False)
    frames = int(config.FRAMES_PER_SECOND)
    post = {name: np.zeros((88, frames), np.float32) for name in ("onset", "note", "velocity")}
    post["pedal"] = np.zeros(frames, np.float32)
    for onset_s, offset_s, key in ((0.2, 0.4, 39), (0.6, 0.9, 43)):
        a, b = round(onset_s * config.FRAMES_PER_SECOND), round(offset_s * config.FRAMES_PER_SECOND)
        post["onset"][key, a] = 1.0
        post["note"][key, a:b] = 1.0
        post["velocity"][key, a] = 0.5                  # both at one velocity: the soft one is off
    thresholds = NoteThresholds(onset=0.5, frame=0.5)
    onset = _validation_scores([item], [post], thresholds)
    velocity = _validation_scores([item], [post], thresholds, "onset_offset_velocity")
    assert onset["selection"] == onset["rendered/onset_f1"] == 1.0
    assert velocity["selection"] == velocity["rendered/onset_offset_velocity_f1"] < 1.0
    with pytest.raises(FasolfaError, match="selection_metric"):
        _validation_scores([item], [post], thresholds, "pitch")


def test_a_run_saved_before_newer_settings_resumes(tmp_path):
    """A run folder written before a setting or a model size existed resumes when the new
    one is at its default (an update must not strand a long `make train`)."""
    from fasolfa.train import train
    cfg = tiny_config(tmp_path, steps=3, validate_every=3)
    train(cfg, progress=False)
    saved_path = Path(cfg.run_dir) / "config.json"
    saved = json.loads(saved_path.read_text())
    for name in ("train_only", "selection_metric"):
        del saved[name]
    for name in ("velocity_frames", "velocity_level_frames"):
        del saved["model"][name]
    saved_path.write_text(json.dumps(saved))
    train(replace(cfg, steps=6), progress=False)
    assert torch.load(Path(cfg.run_dir) / "state.pt", weights_only=False)["step"] == 6
    with pytest.raises(FasolfaError, match="other settings"):
        changed = ModelConfig.from_dict(cfg.model)
        train(replace(cfg, steps=9, model=replace(changed, velocity_frames=3).to_dict()), progress=False)


def test_run_dir_under_the_cache_mark_is_the_cache_folder(monkeypatch, tmp_path):
    """Stored configs write the cache folder as ``<cache>`` (no machine paths); reading one back
    puts the run under ``$FASOLFA_CACHE``, never in a folder literally named ``<cache>``."""
    monkeypatch.setenv("FASOLFA_CACHE", str(tmp_path / "cache"))
    assert train.resolve_run_dir("<cache>/runs/x") == tmp_path / "cache" / "runs" / "x"
    assert train.resolve_run_dir("<cache>") == tmp_path / "cache"
    assert train.resolve_run_dir(tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert train.resolve_run_dir("<cached>/x") == Path("<cached>/x")      # only the whole mark
    shown = train._shown(tmp_path / "cache" / "runs" / "y")
    assert shown == "<cache>/runs/y" and train.resolve_run_dir(shown) == tmp_path / "cache" / "runs" / "y"


def test_frame_threshold_is_chosen_by_frames_among_selections_alike():
    """Onset and strong-onset thresholds follow the selection; the frame threshold, which
    hardly moves onsets, follows frame F1 among the rows whose selection is within the
    tolerance of the best, and never costs more selection than that."""
    def row(onset, frame, selection, rendered_frame, maps_frame, strong=0.8):
        return {"onset": onset, "frame": frame, "strong_onset": strong, "selection": selection,
                "rendered/frame_f1": rendered_frame, "maps/frame_f1": maps_frame, "rendered/pedal_frame_f1": 1.0}
    rows = [row(0.7, 0.4, 0.9272, 0.912, 0.658), row(0.7, 0.5, 0.9270, 0.916, 0.657),
            row(0.7, 0.6, 0.9269, 0.912, 0.654), row(0.7, 0.3, 0.9200, 0.990, 0.700),   # best frames, far worse onsets
            row(0.6, 0.5, 0.9271, 0.999, 0.999), row(0.7, 0.5, 0.9271, 0.999, 0.999, strong=0.9)]   # other onset knobs
    chosen = train.choose_note_thresholds(rows, tolerance=0.001)
    assert (chosen["onset"], chosen["frame"], chosen["strong_onset"]) == (0.7, 0.5, 0.8)
    assert train.choose_note_thresholds(rows, tolerance=0.0)["frame"] == 0.4        # no tolerance: the selection alone
    assert train.choose_note_thresholds(rows, tolerance=0.01)["frame"] == 0.3       # a wide one lets frames decide


def test_level_and_offset_near_ties_go_to_what_each_knob_moves():
    """With a tolerance, the input level goes by +velocity F1 and the offset threshold by frame
    F1 among the choices whose own selection is within it of the best; without, the selection
    alone decides (the first of exact ties: offset None)."""
    def level(band, selection, velocity):
        reading = {"rendered/onset_offset_velocity_f1": velocity, "maps/onset_offset_velocity_f1": velocity,
                   "rendered/onset_f1": 0.0}
        return {"input_level_db": band, "selection": selection, "own_level": reading, "regained": reading}
    levels = [level([-28, -22], 0.9197, 0.60), level([-25, -25], 0.9192, 0.64), level([-21, -21], 0.9150, 0.90)]
    assert train.choose_input_level(levels, 0.0)["input_level_db"] == [-28, -22]
    assert train.choose_input_level(levels, 0.001)["input_level_db"] == [-25, -25]
    assert train.choose_input_level(levels, 0.01)["input_level_db"] == [-21, -21]

    def offset(value, selection, rendered_frame, maps_frame):
        return {"offset": value, "offset_selection": selection, "rendered/frame_f1": rendered_frame,
                "maps/frame_f1": maps_frame}
    offsets = [offset(None, 0.8300, 0.91, 0.65), offset(0.6, 0.8303, 0.905, 0.65), offset(0.7, 0.8306, 0.90, 0.65),
               offset(0.8, 0.8200, 0.99, 0.99)]
    assert train.choose_offset_threshold(offsets, 0.0)["offset"] == 0.7
    assert train.choose_offset_threshold(offsets, 0.001)["offset"] is None        # mean frames 0.78 > 0.7775 > 0.775
    assert train.choose_offset_threshold(offsets, 0.0005)["offset"] == 0.6       # None is beyond the tolerance
    assert train.choose_offset_threshold([offset(None, 0.8, 0.9, 0.6), offset(0.6, 0.8, 0.95, 0.6)], 0.0)["offset"] is None


def test_finalize_with_a_tie_tolerance_stores_it_and_stays_within_it(tmp_path):
    """--tie-tolerance: recorded in the metadata; every choice it makes is within it of the best."""
    from fasolfa.train import ValidationItem, finalize
    from fasolfa.midi import Notes, Pedal
    rng = np.random.default_rng(1)
    audio = (0.05 * rng.standard_normal(config.SAMPLE_RATE)).astype(np.float32)
    items = [ValidationItem("noise", "rendered", audio, Notes.from_arrays([0.2, 0.5], [0.4, 0.8], [60, 64]),
                            Pedal.empty(), True)]
    net = FasolfaNet(ModelConfig(key_channels=6, contour_channels=4, onset_channels=4, pedal_channels=4))
    weights = save_weights(tmp_path / "w.pt", net, {"step": 1})
    best = finalize(weights, tmp_path / "final.pt", items, levels=(-30.0, -20.0), tie_tolerance=0.05)
    _, metadata = load_weights(tmp_path / "final.pt")
    assert metadata["tie_tolerance"] == 0.05 and metadata["frame_tolerance"] == 0.0
    level = next(r for r in metadata["level_sweep"] if r["input_level_db"] == metadata["input_level_db"])
    assert level["selection"] >= max(r["selection"] for r in metadata["level_sweep"]) - 0.05
    assert best["offset_selection"] >= max(r["offset_selection"] for r in metadata["offset_sweep"]) - 0.05
    assert best["selection"] >= max(r["selection"] for r in metadata["threshold_sweep"]) - 0.05
    _, stored, read, thresholds = train.as_finalized(tmp_path / "final.pt", items)   # read back as finalize read it
    assert stored["thresholds"] == metadata["thresholds"] and thresholds.frame == metadata["thresholds"]["frame"]
    assert np.array_equal(read[0].audio, train.leveled(items, metadata["input_level_db"])[0].audio)
    assert not np.array_equal(read[0].audio, items[0].audio)
    with pytest.raises(FasolfaError, match="not finalized"):
        train.as_finalized(weights, items)


def test_a_snapshot_is_read_at_another_checkpoints_thresholds_and_level(tmp_path):
    """as_finalized(..., thresholds_from=F): a training snapshot (no thresholds) or another finalized
    network is read at F's thresholds and level, its own weights unchanged; F unfinalized is refused."""
    from fasolfa.midi import Notes, Pedal
    from fasolfa.train import ValidationItem
    audio = (0.05 * np.random.default_rng(2).standard_normal(config.SAMPLE_RATE)).astype(np.float32)
    items = [ValidationItem("noise", "rendered", audio, Notes.from_arrays([0.2], [0.4], [60]), Pedal.empty(), True)]
    small = ModelConfig(key_channels=6, contour_channels=4, onset_channels=4, pedal_channels=4)
    snapshot = save_weights(tmp_path / "snapshot.pt", FasolfaNet(small), {"step": 7})
    chosen = {"onset": 0.4, "frame": 0.2, "offset": 0.6}
    source = save_weights(tmp_path / "final.pt", FasolfaNet(small), {"thresholds": chosen, "input_level_db": [-30.0, -30.0]})
    model, metadata, read, thresholds = train.as_finalized(snapshot, items, thresholds_from=source)
    assert (thresholds.onset, thresholds.frame, thresholds.offset) == (0.4, 0.2, 0.6)
    assert metadata["step"] == 7 and metadata["input_level_db"] == [-30.0, -30.0]
    assert np.array_equal(read[0].audio, train.leveled(items, [-30.0, -30.0])[0].audio)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), load_weights(snapshot)[0].state_dict().values()))
    levelless = save_weights(tmp_path / "levelless.pt", FasolfaNet(small), {"thresholds": chosen})
    _, metadata, read, _ = train.as_finalized(source, items, thresholds_from=levelless)   # F stores no level: none
    assert "input_level_db" not in metadata and np.array_equal(read[0].audio, audio)
    with pytest.raises(FasolfaError, match="snapshot.pt: not finalized"):
        train.as_finalized(source, items, thresholds_from=snapshot)


@pytest.mark.parametrize("flag", ["--frame-tolerance", "--tie-tolerance"])
def test_finalize_refuses_a_negative_tolerance_in_one_line(tmp_path, capsys, flag):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(TrainConfig(run_dir=str(tmp_path / "run")).to_dict()))
    assert train.main([str(cfg), "--finalize", "w.pt", str(tmp_path / "out.pt"), flag, "-0.1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fasolfa train: error: {flag} -0.1: must be 0 or more"]
    assert not (tmp_path / "out.pt").exists()


def test_the_ship_rule_judges_against_the_shipped_checkpoints_own_scores():
    """tests/bench/ship_verdict.py: the stored row is the shipped file's (a new checkpoint without
    new scores fails here); the same scores do not ship, one metric ahead does, one behind does not."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    import model_card
    import ship_verdict
    start, allowed = ship_verdict.shipped_row(), ship_verdict.allowances()
    assert all(allowed[key] >= model_card.VALIDATION_NOISE for key in allowed)
    assert model_card.ship_verdict(start, dict(start), allowed) == (False, [])
    ahead = {**start, "rendered/onset_f1": start["rendered/onset_f1"] + 0.004}
    assert model_card.ship_verdict(start, ahead, allowed) == (True, [])
    behind = {**ahead, "maps/frame_f1": start["maps/frame_f1"] - allowed["maps/frame_f1"] - 0.001}
    assert model_card.ship_verdict(start, behind, allowed) == (False, ["maps/frame_f1"])


def test_the_reading_rule_asks_a_gain_that_holds_over_pieces_and_no_loss_beyond_the_allowances():
    """ship_verdict.py --reading (rule S39-4): paired per-excerpt differences become one row per
    finalized metric; the same scores do not ship, a gain on every piece does, a gain carried by one
    piece does not count, and a mean loss beyond a metric's allowance vetoes even inside noise."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    import model_card
    import ship_verdict
    metrics = ("onset", "onset_offset", "onset_offset_velocity", "frame", "pedal")
    shipped = {f"p{i}/{font}": {m: 0.8 for m in metrics} for i in range(12) for font in "AB"}
    shipped.update({f"MAPS_MUS-r{i}": {m: 0.6 for m in metrics[:4]} for i in range(6)})
    allowed = {key: model_card.VALIDATION_NOISE for key in model_card.FINALIZED_COLUMNS}

    def judged(change):
        candidate = {name: {m: v + change(name, m) for m, v in row.items()} for name, row in shipped.items()}
        return model_card.reading_verdict(ship_verdict.reading_rows(shipped, candidate, draws=2000), allowed)

    rows = ship_verdict.reading_rows(shipped, shipped, draws=200)
    assert set(rows) == set(model_card.FINALIZED_COLUMNS) - {"selection"}
    assert rows["rendered/onset_f1"]["excerpts"] == 24 and rows["maps/frame_f1"]["pieces"] == 6
    assert judged(lambda name, m: 0.0) == (False, [])
    gain = lambda name, m: 0.01 if m == "onset" and "/" in name else 0.0          # noqa: E731
    assert judged(gain) == (True, [])
    one_piece = lambda name, m: 0.24 if m == "onset" and name.startswith("p0/") else 0.0  # noqa: E731
    assert judged(one_piece)[0] is False                       # mean +0.02, but the interval holds 0
    loss = lambda name, m: gain(name, m) - (0.02 if m == "frame" and name == "MAPS_MUS-r0" else 0.0)  # noqa: E731
    assert judged(loss) == (False, ["maps/frame_f1"])          # mean -0.0033 on MAPS frames
    with pytest.raises(SystemExit, match="other excerpts"):
        ship_verdict.reading_rows(shipped, {**shipped, "extra/A": {"onset": 1.0}})


def test_readings_average_every_head_frame_by_frame_and_parse_their_tuning():
    """tests/bench/readings.py: a reading is ``PATH@CENTS`` (0 cents when left out), and several
    readings' posteriorgrams are averaged head by head, excerpt by excerpt; readings of different
    excerpt counts are refused."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    import readings
    assert readings.parse_reading("fasolfa/checkpoints/fasolfa.pt@-8") == ("fasolfa/checkpoints/fasolfa.pt", -8.0)
    assert readings.parse_reading("w.pt") == ("w.pt", 0.0)
    with pytest.raises(SystemExit, match="CHECKPOINT@CENTS"):
        readings.parse_reading("w.pt@sharp")
    rng = np.random.default_rng(0)
    one = [{"onset": rng.random((88, 5)), "pedal": rng.random(5)} for _ in range(2)]
    two = [{"onset": rng.random((88, 5)), "pedal": rng.random(5)} for _ in range(2)]
    mean = readings.mean_posteriorgrams([one, two])
    for i in range(2):
        for name in ("onset", "pedal"):
            np.testing.assert_allclose(mean[i][name], (one[i][name] + two[i][name]) / 2)
    with pytest.raises(ValueError, match="different numbers of excerpts"):
        readings.mean_posteriorgrams([one, two[:1]])


def test_a_reports_chosen_knobs_and_scores_are_read_by_name_with_one_line_errors(tmp_path):
    """readings.py --knobs-from REPORT:VARIANT reads the knobs an earlier run chose for that variant;
    piece_bootstrap.py --b-report reads a variant's per-excerpt scores from a second report. A
    missing file, variant or choice is one line naming the file."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    import piece_bootstrap
    import readings
    knobs = {"onset": 0.7, "frame": 0.6, "pedal": 0.3}
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"variants": {"chosen": {"thresholds": knobs,
                                                          "at_thresholds_from_per_excerpt": {"p/A": {"onset": 0.9}}},
                                               "unchosen": {"at_thresholds_from_per_excerpt": {}}}}))
    assert readings.knobs_from(f"{report}:chosen") == knobs
    with pytest.raises(SystemExit, match="no knobs chosen for variant 'unchosen'"):
        readings.knobs_from(f"{report}:unchosen")
    with pytest.raises(SystemExit, match="REPORT.json:VARIANT"):
        readings.knobs_from(f"{tmp_path / 'none.json'}:chosen")
    assert readings.parse_knobs(["partial_onset=0.85", "offset=none"]) == {"partial_onset": 0.85, "offset": None}
    with pytest.raises(SystemExit, match="NAME=VALUE with NAME one of"):
        readings.parse_knobs(["loudness=3"])
    with pytest.raises(SystemExit, match="neither a number nor none"):
        readings.parse_knobs(["onset=high"])
    assert piece_bootstrap.per_excerpt(report, "chosen") == {"p/A": {"onset": 0.9}}
    with pytest.raises(SystemExit, match=r"r.json: no variant other \(variants: chosen, unchosen\)"):
        piece_bootstrap.per_excerpt(report, "other")


def test_an_excerpt_from_a_later_start_keeps_the_notes_struck_then():
    """train.excerpt(..., start_s): the notes and presses begun in [start_s, start_s + seconds), their
    times counted from start_s and cut at the end; a note still sounding from before is left out."""
    from fasolfa.midi import Notes, Pedal
    notes = Notes.from_arrays([1.0, 31.0, 40.0, 62.0], [33.0, 32.0, 70.0, 63.0], [60, 62, 64, 65])
    pedal = Pedal.from_arrays([29.0, 35.0], [36.0, 80.0])
    cut, cut_pedal = train.excerpt(notes, pedal, 30.0, start_s=30.0)
    np.testing.assert_allclose(cut.onset_s, [1.0, 10.0])
    np.testing.assert_allclose(cut.offset_s, [2.0, 30.0])
    assert list(cut.pitch) == [62, 64]
    np.testing.assert_allclose(cut_pedal.onset_s, [5.0])
    np.testing.assert_allclose(cut_pedal.offset_s, [30.0])
    first, _ = train.excerpt(notes, pedal, 30.0)                          # from 0: the first 30 s as before
    np.testing.assert_allclose(first.offset_s, [30.0])
