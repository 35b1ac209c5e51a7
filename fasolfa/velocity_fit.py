"""Fit the velocity head by least squares on the training onsets, instead of by gradient steps.

The velocity head's logit is linear in what it reads (:class:`fasolfa.model.FasolfaNet`: the key
features around the onset, the level of the key's own bins, the register), and its loss counts
onset cells only (:func:`fasolfa.train.losses`): fitting it is a regression of ``velocity / 127``
on a few hundred numbers per strike. Gradient steps solve that regression slowly, because its
inputs are badly conditioned: the level columns are log magnitudes in ``[0, 1]`` that sit near
0.7 at a strike and vary by about 0.1, so they move together with each other and with the bias
(LeCun et al., "Efficient BackProp", 1998: centre and scale the inputs). The head trained by
AdamW for the shipped trunk stopped improving after a few hundred steps (``figures/velocity_head``)
well short of the least-squares optimum of the same regression (the model card, *Velocity by
least squares*; notebook 06 section 7 draws both on a small run).

So this module solves it directly: it gathers one row per onset cell of ``n_windows`` training
windows (the training data and augmentation, every window at its recorded level), standardises
the columns, and minimises ``sum (sigmoid(x . w) - y)^2 + ridge |w|^2`` (the training loss,
ridge on the standardised weights, not on the bias) by Gauss–Newton from the least-squares fit of
``logit(y)``; then it writes ``w`` back in the head's own units. Nothing but the head's linear
logit changes. ``python -m fasolfa.velocity_fit CONFIG.json WEIGHTS OUT``; then
``python -m fasolfa.train CONFIG.json --finalize OUT FINAL`` as for any weights.

``--hidden H`` gives the head ``H`` ReLU units between what it reads and its logit
(``ModelConfig.velocity_hidden``): the same rows, fitted by AdamW instead of least squares (a
non-linear fit has no closed form). On held-out strikes that lowered the error by about a tenth
(``tests/bench/velocity_head_probe.py``; the model card, *A velocity head with a hidden layer*).
``--reads level`` fits a head that reads the input level and the register only (the key-feature
weights set to zero), ``--reads no-register`` one without the register's ``u`` and ``u**2``: what a
head reads decides what it can carry from the soundfonts it is fitted on to a piano it has not
heard (the model card, *What the velocity head reads*).
``--distil`` fits the new head to WEIGHTS' own head's outputs on the same strikes instead of to
their velocities (Hinton et al., "Distilling the knowledge in a neural network", 2015): a small
head that copies a larger one, e.g. the mean of several heads (``--seeds``). Heads of 16 and 24
units copied the shipped mean head to about a MIDI unit and still lost +velocity F1 (the model
card, *One head distilled from three*).
Explained in notebooks/06_training.ipynb.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from fasolfa import config
from fasolfa.errors import FasolfaError
from fasolfa.model import FasolfaNet, key_bin_level, taps_at, with_velocity_hidden

RIDGE = 1.0            # on the standardised weights; tens of thousands of onsets make it a tie-breaker
WINDOWS = 12_000       # training windows read by the command (the shipped fit: about 245k strikes)
VELOCITY_CLIP = 0.02   # logit(y) of the starting fit is taken of y clipped to [clip, 1 - clip]
NETWORK_STEPS = 15_000  # a head with hidden units: AdamW steps of 512 strikes (about 30 passes over the
                        # command's 245k strikes; held-out error flat from about 20 passes)
NETWORK_BATCH = 512
NETWORK_LEARNING_RATE = 1e-3
NETWORK_WEIGHT_DECAY = 1e-4
READS = ("all", "level", "no-register")   # what the fitted head may read (design_columns)


@torch.no_grad()
def onset_design(model: FasolfaNet, hcqt: torch.Tensor, onsets: torch.Tensor) -> torch.Tensor:
    """One row per onset cell of what the velocity logit reads, ordered as :func:`head_weights`:
    ``hcqt (B, 8, 264, T)``, ``onsets (B, 88, T)`` bool -> ``(n_onsets, n_columns)`` (float64),
    such that ``design @ head_weights(model)`` is the velocity logit at those cells."""
    cfg = model.model_config
    cells = onsets.nonzero(as_tuple=True)
    half = cfg.velocity_frames // 2
    parts = [taps_at(model.key_features(hcqt), cells, range(-half, half + 1)).flatten(1)]      # (n, C * frames)
    if cfg.velocity_level_frames:
        first, last = cfg.velocity_level_frames
        parts.append(taps_at(key_bin_level(hcqt), cells, range(first, last + 1)).flatten(1))   # (n, 8 * L)
        u = model.register_position[0, cells[1], 0]                                          # (n,)
        parts += [u[:, None], (u * u)[:, None]]
    parts.append(torch.ones(len(cells[0]), 1))                                               # the bias
    return torch.cat(parts, 1).double()


def design_columns(model: FasolfaNet, reads: str = "all") -> np.ndarray:
    """Which of :func:`onset_design`'s columns a head that ``reads`` may weight, ``(n_columns,)`` bool:
    ``"all"`` every column; ``"level"`` the input level, the register and the bias (no key
    features: the same for any trunk); ``"no-register"`` all but the register's ``u`` and ``u**2``."""
    cfg = model.model_config
    if reads not in READS:
        raise FasolfaError(f"reads must be one of {', '.join(READS)}, got {reads!r}")
    n_features = model.velocity_head.weight[0].numel()                      # C * frames
    n_level = model.velocity_level.weight[0].numel() if cfg.velocity_level_frames else 0
    keep = np.ones(n_features + n_level + (2 if cfg.velocity_level_frames else 0) + 1, bool)
    if reads != "all" and not cfg.velocity_level_frames:
        raise FasolfaError(f"a head that reads {reads!r} needs the level path (velocity_level_frames)")
    if reads == "level":
        keep[:n_features] = False
    elif reads == "no-register":
        keep[n_features + n_level:n_features + n_level + 2] = False
    return keep


