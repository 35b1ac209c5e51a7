"""Tests for fasolfa.velocity_fit: the design matrix is what the head reads, the fit solves the
regression it claims to solve (also on the badly conditioned inputs that motivate it), and the
command changes the velocity head's logit and nothing else."""
from __future__ import annotations

import json
import numpy as np
import pytest
import torch

from fasolfa import velocity_fit
from fasolfa.errors import FasolfaError
from fasolfa.model import FasolfaNet, ModelConfig, with_velocity_hidden
from fasolfa.train import load_weights, save_weights
from fasolfa.velocity_fit import (average_heads, design_columns, distil_velocity_head, first_layer_weights, fit_sigmoid_least_squares, fit_sigmoid_network,
                                  fit_velocity_head, head_weights, main, onset_design, predict,
                                  set_first_layer_weights, set_head_weights)
from test_train import tiny_config


def random_net(seed=0, **sizes) -> FasolfaNet:
    torch.manual_seed(seed)
    net = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=(),
                                 **sizes))
    for parameter in net.parameters():
        parameter.data.normal_(0, 0.3)
    return net.eval()


@pytest.mark.parametrize("sizes", [{}, {"velocity_frames": 5, "velocity_level_frames": (-3, 4)}])
def test_design_times_head_weights_is_the_velocity_logit_at_onsets(sizes):
    """Cells at both ends of the window included (where the head reads its zero padding)."""
    net = random_net(**sizes)
    hcqt = torch.rand(2, 8, 264, 30)
    onsets = torch.zeros(2, 88, 30, dtype=torch.bool)
    for b, k, t in ((0, 0, 0), (0, 87, 29), (1, 40, 1), (1, 41, 15), (1, 5, 28)):
        onsets[b, k, t] = True
    with torch.no_grad():
        expected = net(hcqt)["velocity"][onsets].double()
    design = onset_design(net, hcqt, onsets)
    assert design.shape == (5, len(head_weights(net)))
    assert torch.allclose(design @ head_weights(net), expected, atol=1e-4)


def test_with_hidden_units_predict_from_the_design_is_the_velocity_at_onsets():
    net = random_net(velocity_frames=5, velocity_level_frames=(-3, 4), velocity_hidden=4)
    hcqt = torch.rand(2, 8, 264, 30)
    onsets = torch.rand(2, 88, 30) < 0.05
    with torch.no_grad():
        expected = torch.sigmoid(net(hcqt)["velocity"][onsets]).double().numpy()
    design = onset_design(net, hcqt, onsets).numpy()
    assert first_layer_weights(net).shape == (4, design.shape[1])
    assert np.allclose(predict(net, design), expected, atol=1e-5)
    weights = torch.randn(4, design.shape[1], dtype=torch.float64)
    set_first_layer_weights(net, weights)
    assert torch.allclose(first_layer_weights(net), weights, atol=1e-6)
    with pytest.raises(ValueError):
        set_first_layer_weights(net, weights[:, :-1])
    with pytest.raises(ValueError, match="hidden layer"):
        head_weights(net)


def test_set_head_weights_inverts_head_weights_and_checks_the_length():
    net = random_net(velocity_frames=3, velocity_level_frames=(-1, 2))
    weights = torch.randn(len(head_weights(net)), dtype=torch.float64)
    set_head_weights(net, weights)
    assert torch.allclose(head_weights(net), weights, atol=1e-6)
    with pytest.raises(ValueError):
        set_head_weights(net, weights[:-1])


def test_fit_recovers_the_weights_of_badly_conditioned_columns():
    """Columns near 0.7 that vary by 0.02 (as log levels at strikes do), a constant column left
    over: the fit finds the weights that made y, where plain gradient steps would crawl."""
    rng = np.random.default_rng(0)
    n = 4000
    columns = 0.7 + 0.02 * rng.standard_normal((n, 4))
    design = np.concatenate([columns, np.full((n, 1), 0.5), np.ones((n, 1))], 1)
    true = np.array([30.0, -12.0, 5.0, 20.0, 0.0, -30.0])
    y = 1 / (1 + np.exp(-(design @ true)))
    fitted = fit_sigmoid_least_squares(design, y, ridge=1e-6)
    assert np.allclose(design @ fitted, design @ true, atol=1e-3)
    assert np.allclose(fitted[:4], true[:4], rtol=1e-3)


