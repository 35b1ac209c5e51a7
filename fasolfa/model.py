"""The network: HCQT in, posteriorgrams out (contour, note, onset, velocity, sustain pedal).

Explained in notebooks/05_the_model.ipynb.

A Basic-Pitch-style CNN (Bittner et al., ICASSP 2022), re-derived and made cheaper (less than half its FLOPs),
with the heads Basic Pitch lacks (velocity, sustain pedal):

1. **Contour stage, 3 bins per semitone** (264 bins): one small convolution over the 8 harmonic
   channels of the HCQT, read out as the pitch ``contour`` posteriorgram (Basic Pitch's Y_p).
2. **Down to one row per key** (88): a convolution of stride 3 along frequency, each key reading
   the three bins around its centre (a note's partials sit within a third of a semitone of the
   bin the HCQT aligned them to).
3. **Harmonic convolution along keys** (HPPNet's idea): each key also reads the features
   ``round(12 log2 h)`` keys above it, for ``h`` in :data:`HARMONIC_KEYS`, so partial evidence is
   gathered inside the network, not only at the input; and, for ``h`` in
   ``ModelConfig.subharmonic_keys``, the keys as far *below* it, so a key can tell its own
   fundamental from the 2nd, 3rd, 4th partial of a lower note (octave and twelfth ghosts).
4. **Time context**: residual convolutions along time with dilations 1, 2, 4, 8 (with the
   contour convolution, note and velocity see ±16 frames, ±0.19 s; onset ±17), weights shared across keys, so the network is the same for every key
   (pitch invariance) and cheap on a CPU (no recurrent layer stepping through thousands of frames).
5. **Heads**, each a 1×1 convolution: ``note`` (key sounding), ``onset`` (fed the note evidence
   too, as in Basic Pitch), ``velocity`` (read at onsets), and the sustain ``pedal`` heads (down,
   pressed, released) from features pooled over all keys and their own dilated time convolutions
   (±47 frames, ±0.55 s: :attr:`FasolfaNet.time_margin_frames`). With ``ModelConfig.velocity_frames``
   and ``velocity_level_frames`` (the shipped checkpoint: 5 frames, level at frames −3..+4) the
   velocity head also reads the key features of the frames around each onset and how loud the
   key's own HCQT bins are (:meth:`FasolfaNet.velocity_from_level`); with ``velocity_hidden``
   those inputs feed that many ReLU units and the logit reads them (:meth:`FasolfaNet.velocity_logit`).

At inference ``forward(hcqt, velocity_floor=p)`` computes the velocity head only at the cells whose
onset probability reaches ``p`` (:meth:`FasolfaNet._velocity_at`): notes read velocity at their
onset peak only (:mod:`fasolfa.notes`), so for any onset threshold at or above ``p`` the notes are
those of the dense head, and the head's cost (a fifth of the shipped network's) is saved.

Shapes: input ``(batch, 8, 264, n_frames)``; outputs ``contour (batch, 264, n_frames)``, ``note``,
``onset``, ``velocity (batch, 88, n_frames)``, ``pedal``, ``pedal_onset``, ``pedal_offset``
``(batch, n_frames)``; logits (``forward``) or probabilities (:func:`probabilities`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from fasolfa import config

HARMONIC_KEYS = (1, 2, 3, 4, 5, 6)     # harmonics gathered inside the network (in keys: 0, 12, 19, ...)
SUBHARMONIC_KEYS = (2, 3, 4)           # ... and the keys whose harmonic each key may be (-12, -19, -24)
OUTPUT_NAMES = ("contour", "note", "onset", "velocity", "pedal", "pedal_onset", "pedal_offset")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`FasolfaNet` (saved in every checkpoint). Explained in notebook 05."""

    n_harmonics: int = len(config.HARMONICS)   # HCQT channels in
    contour_channels: int = 6                  # features at 3 bins per semitone
    key_channels: int = 24                     # features per key
    harmonic_keys: tuple = HARMONIC_KEYS
    subharmonic_keys: tuple = SUBHARMONIC_KEYS  # also read the keys round(12 log2 h) below
    time_dilations: tuple = (1, 2, 4, 8)
    onset_channels: int = 16
    pedal_channels: int = 16
    pedal_dilations: tuple = (1, 2, 4, 8, 16)
    velocity_frames: int = 1                   # frames of key features the velocity head reads (odd; 1: its own)
    velocity_level_frames: tuple = ()          # (first, last) frame offsets of the input level it also reads
                                               # at each key (first <= 0 <= last), and the key's register; (): none
    velocity_hidden: int = 0                   # ReLU units between what the velocity head reads and its
                                               # logit; 0: the logit is linear in what it reads

    def to_dict(self) -> dict:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        # configs saved before subharmonic keys existed (the 12-channel checkpoints) had none
        values = {"subharmonic_keys": [], **values}
        known = {name: tuple(value) if isinstance(value, list) else value
                 for name, value in values.items() if name in cls.__dataclass_fields__}
        return cls(**known)


def harmonic_key_offsets(harmonics=HARMONIC_KEYS) -> list[int]:
    """Keys between a fundamental and harmonic ``h``: ``round(12 log2 h)`` (0, 12, 19, 24, ...)."""
    return [int(round(12 * math.log2(h))) for h in harmonics]


