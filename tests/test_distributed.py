"""Tests for fasolfa.distributed: training under ``torchrun`` (2 CPU processes, gloo) computes
the steps of one process, and transcription split over worker processes or ranks writes the
MIDI files of one job, byte for byte."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile
import torch

from fasolfa import config
from fasolfa.cli import main
from fasolfa.distributed import shard, world_from_env
from fasolfa.errors import FasolfaError
from fasolfa.model import FasolfaNet, ModelConfig
from fasolfa.train import ShareSampler, TrainConfig, losses, save_weights

from test_train import fake_batch, tiny_config


# --- pieces --------------------------------------------------------------------------------

def test_shares_of_every_step_make_up_the_one_process_batches():
    one = list(ShareSampler(2, 5, 6))
    assert one == list(range(12, 30))
    shares = [list(ShareSampler(2, 5, 6, rank, 3)) for rank in range(3)]
    assert all(len(s) == 6 for s in shares)
    for step in range(3):                     # step by step, the union is the one-process batch
        assert sorted(sum((s[2 * step:2 * step + 2] for s in shares), [])) == one[6 * step:6 * step + 6]
    with pytest.raises(FasolfaError, match="not divisible"):
        ShareSampler(0, 1, 5, 0, 2)


def test_file_shards_hold_each_file_once_whatever_the_order():
    names = [f"f{i:02d}.wav" for i in range(7)]
    shares = [shard(names[::-1], rank, 3) for rank in range(3)]
    assert sorted(sum(shares, [])) == names and shares[0] == ["f00.wav", "f03.wav", "f06.wav"]


def test_world_from_env(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert world_from_env()[:2] == (1, 2)
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(FasolfaError, match="RANK"):
        world_from_env()


class Totals:
    """Two ranks seen from one process: ``total`` returns the sums over both ranks, in the
    order :func:`losses` asks for them (onset cells, then pedal-labelled frames)."""

    world_size = 2

    def __init__(self, *totals):
        self.totals = iter(totals)

    def total(self, value):
        return next(self.totals)


def test_masked_losses_average_over_ranks_to_the_global_batch():
    """The velocity loss (onset cells) and the pedal losses (pedal-labelled windows) of two
    half-batches, averaged as DDP averages gradients, equal the losses of the whole batch,
    although the halves hold different numbers of masked cells (a plain masked mean per rank
    would not)."""
    cfg = TrainConfig()
    batch = fake_batch(batch=4, seed=1)
    batch["pedal_known"] = torch.tensor([1.0, 0.0, 1.0, 1.0])
    batch["onset"][2:, :, ::2] = 0.0                         # the second half: fewer onsets
    logits = {name: torch.randn_like(batch[name]) for name in batch if name != "pedal_known"}
    logits["velocity"][:2] += 3.0                             # and other velocity errors
    logits["pedal"][:2] += 3.0
    whole = losses(logits, batch, cfg)
    halves = [({k: v[i:i + 2] for k, v in logits.items()}, {k: v[i:i + 2] for k, v in batch.items()})
              for i in (0, 2)]
    onsets = [(b["onset"] > 0.5).sum().float() for _, b in halves]
    known = [b["pedal_known"].sum() * b["pedal"].shape[-1] for _, b in halves]
    assert onsets[0] != onsets[1] and known[0] != known[1]
    parts = [losses(l, b, cfg, Totals(sum(onsets), sum(known))) for l, b in halves]
    plain = [losses(l, b, cfg) for l, b in halves]           # each rank's own masked mean
    for name, value in whole.items():
        assert torch.isclose((parts[0][name] + parts[1][name]) / 2, value, rtol=1e-5), name
    assert not torch.isclose((plain[0]["velocity"] + plain[1]["velocity"]) / 2, whole["velocity"], rtol=1e-3)
    assert not torch.isclose((plain[0]["pedal"] + plain[1]["pedal"]) / 2, whole["pedal"], rtol=1e-3)


# --- training: torchrun with 2 processes = one process ------------------------------------

def run(cfg: TrainConfig, tmp_path: Path, name: str, processes: int = 1) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg.to_dict()))
    env = dict(os.environ, FASOLFA_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    for variable in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(variable, None)
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                 "--standalone", "-m"] if processes > 1 else [sys.executable, "-m"])
    done = subprocess.run([*launcher, "fasolfa.train", str(path), "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def final_state(cfg: TrainConfig) -> dict:
    return torch.load(Path(cfg.run_dir) / "state.pt", weights_only=False)["model"]


def relative_difference(a: dict, b: dict, names) -> float:
    """max over ``names`` of max|a - b| / max|a|."""
    return max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp(min=1e-12)) for k in names)


def train_mode_outputs(cfg: TrainConfig, state: dict) -> dict:
    """The network's logits on one fixed input, in training mode (batch statistics)."""
    network = FasolfaNet(ModelConfig.from_dict(cfg.model))
    network.load_state_dict(state)
    features = torch.randn(2, 8, config.N_CONTOUR_BINS, 60, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return network.train()(features)


def test_torchrun_two_processes_train_as_one(tmp_path):
    """3 steps of a global batch of 4 windows: 2 gloo processes of 2 windows each end with the
    kernels and normalisation scales of one process of 4, and the same function (relative
    5e-3: float rounding differs between a batch of 4 and two of 2, and Adam's first steps
    magnify it on weights whose gradients are near 0 — measured 1.4e-3); rank 0's share alone
    (2 windows, one process: what a wrong sharding or per-rank batch norm computes) differs by
    far more (measured 0.3).

    Not compared: biases and running means. A convolution's bias before a batch norm gets a
    zero gradient (the norm removes it), so float rounding alone sets the sign of its first
    Adam step (about ``lr``), in one process as in two; the function does not depend on it."""
    common = dict(steps=3, validate_every=3, warmup_steps=1, validation_seconds=2.0, learning_rate=1e-2)
    one = tiny_config(tmp_path, run_dir=str(tmp_path / "one"), batch_size=4, **common)
    two = tiny_config(tmp_path, run_dir=str(tmp_path / "two"), batch_size=4, **common)
    half = tiny_config(tmp_path, run_dir=str(tmp_path / "half"), batch_size=2, **common)
    run(one, tmp_path, "one")
    assert "x 2 processes" in run(two, tmp_path, "two", processes=2).stdout
    run(half, tmp_path, "half")
    states = {name: final_state(cfg) for name, cfg in (("one", one), ("two", two), ("half", half))}
    assert states["two"].keys() == states["one"].keys()        # the shipped format: same state dict
    kernels = [name for name in states["one"] if name.endswith("weight")]
    outputs = {name: train_mode_outputs(one, state) for name, state in states.items()}
    for measure in (lambda name: relative_difference(states["one"], states[name], kernels),
                    lambda name: relative_difference(outputs["one"], outputs[name], outputs["one"])):
        agreement, control = measure("two"), measure("half")
        assert agreement < 5e-3, agreement
        assert control > 5e-2, control
    rows = [line.split(",") for line in (Path(two.run_dir) / "log.csv").read_text().splitlines()]
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3]          # one log, written by rank 0 alone
    assert (Path(two.run_dir) / "best.pt").is_file()


