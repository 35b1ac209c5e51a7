"""The ship rule (fixed at stop 28, the model card's *The recipe again*) on one candidate's
finalized validation scores: ship iff no metric is behind the shipped checkpoint's by more than
its allowance — the larger of 0.003 (``model_card.VALIDATION_NOISE``) and the metric's own
wander (``model_card.validation_jitter``: neighbouring validations of converged runs; for the
+velocity metrics also ``model_card.head_noise``: refitting the velocity head alone) — and one
of onset, +offset, +velocity, frame, MAPS onset is ahead by more than 0.003::

    python tests/bench/ship_verdict.py SCORES.json [NAME] [--out VERDICT.json]

``SCORES.json`` is what ``tests/bench/ablations.py score`` writes for a ``--finalize``d candidate
(``NAME``: its row; default the first), or the ``variants`` of what ``tests/bench/readings.py``
writes.

``--reading``: the rule of stop 39 (S39-4, ``figures/second_cycle/partial_pedal/rules.txt``) instead.
``SCORES.json`` is then the candidate's reading of the 24 validation pieces x 60 s and the MAPS
recordings' first 60 s at its own knobs (``readings.py
figures/second_cycle/readings/validation24x60-config.json OUT --no-choice --thresholds-from
CANDIDATE --variant NAME CANDIDATE``), paired excerpt by excerpt with the shipped checkpoint's
(``figures/second_cycle/readings/knobs-shipped-24x60.json``, variant ``single``), and judged with
the same allowances on the mean differences (:func:`model_card.reading_verdict`); the gain must
also hold on another draw of pieces (its 90 % interval over pieces above 0)::

    python tests/bench/ship_verdict.py --reading READING.json [NAME] [--out VERDICT.json]

Without ``--reading``, the shipped checkpoint's row is
``figures/second_cycle/release_tails/midpoint.json`` at alpha 0 (its finalized validation,
SHA-256 checked against ``fasolfa/checkpoints/fasolfa.pt``). Prints one line per metric and the
verdict; exits 0 either way. A tool for the rule, not a measurement: it reads scores only.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_card  # noqa: E402
from common import FIGURES, file_sha256  # noqa: E402

from fasolfa.evaluate import paired_differences, piece_bootstrap  # noqa: E402

SHIPPED_ROW = FIGURES / "second_cycle" / "release_tails" / "midpoint.json"
SHIPPED_READING = FIGURES / "second_cycle" / "readings" / "knobs-shipped-24x60.json"   # variant "single"
READING_LEVEL = 0.9           # the interval over pieces a gain must clear
READING_DRAWS = 10_000


def shipped_row() -> dict:
    """The shipped checkpoint's finalized validation row, refusing a stale one."""
    result = json.loads(SHIPPED_ROW.read_text())
    shipped = model_card.config.CHECKPOINT_DIR / "fasolfa.pt"
    if result["a"]["sha256"] != file_sha256(shipped):
        raise SystemExit(f"{SHIPPED_ROW}: scores of another checkpoint than {shipped}; score the shipped one again")
    return next(row for row in result["rows"] if row["alpha"] == 0.0)


def shipped_reading() -> dict:
    """The shipped checkpoint's per-excerpt scores on the 24 x 60 s reading, refusing a stale one."""
    report = json.loads(SHIPPED_READING.read_text())
    shipped = model_card.config.CHECKPOINT_DIR / "fasolfa.pt"
    if report["thresholds_from_sha256"] != file_sha256(shipped):
        raise SystemExit(f"{SHIPPED_READING}: a reading of another checkpoint than {shipped}; read the shipped one again")
    return report["variants"]["single"]["at_thresholds_from_per_excerpt"]


def reading_rows(shipped: dict, candidate: dict, draws: int = READING_DRAWS) -> dict[str, dict]:
    """``{metric: {"mean", "low", "high", "pieces", "excerpts"}}``: candidate minus shipped per
    :data:`model_card.FINALIZED_COLUMNS` metric, from two ``{excerpt: {metric: F1}}`` dicts of the
    same excerpts (``readings.py``'s ``at_thresholds_from_per_excerpt``), intervals over pieces."""
    if set(shipped) != set(candidate):
        raise SystemExit("the candidate's reading holds other excerpts than the shipped one's "
                         f"({SHIPPED_READING}): read it with the same config")
    rows = {}
    for key in model_card.FINALIZED_COLUMNS:
        group, _, metric = key.partition("/")
        pieces = paired_differences(shipped, candidate, metric.removesuffix("_f1")).get(group) if metric else None
        if pieces:
            rows[key] = piece_bootstrap(pieces, draws, READING_LEVEL)
    return rows