def first_layer_weights(model: FasolfaNet) -> torch.Tensor:
    """The velocity head's first layer as a matrix ``(V, n_columns)``, row ``v`` the weights of
    its unit ``v`` in :func:`onset_design`'s column order (``V`` = 1 without ``velocity_hidden``:
    the row is then the logit's weights)."""
    head = model.velocity_head
    units = head.weight.shape[0]
    parts = [head.weight[:, :, 0, :].reshape(units, -1)]               # (V, C * frames): column c * frames + j
    if model.model_config.velocity_level_frames:
        parts += [model.velocity_level.weight[:, :, 0, :].reshape(units, -1),   # (V, 8 * L)
                  model.velocity_register.t()]                                 # (V, 2)
    parts.append(head.bias[:, None])                                   # (V, 1)
    return torch.cat(parts, 1).detach().double()


@torch.no_grad()
def set_first_layer_weights(model: FasolfaNet, weights: torch.Tensor) -> None:
    """Write a :func:`first_layer_weights` matrix back into the model (the inverse of that function)."""
    head = model.velocity_head
    weights = torch.as_tensor(weights, dtype=head.weight.dtype)
    units = head.weight.shape[0]
    sizes = [head.weight[0].numel()]
    if model.model_config.velocity_level_frames:
        sizes += [model.velocity_level.weight[0].numel(), 2]
    sizes.append(1)
    if weights.shape != (units, sum(sizes)):
        raise ValueError(f"expected velocity weights of shape ({units}, {sum(sizes)}), got {tuple(weights.shape)}")
    parts = torch.split(weights, sizes, dim=1)
    head.weight.copy_(parts[0].view_as(head.weight))
    if model.model_config.velocity_level_frames:
        model.velocity_level.weight.copy_(parts[1].view_as(model.velocity_level.weight))
        model.velocity_register.copy_(parts[2].t())
    head.bias.copy_(parts[-1][:, 0])


def head_weights(model: FasolfaNet) -> torch.Tensor:
    """The linear velocity logit's weights as one vector, in :func:`onset_design`'s column order."""
    if model.model_config.velocity_hidden:
        raise ValueError("the velocity head has a hidden layer: see first_layer_weights")
    return first_layer_weights(model)[0]


