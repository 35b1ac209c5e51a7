"""Tests for fasolfa.model and fasolfa.posteriorgrams: shapes, the time receptive field that
chunking relies on, batch-norm folding, the size budget, and seamless chunked inference."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from fasolfa import config
from fasolfa.hcqt import HCQT
from fasolfa.model import (OUTPUT_NAMES, FasolfaNet, ModelConfig, count_parameters, harmonic_key_offsets,
                           probabilities, with_velocity_hidden)
from fasolfa.posteriorgrams import chunk_spans, compute_posteriorgrams


def randomised_net(seed=0) -> FasolfaNet:
    """A network whose batch norms hold non-trivial statistics (as after training)."""
    torch.manual_seed(seed)
    net = FasolfaNet().eval()
    for module in net.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    net.key_bias.data.normal_(0, 0.1)
    return net


def test_output_shapes():
    net = FasolfaNet().eval()
    with torch.no_grad():
        out = net(torch.rand(2, len(config.HARMONICS), config.N_CONTOUR_BINS, 50))
    assert out["contour"].shape == (2, config.N_CONTOUR_BINS, 50)
    for name in ("note", "onset", "velocity"):
        assert out[name].shape == (2, config.N_KEYS, 50)
    for name in ("pedal", "pedal_onset", "pedal_offset"):
        assert out[name].shape == (2, 50)
    probs = probabilities(out)
    assert all(float(v.min()) >= 0 and float(v.max()) <= 1 for v in probs.values())


def test_harmonic_offsets_are_semitones_of_harmonics():
    assert harmonic_key_offsets((1, 2, 3, 4, 5, 6)) == [0, 12, 19, 24, 28, 31]


def test_time_receptive_field_is_the_declared_margin():
    """A change at input frame t moves outputs at most `time_margin_frames` away, and does
    reach nearly that far (a ReLU may silence the outermost tap): chunked inference relies on it."""
    net = randomised_net()
    margin = net.time_margin_frames
    x = torch.rand(1, 8, config.N_CONTOUR_BINS, 4 * margin + 1)
    t = 2 * margin
    y = x.clone()
    y[..., t] += 1.0
    with torch.no_grad():
        a, b = net(x), net(y)
    reach = 0
    for name in a:
        changed = (a[name] - b[name]).abs().reshape(-1, a[name].shape[-1]).amax(0) > 0
        frames = torch.nonzero(changed).flatten()
        assert len(frames) > 0
        reach = max(reach, int((frames - t).abs().max()))
    assert margin - 2 <= reach <= margin


def test_fuse_keeps_the_function():
    net = randomised_net(1)
    fused = copy.deepcopy(net).fuse()
    x = torch.rand(2, 8, config.N_CONTOUR_BINS, 40)
    with torch.no_grad():
        a, b = net(x), fused(x)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-4), name
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.time_blocks.modules())


def test_size_budget_float32_checkpoint_under_2_mb():
    net = FasolfaNet(ModelConfig())
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    assert buffer.tell() < 2_000_000
    assert count_parameters(net) == sum(p.numel() for p in net.parameters())


def test_model_config_round_trip():
    cfg = ModelConfig(key_channels=10, time_dilations=(1, 3))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    older = {name: value for name, value in cfg.to_dict().items() if name != "subharmonic_keys"}
    assert ModelConfig.from_dict(older).subharmonic_keys == ()      # saved before subharmonic keys existed


@pytest.mark.parametrize("n_frames,chunk,margin", [(10, 4, 3), (9, 9, 2), (100, 7, 50), (1, 5, 5)])
def test_chunk_spans_cover_every_frame_once(n_frames, chunk, margin):
    spans = list(chunk_spans(n_frames, chunk, margin))
    covered = np.concatenate([np.arange(first, last) for first, last, _, _ in spans])
    assert np.array_equal(covered, np.arange(n_frames))
    for first, last, input_first, input_last in spans:
        assert input_first == max(first - margin, 0) and input_last == min(last + margin, n_frames)


def test_chunked_posteriorgrams_equal_one_pass():
    """Chunks of 61 frames (several borders) give the posteriorgrams of one whole pass."""
    net = randomised_net(2)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(config.SAMPLE_RATE * 4)).astype(np.float32)
    hcqt = HCQT()
    whole = compute_posteriorgrams(audio, net, hcqt, chunk_frames=10_000)
    chunked = compute_posteriorgrams(audio, net, hcqt, chunk_frames=61)
    n_frames = 1 + len(audio) // config.HOP_LENGTH
    for name, values in whole.items():
        assert values.shape[-1] == n_frames
        np.testing.assert_allclose(chunked[name], values, atol=2e-3, err_msg=name)


def test_hcqt_with_context_equals_frames_of_the_whole_recording():
    """The training-window policy: a window's HCQT computed with CONTEXT_N_SAMPLES of real audio
    on each side equals the same frames computed over the whole recording."""
    rng = np.random.default_rng(1)
    n_samples = config.SAMPLE_RATE * 6
    time_s = np.arange(n_samples) / config.SAMPLE_RATE
    audio = np.zeros(n_samples, np.float32)
    for freq_hz in (27.5, 55.0, 110.0, 440.0, 1760.0):          # A0 and up: the longest kernels
        audio += (0.1 * np.sin(2 * np.pi * freq_hz * time_s) * (time_s > rng.uniform(0.5, 4))).astype(np.float32)
    hcqt = HCQT()
    context, hop = config.CONTEXT_N_SAMPLES, config.HOP_LENGTH
    with torch.no_grad():
        whole = hcqt(torch.from_numpy(audio)[None])[0]
        start_frame, n_frames = 150, 173
        start = start_frame * hop - context
        span = audio[start:start + (n_frames - 1) * hop + 2 * context]
        window = hcqt.with_context(torch.from_numpy(np.ascontiguousarray(span))[None], context)[0]
    reference = whole[..., start_frame:start_frame + n_frames]
    assert window.shape == reference.shape
    loud = reference > 0.25                                            # cells within 60 dB of full scale
    error_db = (window - reference).abs()[loud] * 80
    assert float(error_db.max()) < 0.05
    # without context the lowest octave is wrong: the test can fail
    with torch.no_grad():
        bare = hcqt(torch.from_numpy(np.ascontiguousarray(audio[start_frame * hop:(start_frame + n_frames - 1) * hop])[None]))[0]
    assert float(((bare - reference).abs()[loud] * 80).max()) > 1.0


def test_layer_table_adds_up():
    from fasolfa.model import layer_table
    net = FasolfaNet()
    rows = layer_table(net, seconds=2.0)
    total = rows[-1]
    assert total["layer"] == "total"
    assert sum(r["parameters"] for r in rows[:-1]) == total["parameters"] == count_parameters(net)
    assert sum(r["mflops_per_s"] for r in rows[:-1]) == pytest.approx(total["mflops_per_s"], rel=1e-6)
    assert 0 < total["mflops_per_s"] < 250        # at most half of Basic Pitch's (~485, notebook 05)


def test_fast_paths_compute_what_the_plain_layers_compute():
    """Pointwise heads equal nn.Conv2d 1x1; the harmonic gather equals padded shifted copies
    (keys above and below)."""
    from fasolfa.model import HarmonicConv, Pointwise
    torch.manual_seed(3)
    head = Pointwise(6, 2)
    plain = torch.nn.Conv2d(6, 2, 1)
    plain.load_state_dict(head.state_dict())
    x = torch.randn(2, 6, 30, 17)
    with torch.no_grad():
        assert torch.allclose(head(x), plain(x), atol=1e-6)
    harmonic = HarmonicConv(4, 4, [0, 12, 19, -12])
    keys = torch.randn(1, 4, 88, 9)
    above = [torch.nn.functional.pad(keys[:, :, o:], (0, 0, 0, o)) for o in (12, 19)]
    below = torch.nn.functional.pad(keys[:, :, :-12], (0, 0, 12, 0))      # key k reads key k - 12
    assert torch.equal(harmonic.gather(keys), torch.cat([keys, *above, below], 1))
    from fasolfa.model import padded_time_conv, time_conv
    for dilation in (1, 4, 16):                # 16: more than the frames of a short input
        conv = torch.nn.Conv2d(5, 3, (1, 3), padding=(0, dilation), dilation=(1, dilation))
        x = torch.randn(2, 5, 7, 11)
        with torch.no_grad():
            assert torch.allclose(time_conv(conv, x), conv(x), atol=1e-5), dilation
            # two inputs read as their concatenation along channels, in a wider margin
            margin = dilation + 3
            padded = torch.nn.functional.pad(x, (margin, margin))
            out = padded_time_conv(conv, [padded[:, :2], padded[:, 2:]], margin)
            assert out.shape == (2, 3, 7, 11 + 2 * margin)
            assert torch.allclose(out[..., margin:margin + 11], conv(x), atol=1e-5), dilation
    with pytest.raises(ValueError, match="margin"):
        padded_time_conv(conv, [padded], dilation - 1)


def test_inference_path_equals_the_training_path():
    """Without gradients the time convolutions run as matrix products on padded inputs
    (model.padded_time_conv): the network's outputs must not depend on which path ran."""
    torch.manual_seed(7)
    net = FasolfaNet().eval()
    hcqt = torch.randn(2, 8, 264, 60)                 # a batch of two: each item its own products
    with torch.enable_grad():
        trained_path = {name: value.detach() for name, value in net(hcqt).items()}
    with torch.inference_mode():
        fast = net(hcqt)
    for name in OUTPUT_NAMES:
        assert torch.allclose(trained_path[name], fast[name], atol=1e-4), name


