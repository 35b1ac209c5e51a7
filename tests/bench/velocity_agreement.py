"""How well finalized checkpoints' velocities follow the reference, per validation group and MAPS piano.

Run: ``.venv/bin/python tests/bench/velocity_agreement.py CONFIG OUT.json --checkpoint NAME PATH ...``
(needs ``../shared/data``). Each checkpoint transcribes the validation excerpts of ``CONFIG`` (a
TrainConfig) as ``--finalize`` read them: tuned, brought into the level it stores, with the
thresholds it stores. For every excerpt, :func:`fasolfa.evaluate.velocity_agreement` correlates
the velocities of the notes whose onsets match (Pearson r) — a velocity measure that reads every
matched note, where the ``onset_offset_velocity`` F1 of one excerpt turns on a few notes whose
offsets and velocities both pass. Written to ``OUT.json``: per checkpoint the mean r per group,
per MAPS piano (the last part of a MAPS recording's name) and per excerpt, with the matched notes,
and the same means of the register tilt (velocity units per octave up read too loud after the
+velocity metric's recalibration; ``velocity_agreement``'s docstring).
The model card quotes it (*The recipe again*).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def agreement(config_path: Path, checkpoints: list[tuple[str, Path]]) -> dict:
    """``{name: {"groups": {group: mean r}, "maps_pianos": {piano: mean r}, "excerpts": [...]}}``."""
    import torch

    from fasolfa.evaluate import velocity_agreement
    from fasolfa.notes import posteriorgrams_to_notes
    from fasolfa.train import TrainConfig, as_finalized, build_validation, tuned, validation_posteriorgrams
    items = tuned(build_validation(TrainConfig.read(config_path), progress=False))
    out = {}
    for name, path in checkpoints:
        model, _, read, thresholds = as_finalized(path, items)
        with torch.no_grad():
            posteriors = validation_posteriorgrams(model, read, "cpu")
        excerpts = []
        for item, posterior in zip(read, posteriors):
            notes, _ = posteriorgrams_to_notes(posterior, thresholds)
            excerpts.append({"name": item.name, "group": item.group, **velocity_agreement(item.notes, notes)})
        groups = {group: float(np.nanmean([e["pearson_r"] for e in excerpts if e["group"] == group]))
                  for group in dict.fromkeys(e["group"] for e in excerpts)}
        pianos: dict[str, list[dict]] = {}
        for e in excerpts:
            if e["group"] == "maps":
                pianos.setdefault(e["name"].rsplit("_", 1)[-1], []).append(e)
        out[name] = {"checkpoint": Path(path).name, "groups": groups,
                     "maps_pianos": {piano: float(np.nanmean([e["pearson_r"] for e in es]))
                                     for piano, es in sorted(pianos.items())},
                     "register_tilt": {"groups": {group: float(np.nanmean([e["register_tilt"] for e in excerpts
                                                                          if e["group"] == group])) for group in groups},
                                       "maps_pianos": {piano: float(np.nanmean([e["register_tilt"] for e in es]))
                                                       for piano, es in sorted(pianos.items())}},
                     "excerpts": excerpts}
        print(name, {k: round(v, 3) for k, v in groups.items()},
              {k: round(v, 3) for k, v in out[name]["maps_pianos"].items()},
              "tilt", {k: round(v, 2) for k, v in out[name]["register_tilt"]["maps_pianos"].items()}, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the TrainConfig whose validation excerpts are read")
    parser.add_argument("out", type=Path, help="JSON written here")
    parser.add_argument("--checkpoint", nargs=2, action="append", required=True, metavar=("NAME", "PATH"))
    args = parser.parse_args()
    from fasolfa.atomic import atomic_write
    result = agreement(args.config, [(name, Path(path)) for name, path in args.checkpoint])
    atomic_write(args.out, lambda temporary: temporary.write_text(json.dumps(result, indent=1) + "\n"))


if __name__ == "__main__":
    main()