def set_head_weights(model: FasolfaNet, weights: torch.Tensor) -> None:
    """Write a :func:`head_weights` vector back into the model (the inverse of that function)."""
    if model.model_config.velocity_hidden:
        raise ValueError("the velocity head has a hidden layer: see set_first_layer_weights")
    set_first_layer_weights(model, torch.as_tensor(weights).reshape(1, -1))


def predict(model: FasolfaNet, design: np.ndarray) -> np.ndarray:
    """The velocity head's output ``sigmoid(logit)`` for :func:`onset_design` rows: ``(n, D) -> (n,)``."""
    first = np.asarray(design, np.float64) @ first_layer_weights(model).numpy().T      # (n, V)
    if model.model_config.velocity_hidden:
        out = model.velocity_out
        first = np.maximum(first, 0.0) @ out.weight[:, :, 0, 0].detach().double().numpy().T \
            + out.bias.detach().double().numpy()                                      # (n, 1)
    return 1.0 / (1.0 + np.exp(-first[:, 0]))


def fit_sigmoid_least_squares(design: np.ndarray, y: np.ndarray, ridge: float = RIDGE,
                              iterations: int = 30) -> np.ndarray:
    """``w`` minimising ``sum (sigmoid(design @ w) - y)^2`` plus ``ridge |w|^2`` on the weights of the
    standardised columns (the bias column, constant, is neither standardised nor penalised).
    ``design (n, D)`` with a constant last column, ``y (n,)`` in ``[0, 1]`` -> ``w (D,)`` in the
    design's own units. Gauss–Newton with step halving, from the ridge fit of ``logit(y)``."""
    design, y = np.asarray(design, np.float64), np.asarray(y, np.float64)
    mean, scale = design[:, :-1].mean(0), design[:, :-1].std(0)
    scale[scale < 1e-8] = 1.0                          # a constant column: left as it is
    z = np.concatenate([(design[:, :-1] - mean) / scale, np.ones((len(y), 1))], 1)   # (n, D)
    penalty = np.full(z.shape[1], float(ridge))
    penalty[-1] = 0.0
    target = np.log(np.clip(y, VELOCITY_CLIP, 1 - VELOCITY_CLIP) / (1 - np.clip(y, VELOCITY_CLIP, 1 - VELOCITY_CLIP)))
    w = np.linalg.solve(z.T @ z + np.diag(penalty), z.T @ target)
    objective = lambda v: ((1 / (1 + np.exp(-(z @ v))) - y) ** 2).sum() + (penalty * v * v).sum()
    current = objective(w)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        jacobian = z * (p * (1 - p))[:, None]                            # d sigmoid / d w: (n, D)
        step = np.linalg.solve(jacobian.T @ jacobian + np.diag(penalty), jacobian.T @ (p - y) + penalty * w)
        size, candidate = 1.0, objective(w - step)
        while size > 1e-3 and candidate > current:          # halve the step until it helps
            size /= 2
            candidate = objective(w - size * step)
        if size <= 1e-3:
            break
        w, improved, current = w - size * step, current - candidate, candidate
        if improved < 1e-10:
            break
    raw = w[:-1] / scale                                                  # back to the design's units
    return np.concatenate([raw, [w[-1] - (raw * mean).sum()]])