@pytest.mark.parametrize("training", [True, False])
def test_harmonic_conv_without_copies_equals_gather_then_mix(training):
    """HarmonicConv.forward (shifted matrix products) gives gather + 1x1 mix + norm + relu, and
    the same gradients for the input and the weights (it is what training runs)."""
    from fasolfa.model import HarmonicConv
    torch.manual_seed(4)
    harmonic = HarmonicConv(5, 3, [0, 12, 19, 24, -12, -19]).train(training)
    x = torch.randn(2, 5, 88, 13, requires_grad=True)
    fast = harmonic(x)
    plain = torch.relu(harmonic.mix.norm(harmonic.mix.conv(harmonic.gather(x))))
    assert torch.allclose(fast, plain, atol=1e-5)
    weights = [harmonic.mix.conv.weight, harmonic.mix.conv.bias, x]
    grad_fast = torch.autograd.grad((fast * torch.linspace(0, 1, 13)).sum(), weights)
    grad_plain = torch.autograd.grad((plain * torch.linspace(0, 1, 13)).sum(), weights)
    scale = max(float(g.abs().max()) for g in grad_plain)      # float32 sums of different orders
    for a, b in zip(grad_fast, grad_plain):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("training", [True, False])
def test_widen_keeps_the_function_and_lets_the_new_channels_learn(training):
    """widen: a wider network with the same outputs (batch statistics or running ones), more
    parameters, and non-zero gradients on the zero weights that read the added channels."""
    from fasolfa.model import widen
    torch.manual_seed(6)
    narrow = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=()))
    for parameter in narrow.parameters():
        parameter.data.normal_(0, 0.3)
    for module in narrow.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    narrow.train(training)
    wide = widen(narrow, key_channels=9, onset_channels=6, subharmonic_keys=(2, 3))
    assert wide.training == training
    assert (wide.model_config.key_channels, wide.model_config.onset_channels) == (9, 6)
    assert wide.harmonic.offsets == narrow.harmonic.offsets + [-12, -19]
    assert count_parameters(wide) > count_parameters(narrow)
    hcqt = torch.randn(2, 8, 264, 40)
    before, after = narrow(hcqt), wide(hcqt)
    for name in OUTPUT_NAMES:
        assert torch.allclose(before[name], after[name], atol=1e-5), name
    sum(value.sum() for value in after.values()).backward()
    reading_new = wide.note_head.weight.grad[0, 5:, 0, 0]          # the added key features
    assert torch.all(wide.note_head.weight[0, 5:] == 0) and reading_new.abs().sum() > 0
    with pytest.raises(ValueError):
        widen(narrow, key_channels=4)


