"""Would a non-linear velocity head do better on the same inputs? A probe, not a training step.

A velocity head without hidden units is linear in what it reads (the key features of 5 frames
around each onset, the level of the key's own HCQT bins, the register:
:func:`fasolfa.velocity_fit.onset_design`) and is fitted by least squares (:mod:`fasolfa.velocity_fit`);
the shipped one was, until this probe led to ``ModelConfig.velocity_hidden``. This script gathers those rows for
the strikes of ``--windows`` training windows, holds out the last fifth of them (later windows,
so mostly other excerpts), and compares on the held-out strikes

- the least-squares fit of the linear head (:func:`fasolfa.velocity_fit.fit_sigmoid_least_squares`),
- small two-layer networks (``hidden`` ReLU units: :func:`fasolfa.velocity_fit.fit_sigmoid_network`,
  AdamW on the same squared error of the sigmoid, 30 passes over the strikes as the command makes),

by the root-mean-square error in MIDI velocity units and the share of strikes within 8 units
(about mir_eval's tolerance, 0.1 of a piece's velocity range, for a piece spanning 80 units).
If a non-linear head gains little, the velocity error is in what the head reads, not in how.

    python tests/bench/velocity_head_probe.py [--checkpoint W.pt] [--config C.json] [--windows 3000]

writes ``figures/velocity_probe/probe.json`` (or ``--out DIR``); ``--design FILE.npz`` keeps the
gathered rows (``design``, ``y``) and reads them back on a second run instead of gathering again.
``--finalized NAME CHECKPOINT`` (repeatable) also stores those ``--finalize``d checkpoints'
validation scores (``ablations.py``'s :func:`finalized_scores`): the heads fitted for real
(``python -m fasolfa.velocity_fit ... --hidden H``), judged as every checkpoint is.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablations import finalized_scores  # noqa: E402
from common import FIGURES, busy_warning, checkpoint_parser, file_sha256, machine_info, write_report  # noqa: E402

DEFAULT_CONFIG = FIGURES / "velocity_fit" / "velocity-head-config.json"   # the shipped fit's data
HIDDEN = (8, 16, 32, 64)
PASSES = 30              # over the probe's training strikes, as the command's NETWORK_STEPS are over its 245k
TOLERANCE = 8.0          # velocity units


def gather(checkpoint: Path, config_path: Path, n_windows: int, seed: int, cache: Path | None):
    """``(design (n, D), velocity / 127 (n,))``, read from ``cache`` when it exists."""
    if cache is not None and cache.exists():
        stored = np.load(cache)
        return stored["design"].astype(np.float64), stored["y"].astype(np.float64)
    from fasolfa.train import TrainConfig, load_weights
    from fasolfa.velocity_fit import collect_onsets
    model, _ = load_weights(checkpoint)
    design, y = collect_onsets(model, TrainConfig.read(config_path), n_windows, seed)
    if cache is not None:
        np.savez(cache, design=design.astype(np.float32), y=y)
    return design, y


def scores(predicted: np.ndarray, y: np.ndarray) -> dict:
    """RMSE in velocity units and the share within ``TOLERANCE`` of the truth."""
    error = (predicted - y) * 127.0
    return {"rmse": round(float(np.sqrt(np.mean(error ** 2))), 3),
            "within_8": round(float(np.mean(np.abs(error) < TOLERANCE)), 4)}


def main(argv=None) -> int:
    parser = checkpoint_parser(__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="a TrainConfig (its training data)")
    parser.add_argument("--windows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--design", type=Path, default=None, help="keep (or read back) the gathered rows here")
    parser.add_argument("--finalized", nargs=2, action="append", default=[], metavar=("NAME", "CHECKPOINT"),
                        help="store this --finalize'd checkpoint's validation scores under NAME")
    args = parser.parse_args(argv)
    from fasolfa.transcription import SHIPPED_CHECKPOINT
    from fasolfa.velocity_fit import NETWORK_BATCH, fit_sigmoid_least_squares, fit_sigmoid_network
    checkpoint = args.checkpoint or SHIPPED_CHECKPOINT
    out = FIGURES / "velocity_probe" if args.out == FIGURES else args.out
    load = busy_warning()
    started = time.perf_counter()
    design, y = gather(checkpoint, args.config, args.windows, args.seed, args.design)
    cut = int(0.8 * len(y))                                                # strikes of later windows held out
    train, test = slice(0, cut), slice(cut, None)
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    weights = fit_sigmoid_least_squares(design[train], y[train])
    rows = [{"head": "linear, least squares", "parameters": int(design.shape[1]),
             "train": scores(sigmoid(design[train] @ weights), y[train]),
             "held_out": scores(sigmoid(design[test] @ weights), y[test])}]
    steps = PASSES * cut // NETWORK_BATCH
    for hidden in HIDDEN:
        first, second, bias = fit_sigmoid_network(design[train], y[train], hidden, steps)
        network = lambda rows: sigmoid(np.maximum(rows @ first.T, 0.0) @ second + bias)
        rows.append({"head": f"two layers, {hidden} hidden units", "parameters": int(first.size + second.size + 1),
                     "train": scores(network(design[train]), y[train]), "held_out": scores(network(design[test]), y[test])})
    for row in rows:
        print(f"{row['head']:32s} held-out RMSE {row['held_out']['rmse']:6.2f}  within 8: {row['held_out']['within_8']:.3f}"
              f"  (train {row['train']['rmse']:.2f})")
    write_report(Path(out) / "probe.json", {
        "what": "velocity head probe: the linear least-squares head against small non-linear heads on the same inputs",
        "checkpoint": str(checkpoint), "checkpoint_sha256": file_sha256(checkpoint),
        "config": str(args.config), "windows": args.windows, "seed": args.seed,
        "strikes": {"train": int(cut), "held_out": int(len(y) - cut)}, "passes": PASSES, "network_steps": steps,
        "rows": rows, "seconds": round(time.perf_counter() - started, 1),
        "finalized": {name: finalized_scores(Path(path)) for name, path in args.finalized},
        "machine": machine_info(load)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