def test_fit_velocity_head_lowers_the_loss_to_that_of_the_generating_head():
    net = random_net(velocity_frames=3, velocity_level_frames=(-1, 2))
    teacher = random_net(seed=1, velocity_frames=3, velocity_level_frames=(-1, 2))
    set_head_weights(teacher, head_weights(net) + 0.2 * torch.randn(len(head_weights(net)), dtype=torch.float64))
    hcqt = torch.rand(4, 8, 264, 40)
    onsets = torch.rand(4, 88, 40) < 0.1
    design = onset_design(net, hcqt, onsets).numpy()
    y = 1 / (1 + np.exp(-(design @ head_weights(teacher).numpy())))
    report = fit_velocity_head(net, design, y, ridge=1e-6)
    assert report["mse_after"] < 1e-8 < report["mse_before"]
    with pytest.raises(FasolfaError, match="collect more windows"):
        fit_velocity_head(net, design[:10], y[:10])


@pytest.mark.parametrize("hidden", [0, 3])
def test_a_head_that_reads_less_weights_only_what_it_reads(hidden):
    """A teacher that reads the level and register alone is found again by a ``level`` head, whose
    key-feature weights stay zero (so the trunk cannot move it); a ``no-register`` head leaves
    ``u`` and ``u**2`` at zero whatever the data say."""
    sizes = {"velocity_frames": 3, "velocity_level_frames": (-1, 2)}
    net, teacher = random_net(**sizes), random_net(seed=1, **sizes)
    keep = design_columns(net, "level")
    n_features = net.velocity_head.weight[0].numel()
    assert not keep[:n_features].any() and keep[n_features:].all()
    without = design_columns(net, "no-register")
    assert without.sum() == len(without) - 2 and not without[-3:-1].any() and without[-1]
    weights = head_weights(teacher).numpy() * keep
    hcqt = torch.rand(4, 8, 264, 40)
    onsets = torch.rand(4, 88, 40) < 0.1
    design = onset_design(net, hcqt, onsets).numpy()
    y = 1 / (1 + np.exp(-(design @ weights)))
    if hidden:
        net = with_velocity_hidden(net, hidden).eval()
    report = fit_velocity_head(net, design, y, ridge=1e-6, reads="level", steps=3000)
    assert report["reads"] == "level" and report["columns"] == keep.sum()
    assert np.all(first_layer_weights(net).numpy()[:, ~keep] == 0)
    assert report["mse_after"] < (1e-3 if hidden else 1e-8) < report["mse_before"]
    fit_velocity_head(net, design, y, ridge=1e-6, reads="no-register", steps=300)
    assert np.all(first_layer_weights(net).numpy()[:, ~without] == 0) and net.velocity_register.abs().max() == 0
    with pytest.raises(FasolfaError, match="reads must be one of"):
        design_columns(net, "keys")
    with pytest.raises(FasolfaError, match="level path"):
        design_columns(random_net(), "level")


@pytest.mark.parametrize("hidden", [[0, 0], [4, 2, 3]])
def test_averaged_heads_give_the_mean_velocity_logit_and_refuse_other_networks(hidden):
    sizes = {"velocity_frames": 3, "velocity_level_frames": (-1, 2)}
    trunk = random_net(**sizes)
    heads = []
    for seed, units in enumerate(hidden):
        torch.manual_seed(seed)
        head = with_velocity_hidden(trunk, units).eval()
        for name, parameter in head.named_parameters():
            if name.startswith("velocity_"):
                parameter.data.normal_(0, 0.3)
        heads.append(head)
    hcqt = torch.rand(2, 8, 264, 30)
    with torch.no_grad():
        logits = torch.stack([head(hcqt)["velocity"] for head in heads])     # (n, B, 88, T)
        mean = average_heads(heads)
        assert mean.model_config.velocity_hidden == sum(hidden)
        out = mean(hcqt)
        assert torch.allclose(out["velocity"], logits.mean(0), atol=1e-5)
        assert torch.equal(out["note"], heads[0](hcqt)["note"])
    other = random_net(seed=5, **sizes)
    with pytest.raises(FasolfaError, match="different networks"):
        average_heads([heads[0], with_velocity_hidden(other, hidden[0])])
    if hidden[0] == 0:
        with pytest.raises(FasolfaError, match="linear and hidden"):
            average_heads([heads[0], with_velocity_hidden(trunk, 2)])
    with pytest.raises(FasolfaError, match="no velocity heads"):
        average_heads([])


