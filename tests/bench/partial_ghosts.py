"""Where a network's false notes sit: how many start on a lower note's partials, and how many of
the bass notes (below A1) it finds. A diagnostic of stops 36-37 (rule S37-1 in
``figures/second_cycle/bass/rules.txt``); it ships nothing::

    python tests/bench/partial_ghosts.py CONFIG OUT.json NAME=CHECKPOINT [NAME=CHECKPOINT ...]
        [--thresholds-from fasolfa/checkpoints/fasolfa.pt]

Every checkpoint reads ``CONFIG``'s validation excerpts (``FASOLFA_CACHE``'s renders), tuned and
brought to its stored input level as ``fasolfa transcribe`` reads a recording, and makes notes at
its own stored knobs (or ``--thresholds-from``'s). Per group (rendered, MAPS) the report counts:

* ``estimates`` and ``false``: estimated notes, and those ``mir_eval``'s onset matching (50 ms,
  pitch within 50 cents) leaves unmatched;
* ``false_at_partials``: false notes starting within ``PARTIAL_FRAMES`` frames of a lower
  estimated note ``PARTIAL_KEYS`` keys below (an octave, a twelfth, two octaves, their major
  third and fifth above: the 2nd to 6th partials) — ghosts of a lower note's harmonics;
* ``bass_references`` and ``bass_found``: reference notes below A1 (MIDI 33) and how many are
  matched.

Stop 36 counted 76 of 160 false notes at partials on the rendered excerpts and 73 of 139 on MAPS
for the shipped network (``fasolfa.notes.partial_notes`` is rule 6 of note creation, which drops
some of them by the posteriorgram alone).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import busy_warning, file_sha256, machine_info, named_checkpoints, write_report  # noqa: E402

BASS_BELOW = 33          # A1: the lowest octave of the keyboard and a half, the corpus's rarest


def count(references, estimates, partial_keys, partial_frames: int, frames_per_second: float) -> dict:
    """The counts of one excerpt (see the module docstring); ``references`` and ``estimates`` are
    :class:`fasolfa.midi.Notes`."""
    import mir_eval

    def intervals(notes):
        return np.stack([notes.onset_s, np.maximum(notes.offset_s, notes.onset_s + 1e-3)], axis=1)

    def hz(notes):
        return 440.0 * 2.0 ** ((notes.pitch.astype(float) - 69.0) / 12.0)

    if len(references.pitch) and len(estimates.pitch):
        pairs = mir_eval.transcription.match_notes(intervals(references), hz(references), intervals(estimates),
                                                   hz(estimates), onset_tolerance=0.05, offset_ratio=None)
    else:
        pairs = []
    matched_est = np.zeros(len(estimates.pitch), bool)
    matched_ref = np.zeros(len(references.pitch), bool)
    for ref, est in pairs:
        matched_ref[ref], matched_est[est] = True, True
    at_partials = 0
    window_s = (partial_frames + 0.5) / frames_per_second
    for j in np.flatnonzero(~matched_est):
        near = np.abs(estimates.onset_s - estimates.onset_s[j]) <= window_s
        below = np.isin(estimates.pitch[j] - estimates.pitch, partial_keys)
        at_partials += bool(np.any(near & below))
    bass = references.pitch < BASS_BELOW
    return {"estimates": int(len(estimates.pitch)), "false": int((~matched_est).sum()),
            "false_at_partials": int(at_partials), "references": int(len(references.pitch)),
            "bass_references": int(bass.sum()), "bass_found": int((bass & matched_ref).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("out")
    parser.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT")
    parser.add_argument("--thresholds-from", default=None)
    args = parser.parse_args()
    load = busy_warning()

    from fasolfa import config
    from fasolfa.errors import FasolfaError
    from fasolfa.hcqt import HCQT
    from fasolfa.notes import PARTIAL_FRAMES, PARTIAL_KEYS, NoteThresholds, posteriorgrams_to_notes
    from fasolfa.train import TrainConfig, _posteriorgrams, build_validation, leveled, load_weights, tuned

    named = named_checkpoints(args.checkpoints)
    try:
        cfg = TrainConfig.read(args.config)
        items = tuned(build_validation(cfg, progress=False))
        fixed = load_weights(args.thresholds_from)[1] if args.thresholds_from else None
        report = {"check": "false notes at a lower note's partials; bass notes found (validation)",
                  "config": args.config, "partial_keys": list(PARTIAL_KEYS), "partial_frames": PARTIAL_FRAMES,
                  "bass_below_midi": BASS_BELOW, "thresholds_from": args.thresholds_from, "rows": {}}
        for name, path in named:
            model, meta = load_weights(path)
            knobs = fixed if fixed is not None else meta
            thresholds = NoteThresholds(**knobs["thresholds"])
            read = leveled(items, knobs["input_level_db"]) if knobs.get("input_level_db") else items
            posteriorgrams = _posteriorgrams(model, HCQT(), read, "cpu")
            groups: dict = {}
            for item, post in zip(read, posteriorgrams):
                estimates, _ = posteriorgrams_to_notes(post, thresholds)
                counts = count(item.notes, estimates, PARTIAL_KEYS, PARTIAL_FRAMES, config.FRAMES_PER_SECOND)
                total = groups.setdefault(item.group, dict.fromkeys(counts, 0))
                for key, value in counts.items():
                    total[key] += value
            report["rows"][name] = {"checkpoint": path, "sha256": file_sha256(path)[:12], **groups}
            print(name, groups, flush=True)
    except FasolfaError as error:
        raise SystemExit(f"partial_ghosts: {error}")
    report["machine"] = machine_info(load)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
