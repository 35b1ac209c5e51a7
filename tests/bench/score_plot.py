"""Networks side by side, metric by metric, as differences from a reference row: one panel
per validation metric, one dot per network, the ship rule's allowance below the reference
shaded (``ship_verdict.allowances``). For scores that ``tests/bench/ablations.py score`` wrote
(``--thresholds-from`` puts every network at one note creation), or for the variants of
``tests/bench/readings.py`` (``--reference single``)::

    python tests/bench/score_plot.py SCORES.json OUT.png [--reference shipped] [--group NAME ...] [--velocity]

``--group`` marks networks that differ only by chance (the same recipe, other window draws):
they are drawn filled and their spread is printed. A diagnostic: it chooses nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ship_verdict  # noqa: E402
from common import save_png  # noqa: E402

METRICS = {"rendered/onset_f1": "onset", "rendered/onset_offset_f1": "+offset", "rendered/frame_f1": "frame",
           "rendered/pedal_f1": "pedal presses", "maps/onset_f1": "MAPS onset",
           "maps/onset_offset_f1": "MAPS +offset", "maps/frame_f1": "MAPS frame"}
VELOCITY_METRICS = {"rendered/onset_offset_velocity_f1": "+velocity", "maps/onset_offset_velocity_f1": "MAPS +velocity"}


def shown_metrics(velocity: bool) -> dict[str, str]:
    """The panels: :data:`METRICS`, each +velocity one after its group's +offset when ``velocity``
    (left out by default: a training snapshot's velocity head is not yet fitted)."""
    shown = {}
    for key, label in METRICS.items():
        shown[key] = label
        if velocity and key.endswith("/onset_offset_f1"):
            velocity_key = key.replace("onset_offset", "onset_offset_velocity")
            shown[velocity_key] = VELOCITY_METRICS[velocity_key]
    return shown


def spread(rows: list[dict], metrics=METRICS) -> dict[str, float]:
    """Per metric, max - min over ``rows``."""
    return {key: float(np.ptp([row[key] for row in rows])) for key in metrics}


def draw(scores: dict, reference: str, group: list[str], allowed: dict[str, float], metrics=METRICS):
    """The figure: panels of ``change from reference`` per metric."""
    import matplotlib.pyplot as plt
    names = [name for name in scores if name != reference]
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.0 * len(metrics), 0.28 * len(names) + 1.6), sharey=True)
    for ax, (key, label) in zip(axes, metrics.items()):
        ax.axvspan(-allowed[key], 0.0, color="0.88", lw=0)
        ax.axvline(0.0, color="0.3", lw=0.8)
        for i, name in enumerate(names):
            change = scores[name][key] - scores[reference][key]
            ax.plot(change, i, "o", ms=5, color="C0" if name in group else "C1",
                    mfc="C0" if name in group else "white")
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlim(-0.03, 0.03) if key != "rendered/pedal_f1" else ax.set_xlim(-0.05, 0.05)
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0].invert_yaxis()
    fig.supxlabel(f"validation F1 minus {reference}'s (grey: the ship rule's allowance behind it)", fontsize=9)
    fig.tight_layout()
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--reference", default="shipped")
    parser.add_argument("--group", nargs="*", default=[], help="networks that differ only by their window draw")
    parser.add_argument("--velocity", action="store_true", help="also the +velocity metrics (fitted heads only)")
    args = parser.parse_args()
    metrics = shown_metrics(args.velocity)
    scores = json.loads(args.scores.read_text())
    scores = scores.get("variants", scores)      # tests/bench/readings.py's report
    missing = [name for name in [args.reference, *args.group] if name not in scores]
    if missing:
        raise SystemExit(f"{args.scores}: no row {', '.join(missing)} (rows: {', '.join(scores)})")
    allowed = ship_verdict.allowances()
    if len(args.group) > 1:
        ranges = spread([scores[name] for name in args.group], metrics)
        print("spread of the group (max - min) against the allowance:")
        for key, label in metrics.items():
            print(f"  {label:14s} {ranges[key]:.4f}  allowance {allowed[key]:.4f}")
    save_png(draw(scores, args.reference, args.group, allowed, metrics), args.png)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