def test_a_distilled_head_copies_its_teacher_not_the_velocities():
    """The student fits the teacher's outputs: it ends far closer to the teacher than a head of the
    same size fitted to the velocities, which here are unrelated to the teacher."""
    sizes = {"velocity_frames": 3, "velocity_level_frames": (-1, 2)}
    teacher = with_velocity_hidden(random_net(**sizes), 2).eval()
    rng = np.random.default_rng(0)
    n_columns = len(design_columns(teacher))
    design = np.concatenate([rng.standard_normal((3000, n_columns - 1)), np.ones((3000, 1))], 1)   # (n, D)
    set_first_layer_weights(teacher, torch.from_numpy(rng.normal(0, 0.3, (2, n_columns))))
    with torch.no_grad():
        teacher.velocity_out.weight.copy_(torch.tensor([1.0, -1.0]).view_as(teacher.velocity_out.weight))
    y = rng.uniform(0.2, 0.9, len(design))                                    # not the teacher's
    target = predict(teacher, design)
    assert np.std(target) > 0.05                                              # a teacher with something to copy
    student = with_velocity_hidden(teacher, 4).eval()
    report = distil_velocity_head(student, teacher, design, y, steps=1500)
    direct = with_velocity_hidden(teacher, 4).eval()
    fit_velocity_head(direct, design, y, steps=1500)
    assert report["distilled"] and np.isclose(report["mse_to_teacher"], np.mean((predict(student, design) - target) ** 2))
    assert report["mse_to_teacher"] < 0.1 * np.var(target)
    assert report["mse_to_teacher"] < 0.1 * np.mean((predict(direct, design) - target) ** 2)
    assert np.isclose(report["mse_teacher"], np.mean((target - y) ** 2))
    hcqt = torch.rand(1, 8, 264, 20)
    assert torch.equal(student(hcqt)["note"], teacher(hcqt)["note"])          # only the head moved


def test_a_network_fit_beats_the_linear_fit_where_velocity_is_not_linear_in_the_columns():
    """y depends on |x| (no linear logit can follow it): the two-layer fit gets far closer, and the
    weights it returns, in the design's own units, compute what it learnt on standardised columns."""
    rng = np.random.default_rng(0)
    n = 6000
    columns = 0.7 + 0.05 * rng.standard_normal((n, 3))
    design = np.concatenate([columns, np.ones((n, 1))], 1)
    y = 1 / (1 + np.exp(-(40 * np.abs(columns[:, 0] - 0.7) - 1.0 + 5 * (columns[:, 1] - 0.7))))
    linear = fit_sigmoid_least_squares(design, y)
    linear_mse = np.mean((1 / (1 + np.exp(-(design @ linear))) - y) ** 2)
    first, second, bias = fit_sigmoid_network(design, y, hidden=8, steps=2000)
    network = 1 / (1 + np.exp(-(np.maximum(design @ first.T, 0) @ second + bias)))
    assert first.shape == (8, 4) and second.shape == (8,)
    assert np.mean((network - y) ** 2) < 0.2 * linear_mse
    again = fit_sigmoid_network(design, y, hidden=8, steps=2000)
    assert np.array_equal(again[0], first)                          # the seed decides everything