def fit_sigmoid_network(design: np.ndarray, y: np.ndarray, hidden: int, steps: int = NETWORK_STEPS,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """A two-layer network ``sigmoid(w2 . relu(W1 x) + b2)`` fitted to ``(design, y)`` by
    ``steps`` AdamW steps on the mean squared error (the training loss), the columns standardised
    while it learns:
    ``design (n, D)`` with a constant last column, ``y (n,)`` in ``[0, 1]`` -> ``W1 (hidden, D)``
    in the design's own units (last column: the units' biases), ``w2 (hidden,)``, ``b2``.
    Deterministic for a given ``seed``; no closed form here, so no guarantee of the optimum."""
    design, y = np.asarray(design, np.float64), np.asarray(y, np.float64)
    mean, scale = design[:, :-1].mean(0), design[:, :-1].std(0)
    scale[scale < 1e-8] = 1.0
    generator = torch.Generator().manual_seed(seed)
    z = torch.as_tensor((design[:, :-1] - mean) / scale, dtype=torch.float32)   # (n, D - 1)
    target = torch.as_tensor(y, dtype=torch.float32)                            # (n,)
    first, second = torch.nn.Linear(z.shape[1], hidden), torch.nn.Linear(hidden, 1)
    with torch.no_grad():                                  # the default initialisation, drawn from `generator`
        for layer in (first, second):
            bound = 1.0 / layer.in_features ** 0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    parameters = [*first.parameters(), *second.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=NETWORK_LEARNING_RATE, weight_decay=NETWORK_WEIGHT_DECAY)
    order, at = torch.randperm(len(target), generator=generator), 0
    for _ in range(steps):                                 # passes over the rows, each in a new order
        if at >= len(order):
            order, at = torch.randperm(len(target), generator=generator), 0
        rows, at = order[at:at + NETWORK_BATCH], at + NETWORK_BATCH
        predicted = torch.sigmoid(second(torch.relu(first(z[rows])))[:, 0])       # (batch,)
        loss = ((predicted - target[rows]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    weight = first.weight.detach().double().numpy() / scale                 # (hidden, D - 1), design units
    bias = first.bias.detach().double().numpy() - weight @ mean             # (hidden,)
    return (np.concatenate([weight, bias[:, None]], 1), second.weight.detach().double().numpy()[0],
            float(second.bias.detach()[0]))


@torch.no_grad()
def collect_onsets(model: FasolfaNet, cfg, n_windows: int, seed: int = 0, batch_size: int = 16,
                   progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(design (n, D), velocity / 127 (n,))`` of every onset cell in ``n_windows`` windows of
    ``cfg``'s training data, augmented as in training but every window at its recorded level (the
    windows the velocity loss counts): epochs ``seed, seed + 1, ...`` of the dataset in turn
    (:meth:`fasolfa.data.WindowDataset.set_epoch`), each in an order drawn with ``seed``."""
    from tqdm.auto import tqdm
    from fasolfa.hcqt import HCQT
    from fasolfa.train import build_training_data
    dataset = build_training_data(replace(cfg, velocity_from_level=1.0), progress=progress)
    rng = np.random.default_rng(seed)
    per_epoch = len(dataset)
    chosen = [(seed + w // per_epoch, int(i)) for w, i in
              enumerate(np.concatenate([rng.permutation(per_epoch) for _ in range(-(-n_windows // per_epoch))]))]
    chosen = chosen[:n_windows]                                         # (epoch, window index)
    hcqt = HCQT()
    model.eval()
    rows, targets = [], []
    for start in tqdm(range(0, len(chosen), batch_size), desc="velocity onsets", unit="batch", disable=not progress):
        items = []
        for epoch, index in chosen[start:start + batch_size]:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            items.append(dataset[index])
        audio = torch.stack([torch.as_tensor(item["audio"]) for item in items])
        features = hcqt.with_context(audio, config.CONTEXT_N_SAMPLES)                 # (B, 8, 264, T)
        onsets = torch.stack([torch.as_tensor(item["onset"]) for item in items]) > 0.5   # (B, 88, T)
        velocity = torch.stack([torch.as_tensor(item["velocity"]) for item in items])
        rows.append(onset_design(model, features, onsets).numpy())
        targets.append(velocity[onsets].double().numpy())
    return np.concatenate(rows), np.concatenate(targets)


def fit_velocity_head(model: FasolfaNet, design: np.ndarray, y: np.ndarray, ridge: float = RIDGE,
                      seed: int = 0, steps: int | None = None, reads: str = "all") -> dict:
    """Replace the velocity head by its fit to ``(design, y)``: a linear logit by least squares
    (:func:`fit_sigmoid_least_squares`), or with ``velocity_hidden`` units the two-layer network
    (:func:`fit_sigmoid_network`, ``steps``: default :data:`NETWORK_STEPS`), weighting only the
    columns that ``reads`` allows (:func:`design_columns`; the others' weights set to zero);
    returns the mean squared error on those rows before and after."""
    hidden = model.model_config.velocity_hidden
    keep = design_columns(model, reads)
    n_weights = int(keep.sum()) * max(hidden, 1)
    if len(y) < n_weights:
        raise FasolfaError(f"{len(y)} onsets for {n_weights} velocity weights: collect more windows")
    before = float(np.mean((predict(model, design) - y) ** 2))
    if hidden:
        first, second, bias = fit_sigmoid_network(design[:, keep], y, hidden,
                                                  NETWORK_STEPS if steps is None else steps, seed)
        weights = np.zeros((hidden, design.shape[1]))                  # (V, n_columns): dropped columns read 0
        weights[:, keep] = first
        set_first_layer_weights(model, torch.from_numpy(weights))
        with torch.no_grad():
            model.velocity_out.weight.copy_(torch.from_numpy(second).view_as(model.velocity_out.weight))
            model.velocity_out.bias.fill_(bias)
    else:
        weights = np.zeros(design.shape[1])
        weights[keep] = fit_sigmoid_least_squares(design[:, keep], y, ridge)
        set_head_weights(model, torch.from_numpy(weights))
    report = {"onsets": int(len(y)), "columns": int(keep.sum()), "reads": reads, "hidden": int(hidden),
              "mse_before": before, "mse_after": float(np.mean((predict(model, design) - y) ** 2))}
    if not hidden:
        report["ridge"] = ridge
    return report


def distil_velocity_head(model: FasolfaNet, teacher: FasolfaNet, design: np.ndarray, y: np.ndarray,
                         seed: int = 0, steps: int | None = None, reads: str = "all") -> dict:
    """:func:`fit_velocity_head` with ``teacher``'s outputs on ``design`` as the targets instead of
    the velocities ``y`` (``teacher``: the same network but its velocity head, e.g. heads
    averaged by :func:`average_heads`); the report adds both heads' mean squared error against
    ``y`` and the student's against the teacher. ``design (n, D)``, ``y (n,)``."""
    target = predict(teacher, design)                                        # (n,) the teacher's sigmoid
    report = fit_velocity_head(model, design, target, seed=seed, steps=steps, reads=reads)
    student = predict(model, design)
    return {**report, "distilled": True, "mse_to_teacher": float(np.mean((student - target) ** 2)),
            "mse_teacher": float(np.mean((target - y) ** 2)), "mse_student": float(np.mean((student - y) ** 2))}


@torch.no_grad()
def average_heads(models: list[FasolfaNet]) -> FasolfaNet:
    """One network whose velocity logit is the mean of ``models``' velocity logits: the same
    network (every weight outside the velocity head must be equal) with the heads side by side,
    ``sum V_i`` hidden units whose output weights are each head's over ``len(models)`` (linear
    heads: the mean of their weights). Heads fitted with other seeds differ by more than their
    scores' noise (the model card, *What the velocity head reads*); their mean is a steadier head."""
    if not models:
        raise FasolfaError("no velocity heads to average")
    head_names = ("velocity_head.", "velocity_level.", "velocity_register", "velocity_out.")
    first = models[0]
    for other in models[1:]:
        mismatch = [name for name, value in first.state_dict().items() if not name.startswith(head_names)
                    and not torch.equal(value, other.state_dict()[name])]
        if mismatch or replace(other.model_config, velocity_hidden=0) != replace(first.model_config, velocity_hidden=0):
            raise FasolfaError(f"velocity heads of different networks cannot be averaged ({(mismatch or ['config'])[0]} differs)")
    hidden = [m.model_config.velocity_hidden for m in models]
    if any(hidden) and not all(hidden):
        raise FasolfaError("linear and hidden-layer velocity heads cannot be averaged")
    n = len(models)
    if not hidden[0]:
        out = with_velocity_hidden(first, 0).eval()
        set_head_weights(out, torch.stack([head_weights(m) for m in models]).mean(0))
        return out
    out = with_velocity_hidden(first, sum(hidden)).eval()                  # (sum V_i) units
    set_first_layer_weights(out, torch.cat([first_layer_weights(m) for m in models]))
    out.velocity_out.weight.copy_(torch.cat([m.velocity_out.weight for m in models], 1) / n)   # (1, sum V_i, 1, 1)
    out.velocity_out.bias.copy_(torch.stack([m.velocity_out.bias for m in models]).mean(0))
    return out


def main(argv=None) -> int:
    """``python -m fasolfa.velocity_fit CONFIG.json WEIGHTS OUT [--windows N] [--seed S | --seeds S,S,..]``:
    fit the velocity head of WEIGHTS on CONFIG's training data and write the weights to OUT
    (``--seeds``: one head per seed, each on its own windows, and their mean, :func:`average_heads`)."""
    import argparse
    from fasolfa.train import TrainConfig, load_weights, save_weights
    parser = argparse.ArgumentParser(prog="python -m fasolfa.velocity_fit", description=main.__doc__)
    parser.add_argument("config", help="a TrainConfig as JSON (its training data are used)")
    parser.add_argument("weights")
    parser.add_argument("out")
    parser.add_argument("--windows", type=int, default=WINDOWS,
                        help=f"training windows to read (default {WINDOWS}: about 5 minutes on 2 CPU cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds: fit one head with each and write their mean (average_heads)")
    parser.add_argument("--hidden", type=int, default=None,
                        help="give the head this many hidden units (0: a linear logit); default: as WEIGHTS have")
    parser.add_argument("--reads", default="all", choices=READS,
                        help="what the head reads: every column (default), the level and register only, "
                             "or all but the register")
    parser.add_argument("--distil", action="store_true",
                        help="fit the head to WEIGHTS' own velocity head's outputs (a teacher, e.g. an averaged "
                             "head) instead of the strikes' velocities")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        cfg = TrainConfig.read(args.config)
        if args.windows < 1:
            raise FasolfaError(f"--windows must be at least 1, got {args.windows}")
        if args.hidden is not None and args.hidden < 0:
            raise FasolfaError(f"--hidden must be 0 or more, got {args.hidden}")
        if not Path(args.out).parent.is_dir():            # checked before minutes of reading
            raise FasolfaError(f"{args.out}: no such folder {Path(args.out).parent}")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seeds = [args.seed]
        if args.seeds is not None:
            try:
                seeds = [int(seed) for seed in args.seeds.split(",")]
            except ValueError:
                raise FasolfaError(f"--seeds must be whole numbers separated by commas, got {args.seeds!r}") from None
        fitted, reports = [], []
        for seed in seeds:
            teacher, metadata = load_weights(args.weights)
            model = teacher
            if args.hidden is not None and args.hidden != model.model_config.velocity_hidden:
                model = with_velocity_hidden(model, args.hidden).eval()      # the rest of the network unchanged
            design_columns(model, args.reads)              # checked before minutes of reading
            design, y = collect_onsets(model, cfg, args.windows, seed, progress=not args.no_progress)
            if args.distil:
                reports.append(distil_velocity_head(model, teacher, design, y, seed=seed, reads=args.reads))
            else:
                reports.append(fit_velocity_head(model, design, y, seed=seed, reads=args.reads))
            fitted.append(model)
        report = {**reports[0], "windows": args.windows, "seed": seeds[0], "config": str(args.config),
                  "weights": str(args.weights)}
        if len(seeds) > 1:
            model = average_heads(fitted)
            report.update(seed=seeds, averaged=len(seeds), hidden=int(model.model_config.velocity_hidden),
                          mse_after=[r["mse_after"] for r in reports])
        try:
            save_weights(args.out, model, {**metadata, "velocity_fit": report})
        except OSError as error:
            raise FasolfaError(f"{args.out}: cannot write ({error.strerror or error})") from None
    except FasolfaError as error:
        print(f"fasolfa velocity_fit: error: {error}", file=sys.stderr)
        return 1
    print("velocity head fitted:", {k: round(v, 5) if isinstance(v, float) else v for k, v in report.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
