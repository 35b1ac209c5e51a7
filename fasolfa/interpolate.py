"""Weights on the straight line between two checkpoints of one network.

Two runs fine-tuned apart from the same weights often stay in one basin of the loss: every
point on the line ``(1 - alpha) * A + alpha * B`` between them is a working network, and points
inside can keep part of what each run learnt, sometimes more than either end (Wortsman et al.,
"Robust fine-tuning of zero-shot models" (WiSE-FT) and "Model soups", 2022). Here ``A`` is
typically the shipped weights and ``B`` a continuation trained on something else (rooms with
longer reverberation): the line trades what ``A`` does well on for what ``B`` does well on, and
validation says where on it to stand (the model card, *Between two checkpoints*).

Every floating-point tensor of the state dict is interpolated, BatchNorm's running statistics
included (they move as slowly as the weights); integer counters are ``A``'s. The velocity head is
``A``'s unchanged: a head with hidden units is fitted to its own trunk
(:mod:`fasolfa.velocity_fit`), and two fits' hidden units need not line up one to one, so
averaging them unit by unit means nothing; fit it again for the interpolated trunk instead::

    python -m fasolfa.interpolate A.pt B.pt MID.pt --alpha 0.5
    python -m fasolfa.velocity_fit CONFIG.json MID.pt MID-fit.pt
    python -m fasolfa.train CONFIG.json --finalize MID-fit.pt MID-final.pt
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from fasolfa.errors import FasolfaError

KEPT_FROM_A = ("velocity",)     # state-dict prefixes taken from A as they are (the velocity head)


def interpolate_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float,
                      kept_from_a: tuple[str, ...] = KEPT_FROM_A) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * a + alpha * b`` for every floating-point tensor whose name does not start
    with one of ``kept_from_a``; those and integer tensors are ``a``'s (copied). ``a`` and ``b``
    must have the same names and shapes (``ValueError`` otherwise); ``alpha`` in ``[0, 1]``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if a.keys() != b.keys():
        raise ValueError(f"state dicts differ in names: {sorted(set(a) ^ set(b))[:4]}")
    out = {}
    for name, tensor in a.items():
        other = b[name]
        if tensor.shape != other.shape:
            raise ValueError(f"{name}: shapes {tuple(tensor.shape)} and {tuple(other.shape)} differ")
        if tensor.is_floating_point() and not name.startswith(kept_from_a):
            out[name] = torch.lerp(tensor, other.to(tensor.dtype), alpha)
        else:
            out[name] = tensor.clone()
    return out


def interpolate_checkpoints(a_path: str | Path, b_path: str | Path, alpha: float,
                            out_path: str | Path) -> Path:
    """Write the network at ``alpha`` between the checkpoints ``a_path`` (0) and ``b_path`` (1)
    to ``out_path`` (:func:`fasolfa.train.save_weights`, atomic), with ``A``'s metadata (its
    thresholds, until ``--finalize`` chooses new ones) and ``metadata["interpolation"]``: both
    files' SHA-256 and ``alpha``. Raises :class:`FasolfaError` naming the file for a missing or
    foreign checkpoint, two networks of different shapes, or ``alpha`` outside ``[0, 1]``."""
    from fasolfa.data import midi_hash     # a file's SHA-256, whatever the file holds
    from fasolfa.train import load_weights, save_weights
    if not 0.0 <= alpha <= 1.0:
        raise FasolfaError(f"--alpha must lie in [0, 1], got {alpha}")
    model, metadata = load_weights(a_path)
    other, _ = load_weights(b_path)
    if model.model_config != other.model_config:
        raise FasolfaError(f"{b_path}: another network than {a_path}'s ({other.model_config} against "
                           f"{model.model_config})")
    model.load_state_dict(interpolate_state(model.state_dict(), other.state_dict(), alpha))
    metadata = {**metadata, "interpolation": {
        "a": Path(a_path).name, "a_sha256": midi_hash(a_path, "checkpoint"), "b": Path(b_path).name,
        "b_sha256": midi_hash(b_path, "checkpoint"), "alpha": alpha, "kept_from_a": list(KEPT_FROM_A)}}
    try:
        return save_weights(out_path, model, metadata)
    except OSError as error:
        raise FasolfaError(f"{out_path}: cannot write ({error.strerror or error})") from None


def main(argv=None) -> int:
    """``python -m fasolfa.interpolate A.pt B.pt OUT.pt --alpha ALPHA``: write the weights at
    ALPHA on the line from A (0) to B (1), velocity head A's (fit it again afterwards)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m fasolfa.interpolate", description=main.__doc__)
    parser.add_argument("a", help="checkpoint at alpha 0 (its velocity head and metadata are kept)")
    parser.add_argument("b", help="checkpoint at alpha 1 (the same network)")
    parser.add_argument("out")
    parser.add_argument("--alpha", type=float, required=True, help="0: A, 1: B's trunk")
    args = parser.parse_args(argv)
    try:
        path = interpolate_checkpoints(args.a, args.b, args.alpha, args.out)
    except FasolfaError as error:
        print(f"fasolfa interpolate: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} (alpha {args.alpha})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
