"""Tests for fasolfa.interpolate: the ends of the line are the two checkpoints (the velocity head
always A's), the middle is the mean tensor by tensor, and bad input gets one clear line and no
file."""
from __future__ import annotations

import pytest
import torch

from fasolfa.data import midi_hash
from fasolfa.errors import FasolfaError
from fasolfa.interpolate import interpolate_checkpoints, interpolate_state, main
from fasolfa.model import FasolfaNet, ModelConfig
from fasolfa.train import load_weights, save_weights

SMALL = dict(contour_channels=4, key_channels=6, onset_channels=4, pedal_channels=4, time_dilations=(1, 2),
             velocity_hidden=3)


def random_net(seed: int, **changes) -> FasolfaNet:
    torch.manual_seed(seed)
    net = FasolfaNet(ModelConfig(**{**SMALL, **changes}))
    for tensor in net.state_dict().values():
        if tensor.is_floating_point():
            tensor.normal_(0, 0.3)
    for name, buffer in net.named_buffers():
        if name.endswith("running_var"):
            buffer.uniform_(0.5, 2.0)          # a positive variance
        if name.endswith("num_batches_tracked"):
            buffer.fill_(seed + 1)
    return net.eval()


@pytest.fixture
def pair(tmp_path):
    a = save_weights(tmp_path / "a.pt", random_net(0), {"step": 3, "thresholds": {"onset": 0.6}})
    b = save_weights(tmp_path / "b.pt", random_net(1), {"step": 9})
    return a, b


def test_ends_of_the_line_are_the_checkpoints_with_a_velocity_head(pair, tmp_path):
    a, b = pair
    state_a, state_b = load_weights(a)[0].state_dict(), load_weights(b)[0].state_dict()
    at_a = load_weights(interpolate_checkpoints(a, b, 0.0, tmp_path / "0.pt"))[0].state_dict()
    at_b = load_weights(interpolate_checkpoints(a, b, 1.0, tmp_path / "1.pt"))[0].state_dict()
    assert all(torch.equal(at_a[name], state_a[name]) for name in state_a)
    for name in state_a:
        from_a = name.startswith("velocity") or not state_a[name].is_floating_point()
        assert torch.equal(at_b[name], (state_a if from_a else state_b)[name]), name
    assert any(name.startswith("velocity_out") for name in state_a)      # the hidden head is kept too
    assert not torch.equal(state_a["to_keys.conv.weight"], state_b["to_keys.conv.weight"])


def test_the_middle_is_the_mean_running_statistics_included(pair):
    a, b = (load_weights(path)[0].state_dict() for path in pair)
    middle = interpolate_state(a, b, 0.5)
    for name in ("to_keys.conv.weight", "input_norm.running_mean", "input_norm.running_var", "note_head.bias"):
        torch.testing.assert_close(middle[name], (a[name] + b[name]) / 2)
    assert torch.equal(middle["input_norm.num_batches_tracked"], a["input_norm.num_batches_tracked"])
    quarter = interpolate_state(a, b, 0.25)["time_blocks.0.layer.conv.weight"]
    torch.testing.assert_close(quarter, 0.75 * a["time_blocks.0.layer.conv.weight"] + 0.25 * b["time_blocks.0.layer.conv.weight"])


def test_a_network_between_itself_and_itself_is_itself():
    state = random_net(4).state_dict()
    for alpha in (0.0, 0.3, 0.5, 0.9, 1.0):
        same = interpolate_state(state, state, alpha)
        assert all(torch.equal(same[name], state[name]) for name in state)


def test_the_interpolated_network_runs_and_its_outputs_lie_between(pair, tmp_path):
    """At alpha 0 the network gives A's posteriorgrams exactly; in between, something else."""
    a, b = pair
    hcqt = torch.rand(1, 8, 264, 20)
    with torch.no_grad():
        expected = load_weights(a)[0](hcqt)
        at_a = load_weights(interpolate_checkpoints(a, b, 0.0, tmp_path / "0.pt"))[0](hcqt)
        middle = load_weights(interpolate_checkpoints(a, b, 0.5, tmp_path / "m.pt"))[0](hcqt)
    for name in expected:
        torch.testing.assert_close(at_a[name], expected[name])
    assert not torch.allclose(middle["note"], expected["note"])
    assert torch.isfinite(middle["note"]).all()


def test_metadata_names_both_checkpoints(pair, tmp_path):
    a, b = pair
    _, metadata = load_weights(interpolate_checkpoints(a, b, 0.3, tmp_path / "x.pt"))
    assert metadata["step"] == 3 and metadata["thresholds"] == {"onset": 0.6}      # A's, until --finalize
    assert metadata["interpolation"]["alpha"] == 0.3
    assert metadata["interpolation"]["a_sha256"] == midi_hash(a, "checkpoint")
    assert metadata["interpolation"]["b_sha256"] == midi_hash(b, "checkpoint") != metadata["interpolation"]["a_sha256"]


def test_bad_input_is_one_line_and_no_file(pair, tmp_path, capsys):
    a, b = pair
    other = save_weights(tmp_path / "other.pt", random_net(2, key_channels=5), {})
    out = tmp_path / "out.pt"
    cases = [([str(a), str(other), str(out), "--alpha", "0.5"], "another network"),
             ([str(a), str(b), str(out), "--alpha", "1.5"], "--alpha must lie in [0, 1]"),
             ([str(a), str(tmp_path / "missing.pt"), str(out), "--alpha", "0.5"], "no such checkpoint")]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("fasolfa interpolate: error:") and message in err and "\n" not in err, err
        assert not out.exists() and list(tmp_path.glob("*.partial*")) == []
    assert main([str(a), str(b), str(out), "--alpha", "0.5"]) == 0 and out.is_file()


def test_state_dicts_of_other_shapes_are_refused():
    a = random_net(0).state_dict()
    b = random_net(1, key_channels=5).state_dict()
    with pytest.raises(ValueError, match="shapes"):
        interpolate_state(a, b, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        interpolate_state(a, a, -0.1)
    with pytest.raises(FasolfaError):
        interpolate_checkpoints("nothing.pt", "nothing.pt", 0.5, "x.pt")