def test_widen_adds_time_blocks_that_start_near_zero_and_learn():
    """widen(time_dilations=...): the added block's residual starts at GROWN_BLOCK_SCALE of a
    normal block's (outputs within a small fraction of their spread), and gradients reach its
    convolution and its scale; dilations that do not extend the model's own are refused."""
    from fasolfa.model import GROWN_BLOCK_SCALE, widen
    torch.manual_seed(7)
    short = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=()))
    for parameter in short.parameters():
        parameter.data.normal_(0, 0.3)
    short.eval()
    hcqt = torch.randn(2, 8, 264, 60)
    deep = widen(short, key_channels=5, time_dilations=(1, 2, 4))
    assert deep.model_config.time_dilations == (1, 2, 4) and len(deep.time_blocks) == 3
    assert deep.time_margin_frames == short.time_margin_frames + 4
    before, after = short(hcqt), deep(hcqt)
    for name in ("note", "onset", "velocity"):
        spread = before[name].std()
        assert (before[name] - after[name]).abs().max() < 0.05 * spread, name
    assert not torch.allclose(before["note"], after["note"])       # near, not equal: the block is alive
    deep.train()
    sum(value.sum() for value in deep(hcqt).values()).backward()
    added = deep.time_blocks[2].layer
    assert torch.all(added.norm.weight == GROWN_BLOCK_SCALE)
    assert added.norm.weight.grad.abs().sum() > 0 and added.conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        widen(short, key_channels=5, time_dilations=(2, 4))


