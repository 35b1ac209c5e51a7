"""Where the frame posteriorgram is right and wrong: its cells split by what the labels say.

Rendered validation excerpts (MIDI with pedal): cells where the key is **held**, cells that sound
only because the sustain pedal holds the note on (**pedal only**: the targets ring on to the
pedal's release, :func:`fasolfa.midi.apply_sustain`), and **silent** cells. MAPS validation
excerpts (note lists key by key, no pedal): cells **labelled** on, the **release tail** (the
``--tail-s`` seconds after a labelled release, before the key is struck again:
:func:`fasolfa.midi.release_tails`, where the recording may ring under an unlabelled pedal or
be silent), and the **rest**. For each class and checkpoint: the mean frame probability and
the share of cells at or above the checkpoint's frame threshold::

    python tests/bench/frame_classes.py --checkpoint shipped=fasolfa/checkpoints/fasolfa.pt \\
        --checkpoint other=OTHER.pt

writes ``figures/frame_classes.json`` and ``.png`` (or ``--out DIR``). Needs ``../shared/data``
and the validation excerpts of ``figures/interpolation/config.json`` (rendered once into the
cache). Each excerpt is brought to the checkpoint's input level, as ``--finalize`` judges it.
A diagnostic: it chooses nothing.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIGURES, busy_warning, file_sha256, machine_info, save_png, write_report  # noqa: E402

CONFIG = Path(__file__).resolve().parents[2] / "figures" / "interpolation" / "config.json"


def cell_classes(item, n_frames: int, tail_s: float) -> dict[str, np.ndarray]:
    """Boolean ``(88, n_frames)`` masks, one per class, that partition the excerpt's cells."""
    from fasolfa import config
    from fasolfa.evaluate import piano_roll
    from fasolfa.midi import apply_sustain, release_tails
    keys = slice(config.MIDI_PITCH_MIN, config.MIDI_PITCH_MIN + config.N_KEYS)
    held = piano_roll(item.notes, n_frames)[keys]
    if item.group == "rendered":
        sounding = piano_roll(apply_sustain(item.notes, item.pedal), n_frames)[keys]
        return {"held": held, "pedal only": sounding & ~held, "silent": ~sounding}
    tail = piano_roll(release_tails(item.notes, tail_s), n_frames)[keys] & ~held
    return {"labelled": held, "release tail": tail, "rest": ~held & ~tail}


def measure(path: Path, items, tail_s: float) -> dict:
    """``{"rendered/held": {"cells", "mean_probability", "share_on"}, ...}`` for one checkpoint."""
    from fasolfa.train import leveled, load_weights, validation_posteriorgrams
    from fasolfa.transcription import checkpoint_input_level, checkpoint_thresholds
    model, _ = load_weights(path)
    level = checkpoint_input_level(path)
    items = leveled(items, level) if level else items
    threshold = checkpoint_thresholds(path).frame
    totals: dict[str, list] = {}
    for item, posteriors in zip(items, validation_posteriorgrams(model, items, "cpu")):
        frame = posteriors["note"]                                      # (88, n_frames)
        for name, mask in cell_classes(item, frame.shape[1], tail_s).items():
            total = totals.setdefault(f"{item.group}/{name}", [0, 0.0, 0])
            total[0] += int(mask.sum())
            total[1] += float(frame[mask].sum())
            total[2] += int((frame[mask] >= threshold).sum())
    return {"frame_threshold": threshold, "classes": {
        name: {"cells": n, "mean_probability": round(p / max(n, 1), 4), "share_on": round(on / max(n, 1), 4)}
        for name, (n, p, on) in totals.items()}}


def draw(report: dict, path: Path) -> None:
    """Share of cells at or above the frame threshold per class, one bar per checkpoint,
    rendered and MAPS side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(report["checkpoints"])
    groups = ("rendered", "maps")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, group in zip(axes, groups):
        classes = [c for c in report["checkpoints"][names[0]]["classes"] if c.startswith(group + "/")]
        x = np.arange(len(classes))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            shares = [report["checkpoints"][name]["classes"][c]["share_on"] for c in classes]
            bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, shares, width, label=name)
            ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks(x, [c.split("/", 1)[1] for c in classes])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{group}: share of cells with frame probability >= threshold", fontsize=9)
    axes[0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_png(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="repeatable; default: shipped=the shipped checkpoint")
    parser.add_argument("--tail-s", type=float, default=1.0, help="MAPS release tail in seconds (1.0)")
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    import torch

    from fasolfa.train import TrainConfig, build_validation
    from fasolfa.transcription import resolve_checkpoint
    torch.set_num_threads(2)
    load = busy_warning()
    checkpoints = [spec.split("=", 1) for spec in args.checkpoint] or [["shipped", str(resolve_checkpoint(None))]]
    items = build_validation(TrainConfig.read(CONFIG), progress=False)
    report = {"check": "frame posteriorgram by label class on the validation excerpts", "config": str(CONFIG.name),
              "tail_s": args.tail_s, "machine": machine_info(load), "checkpoints": {}}
    for name, path in checkpoints:
        start = time.time()
        report["checkpoints"][name] = {"checkpoint": Path(path).name, "sha256": file_sha256(path),
                                       **measure(Path(path), items, args.tail_s)}
        print(f"{name}: {time.time() - start:.0f} s")
    write_report(args.out / "frame_classes.json", report)
    draw(report, args.out / "frame_classes.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
