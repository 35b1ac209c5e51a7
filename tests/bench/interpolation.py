"""Between two checkpoints: how the networks on the straight line from A to B validate.

``A`` and ``B`` are ``--finalize``d checkpoints of one network fine-tuned apart from the same
weights (here the shipped weights and the room continuation ``figures/room_burst/room+cpu2.pt``).
For each ``--alphas`` value the script writes the network at that point
(:func:`fasolfa.interpolate.interpolate_checkpoints`: every tensor ``(1 - alpha) A + alpha B``,
velocity head A's), finalizes it on CONFIG's validation excerpts exactly as
``python -m fasolfa.train CONFIG --finalize`` does (input level, note, pedal and offset
thresholds chosen again), and stores the chosen row with the ends' own rows:

    python tests/bench/interpolation.py CONFIG.json A.pt B.pt --alphas 0.3 0.5 0.7 --work DIR

writes ``figures/interpolation/interpolation.json`` and ``line.png`` (or ``--out DIR``). The
finalized networks are kept in ``--work`` (not in git), and one already there is read back
instead of computed again (its SHA-256 and alpha are checked), so a stopped run resumes.
About 12 minutes per alpha on one core.

The +velocity columns inside the line are those of A's velocity head on another trunk (fit it
again, ``python -m fasolfa.velocity_fit``, before shipping such a network); the ends have their
own heads. Which point, if any, is worth shipping is decided on these validation rows.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablations import finalized_scores  # noqa: E402
from common import FIGURES, busy_warning, file_sha256, machine_info, save_png, write_report  # noqa: E402

METRICS = (("rendered/onset_f1", "onset"), ("rendered/onset_offset_f1", "+offset"),
           ("rendered/frame_f1", "frame"), ("rendered/pedal_f1", "pedal presses"),
           ("maps/onset_f1", "MAPS onset"), ("maps/onset_offset_f1", "MAPS +offset"),
           ("maps/frame_f1", "MAPS frame"))


def finalized_point(a: Path, b: Path, alpha: float, work: Path, validation, device) -> Path:
    """The finalized network at ``alpha`` in ``work`` (computed unless already there);
    ``validation()`` gives the validation excerpts."""
    from fasolfa.interpolate import interpolate_checkpoints
    from fasolfa.train import finalize, load_weights
    final = work / f"alpha-{alpha:g}-final.pt"
    if final.is_file():
        recorded = load_weights(final)[1].get("interpolation", {})
        if recorded.get("alpha") == alpha and recorded.get("b_sha256") == file_sha256(b) \
                and recorded.get("a_sha256") == file_sha256(a):
            print(f"alpha {alpha:g}: read back {final}")
            return final
    start = time.time()
    raw = interpolate_checkpoints(a, b, alpha, work / f"alpha-{alpha:g}.pt")
    finalize(raw, final, validation(), device)
    print(f"alpha {alpha:g}: finalized in {time.time() - start:.0f} s")
    return final


def draw(rows: list[dict], path: Path, noise: float = 0.003) -> None:
    """Each metric's validation F1 against alpha, as its change from A (alpha 0), with the noise
    of one validation (about +-0.003, the model card) shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    alphas = [row["alpha"] for row in rows]
    ax.axhspan(-noise, noise, color="0.85", label="noise of one validation")
    for key, label in METRICS:
        style = "s--" if key.startswith("maps/") else "o-"
        ax.plot(alphas, [row[key] - rows[0][key] for row in rows], style, label=label)
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xlabel(f"alpha (0: {rows[0]['checkpoint']}, 1: {rows[-1]['checkpoint']})")
    ax.set_ylabel("F1 change from alpha 0")
    ax.set_title("validation along the line between two checkpoints (tests/bench/interpolation.py)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    save_png(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="a TrainConfig whose validation excerpts judge (validation_pieces, maps_validation)")
    parser.add_argument("a", type=Path, help="finalized checkpoint at alpha 0")
    parser.add_argument("b", type=Path, help="finalized checkpoint at alpha 1 (the same network)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--work", type=Path, required=True, help="folder for the networks on the line")
    parser.add_argument("--out", type=Path, default=FIGURES / "interpolation")
    args = parser.parse_args()
    import torch
    from fasolfa.train import TrainConfig, build_validation, pick_device
    cfg = TrainConfig.read(args.config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    load, start = busy_warning(), time.time()
    rows = [{"alpha": 0.0, **finalized_scores(args.a)}]
    todo = sorted(alpha for alpha in args.alphas if 0.0 < alpha < 1.0)
    if todo:
        args.work.mkdir(parents=True, exist_ok=True)
        items = []

        def validation():          # built once, and only when a point must be computed
            if not items:
                items.extend(build_validation(cfg, progress=False))
            return items

        for alpha in todo:
            point = finalized_point(args.a, args.b, alpha, args.work, validation, pick_device(cfg.device))
            rows.append({"alpha": alpha, **finalized_scores(point)})
    rows.append({"alpha": 1.0, **finalized_scores(args.b)})
    write_report(args.out / "interpolation.json", {
        "check": "validation of the networks on the line from A to B (fasolfa.interpolate, then --finalize)",
        "a": {"checkpoint": args.a.name, "sha256": file_sha256(args.a)},
        "b": {"checkpoint": args.b.name, "sha256": file_sha256(args.b)},
        "config": str(args.config), "rows": rows,
        "note": "inside the line the velocity head is A's, not fitted to the new trunk",
        "machine": machine_info(load), "elapsed_s": round(time.time() - start, 1)})
    draw(rows, args.out / "line.png")


if __name__ == "__main__":
    main()