def test_key_connectivity_plot_marks_keys_above_and_below_inside_the_keyboard():
    """plots.plot_key_connectivity: key k reads k + offset for offsets either way, never a key
    off the keyboard (a negative index would wrap to the top keys)."""
    import matplotlib
    matplotlib.use("Agg")
    from fasolfa import plots
    ax = plots.plot_key_connectivity([0, 19, -12])
    reads = ax.images[0].get_array()                          # (output key, key read)
    assert reads[0, 0] == reads[0, 19] == 1 and reads[0].sum() == 2        # A0: nothing 12 below
    assert reads[87, 75] == reads[87, 87] == 1 and reads[87].sum() == 2    # C8: nothing 19 above
    assert reads.sum() == 88 + (88 - 19) + (88 - 12)


def test_harmonic_and_time_convolutions_are_chunk_invariant():
    """A chunk of frames gives bit for bit the values of one pass over them (away from the cut,
    for the time convolution): keys above and below, every dilation. What makes chunked
    transcription equal one pass."""
    from fasolfa.model import HarmonicConv, time_conv
    torch.manual_seed(8)
    harmonic = HarmonicConv(6, 5, [0, 12, 19, -12, -19, -24]).eval()
    x = torch.randn(1, 6, 88, 300)
    with torch.no_grad():
        whole = harmonic(x)
        for start, stop in ((0, 137), (50, 231), (40, 75)):
            assert torch.equal(harmonic(x[..., start:stop].contiguous()), whole[..., start:stop])
        for dilation in (1, 2, 8):
            conv = torch.nn.Conv2d(6, 5, (1, 3), padding=(0, dilation), dilation=(1, dilation))
            whole = time_conv(conv, x)
            for start, stop in ((0, 137), (50, 231), (40, 75)):
                part = time_conv(conv, x[..., start:stop].contiguous())
                inner = slice(dilation, stop - start - dilation)
                assert torch.equal(part[..., inner], whole[..., start:stop][..., inner]), (dilation, start)


def velocity_net(seed=9, hidden=0) -> FasolfaNet:
    """A small network with the velocity head over 5 frames and the level path (and ``hidden``
    units), all weights random."""
    torch.manual_seed(seed)
    net = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=(),
                                 velocity_frames=5, velocity_level_frames=(-3, 4), velocity_hidden=hidden))
    for parameter in net.parameters():
        parameter.data.normal_(0, 0.3)
    return net.eval()