def test_fit_velocity_head_with_hidden_units_writes_what_it_fitted():
    net = random_net(velocity_frames=3, velocity_level_frames=(-1, 2), velocity_hidden=5)
    hcqt = torch.rand(4, 8, 264, 40)
    onsets = torch.rand(4, 88, 40) < 0.1
    design = onset_design(net, hcqt, onsets).numpy()
    y = np.clip(0.5 + 0.3 * np.tanh(design[:, 0]), 0, 1)
    report = fit_velocity_head(net, design, y, steps=3000)
    assert report["hidden"] == 5 and report["mse_after"] < report["mse_before"]
    assert np.isclose(report["mse_after"], np.mean((predict(net, design) - y) ** 2))
    with torch.no_grad():
        output = torch.sigmoid(net(hcqt)["velocity"][onsets]).double().numpy()
    assert np.allclose(output, predict(net, design), atol=1e-5)


def test_the_command_changes_only_the_velocity_logit(tmp_path, capsys, monkeypatch):
    cfg = tiny_config(tmp_path, model={**tiny_config(tmp_path).model, "velocity_frames": 3,
                                       "velocity_level_frames": [-1, 2]})
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    start = FasolfaNet(ModelConfig.from_dict(cfg.model))
    save_weights(tmp_path / "start.pt", start, {"step": 7})
    assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(tmp_path / "fitted.pt"),
                 "--windows", "50", "--no-progress"]) == 0
    fitted, metadata = load_weights(tmp_path / "fitted.pt")
    assert metadata["step"] == 7 and metadata["velocity_fit"]["mse_after"] <= metadata["velocity_fit"]["mse_before"]
    moved = {name for name, value in start.state_dict().items() if not torch.equal(value, fitted.state_dict()[name])}
    assert moved and moved <= {"velocity_head.weight", "velocity_head.bias", "velocity_level.weight",
                               "velocity_register"}, moved
    monkeypatch.setattr(velocity_fit, "NETWORK_STEPS", 300)          # a short fit: what is written is tested above
    assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(tmp_path / "hidden.pt"),
                 "--windows", "50", "--hidden", "3", "--no-progress"]) == 0
    hidden, metadata = load_weights(tmp_path / "hidden.pt")
    assert hidden.model_config.velocity_hidden == 3 and metadata["velocity_fit"]["hidden"] == 3
    for name, value in start.state_dict().items():
        if not name.startswith(("velocity_head.", "velocity_level.", "velocity_register")):
            assert torch.equal(value, hidden.state_dict()[name]), name
    assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(tmp_path / "level.pt"),
                 "--windows", "50", "--hidden", "3", "--reads", "level", "--no-progress"]) == 0
    level, metadata = load_weights(tmp_path / "level.pt")
    assert metadata["velocity_fit"]["reads"] == "level" and level.velocity_head.weight.abs().max() == 0
    assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(tmp_path / "mean.pt"),
                 "--windows", "50", "--hidden", "2", "--seeds", "0,1", "--no-progress"]) == 0
    mean, metadata = load_weights(tmp_path / "mean.pt")
    assert mean.model_config.velocity_hidden == 4 and metadata["velocity_fit"]["seed"] == [0, 1]
    assert main([str(tmp_path / "config.json"), str(tmp_path / "mean.pt"), str(tmp_path / "small.pt"),
                 "--windows", "50", "--hidden", "1", "--distil", "--no-progress"]) == 0
    small, metadata = load_weights(tmp_path / "small.pt")
    report = metadata["velocity_fit"]
    assert small.model_config.velocity_hidden == 1 and report["distilled"]
    assert report["mse_to_teacher"] == report["mse_after"] and report["mse_teacher"] >= 0
    assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(tmp_path / "x.pt"),
                 "--seeds", "0,one"]) == 1
    assert "--seeds" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(tmp_path / "x.pt"),
                 "--hidden", "-1"]) == 1
    assert "--hidden" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    assert main([str(tmp_path / "config.json"), str(tmp_path / "missing.pt"), str(tmp_path / "x.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    assert main([str(tmp_path / "nothing.json"), str(tmp_path / "start.pt"), str(tmp_path / "x.pt")]) == 1
    assert "nothing.json" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    for extra, named in ((["--windows", "0"], "--windows"), ([], "no_folder")):
        out = tmp_path / ("x.pt" if extra else "no_folder/x.pt")
        assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(out), *extra]) == 1
        assert named in capsys.readouterr().err and not out.exists()
