"""Several readings of each validation excerpt, their posteriorgrams averaged before note creation:
does reading a recording more than once beat reading it once? A diagnostic of stop 35 (rule
S35-1 in ``figures/second_cycle/readings/rules.txt``); it ships nothing::

    python tests/bench/readings.py CONFIG OUT.json --variant NAME CHECKPOINT@CENTS[,CHECKPOINT@CENTS...] ...
        [--thresholds-from fasolfa/checkpoints/fasolfa.pt] [--tie-tolerance 0.001]
        [--validation-pieces 24 --skip-pieces 8 --maps-start-s 30] [--no-choice]
        [--knobs-from REPORT.json:VARIANT] [--knob NAME=VALUE ...]

A reading is a network (``CHECKPOINT``) and a tuning offset: the HCQT follows each excerpt's own
tuning (as ``fasolfa transcribe`` reads a recording) plus ``CENTS`` (a bin is 33.3 cents; ``@0``
may be left out). ``-8, 0, +8`` cents of one network is test-time augmentation; two networks at 0
are an ensemble. Every reading's posteriorgrams (velocity and pedal included) are averaged frame by
frame. The excerpts are ``CONFIG``'s validation (``FASOLFA_CACHE``'s renders), brought into the
input level that ``--thresholds-from`` stores. Each variant is scored twice:

* at ``--thresholds-from``'s note creation (``at_thresholds_from``), and
* with note creation's knobs chosen on the averaged posteriorgrams exactly as ``--finalize``
  chooses them (:func:`fasolfa.train.choose_thresholds`, ``--tie-tolerance``); these scores are
  the row's own keys, so ``tests/bench/ship_verdict.py OUT.json NAME`` judges a variant as it
  judges a finalized checkpoint. ``--no-choice`` leaves this out (the choices are most of the time).

With ``--skip-pieces M`` (and ``--validation-pieces N``: more than the config's), the rendered
excerpts are those of the validation pieces after the first ``M`` of the same draw, and with
``--maps-start-s S`` the MAPS excerpts start ``S`` seconds into each recording (the notes struck
from then on; notes still sounding from before are left unlabelled): music the standard validation
never chose anything on, to see whether a difference found there holds.

``--knobs-from REPORT.json:VARIANT`` scores at the note-creation knobs an earlier report chose for
that variant instead of ``--thresholds-from``'s (its input level stays): one network at two knob
sets, compared excerpt by excerpt with ``piece_bootstrap.py ... --b-report`` (stop 36).
``--knob partial_onset=0.85`` (repeatable) then changes one knob of those (``none``: ``None``).

Posteriorgrams of a reading are computed once per run (about 25 s per reading on 2 CPU cores for
the 32 excerpts). The work a variant costs in ``fasolfa transcribe`` grows with its number of
readings.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import busy_warning, file_sha256, machine_info, write_report  # noqa: E402

SCORE_KEYS = ("onset_f1", "onset_offset_f1", "onset_offset_velocity_f1", "frame_f1", "pedal_f1", "pedal_frame_f1")


def parse_reading(text: str) -> tuple[str, float]:
    """``"PATH@CENTS"`` (or ``"PATH"``: 0 cents) -> ``(PATH, cents)``."""
    path, _, cents = text.rpartition("@") if "@" in text else (text, "", "0")
    try:
        return path, float(cents)
    except ValueError:
        raise SystemExit(f"{text}: a reading is CHECKPOINT@CENTS, e.g. fasolfa/checkpoints/fasolfa.pt@-8")


def mean_posteriorgrams(readings: list[list[dict]]) -> list[dict]:
    """Per excerpt, the frame-by-frame mean of every head over ``readings`` (each a list of one
    posteriorgram dict per excerpt, all of the same shapes)."""
    n_items = {len(reading) for reading in readings}
    if len(n_items) != 1:
        raise ValueError(f"readings of different numbers of excerpts: {sorted(n_items)}")
    return [{name: np.mean([reading[i][name] for reading in readings], axis=0) for name in readings[0][i]}
            for i in range(len(readings[0]))]


def metric_row(summary: dict) -> dict:
    """The ``group/metric_f1`` entries of a validation summary."""
    return {key: value for key, value in summary.items() if "/" in key and key.endswith(SCORE_KEYS)}


def validation_items(cfg, n_pieces: int | None, skip_pieces: int, maps_start_s: float) -> list:
    """``cfg``'s validation excerpts (:func:`fasolfa.train.build_validation`), or with ``n_pieces``
    that many pieces of the same draw, less the first ``skip_pieces``; MAPS from ``maps_start_s``."""
    from dataclasses import replace

    from fasolfa.train import build_validation
    cfg = replace(cfg, validation_pieces=n_pieces or cfg.validation_pieces)
    items = build_validation(cfg, progress=False, maps_start_s=maps_start_s)
    rendered = [item for item in items if item.group == "rendered"][skip_pieces * len(cfg.soundfonts):]
    if cfg.validation_pieces and not rendered:
        raise SystemExit(f"no validation pieces left after skipping {skip_pieces}")
    return rendered + [item for item in items if item.group == "maps"]


def knobs_from(text: str) -> dict:
    """``"REPORT.json:VARIANT"`` -> the note-creation knobs that report chose for that variant;
    exits with one line naming the file when it has none."""
    path, _, name = text.rpartition(":")
    if not path or not Path(path).is_file():
        raise SystemExit(f"{text}: --knobs-from is REPORT.json:VARIANT, a readings.py report that exists")
    variant = json.loads(Path(path).read_text()).get("variants", {}).get(name)
    if not variant or "thresholds" not in variant:
        raise SystemExit(f"{path}: no knobs chosen for variant {name!r} (a run without --no-choice chooses them)")
    return variant["thresholds"]


def parse_knobs(texts: list[str]) -> dict:
    """``["partial_onset=0.85", "offset=none"]`` -> ``{"partial_onset": 0.85, "offset": None}``
    (numbers as floats, ``none`` as ``None``); exits with one line on a name note creation lacks."""
    from fasolfa.notes import NoteThresholds
    knobs = {}
    for text in texts:
        name, _, value = text.partition("=")
        if name not in NoteThresholds.__dataclass_fields__ or not value:
            raise SystemExit(f"--knob {text}: NAME=VALUE with NAME one of {', '.join(NoteThresholds.__dataclass_fields__)}")
        try:
            knobs[name] = None if value.lower() == "none" else float(value)
        except ValueError:
            raise SystemExit(f"--knob {text}: {value!r} is neither a number nor none") from None
    return knobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="a training config: its validation excerpts are read")
    parser.add_argument("out", type=Path)
    parser.add_argument("--variant", nargs=2, action="append", required=True, metavar=("NAME", "READINGS"),
                        help="a name and its readings, comma-separated CHECKPOINT@CENTS")
    parser.add_argument("--thresholds-from", type=Path, default=Path("fasolfa/checkpoints/fasolfa.pt"))
    parser.add_argument("--tie-tolerance", type=float, default=0.001)
    parser.add_argument("--validation-pieces", type=int, default=None, help="instead of the config's")
    parser.add_argument("--skip-pieces", type=int, default=0, help="leave out the first M validation pieces")
    parser.add_argument("--maps-start-s", type=float, default=0.0, help="where the MAPS excerpts start")
    parser.add_argument("--knobs-from", metavar="REPORT:VARIANT",
                        help="note creation's knobs chosen for VARIANT in an earlier report, not --thresholds-from's")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="one note-creation knob changed (e.g. partial_onset=0.85; none: None)")
    parser.add_argument("--no-choice", action="store_true",
                        help="score at --thresholds-from's note creation only (no choices: much faster)")
    args = parser.parse_args()
    load_at_start = busy_warning()

    import torch

    from fasolfa.notes import NoteThresholds
    from fasolfa.posteriorgrams import compute_posteriorgrams
    from fasolfa.train import TrainConfig, _validation_scores, choose_thresholds, leveled, load_weights, tuned
    from fasolfa.tuning import tuned_hcqt

    variants = {name: [parse_reading(part) for part in readings.split(",")] for name, readings in args.variant}
    for path, _ in {reading for readings in variants.values() for reading in readings}:
        if not Path(path).is_file():
            raise SystemExit(f"{path}: no such checkpoint")
    _, source = load_weights(args.thresholds_from)
    if "thresholds" not in source:
        raise SystemExit(f"{args.thresholds_from}: not finalized (python -m fasolfa.train CONFIG --finalize ...)")
    cfg = TrainConfig.read(args.config)
    items = tuned(validation_items(cfg, args.validation_pieces, args.skip_pieces, args.maps_start_s))
    if "input_level_db" in source:
        items = leveled(items, source["input_level_db"])
    shipped = NoteThresholds(**{**(knobs_from(args.knobs_from) if args.knobs_from else source["thresholds"]),
                                **parse_knobs(args.knob)})

    networks, computed = {}, {}

    def reading(path: str, cents: float) -> list[dict]:
        if (path, cents) not in computed:
            if path not in networks:
                networks[path] = load_weights(path)[0].eval()
            started = time.perf_counter()
            with torch.inference_mode():
                computed[path, cents] = [compute_posteriorgrams(item.audio, networks[path],
                                                                tuned_hcqt(item.tuning_cents + cents))
                                         for item in items]
            print(f"  read {path} at {cents:+g} cents: {time.perf_counter() - started:.0f} s", flush=True)
        return computed[path, cents]

    rows = {}
    for name, readings in variants.items():
        posteriors = mean_posteriorgrams([reading(path, cents) for path, cents in readings])
        at_shipped = _validation_scores(items, posteriors, shipped, per_item=True)
        rows[name] = {"readings": [{"checkpoint": path, "sha256": file_sha256(path), "cents": cents}
                                   for path, cents in readings],
                      "input_level_db": source.get("input_level_db"),
                      "at_thresholds_from": metric_row(at_shipped),
                      "at_thresholds_from_per_excerpt": at_shipped["per_item"]}
        if not args.no_choice:
            choice = choose_thresholds(items, posteriors, tie_tolerance=args.tie_tolerance)
            rows[name].update(thresholds=dict(vars(choice["thresholds"])), **metric_row(choice["best_offset"]))
        shown = {key.replace("_f1", ""): round(value, 4) for key, value in
                 metric_row(rows[name] if not args.no_choice else at_shipped).items()}
        print(name, "(at --thresholds-from)" if args.no_choice else "", shown, flush=True)
    report = {"config": str(args.config), "validation_pieces": args.validation_pieces,
              "skip_pieces": args.skip_pieces, "maps_start_s": args.maps_start_s,
              "excerpts": [item.name for item in items], "thresholds_from": str(args.thresholds_from),
              "thresholds_from_sha256": file_sha256(args.thresholds_from), "knobs_from": args.knobs_from,
              "thresholds_used": dict(vars(shipped)), "tie_tolerance": args.tie_tolerance,
              "machine": machine_info(load_at_start), "variants": rows}
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