def test_velocity_level_path_reads_each_keys_own_bins_at_its_frames():
    """velocity_from_level: a level change in the bins of key k (the centre bin 3k or a
    neighbour) at frame t moves key k's velocity at frames t - last .. t - first, and no other
    key or frame; the same on both paths."""
    net = velocity_net()
    hcqt = torch.rand(1, 8, 264, 40) * 0.5
    key, t = 40, 20
    with torch.no_grad():
        base = net.velocity_from_level(hcqt)
        for b in (3 * key - 1, 3 * key, 3 * key + 1):
            louder = hcqt.clone()
            louder[0, 1, b, t] = 1.0                          # above every other bin of the key
            changed = (net.velocity_from_level(louder) - base)[0, 0].abs() > 0
            assert changed[key].nonzero().flatten().tolist() == list(range(t - 4, t + 4)), b
            assert changed.sum() == changed[key].sum()
    assert base.shape == (1, 1, 88, 40)


def test_key_bin_level_is_the_maximum_over_each_keys_three_bins():
    from fasolfa.model import key_bin_level
    torch.manual_seed(12)
    hcqt = torch.randn(2, 3, 264, 7)
    padded = torch.nn.functional.pad(hcqt, (0, 0, 1, 1), value=-float("inf"))   # a bin below 0, one above 263
    expected = torch.stack([padded[:, :, 3 * k:3 * k + 3].amax(2) for k in range(88)], 2)
    assert torch.equal(key_bin_level(hcqt), expected)


def test_velocity_head_over_frames_and_level_keeps_both_paths_equal_and_the_margin():
    """The wider velocity head: the inference path equals the training path, chunking relies
    on the declared margin, and the module refuses malformed sizes."""
    net = velocity_net()
    hcqt = torch.rand(2, 8, 264, 70)
    with torch.enable_grad():
        plain = net(hcqt)["velocity"].detach()
    with torch.inference_mode():
        fast = net(hcqt)["velocity"]
    assert torch.allclose(plain, fast, atol=1e-4)
    assert net.time_margin_frames >= 1 + 3 + 2                  # the time blocks and the head's ±2 frames
    torch.manual_seed(11)                                       # a head reaching further than the time blocks' margin
    wide_head = FasolfaNet(ModelConfig(key_channels=4, onset_channels=2, time_dilations=(1,), subharmonic_keys=(),
                                       velocity_frames=7)).eval()
    for parameter in wide_head.parameters():
        parameter.data.normal_(0, 0.3)
    with torch.enable_grad():
        plain = wide_head(hcqt)["velocity"].detach()
    with torch.inference_mode():
        assert torch.allclose(plain, wide_head(hcqt)["velocity"], atol=1e-4)
    with pytest.raises(ValueError):
        FasolfaNet(ModelConfig(velocity_frames=4))
    with pytest.raises(ValueError):
        FasolfaNet(ModelConfig(velocity_level_frames=(1, 4)))


@pytest.mark.parametrize("sizes", [{}, {"velocity_frames": 5, "velocity_level_frames": (-3, 4)},
                                   {"velocity_frames": 5, "velocity_level_frames": (-3, 4), "velocity_hidden": 6},
                                   {"velocity_frames": 1, "velocity_level_frames": (-2, 1), "velocity_hidden": 3}])
def test_velocity_at_onsets_only_is_the_dense_head_there_and_nothing_else_changes(sizes):
    """``velocity_floor``: the velocity logit where the onset probability reaches it equals the
    dense head's (frames near the ends included, where the head reads zero padding), ``-inf``
    elsewhere; every other output is untouched; 0 is the dense head, past 1 no cell."""
    torch.manual_seed(4)
    net = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=(),
                                 **sizes)).eval()
    for parameter in net.parameters():
        parameter.data.normal_(0, 0.3)
    hcqt = torch.rand(2, 8, 264, 40)
    with torch.inference_mode():
        dense = net(hcqt)
        floor = float(torch.sigmoid(dense["onset"]).quantile(0.8))            # a fifth of the cells
        sparse = net(hcqt, velocity_floor=floor)
        everywhere, nowhere = net(hcqt, velocity_floor=0.0), net(hcqt, velocity_floor=2.0)
    at = torch.sigmoid(dense["onset"]) >= floor
    assert 0.1 < at.float().mean() < 0.3 and at[..., :3].any() and at[..., -3:].any()
    assert torch.allclose(sparse["velocity"][at], dense["velocity"][at], atol=1e-5)
    assert torch.all(sparse["velocity"][~at] == -np.inf)
    assert torch.equal(everywhere["velocity"], dense["velocity"]) and torch.all(nowhere["velocity"] == -np.inf)
    for name in dense:
        if name != "velocity":
            assert torch.equal(sparse[name], dense[name]), name
    with pytest.raises(ValueError, match="inference"):
        with torch.enable_grad():
            net(hcqt, velocity_floor=0.5)