def test_batch_not_divisible_by_the_processes_is_one_line(tmp_path):
    cfg = tiny_config(tmp_path, batch_size=3)
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(cfg.to_dict()))
    env = dict(os.environ, FASOLFA_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "fasolfa.train", str(path), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "batch_size 3 is not divisible by the 2 processes" in done.stderr


# --- transcription: --jobs and ranks = one job ---------------------------------------------

from test_transcribe import between, checkpoint  # noqa: E402,F401  (a small random checkpoint)


def tones(seconds: float, pitches, seed: int) -> np.ndarray:
    """Decaying piano-like tones (5 partials) at random times, and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * config.SAMPLE_RATE)) / config.SAMPLE_RATE
    audio = 0.01 * rng.standard_normal(t.size)
    for pitch in pitches:
        start = rng.uniform(0, seconds / 2)
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        envelope = np.where(t >= start, np.exp(-3 * (t - start)), 0.0)
        audio += sum(0.2 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)) * envelope
    return (audio / np.abs(audio).max() * 0.8).astype(np.float32)


def test_jobs_and_ranks_write_the_midi_of_one_job(tmp_path, checkpoint, capsys, monkeypatch):
    """A folder of 3 recordings and a broken file: ``--jobs 2`` and two ranks (RANK=0/1 of
    WORLD_SIZE=2, run one after the other) write byte for byte the MIDI files of ``--jobs 1``,
    report the broken file and exit 1; ``--jobs 2`` prints the same lines in the same order."""
    import fasolfa
    folder = tmp_path / "archive"
    folder.mkdir()
    for i, pitches in enumerate([(60, 64, 67), (48, 55, 72, 76), (40, 62, 69)]):
        soundfile.write(folder / f"take{i}.wav", tones(2.0, pitches, seed=i), config.SAMPLE_RATE)
    (folder / "broken.wav").write_text("not audio")
    post = fasolfa.transcribe(folder / "take0.wav", checkpoint=checkpoint).posteriorgrams
    thresholds = ["--onset-threshold", f"{between(post['onset'], 0.99):.6f}",
                  "--frame-threshold", f"{between(post['note'], 0.8):.6f}"]
    common = ["--checkpoint", str(checkpoint), *thresholds]
    for variable in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(variable, raising=False)
    printed = {}
    for name, jobs in (("one", "1"), ("jobs", "2")):
        assert main(["transcribe", str(folder), "-o", str(tmp_path / name), "--jobs", jobs, *common]) == 1
        printed[name] = capsys.readouterr()
    same_folder = printed["jobs"].out.replace(str(tmp_path / "jobs"), str(tmp_path / "one"))
    assert printed["one"].out == same_folder and printed["one"].out.count(".mid") == 3
    assert "broken.wav" in printed["jobs"].err and "1 of 4 files failed" in printed["jobs"].err
    codes = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        codes.append(main(["transcribe", str(folder), "-o", str(tmp_path / "ranks"), *common]))
        printed[rank] = capsys.readouterr()
    assert sorted(codes) == [0, 1]            # broken.wav fell to one rank: it alone fails
    assert printed[0].out.count(".mid") + printed[1].out.count(".mid") == 3
    expected = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert expected == ["take0.mid", "take1.mid", "take2.mid"]
    for name in expected:
        reference = (tmp_path / "one" / name).read_bytes()
        assert sum(len(n.notes) for n in pretty_midi.PrettyMIDI(str(tmp_path / "one" / name)).instruments) > 0
        for other in ("jobs", "ranks"):
            assert (tmp_path / other / name).read_bytes() == reference, (other, name)
    assert sorted(p.name for p in (tmp_path / "ranks").iterdir()) == expected


def test_jobs_must_be_positive(checkpoint, capsys):
    assert main(["transcribe", "x.wav", "--jobs", "0", "--checkpoint", str(checkpoint)]) == 1
    assert "--jobs 0" in capsys.readouterr().err