def allowances() -> dict[str, float]:
    """Per finalized metric, how far a candidate may fall behind."""
    wander = model_card.rule_wander(model_card._figures_json("second_cycle", "velocity-seeds.json"),
                                    model_card.validation_jitter())
    return {key: max(model_card.VALIDATION_NOISE, wander.get(key, 0.0)) for key in model_card.FINALIZED_COLUMNS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path)
    parser.add_argument("name", nargs="?", default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the verdict as JSON here too")
    parser.add_argument("--reading", action="store_true",
                        help="SCORES.json is a 24 x 60 s reading: judge by rule S39-4 (intervals over pieces)")
    args = parser.parse_args()
    scores = json.loads(args.scores.read_text())
    scores = scores.get("variants", scores)      # tests/bench/readings.py's report
    name = args.name or next(iter(scores))
    if name not in scores:
        raise SystemExit(f"{args.scores}: no row {name!r} (rows: {', '.join(scores)})")
    if args.reading:
        return judge_reading(args, name, scores[name])
    start, row, allowed = shipped_row(), scores[name], allowances()
    lines = []
    for key, label in model_card.FINALIZED_COLUMNS.items():
        if key in row and key in start:
            change = row[key] - start[key]
            lines.append({"metric": key, "shipped": start[key], "candidate": row[key], "change": change,
                          "allowed": -allowed[key], "behind": change < -allowed[key]})
            print(f"{label:16s} {start[key]:.4f} {row[key]:.4f} {change:+.4f}  allowed -{allowed[key]:.4f}"
                  + ("  BEHIND" if change < -allowed[key] else ""))
    passes, behind = model_card.ship_verdict(start, row, allowed)
    why = (f"behind: {', '.join(behind)}" if behind else
           f"ahead by more than {model_card.VALIDATION_NOISE} on none of {', '.join(model_card.SHIP_METRICS)}")
    print(f"{name}: " + ("passes: ship it" if passes else f"fails ({why})"))
    if args.out:
        args.out.write_text(json.dumps({"candidate": name, "scores": str(args.scores), "passes": passes,
                                        "behind": behind, "metrics": lines}, indent=1) + "\n")
    return 0


def judge_reading(args, name: str, variant: dict) -> int:
    """``--reading``: print and (``--out``) write rule S39-4's verdict on ``variant`` of a readings.py report."""
    if "at_thresholds_from_per_excerpt" not in variant:
        raise SystemExit(f"{args.scores}: variant {name!r} has no per-excerpt scores (readings.py --thresholds-from)")
    rows, allowed = reading_rows(shipped_reading(), variant["at_thresholds_from_per_excerpt"]), allowances()
    passes, behind = model_card.reading_verdict(rows, allowed)
    print(f"{name} minus shipped, 24 x 60 s, {READING_LEVEL:.0%} interval over pieces:")
    lines = []
    for key, row in rows.items():
        lines.append({"metric": key, **row, "allowed": -allowed[key], "behind": key in behind})
        print(f"{model_card.FINALIZED_COLUMNS[key]:16s} {row['mean']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"
              f"  allowed -{allowed[key]:.4f}" + ("  BEHIND" if key in behind else ""))
    why = (f"behind: {', '.join(behind)}" if behind else
           f"ahead by more than {model_card.VALIDATION_NOISE} with an interval above 0 on none of "
           f"{', '.join(model_card.SHIP_METRICS)}")
    print(f"{name}: " + ("passes: ship it" if passes else f"fails ({why})"))
    if args.out:
        args.out.write_text(json.dumps({"candidate": name, "reading": str(args.scores), "rule": "S39-4",
                                        "passes": passes, "behind": behind, "metrics": lines}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
