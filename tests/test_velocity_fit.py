"""Tests for fasolfa.velocity_fit: the design matrix is what the head reads, the fit solves the
regression it claims to solve (also on the badly conditioned inputs that motivate it), and the
command changes the velocity head's logit and nothing else."""
from __future__ import annotations

import json
import numpy as np
import pytest
import torch

from fasolfa.errors import FasolfaError
from fasolfa.model import FasolfaNet, ModelConfig
from fasolfa.train import load_weights, save_weights
from fasolfa.velocity_fit import (fit_sigmoid_least_squares, fit_velocity_head, head_weights, main, onset_design,
                                  set_head_weights)
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


def test_the_command_changes_only_the_velocity_logit(tmp_path, capsys):
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
    assert main([str(tmp_path / "config.json"), str(tmp_path / "missing.pt"), str(tmp_path / "x.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    assert main([str(tmp_path / "nothing.json"), str(tmp_path / "start.pt"), str(tmp_path / "x.pt")]) == 1
    assert "nothing.json" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
    for extra, named in ((["--windows", "0"], "--windows"), ([], "no_folder")):
        out = tmp_path / ("x.pt" if extra else "no_folder/x.pt")
        assert main([str(tmp_path / "config.json"), str(tmp_path / "start.pt"), str(out), *extra]) == 1
        assert named in capsys.readouterr().err and not out.exists()