@pytest.mark.parametrize("velocity_frames", [1, 5])
def test_velocity_hidden_units_keep_both_paths_equal_and_are_what_the_logit_reads(velocity_frames):
    """With hidden units the head is ``velocity_out(relu(first layer))``: the inference path
    equals the training path, the logit is that small network by hand, and the rest of the
    network is untouched by the setting (with_velocity_hidden copies it)."""
    torch.manual_seed(3)
    net = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=(),
                                 velocity_frames=velocity_frames, velocity_level_frames=(-3, 4),
                                 velocity_hidden=6)).eval()
    for parameter in net.parameters():
        parameter.data.normal_(0, 0.3)
    hcqt = torch.rand(2, 8, 264, 50)
    with torch.enable_grad():
        plain = net(hcqt)
    with torch.inference_mode():
        fast = net(hcqt)
        first = net.velocity_head(net.key_features(hcqt)) + net.velocity_from_level(hcqt)      # (B, 6, 88, T)
        by_hand = torch.einsum("v,bvkt->bkt", net.velocity_out.weight[0, :, 0, 0], first.clamp(min=0))
    assert first.shape == (2, 6, 88, 50)
    assert torch.allclose(plain["velocity"].detach(), fast["velocity"], atol=1e-4)
    assert torch.allclose(fast["velocity"], by_hand + net.velocity_out.bias, atol=1e-4)
    linear = with_velocity_hidden(net, 0)
    assert linear.model_config.velocity_hidden == 0 and not hasattr(linear, "velocity_out")
    with torch.inference_mode():
        again = linear(hcqt)
    for name in OUTPUT_NAMES:
        if name != "velocity":
            assert torch.equal(again[name], fast[name]), name
    with pytest.raises(ValueError):
        FasolfaNet(ModelConfig(velocity_hidden=-1))


def test_widen_grows_the_velocity_head_with_the_same_function():
    """widen(velocity_frames=..., velocity_level_frames=...): the old head becomes the centre
    frame, the added taps and the level path start at zero (same outputs), and gradients reach them."""
    from fasolfa.model import widen
    torch.manual_seed(10)
    narrow = FasolfaNet(ModelConfig(key_channels=5, onset_channels=3, time_dilations=(1, 2), subharmonic_keys=()))
    for parameter in narrow.parameters():
        parameter.data.normal_(0, 0.3)
    narrow.eval()
    grown = widen(narrow, key_channels=5, velocity_frames=5, velocity_level_frames=(-3, 4))
    hcqt = torch.rand(2, 8, 264, 40)
    before, after = narrow(hcqt), grown(hcqt)
    for name in OUTPUT_NAMES:
        assert torch.allclose(before[name], after[name], atol=1e-5), name
    sum(value.sum() for value in grown(hcqt).values()).backward()
    assert grown.velocity_level.weight.grad.abs().sum() > 0 and grown.velocity_register.grad.abs().sum() > 0
    side_taps = grown.velocity_head.weight.grad[..., [0, 1, 3, 4]]
    assert torch.all(grown.velocity_head.weight[..., [0, 1, 3, 4]] == 0) and side_taps.abs().sum() > 0
    with pytest.raises(ValueError):
        widen(grown, key_channels=5, velocity_frames=3)         # fewer frames: not a growth


def test_key_features_are_what_the_heads_read():
    """FasolfaNet.key_features: the note head over them gives the network's note logits."""
    net = randomised_net(seed=4)
    hcqt = torch.rand(1, 8, 264, 30)
    with torch.no_grad():
        keys = net.key_features(hcqt)
        assert keys.shape == (1, net.model_config.key_channels, 88, 30)
        assert torch.allclose(net.note_head(keys)[:, 0], net(hcqt)["note"], atol=1e-4)
