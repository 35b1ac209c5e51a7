"""How sure is a difference between two networks on a handful of pieces? The paired difference
of two variants of a ``tests/bench/readings.py`` report (excerpt by excerpt, at the
``--thresholds-from`` note creation), with a bootstrap interval over *pieces*: a rendered piece's
excerpts (one per soundfont) and a MAPS recording are drawn together, with replacement, so the
interval says how much the mean difference would move on another draw of as many pieces::

    python tests/bench/piece_bootstrap.py REPORT.json A B [--draws 10000] [--level 0.9]
    python tests/bench/piece_bootstrap.py REPORT.json A B --b-report OTHER.json

``--b-report``: ``B`` is a variant of another report of the same excerpts (two readings.py runs with
different ``--knobs-from``: the same network at two sets of note-creation knobs).

A diagnostic of stop 35 (``figures/second_cycle/readings/``): it judges nothing by itself. The
arithmetic is :func:`fasolfa.evaluate.piece_bootstrap` (notebook 08, section 8).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fasolfa.evaluate import paired_differences, piece_bootstrap

METRICS = ("onset", "onset_offset", "onset_offset_velocity", "frame", "pedal")


def per_excerpt(report: Path, name: str) -> dict:
    """Variant ``name``'s per-excerpt scores (at ``--thresholds-from``) in a readings.py report;
    exits with one line naming the file when it has no such variant."""
    variants = json.loads(report.read_text())["variants"]
    if name not in variants:
        raise SystemExit(f"{report}: no variant {name} (variants: {', '.join(variants)})")
    return variants[name]["at_thresholds_from_per_excerpt"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--draws", type=int, default=10000)
    parser.add_argument("--level", type=float, default=0.9)
    parser.add_argument("--b-report", type=Path, help="read B from this report instead (the same excerpts)")
    args = parser.parse_args()
    a, b = per_excerpt(args.report, args.a), per_excerpt(args.b_report or args.report, args.b)
    if set(a) != set(b):
        raise SystemExit(f"{args.b_report or args.report}: other excerpts than {args.report}'s")
    print(f"{args.b} minus {args.a}, mean over excerpts, {args.level:.0%} interval over pieces drawn again:")
    for metric in METRICS:
        for group, pieces in sorted(paired_differences(a, b, metric).items()):
            row = piece_bootstrap(pieces, args.draws, args.level)
            print(f"  {group:8s} {metric:22s} {row['mean']:+.4f}  [{row['low']:+.4f}, {row['high']:+.4f}]"
                  f"  ({row['pieces']} pieces, {row['excerpts']} excerpts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
