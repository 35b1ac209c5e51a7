"""Bass notes alone and in octaves, on each training soundfont: does a network hear a low key
without ghost notes on its partials, and a real octave as two notes? A diagnostic of stop 37
(rule S37-1 in ``figures/second_cycle/bass/rules.txt``); it ships nothing::

    python tests/bench/bass_probe.py OUT.json NAME=CHECKPOINT [NAME=CHECKPOINT ...]
        [--lowest 21 --highest 47] [--velocity 90] [--soundfonts FluidR3_GM,TimGM6mb,MuseScore_General_Lite]

For every key from ``--lowest`` to ``--highest`` (default A0 to B2) and every soundfont, two
clips are rendered (program 0, no pedal, the key struck at 0.3 s and released at 2.0 s):

* **alone** — the key by itself. Counted: clips whose key is found (an estimated note of that key
  starting within 50 ms), and the *ghosts*, every other estimated note; ``ghosts_at_partials``
  are those 12, 19, 24, 28 or 31 keys above the struck one (its 2nd to 6th partials).
* **octave** — the key and the key an octave up, struck together. Counted: clips where both are
  found — what a rule that drops the upper note of an octave as a ghost would lose.

Each clip goes through :func:`fasolfa.transcribe` exactly as a user's file would (level, tuning,
the checkpoint's own note creation). Stop 36 saw a ghost C#2 for a lone C#1 on all three training
soundfonts with the shipped weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import busy_warning, file_sha256, machine_info, named_checkpoints, write_report  # noqa: E402

PARTIALS = (12, 19, 24, 28, 31)
ONSET_S, OFFSET_S, TOLERANCE_S = 0.3, 2.0, 0.05


def clip_counts(estimates, keys) -> dict:
    """Which of ``keys`` (struck at ``ONSET_S``) are found among ``estimates``
    (:class:`fasolfa.midi.Notes`), and the other notes: all of them and those at the lowest
    key's partials."""
    near = np.abs(estimates.onset_s - ONSET_S) <= TOLERANCE_S
    found = [bool(np.any(near & (estimates.pitch == key))) for key in keys]
    others = ~np.isin(estimates.pitch, keys)
    at_partials = others & np.isin(estimates.pitch - min(keys), PARTIALS)
    return {"found": found, "ghosts": int(others.sum()), "ghosts_at_partials": int(at_partials.sum()),
            "ghost_keys": [int(p) for p in estimates.pitch[others]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT")
    parser.add_argument("--lowest", type=int, default=21)
    parser.add_argument("--highest", type=int, default=47)
    parser.add_argument("--velocity", type=int, default=90)
    parser.add_argument("--soundfonts", default="FluidR3_GM,TimGM6mb,MuseScore_General_Lite")
    args = parser.parse_args()
    if not 21 <= args.lowest <= args.highest <= 96:
        raise SystemExit(f"--lowest {args.lowest} --highest {args.highest}: need 21 <= lowest <= highest <= 96")
    load = busy_warning()

    import fasolfa
    from fasolfa import config, synth
    from fasolfa.errors import FasolfaError
    from fasolfa.midi import Notes, Pedal

    named = named_checkpoints(args.checkpoints)
    keys = range(args.lowest, args.highest + 1)
    soundfonts = args.soundfonts.split(",")
    report = {"check": "bass keys alone and in octaves, rendered, transcribed", "velocity": args.velocity,
              "keys": [args.lowest, args.highest], "soundfonts": soundfonts, "partials": list(PARTIALS),
              "rows": {}}
    try:
        clips = {}
        for soundfont in soundfonts:
            for key in keys:
                for kind, struck in (("alone", [key]), ("octave", [key, key + 12])):
                    notes = Notes.from_arrays([ONSET_S] * len(struck), [OFFSET_S] * len(struck), struck,
                                              [args.velocity] * len(struck))
                    clips[soundfont, key, kind] = (struck, synth.render((notes, Pedal.empty()), soundfont, 0))
        for name, path in named:
            row = {"checkpoint": path, "sha256": file_sha256(path)[:12], "per_soundfont": {}}
            for soundfont in soundfonts:
                alone = [clip_counts(fasolfa.transcribe(clips[soundfont, key, "alone"][1], config.SAMPLE_RATE,
                                                        checkpoint=path, device="cpu").notes, [key])
                         for key in keys]
                octave = [clip_counts(fasolfa.transcribe(clips[soundfont, key, "octave"][1], config.SAMPLE_RATE,
                                                         checkpoint=path, device="cpu").notes, [key, key + 12])
                          for key in keys]
                row["per_soundfont"][soundfont] = {
                    "alone_found": sum(c["found"][0] for c in alone),
                    "alone_ghosts": sum(c["ghosts"] for c in alone),
                    "alone_ghosts_at_partials": sum(c["ghosts_at_partials"] for c in alone),
                    "alone_clips_with_ghosts": sum(c["ghosts"] > 0 for c in alone),
                    "octave_both_found": sum(all(c["found"]) for c in octave),
                    "octave_ghosts": sum(c["ghosts"] for c in octave),
                    "clips": len(alone),
                    "alone_ghost_keys": {int(key): c["ghost_keys"] for key, c in zip(keys, alone) if c["ghosts"]}}
            totals = {k: sum(v[k] for v in row["per_soundfont"].values())
                      for k in ("alone_found", "alone_ghosts", "alone_ghosts_at_partials", "alone_clips_with_ghosts",
                                "octave_both_found", "octave_ghosts", "clips")}
            row["total"] = totals
            report["rows"][name] = row
            print(name, totals, flush=True)
    except FasolfaError as error:
        raise SystemExit(f"bass_probe: {error}")
    report["machine"] = machine_info(load)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