class ConvNorm(nn.Module):
    """``relu(batchnorm(conv(x)))``; :meth:`fuse` folds the normalisation into the convolution
    for inference (the same function, one pass less over memory)."""

    def __init__(self, conv: nn.Module, relu: bool = True):
        super().__init__()
        self.conv, self.relu = conv, relu
        self.norm = (nn.BatchNorm2d if isinstance(conv, nn.Conv2d) else nn.BatchNorm1d)(conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.conv(x))

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        """What follows the convolution: ``relu(norm(x))``."""
        x = self.norm(x)
        # in place: neither the convolution's nor the normalisation's gradient needs this output
        return torch.relu_(x) if self.relu else x

    @torch.no_grad()
    def fuse(self) -> None:
        if isinstance(self.norm, nn.Identity):
            return
        scale = self.norm.weight / torch.sqrt(self.norm.running_var + self.norm.eps)      # (out,)
        self.conv.weight.mul_(scale.reshape(-1, *([1] * (self.conv.weight.ndim - 1))))
        bias = self.conv.bias if self.conv.bias is not None else torch.zeros_like(scale)
        self.conv.bias = nn.Parameter((bias - self.norm.running_mean) * scale + self.norm.bias)
        self.norm = nn.Identity()


class Pointwise(nn.Conv2d):
    """A 1×1 convolution computed as one matrix product per batch item over the flattened
    positions: the same numbers and parameters as ``nn.Conv2d(C, C_out, 1)``, several times
    faster on a CPU, where oneDNN's 1×1 convolutions on these shapes are slow (measured on 25 s
    of audio, 2 cores: the 264-bin contour head 22 ms against 0.5 ms, the harmonic mix 72 -> 12
    channels 22 ms against 4.6 ms). ``(batch, C, H, W) -> (batch, C_out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        weight = self.weight[:, :, 0, 0]                                     # (C_out, C)
        out = torch.matmul(weight, x.reshape(batch, channels, height * width))   # (B, C_out, H * W)
        return out.add_(self.bias.view(1, -1, 1)).view(batch, -1, height, width)


class HarmonicConv(nn.Module):
    """Each key reads its own features and those of the keys ``offsets`` above it (zeros past the
    top key), mixed by one 1×1 convolution: ``(batch, C, 88, T) -> (batch, C_out, 88, T)``.

    What it computes is :meth:`gather` (the shifted copies side by side) followed by ``mix``;
    :meth:`forward` gets the same numbers without the copies (see :meth:`shifted_mix`)."""

    def __init__(self, channels: int, out_channels: int, offsets):
        # offsets: keys above (> 0) or below (< 0) each key; 0 is the key itself
        super().__init__()
        self.offsets = [int(o) for o in offsets]
        self.mix = ConvNorm(Pointwise(channels * len(self.offsets), out_channels))

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """The shifted copies side by side: ``(B, C, 88, T) -> (B, C * n_offsets, 88, T)``,
        block ``i`` holding ``x[:, :, k + offsets[i]]`` at key ``k`` (0 past the top key)."""
        batch, channels, n_keys, n_frames = x.shape
        stacked = x.new_empty(batch, channels * len(self.offsets), n_keys, n_frames)
        for i, offset in enumerate(self.offsets):
            block = stacked[:, i * channels:(i + 1) * channels]
            if offset >= 0:
                block[:, :, :n_keys - offset] = x[:, :, offset:]
                block[:, :, n_keys - offset:] = 0
            else:                                   # the key |offset| below (0 under the bottom key)
                block[:, :, -offset:] = x[:, :, :n_keys + offset]
                block[:, :, :-offset] = 0
        return stacked

    def shifted_mix(self, x: torch.Tensor) -> torch.Tensor:
        """``mix.conv(gather(x))`` without building the stack: with keys and frames flattened
        (``(B, C, 88 * T)``), "the key ``o`` above" is the column ``o * T`` further on, so block
        ``i`` of the mix is one matrix product of its weights with ``x`` shifted by
        ``offsets[i] * T`` columns, added into the output's first ``(88 - offsets[i]) * T``
        columns. Six small products over the input, instead of writing and reading a copy six
        times its size (18 -> 2 ms for 25 s of audio on 2 cores)."""
        batch, channels, n_keys, n_frames = x.shape
        flat = x.reshape(batch, channels, n_keys * n_frames)
        weight = self.mix.conv.weight[:, :, 0, 0]                               # (C_out, C * n_offsets)
        out = self.mix.conv.bias.view(1, -1, 1).expand(batch, -1, n_keys * n_frames).contiguous()
        for i, offset in enumerate(self.offsets):
            n = (n_keys - abs(offset)) * n_frames
            block = weight[:, i * channels:(i + 1) * channels].expand(batch, -1, -1)   # (B, C_out, C)
            if offset >= 0:
                out[:, :, :n].baddbmm_(block, flat[:, :, offset * n_frames:])
            else:                                   # keys below: the input's first n columns, shifted up
                out[:, :, -offset * n_frames:].baddbmm_(block, flat[:, :, :n])
        return out.view(batch, -1, n_keys, n_frames)                            # (B, C_out, 88, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu_(self.mix.norm(self.shifted_mix(x)))      # (B, C, 88, T) -> (B, C_out, 88, T)


def padded_time_conv(conv: nn.Conv2d, inputs: list[torch.Tensor], margin: int) -> torch.Tensor:
    """``conv`` along time only (kernel ``(1, 3)``, dilation ``(1, d)``, padding ``(0, d)``) as
    three matrix products per input, on inputs in the **padded layout**: ``(B, C_i, K, W)`` with
    ``W = margin + T + margin`` and zeros in both margins (``margin >= d``). With keys and padded
    frames flattened (``(C_i, K * W)``), the taps read the columns ``d`` before, at and ``d``
    after each column, which for the ``T`` frames inside never leave the key's own row; a tap
    that reaches past them reads the margin's zeros, as ``conv``'s padding would. Several inputs
    are read as their concatenation along channels (``conv``'s weights split by channel) without
    building it. Returns ``(B, C_out, K, W)``: the frames inside hold ``conv``'s output, the
    margins hold values to be discarded (see :func:`zero_margins`).

    Used for inference, where oneDNN's direct convolution is several times slower on these few
    channels (24 channels, dilation 1, 23 s of audio on 2 cores: 16 against 4 ms), and where
    keeping every time convolution's input padded saves the copy that padding each one costs."""
    d = conv.dilation[1]
    if d > margin:
        raise ValueError(f"dilation {d} needs a margin of at least {d} frames, got {margin}")
    batch, _, n_keys, width = inputs[0].shape
    n = n_keys * width
    weight = conv.weight[:, :, 0, :]                                             # (C_out, C, 3)
    out = inputs[0].new_empty(batch, weight.shape[0], n)                         # (B, C_out, K * W)
    for b in range(batch):
        first = 0
        for i, x in enumerate(inputs):
            flat = x[b].reshape(x.shape[1], n)                                   # (C_i, K * W)
            taps = weight[:, first:first + x.shape[1]]                           # (C_out, C_i, 3)
            first += x.shape[1]
            if i == 0:                                                           # centre tap, and the bias
                torch.addmm(conv.bias.view(-1, 1), taps[:, :, 1], flat, out=out[b])
            else:
                out[b].addmm_(taps[:, :, 1], flat)
            out[b, :, d:].addmm_(taps[:, :, 0], flat[:, :n - d])                 # x[t - d]
            out[b, :, :n - d].addmm_(taps[:, :, 2], flat[:, d:])                 # x[t + d]
    return out.view(batch, -1, n_keys, width)


def zero_margins(x: torch.Tensor, margin: int) -> torch.Tensor:
    """Zeros in the first and last ``margin`` frames (last axis) of ``x``, in place; returns ``x``."""
    x[..., :margin] = 0
    x[..., x.shape[-1] - margin:] = 0
    return x


def time_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a convolution along time only, computed by :func:`padded_time_conv`
    (the same numbers, to float rounding). ``(B, C, K, T) -> (B, C_out, K, T)``."""
    d = conv.dilation[1]
    return padded_time_conv(conv, [nn.functional.pad(x, (d, d))], d)[..., d:x.shape[-1] + d]


class TimeBlock(nn.Module):
    """Residual dilated convolution along time, the same for every key (2-D input
    ``(B, C, 88, T)``) or for the pedal (1-D input ``(B, C, T)``): ``x + relu(norm(conv(x)))``."""

    def __init__(self, channels: int, dilation: int, two_d: bool = True):
        super().__init__()
        conv = (nn.Conv2d(channels, channels, (1, 3), padding=(0, dilation), dilation=(1, dilation)) if two_d
                else nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation))
        self.layer = ConvNorm(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        if y.requires_grad:            # training: relu's gradient needs its output unchanged
            return x + y
        return y.add_(x)               # inference: one tensor less per block

    def padded(self, x: torch.Tensor, margin: int) -> torch.Tensor:
        """:meth:`forward` (2-D, inference) in the padded layout of :func:`padded_time_conv`:
        ``(B, C, K, margin + T + margin)`` in, zeros in the margins, and the same out."""
        y = self.layer.activate(padded_time_conv(self.layer.conv, [x], margin))
        return zero_margins(y.add_(x), margin)


def key_bin_level(hcqt: torch.Tensor) -> torch.Tensor:
    """Each key's level: the maximum over its three bins ``3k - 1, 3k, 3k + 1`` (``3k - 1`` does
    not exist for key 0), per channel and frame. ``(B, C, 264, T) -> (B, C, 88, T)``. Three strided
    views instead of a max-pooling, which is several times slower on a CPU along this axis."""
    n_keys = config.N_KEYS
    level = torch.maximum(hcqt[:, :, 0:3 * n_keys:3], hcqt[:, :, 1:3 * n_keys:3])   # bins 3k, 3k + 1
    level[:, :, 1:] = torch.maximum(level[:, :, 1:], hcqt[:, :, 2:3 * n_keys - 1:3])   # bins 3k - 1
    return level


def taps_at(features: torch.Tensor, cells: tuple, offsets) -> torch.Tensor:
    """``features (B, C, 88, T)`` read at ``cells`` (batch, key, frame index tensors) shifted by each
    of ``offsets``, zero past the ends as a convolution's zero padding reads them:
    ``(n, C, len(offsets))``. What the velocity head reads at a strike (:meth:`FasolfaNet._velocity_at`,
    :func:`fasolfa.velocity_fit.onset_design`)."""
    batch, key, frame = cells
    n_frames = features.shape[-1]
    out = features.new_zeros(len(batch), features.shape[1], len(offsets))
    for i, shift in enumerate(offsets):
        at = frame + shift
        inside = (at >= 0) & (at < n_frames)
        out[inside, :, i] = features[batch[inside], :, key[inside], at[inside]]
    return out


def _logit(probability: float) -> float:
    """``log(p / (1 - p))``, ``-inf`` at 0 and ``+inf`` at 1 (beyond them: clipped)."""
    p = min(max(float(probability), 0.0), 1.0)
    return -math.inf if p == 0.0 else math.inf if p == 1.0 else math.log(p / (1.0 - p))


def _level_frames(frames) -> tuple[int, int]:
    """``velocity_level_frames`` checked: ``(first, last)`` with ``first <= 0 <= last``."""
    first, last = (int(f) for f in frames)
    if not first <= 0 <= last:
        raise ValueError(f"velocity_level_frames must be (first, last) with first <= 0 <= last, got {frames}")
    return first, last


def _velocity_head(channels: int, n_frames: int, units: int = 1) -> nn.Module:
    """The velocity head's first layer over key features: ``units`` outputs (1: the logit), 1×1
    or ``n_frames`` (odd) frames centred on each."""
    if n_frames < 1 or n_frames % 2 == 0:
        raise ValueError(f"velocity_frames must be odd and positive, got {n_frames}")
    if n_frames == 1:
        return Pointwise(channels, units)
    return nn.Conv2d(channels, units, (1, n_frames), padding=(0, n_frames // 2))


class FasolfaNet(nn.Module):
    """HCQT ``(batch, 8, 264, n_frames)`` -> dict of logits (see the module docstring).

    Explained in notebooks/05_the_model.ipynb.
    """

    def __init__(self, model_config: ModelConfig | None = None):
        super().__init__()
        cfg = self.model_config = model_config or ModelConfig()
        h, c, k, o, p = (cfg.n_harmonics, cfg.contour_channels, cfg.key_channels, cfg.onset_channels,
                         cfg.pedal_channels)
        self.input_norm = nn.BatchNorm2d(h)
        self.contour_conv = ConvNorm(nn.Conv2d(h, c, 3, padding=1))                   # 264 bins, ±1 frame
        self.contour_head = Pointwise(c, 1)
        self.to_keys = ConvNorm(nn.Conv2d(c + h, k, (3, 1), stride=(3, 1), padding=(1, 0)))   # -> 88 keys
        self.key_bias = nn.Parameter(torch.zeros(1, k, config.N_KEYS, 1))             # what differs per key
        offsets = harmonic_key_offsets(cfg.harmonic_keys) + [-o for o in harmonic_key_offsets(cfg.subharmonic_keys)]
        self.harmonic = HarmonicConv(k, k, offsets)
        self.time_blocks = nn.Sequential(*[TimeBlock(k, d) for d in cfg.time_dilations])
        self.note_head = Pointwise(k, 1)
        if cfg.velocity_hidden < 0:
            raise ValueError(f"velocity_hidden must be 0 or more, got {cfg.velocity_hidden}")
        v = cfg.velocity_hidden or 1                                                  # the first layer's units
        self.velocity_head = _velocity_head(k, cfg.velocity_frames, v)
        if cfg.velocity_level_frames:
            first, last = _level_frames(cfg.velocity_level_frames)
            self.velocity_level = nn.Conv2d(h, v, (1, last - first + 1), bias=False)   # 8 harmonics' level, frames first..last
            self.velocity_register = nn.Parameter(torch.zeros(2, v))                 # weights of u and u**2
            self.register_buffer("register_position", torch.linspace(0.0, 1.0, config.N_KEYS).view(1, -1, 1),
                                 persistent=False)                                    # u: 0 (A0) .. 1 (C8)
        if cfg.velocity_hidden:
            self.velocity_out = Pointwise(v, 1)                                      # ReLU units -> the logit
        self.onset_conv = ConvNorm(nn.Conv2d(k + 1, o, (1, 3), padding=(0, 1)))     # ±1 frame
        self.onset_head = Pointwise(o, 1)
        self.pedal_in = ConvNorm(nn.Conv1d(2 * k, p, 1))
        self.pedal_blocks = nn.Sequential(*[TimeBlock(p, d, two_d=False) for d in cfg.pedal_dilations])
        self.pedal_head = nn.Conv1d(p, 3, 1)

    @property
    def time_margin_frames(self) -> int:
        """Frames each side of an output frame that can change it (the time receptive field's
        half-width): chunks of a long recording overlap by this much. Explained in notebook 05."""
        cfg = self.model_config
        keys = 1 + sum(cfg.time_dilations)                   # contour conv, time blocks
        level = max((abs(f) for f in cfg.velocity_level_frames), default=0)
        return max(keys + 1, keys + cfg.velocity_frames // 2, level,   # onset conv; velocity head
                   keys + sum(cfg.pedal_dilations))                   # pedal blocks

    def fuse(self) -> "FasolfaNet":
        """Fold every batch normalisation that follows a convolution into it (inference only;
        call after ``eval()``). Returns ``self``."""
        for module in self.modules():
            if isinstance(module, ConvNorm):
                module.fuse()
        return self

    def forward(self, hcqt: torch.Tensor, velocity_floor: float | None = None) -> dict[str, torch.Tensor]:
        """Logits of every head. ``velocity_floor`` (inference only): compute the velocity logit
        only where the onset probability is at least this, ``-inf`` elsewhere (probability 0);
        None: everywhere."""
        if velocity_floor is not None and torch.is_grad_enabled():
            raise ValueError("velocity_floor is for inference (under torch.no_grad or inference_mode)")
        x = self.input_norm(hcqt)                                   # (B, 8, 264, T)
        features = self.contour_conv(x)                             # (B, 6, 264, T)
        contour = self.contour_head(features)[:, 0]                 # (B, 264, T)
        keys = self.to_keys(torch.cat([features, x], 1))            # (B, 24, 88, T)
        if torch.is_grad_enabled():
            keys = self.harmonic(keys + self.key_bias)              # (B, 24, 88, T)
            return {"contour": contour, **self._time_and_heads(keys, hcqt)}
        keys = self.harmonic(keys.add_(self.key_bias))
        return {"contour": contour, **self._time_and_heads_padded(keys, hcqt, velocity_floor)}

    def key_features(self, hcqt: torch.Tensor) -> torch.Tensor:
        """The key features after the time blocks, which the note, velocity and onset heads read
        (the training path's layers): ``hcqt (B, 8, 264, T) -> (B, 24, 88, T)``."""
        x = self.input_norm(hcqt)                                   # (B, 8, 264, T)
        keys = self.to_keys(torch.cat([self.contour_conv(x), x], 1))   # (B, 24, 88, T)
        return self.time_blocks(self.harmonic(keys + self.key_bias))

    def velocity_from_level(self, hcqt: torch.Tensor) -> torch.Tensor | None:
        """The velocity logit's share read from the input level (``velocity_level_frames``), or None.

        Each key's level is the maximum over its three HCQT bins (the bin the key is centred on
        and its neighbours), per harmonic channel; a convolution along time reads it at frame
        offsets ``first .. last`` and adds a quadratic in the key's register ``u`` (0 at A0, 1 at
        C8): a strike's velocity shows in how loud it sounds, which the key features, made to
        find notes at any level, keep only in part. ``hcqt (B, 8, 264, T) -> (B, V, 88, T)``,
        ``V`` the first layer's units (1 without ``velocity_hidden``)."""
        if not self.model_config.velocity_level_frames:
            return None
        first, last = _level_frames(self.model_config.velocity_level_frames)
        level = key_bin_level(hcqt)                                             # (B, 8, 88, T)
        level = self.velocity_level(nn.functional.pad(level, (-first, last)))    # (B, V, 88, T)
        u = self.register_position                                              # (1, 88, 1)
        weights = self.velocity_register.view(2, -1, 1, 1)                      # (2, V, 1, 1)
        return level + (weights[0] * u + weights[1] * u * u)                    # (B, V, 88, T)

    def velocity_logit(self, first_layer: torch.Tensor) -> torch.Tensor:
        """The velocity logit from the head's first layer (key features and level summed):
        itself, or with ``velocity_hidden`` units ``velocity_out(relu(first_layer))``, a small
        network on the same inputs (the model card, *A velocity head with a hidden layer*).
        ``(B, V, 88, T) -> (B, 1, 88, T)``."""
        if not self.model_config.velocity_hidden:
            return first_layer
        return self.velocity_out(torch.relu(first_layer))

    def _time_and_heads(self, keys: torch.Tensor, hcqt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Time blocks and heads: ``keys (B, 24, 88, T)`` -> every output but ``contour``."""
        keys = self.time_blocks(keys)                               # (B, 24, 88, T)
        note = self.note_head(keys)                                 # (B, 1, 88, T)
        velocity = self.velocity_head(keys)                         # (B, V, 88, T)
        level = self.velocity_from_level(hcqt)
        if level is not None:
            velocity = velocity + level                             # (B, V, 88, T)
        velocity = self.velocity_logit(velocity)                    # (B, 1, 88, T)
        onset = self.onset_head(self.onset_conv(torch.cat([keys, torch.sigmoid(note)], 1)))   # (B, 1, 88, T)
        pooled = torch.cat([keys.mean(2), keys.amax(2)], 1)         # (B, 48, T)
        return self._outputs(note[:, 0], onset[:, 0], velocity[:, 0], pooled)

    @torch.no_grad()
    def _time_and_heads_padded(self, keys: torch.Tensor, hcqt: torch.Tensor,
                               velocity_floor: float | None = None) -> dict[str, torch.Tensor]:
        """:meth:`_time_and_heads` for inference, the same numbers: every key's frames get a
        margin of zeros on both sides once (:func:`padded_time_conv`'s layout), which every
        time convolution then reads as its padding, instead of padding (copying) its input
        five times; the onset convolution reads the note evidence beside the features without
        concatenating them. With ``velocity_floor``, the velocity head runs only where the onset
        probability reaches it (:meth:`_velocity_at`)."""
        # the onset conv's dilation is 1; the velocity head reaches velocity_frames // 2
        margin = max(self.model_config.time_dilations + (1, self.model_config.velocity_frames // 2))
        batch, channels, n_keys, n_frames = keys.shape
        inside = slice(margin, margin + n_frames)
        x = zero_margins(keys.new_empty(batch, channels, n_keys, n_frames + 2 * margin), margin)
        x[..., inside] = keys                                       # (B, 24, 88, W)
        for block in self.time_blocks:
            x = block.padded(x, margin)                             # (B, 24, 88, W)
        note = self.note_head(x)                                    # (B, 1, 88, W)
        evidence = zero_margins(torch.sigmoid(note), margin)
        onset_features = self.onset_conv.activate(padded_time_conv(self.onset_conv.conv, [x, evidence], margin))
        onset = self.onset_head(onset_features)                     # (B, 1, 88, W)
        pooled = torch.cat([x[..., inside].mean(2), x[..., inside].amax(2)], 1)   # (B, 48, T)
        if velocity_floor is not None and velocity_floor > 0:    # (at 0 every cell: the dense head is faster)
            cells = onset[:, 0, :, inside] >= _logit(velocity_floor)   # (B, 88, T) bool
            velocity = self._velocity_at(x[..., inside], hcqt, cells)  # (B, 88, T)
            return self._outputs(note[:, 0, :, inside], onset[:, 0, :, inside], velocity, pooled)
        velocity = self._velocity_head_padded(x)[..., inside]       # (B, V, 88, T)
        level = self.velocity_from_level(hcqt)
        if level is not None:
            velocity = velocity.add_(level)
        velocity = self.velocity_logit(velocity)                    # (B, 1, 88, T)
        return self._outputs(note[:, 0, :, inside], onset[:, 0, :, inside], velocity[:, 0], pooled)

    def _velocity_at(self, keys: torch.Tensor, hcqt: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """The velocity logit at ``cells`` only, ``-inf`` elsewhere: the head's weights applied to
        the key features and key levels read at those cells and the frames around them
        (:func:`taps_at`, zero past the ends as the dense convolutions' padding). ``keys (B, C, 88, T)``
        key features, ``hcqt (B, 8, 264, T)``, ``cells (B, 88, T)`` bool -> ``(B, 88, T)``."""
        cfg = self.model_config
        out = torch.full(cells.shape, -math.inf, dtype=keys.dtype, device=keys.device)  # (B, 88, T)
        batch, key, frame = cells.nonzero(as_tuple=True)                                 # (n,) each
        if len(batch) == 0:
            return out
        head = self.velocity_head
        half = head.weight.shape[-1] // 2                                                # frames each side
        taps = taps_at(keys, (batch, key, frame), range(-half, half + 1))                 # (n, C, F)
        first = torch.einsum("ncf,vcf->nv", taps, head.weight[:, :, 0, :]) + head.bias    # (n, V)
        if cfg.velocity_level_frames:
            low, high = _level_frames(cfg.velocity_level_frames)
            taps = taps_at(key_bin_level(hcqt), (batch, key, frame), range(low, high + 1))   # (n, 8, L)
            first = first + torch.einsum("nhl,vhl->nv", taps, self.velocity_level.weight[:, :, 0, :])
            u = self.register_position[0, key]                                           # (n, 1)
            first = first + self.velocity_register[0] * u + self.velocity_register[1] * u * u
        if cfg.velocity_hidden:
            out_layer = self.velocity_out
            first = torch.relu(first) @ out_layer.weight[:, :, 0, 0].t() + out_layer.bias   # (n, 1)
        out[batch, key, frame] = first[:, 0]
        return out

    def _velocity_head_padded(self, x: torch.Tensor) -> torch.Tensor:
        """``velocity_head(x)`` on the padded layout ``(B, C, 88, W)`` (zeros in margins at least
        ``velocity_frames // 2`` wide), as one matrix product for all its frames and shifted sums
        of the products: oneDNN's direct convolution with one output channel is several times
        slower (with ``velocity_hidden`` units it is the other way round: 10 against 33 ms for 2,000
        frames on 2 cores, so that path takes it). Values in the margins are to be discarded.
        ``-> (B, V, 88, W)``."""
        head = self.velocity_head
        if isinstance(head, Pointwise):
            return head(x)
        units, _, _, n_frames = head.weight.shape
        if units > 1:                          # hidden units: oneDNN's convolution is the fast one here
            return nn.functional.conv2d(x, head.weight, head.bias, padding=(0, n_frames // 2))
        batch, channels, n_keys, width = x.shape
        n = n_keys * width
        taps = head.weight[0, :, 0, :].t()                                     # (frames, C)
        products = torch.matmul(taps, x.reshape(batch, channels, n))           # (B, frames, K * W)
        half = n_frames // 2
        out = products[:, half].clone()                                        # (B, K * W)
        for j in range(n_frames):
            shift = j - half                                                   # out[t] += products[j, t + shift]
            if shift > 0:
                out[:, :n - shift] += products[:, j, shift:]
            elif shift < 0:
                out[:, -shift:] += products[:, j, :n + shift]
        return out.add_(head.bias).view(batch, 1, n_keys, width)

    def _outputs(self, note, onset, velocity, pooled) -> dict[str, torch.Tensor]:
        pedal = self.pedal_head(self.pedal_blocks(self.pedal_in(pooled)))   # (B, 3, T)
        return {"note": note, "onset": onset, "velocity": velocity, "pedal": pedal[:, 0],
                "pedal_onset": pedal[:, 1], "pedal_offset": pedal[:, 2]}


def _embed(new: torch.Tensor, old: torch.Tensor, rows, columns=None) -> None:
    """Write ``old`` into ``new`` at output indices ``rows`` (and input indices ``columns`` for a
    weight), the input columns that ``old`` lacks set to zero."""
    rows = torch.as_tensor(rows)
    if columns is None:
        new[rows] = old
        return
    columns = torch.as_tensor(columns)
    added = torch.ones(new.shape[1], dtype=torch.bool)
    added[columns] = False
    new[:, added] = 0
    new[rows[:, None], columns[None, :]] = old


def can_widen(have: ModelConfig, wanted: ModelConfig) -> bool:
    """Whether :func:`widen` grows a network of ``have`` into one of ``wanted``: the same except
    for at least as many key and onset channels, subharmonic keys and time dilations that
    start with ``have``'s, a velocity head that reads at least as many frames, and a level path
    for the velocity added (or the same)."""
    same_rest = replace(have, key_channels=wanted.key_channels, onset_channels=wanted.onset_channels,
                        subharmonic_keys=wanted.subharmonic_keys, time_dilations=wanted.time_dilations,
                        velocity_frames=wanted.velocity_frames,
                        velocity_level_frames=wanted.velocity_level_frames) == wanted
    return (same_rest and wanted.key_channels >= have.key_channels and wanted.onset_channels >= have.onset_channels
            and wanted.subharmonic_keys[:len(have.subharmonic_keys)] == have.subharmonic_keys
            and wanted.time_dilations[:len(have.time_dilations)] == have.time_dilations
            and wanted.velocity_frames >= have.velocity_frames
            and have.velocity_level_frames in ((), wanted.velocity_level_frames))


GROWN_BLOCK_SCALE = 1e-3   # a new time block's normalisation scale: its residual starts (almost) at zero


@torch.no_grad()
def widen(model: "FasolfaNet", key_channels: int, onset_channels: int | None = None,
          subharmonic_keys: tuple | None = None, time_dilations: tuple | None = None,
          velocity_frames: int | None = None, velocity_level_frames: tuple | None = None) -> "FasolfaNet":
    """A wider copy of ``model`` (more features per key, more onset features, more keys read
    below each key: ``subharmonic_keys`` must start with the model's own) that computes
    exactly the same function: net2net-style growth (Chen et al., ICLR 2016), the zero-init variant.

    Every old weight is copied to where its channels sit in the wider network. The added
    channels get the usual random initial weights on their inputs, but every layer reading them
    gets zero weights for them, so the outputs are unchanged (training and eval mode alike)
    until training moves those zeros; gradients reach them at once, because the added channels
    carry non-zero features. Concatenated inputs are remapped block by block (the harmonic
    convolution's shifted copies, the onset convolution's note channel, the pedal's mean and max
    pools).

    ``time_dilations`` may add time blocks after the model's own (it must start with them): a
    new block is a residual ``x + relu(norm(conv(x)))`` whose normalisation scale starts at
    :data:`GROWN_BLOCK_SCALE` instead of 1, so it adds almost nothing at first (not exactly
    nothing: a scale of 0 would leave the block with no gradient, ``relu`` being flat at 0) and
    learns how much to add. ``velocity_frames`` may widen the velocity head's reach in time (the
    old weights become its centre frame, the other frames start at zero) and
    ``velocity_level_frames`` may add its level path (:meth:`FasolfaNet.velocity_from_level`),
    whose weights start at zero. Other sizes must stay as they are. Explained in
    notebooks/05_the_model.ipynb."""
    old_cfg = model.model_config
    onset_channels = old_cfg.onset_channels if onset_channels is None else onset_channels
    subharmonic_keys = old_cfg.subharmonic_keys if subharmonic_keys is None else tuple(subharmonic_keys)
    time_dilations = old_cfg.time_dilations if time_dilations is None else tuple(time_dilations)
    velocity_frames = old_cfg.velocity_frames if velocity_frames is None else int(velocity_frames)
    velocity_level_frames = (old_cfg.velocity_level_frames if velocity_level_frames is None
                             else tuple(velocity_level_frames))
    new_cfg = replace(old_cfg, key_channels=key_channels, onset_channels=onset_channels,
                      subharmonic_keys=subharmonic_keys, time_dilations=time_dilations,
                      velocity_frames=velocity_frames, velocity_level_frames=velocity_level_frames)
    if not can_widen(old_cfg, new_cfg):
        raise ValueError("widen only adds channels, subharmonic keys, time blocks and velocity reach")
    grown = FasolfaNet(new_cfg).to(next(model.parameters()).device)
    k0, k1, o0 = old_cfg.key_channels, key_channels, old_cfg.onset_channels
    keys = list(range(k0))                                        # old key features keep their index
    same = None                                                   # input or output unchanged
    n_offsets = len(model.harmonic.offsets)
    # module prefix -> (output index map, input index map) of its convolution; None: unchanged
    maps = {"to_keys": (keys, same),
            "harmonic.mix": (keys, [i * k1 + j for i in range(n_offsets) for j in range(k0)]),  # new offsets last
            "note_head": (same, keys), "velocity_head": (same, keys),
            "onset_conv": (list(range(o0)), keys + [k1]),          # the note channel comes after the keys
            "onset_head": (same, list(range(o0))),
            "pedal_in": (same, keys + [k1 + j for j in range(k0)])}   # mean pool, then max pool
    for i in range(len(old_cfg.time_dilations)):
        maps[f"time_blocks.{i}.layer"] = (keys, keys)
    new_state, old_state = grown.state_dict(), model.state_dict()
    for name, old in old_state.items():
        new = new_state[name]
        if old.ndim == 0 or (new.shape == old.shape and not any(name.startswith(prefix + ".") for prefix in maps)):
            new.copy_(old)
            continue
        if name == "key_bias":
            _embed(new.transpose(0, 1), old.transpose(0, 1), keys)
            continue
        if name == "velocity_head.weight" and new.shape[-1] != old.shape[-1]:     # more frames: old = centre
            centre = torch.zeros(old.shape[0], old.shape[1], 1, new.shape[-1])
            centre[..., new.shape[-1] // 2] = old[..., 0]
            old = centre
        prefix = next(prefix for prefix in maps if name.startswith(prefix + "."))
        rows, columns = maps[prefix]
        rows = list(range(old.shape[0])) if rows is None else rows
        if name.endswith("weight") and old.ndim >= 2:            # a convolution's weight
            columns = list(range(old.shape[1])) if columns is None else columns
            _embed(new, old, rows, columns)
        else:                                                     # biases, normalisation statistics
            _embed(new, old, rows)
    for i in range(len(old_cfg.time_dilations), len(time_dilations)):     # added time blocks
        new_state[f"time_blocks.{i}.layer.norm.weight"].fill_(GROWN_BLOCK_SCALE)
    for name in ("velocity_level.weight", "velocity_register"):          # an added level path reads nothing yet
        if name in new_state and name not in old_state:
            new_state[name].zero_()
    grown.load_state_dict(new_state)
    return grown.train(model.training)


@torch.no_grad()
def with_velocity_hidden(model: "FasolfaNet", hidden: int) -> "FasolfaNet":
    """A copy of ``model`` whose velocity head has ``hidden`` ReLU units (0: a linear logit,
    ``ModelConfig.velocity_hidden``). Every other weight is copied; the velocity head's own
    start afresh (random), to be fitted on the unchanged features (:mod:`fasolfa.velocity_fit`
    ``--hidden``), so the velocity output means nothing until then."""
    if hidden < 0:
        raise ValueError(f"velocity_hidden must be 0 or more, got {hidden}")
    grown = FasolfaNet(replace(model.model_config, velocity_hidden=int(hidden))).to(next(model.parameters()).device)
    state = grown.state_dict()
    for name, value in model.state_dict().items():
        if not name.startswith(("velocity_head.", "velocity_level.", "velocity_register", "velocity_out.")):
            state[name].copy_(value)
    grown.load_state_dict(state)
    return grown.train(model.training)


def probabilities(logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sigmoid of every head: the posteriorgrams, each value in [0, 1]."""
    return {name: torch.sigmoid(value) for name, value in logits.items()}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _baddbmm_flops(self_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    """Multiply-adds of ``x.baddbmm_(a, b)`` (the harmonic convolution's in-place products, which
    ``FlopCounterMode`` does not count by itself), 2 per multiply-add: ``(B, M, K) @ (B, K, N)``."""
    batch, rows, inner = a_shape
    return 2 * batch * rows * inner * b_shape[-1]


def layer_table(model: nn.Module, seconds: float = 10.0) -> list[dict]:
    """Per top-level layer: trainable parameters and forward MFLOPs per second of audio
    (counted with ``torch.utils.flop_counter.FlopCounterMode`` on ``seconds`` of HCQT frames;
    a multiply-add counts 2; only convolutions and matrix products are counted — normalisations,
    activations, additions and pooling, a few percent more, are not). The last row, ``"total"``, sums them.
    Counted on the training path (plain convolutions, one module call per layer); inference
    computes the same function. Explained in notebook 05."""
    from torch.utils.flop_counter import FlopCounterMode
    n_frames = int(round(seconds * config.FRAMES_PER_SECOND))
    hcqt = torch.zeros(1, model.model_config.n_harmonics, config.N_CONTOUR_BINS, n_frames)
    was_training = model.training
    model.eval()
    with torch.enable_grad(), FlopCounterMode(display=False, depth=2,
                                          custom_mapping={torch.ops.aten.baddbmm_: _baddbmm_flops}) as counter:
        model(hcqt)
    model.train(was_training)
    flops = counter.get_flop_counts()
    prefix = type(model).__name__
    rows = []
    for name, child in model.named_children():
        rows.append({"layer": name, "parameters": count_parameters(child),
                     "mflops_per_s": sum(flops.get(f"{prefix}.{name}", {}).values()) / 1e6 / seconds})
    for name, parameter in model.named_parameters(recurse=False):
        rows.append({"layer": name, "parameters": parameter.numel(), "mflops_per_s": 0.0})
    rows.append({"layer": "total", "parameters": count_parameters(model),
                 "mflops_per_s": sum(flops.get(prefix, {}).values()) / 1e6 / seconds})
    return rows
