"""How precise must velocity be? +velocity F1 of a finalized checkpoint when its velocities get noise.

Run: ``.venv/bin/python tests/bench/velocity_noise.py CONFIG OUT.json --checkpoint PATH
[--other NAME PATH ...] [--figure OUT.png]`` (needs ``../shared/data``). The checkpoint transcribes
the validation excerpts of ``CONFIG`` (a TrainConfig) as ``--finalize`` read them (tuned, at the
level and with the thresholds it stores); then its velocity posteriorgram alone is changed, so the
notes, onsets and offsets stay the same: Gaussian noise of standard deviation ``sigma`` MIDI units
added to it (four draws per ``sigma``), or, for each ``--other`` checkpoint (the same network but
its velocity head, e.g. a head distilled from this one), that network's velocity posteriorgram.
Written to ``OUT.json``: the mean +velocity F1 per group (``rendered``, ``maps``) of each, and,
for the others, the root-mean-square difference from the checkpoint's velocities at its notes'
onsets in MIDI units. The model card quotes it (*One head distilled from three*).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import save_png  # noqa: E402

SIGMAS = (0.5, 1.0, 2.0, 4.0)      # MIDI velocity units
DRAWS = 4
KEYS = ("rendered/onset_offset_velocity_f1", "maps/onset_offset_velocity_f1")


def _velocity_f1(items, posteriors, thresholds) -> dict[str, float]:
    from fasolfa.train import _validation_scores
    scores = _validation_scores(items, posteriors, thresholds)
    return {key.split("/")[0]: float(scores[key]) for key in KEYS}


def _rms_at_notes(posteriors, others, thresholds) -> float:
    """RMS difference in MIDI units of two velocity posteriorgrams at the first's notes' onsets."""
    from fasolfa import config
    from fasolfa.notes import posteriorgrams_to_notes
    differences = []
    for posterior, other in zip(posteriors, others):
        notes, _ = posteriorgrams_to_notes(posterior, thresholds)
        key = notes.pitch - config.MIDI_PITCH_MIN
        frame = np.rint(notes.onset_s * config.FRAMES_PER_SECOND).astype(int)
        differences.append(127.0 * (posterior["velocity"][key, frame] - other["velocity"][key, frame]))
    return float(np.sqrt(np.mean(np.concatenate(differences) ** 2)))


def noise_curve(config_path: Path, checkpoint: Path, others: list[tuple[str, Path]]) -> dict:
    import torch

    from fasolfa.train import TrainConfig, as_finalized, build_validation, tuned, validation_posteriorgrams
    items = tuned(build_validation(TrainConfig.read(config_path), progress=False))
    model, _, read, thresholds = as_finalized(checkpoint, items)
    with torch.no_grad():
        posteriors = validation_posteriorgrams(model, read)
    result = {"checkpoint": checkpoint.name, "unchanged": _velocity_f1(read, posteriors, thresholds), "noise": {},
              "others": {}}
    for sigma in SIGMAS:
        draws = []
        for seed in range(DRAWS):
            rng = np.random.default_rng(seed)
            noisy = [{**p, "velocity": np.clip(p["velocity"] + rng.normal(0, sigma / 127, p["velocity"].shape), 0, 1)}
                     for p in posteriors]
            draws.append(_velocity_f1(read, noisy, thresholds))
        result["noise"][str(sigma)] = {group: [d[group] for d in draws] for group in draws[0]}
        print("noise", sigma, result["noise"][str(sigma)], flush=True)
    for name, path in others:
        other, _, _, _ = as_finalized(path, items)
        with torch.no_grad():
            velocity = [{**p, "velocity": o["velocity"]} for p, o in zip(posteriors, validation_posteriorgrams(other, read))]
        result["others"][name] = {"checkpoint": Path(path).name, **_velocity_f1(read, velocity, thresholds),
                                  "rms_midi_units": _rms_at_notes(posteriors, velocity, thresholds)}
        print(name, result["others"][name], flush=True)
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    sigmas = [0.0] + [float(s) for s in result["noise"]]
    for group, colour in (("rendered", "C0"), ("maps", "C1")):
        means = [result["unchanged"][group]] + [np.mean(v[group]) for v in result["noise"].values()]
        spread = [0.0] + [np.ptp(v[group]) / 2 for v in result["noise"].values()]
        ax.errorbar(sigmas, means, yerr=spread, color=colour, marker="o", capsize=3,
                    label=f"{group}: the head plus Gaussian noise")
        for name, row in result["others"].items():
            ax.plot(row["rms_midi_units"], row[group], marker="*", markersize=12, color=colour, linestyle="none")
            ax.annotate(name, (row["rms_midi_units"], row[group]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("velocity error added (RMS, MIDI units)")
    ax.set_ylabel("+velocity F1 (validation)")
    ax.set_title("How precise must velocity be? (tests/bench/velocity_noise.py)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the TrainConfig whose validation excerpts are read")
    parser.add_argument("out", type=Path, help="JSON written here")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a finalized checkpoint")
    parser.add_argument("--other", nargs=2, action="append", default=[], metavar=("NAME", "PATH"),
                        help="the same network with another velocity head")
    parser.add_argument("--figure", type=Path, default=None, help="draw the curve here (PNG)")
    args = parser.parse_args()
    from fasolfa.atomic import atomic_write
    result = noise_curve(args.config, args.checkpoint, [(name, Path(path)) for name, path in args.other])
    atomic_write(args.out, lambda temporary: temporary.write_text(json.dumps(result, indent=1) + "\n"))
    if args.figure is not None:
        plot(result, args.figure)


if __name__ == "__main__":
    main()
