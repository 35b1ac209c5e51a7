"""Write the shipped checkpoint's model card from what the repository measured.

    python tests/bench/model_card.py [fasolfa/checkpoints/fasolfa.pt]

Reads the checkpoint's metadata (its training settings, the step it was chosen at, the
threshold sweep on the validation excerpts from ``python -m fasolfa.train ... --finalize``),
``figures/ablations/ablations.json`` (``tests/bench/ablations.py``), the training logs in
``figures/train_*/`` and, when present, ``figures/accuracy_bench.json`` (the test split, read
once per reported checkpoint by ``tests/bench/bench_accuracy.py``), and writes
``fasolfa/checkpoints/MODEL_CARD.md`` beside the weights. Every number in the card comes from
those files; the prose around them is fixed here.
"""
from __future__ import annotations

import json

import numpy as np
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fasolfa import config  # noqa: E402
from fasolfa.atomic import atomic_write  # noqa: E402
from fasolfa.augment import Augmentation  # noqa: E402
from fasolfa.model import FasolfaNet, ModelConfig, count_parameters, layer_table  # noqa: E402
from fasolfa.train import REGAIN_DB, load_weights, read_log  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import file_sha256  # noqa: E402
from fasolfa.velocity_fit import design_columns  # noqa: E402

GROUPS = (("rendered", "rendered validation pieces"), ("maps", "MAPS validation pianos"))
METRICS = (("onset_f1", "onset"), ("onset_offset_f1", "+offset"), ("onset_offset_velocity_f1", "+velocity"),
           ("frame_f1", "frame"))


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _row(values: dict, group: str) -> str:
    return " | ".join(f"{values[f'{group}/{key}']:.3f}" if f"{group}/{key}" in values else "—"
                      for key, _ in METRICS)


def validation_section(metadata: dict) -> list[str]:
    sweep = metadata.get("threshold_sweep") or []
    if not sweep:
        return ["No threshold sweep is stored with these weights (run `--finalize`)."]
    best = max(sweep, key=lambda row: row["selection"])
    default = next((row for row in sweep if row["onset"] == 0.5 and row["frame"] == 0.3
                    and row.get("strong_onset") is None), None)
    strongs = sorted({row.get("strong_onset") for row in sweep}, key=lambda v: -1 if v is None else v)
    without_strong = [row for row in sweep if row.get("strong_onset") is None]
    best_without = max(without_strong, key=lambda row: row["selection"]) if without_strong and best.get("strong_onset") is not None else None
    chosen = f"({best['onset']}, {best['frame']}, {best.get('strong_onset')})"
    level = metadata.get("input_level_db")
    lines = [f"Validation excerpts: {len(metadata.get('validation', []))} (the first "
             f"{metadata.get('train_config', {}).get('validation_seconds', 30):g} s of each)"
             + (", each read as `fasolfa transcribe` reads a recording: brought into the input level band and "
                "with the HCQT following its tuning (below, *Level and tuning*)" if level is not None else "") + ". Note "
             f"creation's thresholds were chosen on them (grid: onset "
             f"{sorted({r['onset'] for r in sweep})}, frame {sorted({r['frame'] for r in sweep})}, strong onset "
             f"{strongs}; criterion: mean over the two groups of note-onset F1): **onset {best['onset']}, frame "
             f"{best['frame']}, strong onset {best.get('strong_onset')}** (an onset peak at least that high "
             f"makes a note even where the note posteriorgram fades at once, `fasolfa.notes` rule 4).", "",
             "| validation set | thresholds (onset, frame, strong onset) | onset F1 | +offset | +velocity | frame F1 |",
             "|---|---|---|---|---|---|"]
    offsets = metadata.get("offset_sweep") or []
    final_offset = metadata.get("thresholds", {}).get("offset")
    final = next((row for row in offsets if row["offset"] == final_offset), None)
    for group, label in GROUPS:
        if final is not None and final_offset is not None:
            lines.append(f"| {label} | chosen {chosen[:-1]}, offset {final_offset}) | {_row(final, group)} |")
            lines.append(f"| {label} | the same, notes ending at the frame threshold | {_row(best, group)} |")
        else:
            lines.append(f"| {label} | chosen {chosen} | {_row(best, group)} |")
        if best_without is not None:
            lines.append(f"| {label} | best without strong onsets ({best_without['onset']}, {best_without['frame']}, None) "
                         f"| {_row(best_without, group)} |")
        if default is not None:
            lines.append(f"| {label} | defaults (0.5, 0.3, None) | {_row(default, group)} |")
    if offsets:
        lines += ["", f"Offset threshold (`NoteThresholds.offset`: a note ends at the first dip of the note "
                  f"posteriorgram below it once `min_note_ms` have passed; which notes exist is left to the frame "
                  f"threshold), chosen from {[row['offset'] for row in offsets]} by the mean over the two groups "
                  f"of onset+offset F1: **{final_offset}**."]
    pedal = metadata.get("pedal_sweep") or []
    if pedal:
        chosen_knobs = metadata.get("thresholds", {})
        def knobs(row):
            return (row["pedal"], row.get("pedal_release"), row.get("min_pedal_ms", 50.0))
        wanted = (chosen_knobs.get("pedal"), chosen_knobs.get("pedal_release"), chosen_knobs.get("min_pedal_ms", 50.0))
        row = next((r for r in pedal if knobs(r) == wanted), max(pedal, key=lambda r: r["pedal_f1"]))
        plain = next((r for r in pedal if knobs(r) == (0.5, None, 50.0)), None)
        release = "the same" if row.get("pedal_release") is None else row["pedal_release"]
        lines += ["", f"Sustain pedal (rendered excerpts, the only ones with pedal labels): down at "
                  f"**{row['pedal']}**, up below **{release}**, presses shorter than "
                  f"**{row.get('min_pedal_ms', 50.0):g} ms** dropped, chosen by press F1 (presses within 50 ms) "
                  f"— press F1 {row['pedal_f1']:.3f}, pedal-down frame F1 {row['pedal_frame_f1']:.3f}"
                  + (f" (0.5 both ways, 50 ms: {plain['pedal_f1']:.3f} / {plain['pedal_frame_f1']:.3f})" if plain else "")
                  + ". The pedal heads are the weakest part of this model: they find most of the time the pedal "
                    "is down, but not the exact presses."]
    return lines


def _figures_json(*parts: str) -> dict | None:
    """``figures/<parts...>`` read as JSON, or None when that measurement has not been made."""
    path = ROOT.joinpath("figures", *parts)
    return json.loads(path.read_text()) if path.is_file() else None


ARM_COLUMNS = {"selection": "selection", "rendered/onset_f1": "rendered onset F1",
               "rendered/frame_f1": "rendered frame F1", "maps/onset_f1": "MAPS onset F1",
               "maps/frame_f1": "MAPS frame F1",
               "rendered/onset_offset_velocity_f1": "rendered +velocity F1",
               "maps/onset_offset_velocity_f1": "MAPS +velocity F1"}


def arm_table(result: dict, columns) -> list[str]:
    """One row per arm of an ``ablations.json``: steps run, the best validation's step and
    ``columns`` (keys of :data:`ARM_COLUMNS`) of that validation."""
    lines = ["| arm | steps | best at | " + " | ".join(ARM_COLUMNS[c] for c in columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for name, row in result["variants"].items():
        best = row.get("best", {})
        cells = " | ".join(f"{best.get(c, float('nan')):.3f}" for c in columns)
        lines.append(f"| {name} | {row.get('steps', 0):.0f} | {best.get('step', 0):.0f} | {cells} |")
    return lines


VALIDATION_NOISE = 0.003     # selection moves about this much between neighbouring validations
FINALIZED_COLUMNS = {"selection": "selection", "rendered/onset_f1": "onset", "rendered/onset_offset_f1": "+offset",
                     "rendered/onset_offset_velocity_f1": "+velocity", "rendered/frame_f1": "frame",
                     "rendered/pedal_f1": "pedal", "maps/onset_f1": "MAPS onset",
                     "maps/onset_offset_f1": "MAPS +offset", "maps/onset_offset_velocity_f1": "MAPS +velocity",
                     "maps/frame_f1": "MAPS frame"}


def finalized_table(result: dict) -> list[str]:
    """One row per arm of an ``ablations.json``'s ``finalized`` scores (``ablations.py collect
    --finalized``): validation F1 at the thresholds ``--finalize`` chose for that arm."""
    lines = ["| arm (step) | " + " | ".join(FINALIZED_COLUMNS.values()) + " |",
             "|---|" + "---|" * len(FINALIZED_COLUMNS)]
    for name, row in result.get("finalized", {}).items():
        cells = " | ".join(f"{row[c]:.3f}" if row.get(c) is not None else "—" for c in FINALIZED_COLUMNS)
        lines.append(f"| {name} ({row['step']}) | {cells} |")
    return lines


def ablation_section() -> list[str]:
    result = _figures_json("ablations", "ablations.json")
    if result is None:
        return ["(no ablation results: `tests/bench/ablations.py`)"]
    lines = [f"`tests/bench/ablations.py run` — every variant trained at once on one {result['device']} GPU "
             f"for {result['seconds']:g} s (batch {result['batch_size']}), from the same excerpts "
             f"(`prepare`: 30 renders and 12 MAPS recordings of 45 s, 4 validation pieces × 3 soundfonts "
             f"and 8 MAPS validation recordings of 20 s). Best validation row of each:", "",
             *arm_table(result, ["rendered/onset_f1", "rendered/frame_f1", "maps/onset_f1", "maps/frame_f1"])]
    lines += ["", "Read with care: each arm saw about 80 thousand windows of 45 minutes of distinct audio "
              "and stopped while the curves were still noisy (±0.02 between neighbouring validations), "
              "so differences under about 0.03 are noise. At this budget no augmentation or data source "
              "makes a clear difference on the MAPS pianos; the published gains from reverb and pitch "
              "shift (3–4 onset-F1 points on real pianos) appear with long training, which these arms did not have."]
    return lines


def capacity_section() -> list[str]:
    result = _figures_json("capacity", "ablations.json")
    if result is None:
        return ["(no capacity probe: `tests/bench/ablations.py run --arm ...`)"]
    lines = [f"`tests/bench/ablations.py run --variants --arm NAME JSON ...` — three arms at once on one "
             f"{result['device']} GPU for {result['seconds']:g} s each (batch {result['batch_size']}), on three "
             f"times as much music as the ablations: `prepare --renders 140 --maps 24 --excerpt-s 30 --vorbis 0.5 "
             f"--seed 2` (136 distinct train pieces, a 30 s excerpt each, stored as Ogg Vorbis so that they fit "
             f"the GPU machine's 64 MiB; 24 MAPS excerpts), validated on 4 pieces × 3 soundfonts and 8 MAPS "
             f"recordings (20 s). Arms: `ft12` fine-tunes the weights shipped then (learning rate 7e-4); `k16` and `k24` "
             f"train 16 and 24 channels per key from scratch (12 here; 1.3× and 2× the parameters, 1.5× and "
             f"2.8× the MFLOPs).", "", *arm_table(result, list(ARM_COLUMNS))]
    lines += ["", "![capacity probe](../../figures/capacity/curves.png)", "",
              "*`python tests/bench/ablations.py figure figures/capacity figures/capacity/curves.png`.*", "",
              "What it shows: twice the width and three times the music leave validation where it was "
              "(all arms within ±0.02 of each other from 60 thousand windows on) and the training loss "
              "identical, batch for batch: at this budget, width alone is not what limits it. It became "
              "useful once the network could look at the keys below each key (*Keys below* below)."]
    return lines


def transpose_section() -> list[str]:
    result = _figures_json("transpose", "ablations.json")
    if result is None:
        return ["(no transposition probe)"]
    lines = ["Do more notes in the rare registers help? `prepare ... --transpose 12` renders the capacity "
             "probe's excerpts again, each played a random -12..12 semitones higher (labels moved with it); "
             f"`ftT` fine-tunes these weights on them for {result['seconds']:g} s on one {result['device']} GPU, "
             "`ft12` is the capacity probe's fine-tuning on the same excerpts untransposed; same validation:", "",
             *arm_table(result, ["selection", "rendered/onset_f1", "maps/onset_f1"]),
             "", "During these runs validation used the default thresholds (0.5, 0.3), which a network "
             "calibrated differently is judged unfairly by: after `--finalize` (thresholds chosen for "
             "each) on the standard validation set (32 excerpts of 30 s), `ftT` scores 0.820 against 0.808 "
             "for the weights it started from; it shipped until the longer fine-tuning below."]
    errors = ROOT / "figures" / "transpose" / "ftT_error_analysis.json"
    before = ROOT / "figures" / "transpose" / "previous_error_analysis.json"
    if errors.is_file() and before.is_file():
        ours, theirs = json.loads(before.read_text())["recall"], json.loads(errors.read_text())["recall"]
        lines += ["", "Recall by register after `--finalize` (`bench_errors.py` on the validation excerpts; the "
                  "weights before → after `ftT`):", "",
                  "| register | " + " | ".join(ours) + " |", "|---|" + "---|" * len(ours)]
        for label in next(iter(ours.values()))["octave"]:
            cells = [f"{ours[g]['octave'][label]['recall']:.2f} → {theirs[g]['octave'][label]['recall']:.2f}"
                     if label in ours[g]["octave"] and label in theirs[g]["octave"] else "—" for g in ours]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "![transposition probe](../../figures/transpose/curves.png)"]
    return lines


def finetune_section() -> list[str]:
    result = _figures_json("finetune", "ablations.json")
    if result is None:
        return ["(no longer fine-tuning)"]
    final = result["finalized"]
    lines = ["Transposition helped, so the next GPU burst trained longer on more transposed music: "
             "`ablations.py merge` took 90 transposed excerpts from each of two `prepare --transpose 12` "
             "folders (seeds 2 and 3: 180 excerpts of 30 s, 48 MAPS excerpts), and two runs followed on "
             f"{result['device']}, batch {result['batch_size']}, validated during training on the folder's 20 "
             "excerpts (4 pieces × 3 soundfonts and 8 MAPS recordings, 20 s each):", "",
             f"- `ftT3`: from the weights shipped then (`ftT` above), learning rate 1e-3, "
             f"{result['runs']['ftT3']['seconds']:g} s;",
             f"- `vel10`: from `ftT3`'s best weights, learning rate 5e-4, the velocity loss weighted 10 instead of 1, "
             f"{result['runs']['vel10']['seconds']:g} s.", "",
             *arm_table(result, ["selection", "rendered/onset_f1", "maps/onset_f1", "maps/frame_f1"]), "",
             "After `--finalize` on the standard validation set (32 excerpts of 30 s; the weights shipped before "
             "scored 0.820 there):", "",
             "| run | selection | rendered onset / +offset / +velocity / frame | MAPS onset / +offset / frame |",
             "|---|---|---|---|"]
    for name, row in final.items():
        v = row["scores"]
        lines.append(f"| {name} | {v['selection']:.3f} | {v['rendered/onset_f1']:.3f} / "
                     f"{v['rendered/onset_offset_f1']:.3f} / {v['rendered/onset_offset_velocity_f1']:.3f} / "
                     f"{v['rendered/frame_f1']:.3f} | {v['maps/onset_f1']:.3f} / {v['maps/onset_offset_f1']:.3f} / "
                     f"{v['maps/frame_f1']:.3f} |")
    lines += ["", "`vel10` shipped until the CPU continuation (*Training* above). Its gain over `ftT3` is most likely the extra 1,000 steps, not the velocity "
              "weight: the velocity loss went from 0.012 to 0.011 and rendered +velocity F1 from 0.374 to "
              "0.378. Velocity is not limited by how hard the loss pushes but by what the audio tells: "
              "three soundfonts map velocity to loudness and brightness differently, and the gain "
              "augmentation hides absolute level. Reading velocity as the mean of the onset frame and its "
              "two neighbours instead of the onset frame alone (a one-off measurement on the validation "
              "excerpts, not part of `make bench`) gained 0.02 of rendered +velocity F1 on the weights "
              "before (0.361 → 0.384) and nothing on these (0.378 → 0.381), so rule 5 of `fasolfa.notes` "
              "is unchanged.",
              "", "![longer fine-tuning](../../figures/finetune/curves.png)", "",
              "*`python tests/bench/ablations.py figure figures/finetune figures/finetune/curves.png` (steps "
              "counted within each run).*", "",
              "Then `vel10` trained on for 3,500 steps of 16 windows on 2 CPU cores (30 minutes, learning rate "
              "3e-4) with `make train`'s own data: whole rendered pieces of 3 h of MIDI with all 12 presets "
              "instead of the 30 s excerpts, 30 % of the rendered windows from transposed copies. Validation "
              "selection after `--finalize`: 0.839 against 0.830, the gain all on the rendered pieces "
              "(onset 0.874 against 0.855, frame 0.852 against 0.837), MAPS unchanged (onset 0.804 against 0.806): "
              "more varied renderings of more music, not more steps, is what moved the rendered scores. "
              "These weights shipped until the network grew (*Keys below* below)."]
    return lines


def subharmonic_section() -> list[str]:
    result = _figures_json("subharmonics", "ablations.json")
    if result is None:
        return ["(no subharmonic probe)"]
    lines = ["The error analysis of the 12-channel weights (`bench_errors.py --checkpoint`, commit `6c79ff6`) "
             "sorted their false notes by how they relate to the reference notes sounding then:", ""]
    before, after = _figures_json("subharmonics", "error_analysis_k12.json"), _figures_json("error_analysis.json")
    if before is None or "false_notes" not in before:
        return ["(no false-note analysis of the 12-channel weights: `bench_errors.py --checkpoint`)"]
    ghost_kinds = ("octave above a sounding note", "twelfth above a sounding note")
    lines += ["| false notes | " + " | ".join(before["false_notes"]) + " |",
              "|---|" + "---|" * len(before["false_notes"])]
    for label, report in (("12 channels, no keys below", before), ("these weights", after)):
        if report is None or "false_notes" not in report:
            continue
        cells = []
        for group in before["false_notes"]:
            kinds = report["false_notes"].get(group, {})
            total = sum(kinds.values())
            ghosts = sum(kinds.get(kind, 0) for kind in ghost_kinds)
            cells.append(f"{total}, of them {ghosts} ({ghosts / max(total, 1):.0%}) an octave or a twelfth above")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "The 2nd and 3rd partials of a sounding note read as notes of their own: the network "
              "could look only *up* from a key (at its own partials), never down (at the notes it may be a "
              "partial of). So the harmonic convolution now also reads the keys 12, 19 and 24 below each key "
              "(`ModelConfig.subharmonic_keys = (2, 3, 4)`, notebook 05 section 2). Four arms, each started from "
              f"the 12-channel weights (grown by `widen` where it has more) and trained {result['until_step']} steps of "
              f"{result['batch_size']} windows on this machine's 2 CPU cores with `make train`'s data and one "
              "schedule (learning rate 5e-4, warm-up 200, cosine to step 8,000; `ablations.py collect "
              f"figures/subharmonics RUN... --until-step {result['until_step']}`):", "",
              *arm_table(result, list(ARM_COLUMNS)), "",
              "`k12`/`k24`: features per key; `-sub`: with the keys below. Width alone buys nothing (as in the "
              "capacity probe above); the keys below buy 0.02 of selection; both together 0.04, most of it on "
              "the MAPS pianos (onset 0.77 → 0.84). `k24-sub` went on training to the end of its schedule "
              "(step 8,000, `figures/train_cpu_wide/`). Its last 2,000 steps ended level: after `--finalize`, "
              "validation selection 0.903 at step 8,000 against 0.904 at step 6,000, so the weights of step "
              "6,000 went on (*Velocity from the recorded level* below).",
              "", "![subharmonic probe](../../figures/subharmonics/curves.png)"]
    return lines


def velocity_level_section() -> list[str]:
    result = _figures_json("velocity_level", "ablations.json")
    if result is None:
        return ["(no velocity-level probe: `ablations.py collect figures/velocity_level ...`)"]
    return ["The training windows get a random gain (−18 to +6 dB) so that the note heads do not depend "
            "on a recording's level; but that gain also hides how loud each strike was, the best cue to "
            "its velocity. The velocity metric fits a line per piece from estimated to reference velocities, "
            "so a recording's overall level costs nothing there. `TrainConfig.velocity_from_level = 0.5` "
            "leaves half the windows at their recorded level (no gain drawn) and counts the velocity loss "
            "only in those. Two arms of 1,000 steps of 16 windows from the step-6,000 weights, learning rate "
            "2e-4, one after the other on this machine's 2 CPU cores with `make train`'s data "
            "(`ablations.py collect figures/velocity_level RUN/vel-ctrl RUN/vel-level`); best validation "
            "row of each (the training-time threshold grid):", "",
            *arm_table(result, ["selection", "rendered/onset_f1", "maps/onset_f1",
                                "rendered/onset_offset_velocity_f1", "maps/onset_offset_velocity_f1"]), "",
            "After `--finalize` (thresholds chosen for each): `vel-level` 0.904 selection, +velocity F1 "
            "0.504 rendered and 0.223 MAPS; `vel-ctrl` (the same steps without the change) 0.906, 0.448 and "
            "0.229; the step-6,000 weights 0.904, 0.442 and 0.220. So: +0.06 of velocity F1 on the rendered "
            "pieces, nothing measurable on the MAPS pianos (whose four sampled instruments map velocity to "
            "loudness each their own way), and note onsets unchanged within the noise. `vel-level`'s "
            "best weights (step 500) went on training (*More music and a weight average*)."]


def more_music_section() -> list[str]:
    result = _figures_json("more_music_ema", "ablations.json")
    if result is None:
        return ["(no probe: `ablations.py collect figures/more_music_ema ...`)"]
    return ["Two changes at once, from the weights of *Velocity from the recorded level*, to see whether "
            "anything but the network still moves validation: twice the music (`train_hours` 6 instead "
            "of 3: the same 3 h of pieces plus 3 h more, rendered with every preset, transposed copies "
            "included) and an exponential moving average of the weights (`TrainConfig.ema_decay = 0.999`, "
            "notebook 06 section 2: validation and `best.pt` use the average of about the last 1,000 "
            "steps). `more-data-ema` ran 3,500 steps of 16 windows (learning rate 3e-4, cosine to step "
            "3,500) on this machine's 2 CPU cores (its logged time includes 17 minutes paused, and 10 shared "
            "with the `restrike3` run below); `vel-level2` is the earlier continuation with 3 h of "
            "music and no average (2e-4, cosine to step 2,000). Best validation row of each (training-time "
            "threshold grid), then each best checkpoint after `--finalize`:", "",
            *arm_table(result, ["selection", "rendered/onset_f1", "maps/onset_f1",
                                "rendered/onset_offset_velocity_f1", "maps/onset_offset_velocity_f1"]), "",
            *finalized_table(result), "",
            "The averaged weights' validation is smooth: level at 0.900–0.901 from 1,000 to 2,500 steps, "
            "then rising in the cosine's tail to 0.905 at step 3,500 (`figures/more_music_ema/curves.png`), "
            "where the single checkpoints of the earlier runs scattered between 0.894 and 0.903. That is a "
            "small gain, with three possible causes (the average, the added music, the longer schedule); "
            "the end of this paragraph and the next rule out the first two. After `--finalize` the "
            "step-3,500 weights are ahead of `vel-level2`'s on every "
            "rendered metric and on MAPS frames and velocity, level on MAPS onsets; the largest gain is "
            "velocity. They shipped until *Width and reach* below. The last row finalizes the same run's trained weights "
            "at step 3,500 instead of their average: within 0.001 of it on selection (the learning rate "
            "ends at 5 % of its peak, so the weights hardly move over the average's last 1,000 steps). "
            "At the end of a schedule the average adds nothing measurable; its use is a validation curve "
            "smooth enough to read mid-run.", "",
            *music_control_lines(), 
            "![more music and a weight average](../../figures/more_music_ema/curves.png)"]


def music_control_lines() -> list[str]:
    """The ``ema-3h`` control of the more-music probe, when collected: the same run with 3 h of
    music, compared with ``more-data-ema`` at the steps both validated."""
    folder = ROOT / "figures" / "more_music_ema"
    if not (folder / "ema-3h-validation.csv").is_file():
        return []
    three = {row["step"]: row["selection"] for row in read_log(folder / "ema-3h-validation.csv")}
    six = {row["step"]: row["selection"] for row in read_log(folder / "more-data-ema-validation.csv")}
    steps = sorted(set(three) & set(six))
    if not steps:
        return []
    difference = sum(six[step] - three[step] for step in steps) / len(steps)
    return [f"Which of the changes? `ema-3h` is `more-data-ema` with 3 h of music and nothing else changed, "
            f"stopped at step {max(three):.0f} for lack of time. At the {len(steps)} steps both validated "
            f"({min(steps):.0f}–{max(steps):.0f}) the 6-h run's averaged selection was "
            f"{abs(difference):.3f} {'higher' if difference > 0 else 'lower'} on average "
            f"({', '.join(f'{six[step]:.3f} / {three[step]:.3f}' for step in steps)}, 6 h / 3 h): "
            + ("twice the music did not lift validation at these steps, so the gain over `vel-level2` "
               "is not the music's (that leaves the longer schedule, or chance)." if difference <= 0.001 else
               "the added music is worth that much at these steps."), ""]


def restrike_section() -> list[str]:
    result = _figures_json("restrike", "ablations.json")
    if result is None:
        return ["(no probe: `ablations.py collect figures/restrike ...`)"]
    return [*repeated_note_lines(),
            "A probe in training: `TrainConfig.restrike_weight = 3` weighs the onset loss of re-strikes "
            "(an onset on a key already sounding the frame before) three times more; `restrike3` is "
            "`vel-level2`'s run with only that changed (same start, schedule and batches), 1,000 steps:", "",
            *arm_table(result, ["selection", "rendered/onset_f1", "maps/onset_f1"]), "",
            *finalized_table(result), "",
            "It is worse at every validation (`figures/restrike/curves.png`), and after `--finalize` "
            "too: the default stays 1 (no extra weight)."]


def repeated_note_lines() -> list[str]:
    """What the error analysis says of the missed notes with a same-key note 50–200 ms away."""
    errors = _figures_json("error_analysis.json")
    merged = (errors or {}).get("repeated_notes_merged", {}).get("rendered")
    if merged is None:
        return ["Many rendered notes missed have a same-key transcribed note 50–200 ms away "
                "(the error analysis below).", ""]
    misses = errors["misses"]["rendered"]
    near = sum(count for kind, count in misses.items() if kind.startswith("same key"))
    octave, in_octave = max(merged["by_octave"].items(), key=lambda item: item[1])
    return [f"Of the {sum(misses.values())} rendered notes missed on the validation excerpts, {near} have a "
            f"same-key transcribed note 50–200 ms away, and {merged['n_notes']} of those are **repeated "
            "notes**: the player struck that key again within 200 ms (a median "
            f"{1000 * merged['median_gap_s']:.0f} ms apart; {in_octave} of them in {octave}), and the "
            "transcription made one note of the two strikes (`bench_errors.py`, the error analysis below). "
            "The second strike lands on a string that still sounds, so its onset changes the spectrum "
            "far less than a strike from silence.", ""]


def width_reach_section() -> list[str]:
    result = _figures_json("width_reach", "ablations.json")
    if result is None:
        return ["(no probe: `ablations.py collect figures/width_reach ...`)"]
    best = {name: row.get("best", {}).get("selection", float("nan")) for name, row in result["variants"].items()}
    spread = max(best.values()) - min(best.values())
    lines = ["With every change to the data and the training found so far (the sections above) ending at "
             "a validation selection near 0.90, is the network too small, or does it see too little time? "
             "Three arms from the weights of *More music and a weight average*, 500 steps of 16 windows each on this machine's 2 CPU "
             "cores with `make train`'s 6 h of music, one schedule (learning rate 3e-4, warm-up 100, "
             "cosine to step 3,000) and the same batches (`ablations.py collect figures/width_reach RUN... "
             "--until-step 500`): `control` trains that network on; `k32` grows it by `model.widen` "
             "to 32 features per key and 24 onset features (1.5× the parameters, same function to start); "
             "`dilation16` grows it by a fifth time block of dilation 16 (the note heads see ±32 frames, "
             "±0.37 s, instead of ±16), whose residual starts near zero (`widen(..., time_dilations=...)`, "
             "notebook 05 section 2b).", "",
             *arm_table(result, ["selection", "rendered/onset_f1", "rendered/frame_f1", "maps/onset_f1",
                                 "maps/frame_f1", "rendered/onset_offset_velocity_f1"]), "",
             f"The three best validations lie within {spread:.3f} of each other, inside the noise of a "
             "single validation (±0.003), and the training losses are equal batch for batch "
             "(`figures/width_reach/curves.png`): in 500 steps neither more width nor more reach buys "
             "anything measurable."]
    long_run = _figures_json("width_long", "ablations.json")
    if long_run is not None:
        lines += ["", *width_long_lines(long_run)]
    reach = _figures_json("reach_long", "ablations.json")
    if reach is not None:
        lines += ["", *reach_long_lines(reach, (long_run or {}).get("finalized", {}).get("k32", {}))]
    return lines + ["", "![width and reach](../../figures/width_reach/curves.png)"]


def _onset_gain_sentence(wide: dict, control: dict) -> str:
    """Where the wider arm's finalized scores differ from the control's: onsets, and the rest."""
    others = [key for key in FINALIZED_COLUMNS if key not in ("selection", "rendered/onset_f1", "maps/onset_f1")
              and wide.get(key) is not None and control.get(key) is not None]
    worst = min(others, key=lambda key: wide[key] - control[key])
    return (f"The gain is in note onsets (rendered {wide['rendered/onset_f1']:.3f} against "
            f"{control['rendered/onset_f1']:.3f}, MAPS {wide['maps/onset_f1']:.3f} against "
            f"{control['maps/onset_f1']:.3f}); on the other metrics the two are within "
            f"{max(abs(wide[key] - control[key]) for key in others):.3f} of each other, the control ahead "
            f"most on {FINALIZED_COLUMNS[worst]} ({control[worst]:.3f} against {wide[worst]:.3f}).")


def _selection_curves(folder: str, arms) -> tuple[dict, list]:
    """``{arm: {step: selection}}`` from ``figures/<folder>/<arm>-validation.csv``, and the steps
    every arm validated at."""
    curves = {name: {row["step"]: row["selection"]
                     for row in read_log(ROOT / "figures" / folder / f"{name}-validation.csv")} for name in arms}
    return curves, sorted(set.intersection(*(set(curve) for curve in curves.values())))


def width_long_lines(result: dict) -> list[str]:
    """The width probe's two arms run to the end of their schedule, then finalized."""
    curves, steps = _selection_curves("width_long", ("control", "k32"))
    ahead = sum(curves["k32"][step] > curves["control"][step] for step in steps)
    finalized = result.get("finalized", {})
    before = (_figures_json("more_music_ema", "ablations.json") or {}).get("finalized", {}).get("more-data-ema", {})
    lines = ["Five hundred steps are short for a grown network, whose added channels start from zero. So "
             "`control` and `k32` went on to the end of their schedule (step 3,000), side by side on the same "
             "2 cores (`ablations.py collect figures/width_long RUN/control RUN/k32 --finalized ...`):", "",
             *arm_table(result, ["selection", "rendered/onset_f1", "rendered/frame_f1", "maps/onset_f1",
                                 "maps/frame_f1", "rendered/onset_offset_velocity_f1"]), "",
             *finalized_table(result), ""]
    if "k32" in finalized and "control" in finalized:
        lines.append(f"`k32` validated higher than `control` at {ahead} of the {len(steps)} validations both made "
                     f"(`figures/width_long/curves.png`), and after `--finalize` its selection is "
                     f"{finalized['k32']['selection']:.3f} against {finalized['control']['selection']:.3f}"
                     + (f" (the weights it started from: {before['selection']:.3f})" if before else "")
                     + ". Width that bought nothing in 500 steps did over 3,000: the added channels needed "
                     "the time to learn. " + _onset_gain_sentence(finalized["k32"], finalized["control"])
                     + " The control's second cosine cycle alone gained a little too. `k32`'s best weights "
                     "shipped next, and went on below.")
    return lines + ["", "![width over a whole schedule](../../figures/width_long/curves.png)"]


def reach_long_lines(result: dict, started_from: dict) -> list[str]:
    """The reach probe over a whole schedule: a fifth time block against a control, both from
    the width probe's ``k32`` weights, then finalized."""
    curves, steps = _selection_curves("reach_long", ("control", "dilation16"))
    ahead = sum(curves["dilation16"][step] > curves["control"][step] for step in steps)
    behind = sum(curves["dilation16"][step] < curves["control"][step] for step in steps)
    lines = ["Then the longer reach had its whole schedule too. `control` and `dilation16` both start from "
             "`k32`'s best weights and run a second cosine cycle (learning rate 3e-4, warm-up 100, to step 3,000) on "
             "the same batches, side by side on the 2 cores; `dilation16` first grows a fifth time block of "
             "dilation 16 (`widen(..., time_dilations=...)`: the note heads see ±0.37 s instead of ±0.19 s, "
             "9 % more parameters) (`ablations.py collect figures/reach_long RUN/control RUN/dilation16 "
             "--finalized ...`):", "",
             *arm_table(result, ["selection", "rendered/onset_f1", "rendered/frame_f1", "maps/onset_f1",
                                 "maps/frame_f1", "rendered/onset_offset_velocity_f1"]), "",
             *finalized_table(result), ""]
    finalized = result.get("finalized", {})
    if "control" in finalized and "dilation16" in finalized:
        far, near = finalized["dilation16"], finalized["control"]
        lead = max(curves["dilation16"][step] - curves["control"][step] for step in steps)
        others = [key for key in FINALIZED_COLUMNS if key != "selection"
                  and far.get(key) is not None and near.get(key) is not None]
        better = [FINALIZED_COLUMNS[key] for key in others if far[key] > near[key] + VALIDATION_NOISE]
        worse = [FINALIZED_COLUMNS[key] for key in others if far[key] < near[key] - VALIDATION_NOISE]
        text = (f"`dilation16` validated higher at {ahead}, lower at {behind} of the {len(steps)} validations both made, "
                f"by at most {lead:.3f} (`figures/reach_long/curves.png`); after `--finalize` the selections are "
                f"{far['selection']:.3f} and {near['selection']:.3f}, within the noise of one validation (±{VALIDATION_NOISE})"
                if abs(far["selection"] - near["selection"]) <= VALIDATION_NOISE else
                f"`dilation16` validated higher at {ahead}, lower at {behind} of the {len(steps)} validations both made; "
                f"after `--finalize` its selection is {far['selection']:.3f} against {near['selection']:.3f}")
        text += (". Beyond that noise, `dilation16` is ahead on " + (", ".join(better) or "no other metric")
                 + " and behind on " + (", ".join(worse) or "none") + ".")
        if started_from:
            level_or_ahead = [name for name in ("dilation16", "control")
                              if all(finalized[name][key] >= started_from[key] for key in FINALIZED_COLUMNS
                                     if finalized[name].get(key) is not None and started_from.get(key) is not None)]
            text += (f" Against the weights both started from (selection {started_from['selection']:.3f}): "
                     + (f"`{level_or_ahead[0]}`'s best weights are level or ahead on every metric of that table, "
                        "so they went on" if level_or_ahead else
                        "neither second cycle is level or ahead on every metric, so those weights stayed") + ".")
        lines.append(text)
    return lines + ["", "![reach over a whole schedule](../../figures/reach_long/curves.png)"]


def _velocity_change_sentence(before: dict, after: dict) -> str:
    """What a change to the velocity head alone did, between two ``finalized`` rows: +velocity
    F1 on both groups, and the other metrics that must not (and did not) move."""
    same = [FINALIZED_COLUMNS[key] for key in FINALIZED_COLUMNS
            if "velocity" not in key and before.get(key) is not None and before[key] == after.get(key)]
    maps_change = after["maps/onset_offset_velocity_f1"] - before["maps/onset_offset_velocity_f1"]
    return (f"+velocity F1 {before['rendered/onset_offset_velocity_f1']:.3f} → "
            f"{after['rendered/onset_offset_velocity_f1']:.3f} on the rendered excerpts and "
            f"{before['maps/onset_offset_velocity_f1']:.3f} → {after['maps/onset_offset_velocity_f1']:.3f} "
            f"on the MAPS pianos ({maps_change:+.3f}, {maps_change / VALIDATION_NOISE:.1f}× the noise of one "
            f"validation, ±{VALIDATION_NOISE}); {', '.join(same)} identical, as they must be.")


def velocity_head_section() -> list[str]:
    """The velocity head that reads the input level: grown, trained alone, then finalized."""
    result = _figures_json("velocity_head", "ablations.json")
    if result is None:
        return ["(no velocity-head run: `ablations.py collect figures/velocity_head ...`)"]
    finalized = result.get("finalized", {})
    arm = result["variants"].get("velocity-head", {})
    cfg = json.loads((ROOT / "figures" / "velocity_head" / "velocity-head-config.json").read_text())
    before, after = finalized.get("started from"), finalized.get("velocity-head")
    model_cfg = cfg["model"]
    lines = ["Until these weights, the velocity head was a 1×1 convolution over the key features at the onset "
             "frame. Those features are made to find notes at any level (half the training windows get a random "
             "gain), so they keep only part of what tells a soft strike from a loud one: how loud the key sounds."
             + (f" On the rendered validation excerpts, +offset F1 was {before['rendered/onset_offset_f1']:.2f} but "
                f"+velocity F1 {before['rendered/onset_offset_velocity_f1']:.2f}: "
                f"about {1 - before['rendered/onset_offset_velocity_f1'] / before['rendered/onset_offset_f1']:.0%} of the "
                "notes matched on onset and offset missed the metric's tolerance (10 % of each piece's velocity "
                "range, after the best line per piece)." if before else ""),
             "",
             f"The head now reads the key features of {cfg['model']['velocity_frames']} frames around each onset, "
             f"the level of the key's own three HCQT bins in every harmonic channel at frames "
             f"{cfg['model']['velocity_level_frames'][0]}..+{cfg['model']['velocity_level_frames'][1]}, and a "
             f"quadratic in the key's register (`ModelConfig(velocity_frames={model_cfg['velocity_frames']}, "
             f"velocity_level_frames={tuple(model_cfg['velocity_level_frames'])})`, "
             "`FasolfaNet.velocity_from_level`, notebook 05 section 6b). `widen` grew it from the weights of "
             "*Width and reach* (the old head as the centre frame, the rest at zero: the same function), and "
             f"`TrainConfig.train_only = {cfg['train_only']}` trained only its parameters: every other weight "
             "and every normalisation statistic stayed bit for bit, so every other output is unchanged. "
             f"{cfg['steps']:,} steps of {cfg['batch_size']} windows, learning rate {cfg['learning_rate']:g} "
             f"(warm-up {cfg['warmup_steps']}, cosine), weight average {cfg['ema_decay']}, the best step chosen by "
             f"`selection_metric = \"{cfg['selection_metric']}\"` (mean over the two groups of +velocity F1), "
             f"{arm.get('best', {}).get('elapsed_s', 0) / 60:.0f} minutes on this machine's 2 CPU cores "
             "(`ablations.py collect figures/velocity_head RUN/velocity-head --finalized ...`):", "",
             *arm_table(result, ["rendered/onset_offset_velocity_f1", "maps/onset_offset_velocity_f1"]),
             "", "After `--finalize` (the selection column is, as everywhere else, the mean onset F1):", "",
             *finalized_table(result), ""]
    if before and after:
        lines.append(_velocity_change_sentence(before, after))
    joint = finalized.get("joint")
    if after and joint:
        jcfg = json.loads((ROOT / "figures" / "velocity_head" / "joint-config.json").read_text())
        others = [key for key in FINALIZED_COLUMNS if joint.get(key) is not None and after.get(key) is not None]
        ahead = [FINALIZED_COLUMNS[key] for key in others if joint[key] > after[key] + VALIDATION_NOISE]
        behind = [FINALIZED_COLUMNS[key] for key in others if joint[key] < after[key] - VALIDATION_NOISE]
        level_or_ahead = all(joint[key] >= after[key] for key in others)
        lines += ["", f"Then the whole network trained one more cosine cycle with the new head (`joint`: every "
                  f"parameter, learning rate {jcfg['learning_rate']:g}, warm-up {jcfg['warmup_steps']}, cosine to "
                  f"step {jcfg['steps']:,}, weight average {jcfg['ema_decay']}, the best step chosen by the mean "
                  f"onset F1 as before), so that the key features could learn what the level path leaves to them. "
                  f"After `--finalize` it is ahead of `velocity-head` by more than the noise of one validation "
                  f"(±{VALIDATION_NOISE}) on " + (", ".join(ahead) or "no metric") + " and behind on "
                  + (", ".join(behind) or "none") + "; "
                  + ("it is level or ahead on every metric of the table, so its weights shipped." if level_or_ahead
                     else "it is not level or ahead on every metric, so `velocity-head`'s weights shipped.")
                  + " The curves below do not compare the two: each validation keeps the pair of the training-time "
                  "threshold grid that its own selection prefers (+velocity for `velocity-head`, onsets for "
                  "`joint`); the table above does."]
    return lines + ["", "![the velocity head](../../figures/velocity_head/curves.png)"]


def input_level_section(metadata: dict) -> list[str]:
    """The band of levels recordings are brought into (``fasolfa.level``), chosen by ``--finalize``,
    and the tuning the HCQT follows (``fasolfa.tuning``)."""
    sweep = metadata.get("level_sweep") or []
    band = metadata.get("input_level_db")
    if band is None or not sweep:
        return ["These weights store no input level: recordings are read at their own level."]
    conditions = (_figures_json("robustness.json") or {}).get("conditions", {})
    low, high = (band, band) if isinstance(band, (int, float)) else band
    lines = ["A recording's gain says nothing about the music, but the network reads absolute level: its input "
             "is a log-magnitude HCQT, and velocity is read from level. It was trained on renderings whose loudest "
             "strikes sit near -22 dBFS (±6 dB); most audio files are peak-normalised near 0 dBFS, and a phone "
             "across the room records far below. `fasolfa.transcribe` therefore measures each recording's level "
             "first (the 99.9th percentile of |x| over the whole recording, in dBFS: the loudest strikes, not one "
             "peak; `fasolfa.level`, a first pass over the audio) and brings it into the band stored here: a "
             "recording inside it is read as it is (its level still tells soft playing from loud), one outside it "
             "is scaled to the nearer end. `--keep-level` (`level=False`) reads every recording as it is.", "",
             f"`--finalize` chose the band on the validation excerpts (`fasolfa.train.sweep_input_levels`): each "
             f"candidate judged by the mean of the selection (training's threshold grid, mean note-onset F1 of the "
             f"two groups) of the excerpts at their own renderings' levels and of the same excerpts at a random gain "
             f"between {REGAIN_DB[0]:g} and +{REGAIN_DB[1]:g} dB each (clipped at full scale, as a recorder would): "
             f"the levels real recordings come at, which the renderings do not show. Chosen: **{low:g} … {high:g} "
             f"dBFS**.", "",
             "| band (dBFS) | selection | at their own levels | at random gains |", "|---|---|---|---|"]
    for row in sweep:
        row_band = row["input_level_db"]
        text = f"{row_band[0]:g} … {row_band[1]:g}" if isinstance(row_band, list) else f"{row_band:g}"
        mark = "**" if row_band == band else ""
        own, other = row.get("own_level", row), row.get("regained", {})
        lines.append(f"| {mark}{text}{mark} | {row['selection']:.3f} | {own.get('selection', float('nan')):.3f} | "
                     f"{other.get('selection', float('nan')):.3f} |")
    spread = max(row["selection"] for row in sweep) - min(row["selection"] for row in sweep)
    lines += ["", f"The candidates lie within {spread:.3f} of each other, about the noise of one validation "
              f"(±{VALIDATION_NOISE}): which band matters far less than bringing recordings into one at all "
              "(*What they buy*, below)."]
    tunings = metadata.get("validation_tuning_cents") or {}
    moved = {name: cents for name, cents in tunings.items() if cents}
    lines += ["", "The HCQT also follows each recording's tuning (`fasolfa.tuning`): in the same first pass, the "
              "spectral peaks between 60 Hz and 2 kHz give how far the notes sit from A = 440 Hz (a weighted "
              "circular mean of their deviations in cents), and the HCQT is computed with every bin moved by that "
              "much when it is more than 2 cents and the peaks agree (`--no-tuning` keeps A = 440 Hz). Of the "
              f"validation excerpts, {len(moved)} of {len(tunings)} were moved"
              + (f" ({min(moved.values()):+.1f} to {max(moved.values()):+.1f} cents; the MAPS pianos sit up to 8 "
                 "cents off)" if moved else "") + "; thresholds were chosen on them read that way."]
    before = (_figures_json("velocity_fit", "ablations.json") or {}).get("finalized", {}).get("least squares")
    if before:
        lines += ["", "The same weights finalized before (recordings read as they are, A = 440 Hz) and now; the "
                  "thresholds were chosen again:", "",
                  *finalized_table({"finalized": {"as they are": before, "level band and tuning": _finalized_row(metadata)}})]
    pairs = [(name, conditions[name]) for name in ("mastered", "quiet", "detuned +20 cents") if name in conditions]
    if pairs and all("scores_as_is" in row for _, row in pairs):
        def pair(row, key):
            return f"{row['scores_as_is'][key]:.3f} → {row['scores'][key]:.3f}"
        lines += ["", "*What they buy* (`tests/bench/check_robustness.py`, note-onset F1 of the validation excerpts read "
                  "as they are → as `fasolfa transcribe` reads them): "
                  + "; ".join(f"{row['description']}: rendered {pair(row, 'rendered/onset_f1')}, MAPS "
                              f"{pair(row, 'maps/onset_f1')}" for name, row in pairs) + "."]
    return lines


def _finalized_row(metadata: dict) -> dict:
    """The finalized scores stored with a checkpoint: its offset sweep's chosen row."""
    chosen = metadata.get("thresholds", {})
    row = next((r for r in metadata.get("offset_sweep", []) if r["offset"] == chosen.get("offset")), {})
    return {"step": metadata.get("step"), **{k: v for k, v in row.items() if "/" in k or k == "selection"}}


def robustness_lines() -> list[str]:
    """The table of ``figures/robustness.json`` (``tests/bench/check_robustness.py``)."""
    result = _figures_json("robustness.json")
    if result is None:
        return ["(no robustness check: `python tests/bench/check_robustness.py`)"]
    clean = result["conditions"]["clean"]["scores"]
    lines = ["How the validation excerpts fare when the recording is made worse (`tests/bench/check_robustness.py`: "
             "each condition applied to the whole 30 s excerpt with the training augmentation's own functions, "
             "a codec or pyroomacoustics' image-source rooms (ISM, a generator training never used), then transcribed as `fasolfa transcribe` does, level and tuning first; * beyond what "
             "training's augmentation drew; `figures/robustness.png`):", "",
             "| condition | | onset | frame | MAPS onset | MAPS frame |", "|---|---|---|---|---|---|"]
    for name, row in result["conditions"].items():
        scores = row["scores"]
        cells = " | ".join(f"{scores.get(key, float('nan')):.3f}" for key in
                           ("rendered/onset_f1", "rendered/frame_f1", "maps/onset_f1", "maps/frame_f1"))
        rate = f", {row['kbit_per_s']:.0f} kbit/s" if "kbit_per_s" in row else ""
        lines.append(f"| {name}{'' if row['trained'] else ' *'} | {row['description']}{rate} | {cells} |")
    costly = [name for name, row in result["conditions"].items()
              if any(clean[key] - row["scores"].get(key, 0.0) > 0.02 for key in ("rendered/onset_f1", "maps/onset_f1"))]
    cheap = [name for name in result["conditions"] if name not in costly and name != "clean"]
    lines += ["", f"Within 0.02 of the clean note-onset F1 in both groups: {', '.join(cheap) or 'none'}. "
              f"Costing more: {', '.join(costly) or 'none'} — the recordings to expect trouble with.",
              "", "![robustness](../../figures/robustness.png)"]
    return lines


BURST_ARMS = {"same": "same network", "wide": "wider"}


def _operations_ratio(cfg: dict, base: dict) -> float:
    """MFLOP per second of audio of ``cfg``'s network over ``base``'s (0 when either is missing)."""
    if not cfg.get("model") or not base.get("model"):
        return 0.0
    cost = [layer_table(FasolfaNet(ModelConfig.from_dict(c["model"])).eval())[-1]["mflops_per_s"] for c in (cfg, base)]
    return cost[0] / cost[1]


def _burst_verdicts(finalized: dict) -> str:
    """Each arm of a burst against ``finalized["started from"]``: the columns where it is ahead
    or behind by more than :data:`VALIDATION_NOISE`."""
    start, verdicts = finalized["started from"], []
    for name, row in finalized.items():
        if name == "started from":
            continue
        keys = [key for key in FINALIZED_COLUMNS if row.get(key) is not None and start.get(key) is not None]
        ahead = [FINALIZED_COLUMNS[k] for k in keys if row[k] > start[k] + VALIDATION_NOISE]
        behind = [FINALIZED_COLUMNS[k] for k in keys if row[k] < start[k] - VALIDATION_NOISE]
        verdicts.append(f"`{name}` ahead on {', '.join(ahead) or 'nothing'}, behind on {', '.join(behind) or 'nothing'}")
    return "; ".join(verdicts)


def gpu_burst_section() -> list[str]:
    """Two arms trained side by side on a lent GPU from a window pack (``figures/gpu_burst``)."""
    result = _figures_json("gpu_burst", "ablations.json")
    if result is None:
        return ["(no GPU burst: `ablations.py collect figures/gpu_burst ...`)"]
    pack = _figures_json("gpu_burst", "pack-summary.json") or {}
    finalized = result.get("finalized", {})
    cfgs = {name: json.loads((ROOT / "figures" / "gpu_burst" / f"{name}-config.json").read_text())
            for name in result["variants"]}
    same, wide = cfgs.get("same", {}), cfgs.get("wide", {})
    lines = [f"A GPU machine was lent for 15 minutes (one {pack.get('device', 'GPU')}). It has no FluidSynth, "
             "soundfonts or corpus, and takes at most 64 MiB along, so the data went as a window pack "
             f"(`python -m fasolfa.pack CONFIG OUT --hours {pack.get('hours', 0):.1f}`: "
             f"{pack.get('clips', 0)} clips of {pack.get('clip_s', 0):.0f} s drawn from `make train`'s data in its "
             f"own shares — rendered, transposed, MAPS — as Ogg Vorbis at the best quality, "
             f"{pack.get('megabytes', 0):.0f} MB) and the missing Python packages as wheels. "
             "`tests/bench/gpu_burst.sh` ran two arms side by side on it, each "
             '`python -m fasolfa.train` with `data: "pack"` and '
             f"`time_budget_s: {same.get('time_budget_s', 0):g}` "
             "(the cosine schedule over training seconds, since the speed is not known before the machine starts), "
             f"batch {same.get('batch_size')}, weight average {same.get('ema_decay')}, from the weights shipped "
             "then (`started from` below): the same network (learning rate "
             f"{same.get('learning_rate', 0):g}), and the network widened to {wide.get('model', {}).get('key_channels')} "
             f"key and {wide.get('model', {}).get('onset_channels')} onset channels (`widen`: the same function to "
             f"start; learning rate {wide.get('learning_rate', 0):g}; {_operations_ratio(wide, same):.1f}× the network's "
             "operations). The GPU machine "
             "validated nothing (the excerpts would not fit); each arm saved its averaged weights every 500 "
             "steps, and they were finalized here:", "",
             "| arm | steps | windows | windows/s |", "|---|---|---|---|"]
    for name, row in result["variants"].items():
        lines.append(f"| {BURST_ARMS.get(name, name)} | {row['steps']:,.0f} | {row['windows']:,.0f} | "
                     f"{row['windows_per_s']:.0f} |")
    lines += ["", *finalized_table(result), ""]
    if finalized.get("started from"):
        window_s = same.get("window_n_hops", 172) * config.HOP_LENGTH / config.SAMPLE_RATE
        seen = max(row["windows"] for row in result["variants"].values()) * window_s / max(pack.get("hours", 1) * 3600, 1)
        lines.append(f"Against the weights they started from, by more than the noise of one validation "
                     f"(±{VALIDATION_NOISE}): {_burst_verdicts(finalized)}. Each second of the pack's music was inside "
                     f"about {seen:.0f} windows in those minutes, where the weights they started from had heard "
                     f"{same.get('train_hours', 0):g} hours rendered with {len(same.get('soundfonts', [])) * len(same.get('programs', []))} "
                     "presets. Lossy coding is not the cause: the shipped weights transcribe Vorbis- and MP3-coded "
                     "excerpts about as well as the originals (*What to expect*, below). Nothing shipped from the "
                     "burst unless an arm is level or ahead everywhere; what stays is the way to run one "
                     "(`fasolfa.pack`, `TrainConfig.time_budget_s` and `keep_snapshots`, `tests/bench/gpu_burst.sh`).")
    return lines


ROOM_BURST_CONDITIONS = ("clean", "hall", "cathedral", "living room (ISM)", "hall (ISM)")


def room_burst_section() -> list[str]:
    """The room reverb tried in a GPU burst against a control arm (``figures/room_burst``)."""
    result = _figures_json("room_burst", "ablations.json")
    if result is None:
        return ["(no room-reverb burst: `ablations.py collect figures/room_burst ...`)"]
    pack = _figures_json("room_burst", "pack-summary.json") or {}
    finalized = result.get("finalized", {})
    room = json.loads((ROOT / "figures" / "room_burst" / "room-config.json").read_text())
    changes = ", ".join(f"`{k}` {v}" for k, v in room.get("augmentation", {}).items())
    lines = ["`Augmentation(reverb_model=\"room\")` (`fasolfa/augment.py`, notebook 04 section 7) draws rooms "
             "closer to real ones than decaying white noise: each octave band decays in its own time (treble "
             "0.25–0.8 × the RT60 at 1 kHz, bass 0.9–1.4 ×), after a pre-delay of up to 30 ms and 3–12 early "
             "reflections. Does training on such rooms, longer and wetter than before, help on rooms the "
             f"network never heard? A GPU machine was lent for 15 minutes (one {pack.get('device', 'GPU')}); "
             f"a window pack went along (`{pack.get('command', 'python -m fasolfa.pack')}`: {pack.get('clips', 0)} "
             f"clips of {pack.get('clip_s', 0):.0f} s of `make train`'s data in its own shares, "
             f"{pack.get('megabytes', 0):.0f} MB), and `tests/bench/gpu_burst.sh` trained two arms side by side "
             f"for {room.get('time_budget_s', 0):g} s each from the weights shipped (`started from`), batch "
             f"{room.get('batch_size')}, learning rate {room.get('learning_rate', 0):g}, weight average "
             f"{room.get('ema_decay')}: `room`, with the augmentation changed ({changes}), and `control`, the "
             "same with the default augmentation. Each arm's last weights had their velocity head fitted again "
             "by least squares on 12,000 windows of `make train`'s data with that arm's augmentation "
             "(`fasolfa.velocity_fit`), and were finalized here:", "",
             "| arm | steps | windows | windows/s |", "|---|---|---|---|"]
    for name, row in result["variants"].items():
        lines.append(f"| {name} | {row['steps']:,.0f} | {row['windows']:,.0f} | {row['windows_per_s']:.0f} |")
    lines += ["", *finalized_table(result), ""]
    cpu_path = ROOT / "figures" / "room_burst" / "room+cpu-config.json"
    if cpu_path.is_file():
        cpu = json.loads(cpu_path.read_text())
        cpu_log = read_log(ROOT / "figures" / "room_burst" / "room+cpu-log.csv")
        steps = cpu_log[-1]["step"] if cpu_log else 0
        lines += ["Both arms lost pedal and frames against the weights they started from, as the burst before them "
                  "did, while MAPS rose: the pack's two hours of 12-second clips are not the six hours of whole "
                  "pieces rendered twelve ways the pedal and frame heads had learnt from. So `room+cpu` continued "
                  f"`room` on this machine's CPU with `make train`'s own data and the same room augmentation: "
                  f"{cpu.get('time_budget_s', 0):g} s of training, about {steps:,.0f} steps of {cpu.get('batch_size')} "
                  f"windows, learning rate {cpu.get('learning_rate', 0):g} (cosine over the time budget), weight "
                  f"average {cpu.get('ema_decay')}; then the velocity fit and `--finalize` as for the arms "
                  "(`figures/room_burst/room+cpu-config.json`, `room+cpu-log.csv`).", ""]
    robust = {arm: _figures_json("room_burst", f"robustness-{arm}", "robustness.json")
              for arm in ("shipped", "room", "control", "room+cpu")}
    robust = {arm: r for arm, r in robust.items() if r}
    if robust:
        names = [n for n in ROOM_BURST_CONDITIONS if all(n in r["conditions"] for r in robust.values())]
        lines += ["Reverberant recordings (`tests/bench/check_robustness.py --conditions ...`: the validation "
                  "excerpts through the bench's decaying-noise rooms and through pyroomacoustics' image-source "
                  "shoeboxes, a generator neither arm trained on; note-onset F1 rendered / MAPS, in brackets "
                  "rendered frame F1, as `fasolfa transcribe` reads them):", "",
                  "| condition | " + " | ".join(robust) + " |", "|---|" + "---|" * len(robust)]
        for name in names:
            description = next(iter(robust.values()))["conditions"][name]["description"]
            cells = " | ".join(f"{r['conditions'][name]['scores']['rendered/onset_f1']:.3f} / "
                               f"{r['conditions'][name]['scores']['maps/onset_f1']:.3f} "
                               f"({r['conditions'][name]['scores']['rendered/frame_f1']:.3f})" for r in robust.values())
            lines.append(f"| {name}: {description} | {cells} |")
        lines.append("")
    if finalized.get("started from"):
        lines.append("Against the weights they started from, by more than the noise of one validation "
                     f"(±{VALIDATION_NOISE}): {_burst_verdicts(finalized)}.")
    kept = ROOT / "figures" / "room_burst" / "room+cpu.pt"
    if kept.is_file():
        lines += ["", "Nothing shipped: no arm is level or ahead everywhere. The room model buys reverberant "
                  "recordings at equal clean scores (`room` against `control`), and whole pieces on the CPU win "
                  "back part of what the pack cost the pedal and frame heads (`room+cpu` against `room`), so the "
                  f"`room+cpu` weights are kept (`figures/room_burst/room+cpu.pt`, SHA-256 `{file_sha256(kept)[:12]}`, "
                  "finalized; CC BY-NC-SA 4.0 like these) to continue from with `make train`'s data and the room "
                  "augmentation."]
    return lines


LINE_COLUMNS = {key: name for key, name in FINALIZED_COLUMNS.items() if "velocity" not in key}


def interpolation_section(metadata: dict) -> list[str]:
    """The networks on the line between the weights shipped before and the room continuation
    (``tests/bench/interpolation.py``, ``figures/interpolation``)."""
    line = _figures_json("interpolation", "interpolation.json")
    if line is None:
        return ["(no interpolation: `python tests/bench/interpolation.py CONFIG A.pt B.pt --work DIR`)"]
    rows, start = line["rows"], line["rows"][0]
    folder = ROOT / "figures" / "room_burst"
    cpu2 = json.loads((folder / "room+cpu2-config.json").read_text())
    cpu2_steps = read_log(folder / "room+cpu2-log.csv")[-1]["step"]
    lines = [f"`room+cpu2` continued `room+cpu` (above) for {cpu2['time_budget_s']:g} s more on this machine's CPU "
             f"({cpu2_steps:,.0f} steps of {cpu2['batch_size']} windows of `make train`'s data, the room "
             f"augmentation, learning rate {cpu2['learning_rate']:g}; `figures/room_burst/room+cpu2-config.json`, "
             "`room+cpu2-log.csv`), then had a velocity head with 16 hidden units fitted and was finalized. It and "
             "the weights shipped before came from the same weights and were trained apart: the room model lifted "
             "onsets and the MAPS pianos and cost frames, offsets and pedal (the rows alpha 0 and 1 below). Networks fine-tuned apart from one start often stay in one basin, so that every "
             "point on the straight line between them works and points inside keep part of what each end learnt "
             "(Wortsman et al., 2022: WiSE-FT and model soups). `fasolfa.interpolate` writes the network at "
             "`alpha` on that line, every tensor `(1 - alpha) A + alpha B` (BatchNorm's running statistics "
             "included), the velocity head A's (two fits' hidden units need not line up, so it is fitted again "
             "for a trunk that is kept). `tests/bench/interpolation.py` finalized each point on the validation "
             f"excerpts (A: `{line['a']['checkpoint']}`, SHA-256 `{line['a']['sha256'][:12]}`; B: "
             f"`{line['b']['checkpoint']}`, `{line['b']['sha256'][:12]}`; the ends' rows are their own "
             "finalized scores; +velocity is left out, as inside the line it is A's head on another trunk):", "",
             "| alpha | " + " | ".join(LINE_COLUMNS.values()) + " |", "|---|" + "---|" * len(LINE_COLUMNS)]
    for row in rows:
        lines.append(f"| {row['alpha']:g} | " + " | ".join(f"{row[key]:.3f}" for key in LINE_COLUMNS) + " |")
    verdicts, level = [], []
    for row in rows[1:]:
        ahead = [name for key, name in LINE_COLUMNS.items() if row[key] > start[key] + VALIDATION_NOISE]
        behind = [name for key, name in LINE_COLUMNS.items() if row[key] < start[key] - VALIDATION_NOISE]
        if not behind:
            level.append(f"{row['alpha']:g}")
        verdicts.append(f"{row['alpha']:g} ahead on {', '.join(ahead) or 'nothing'}, behind on "
                        f"{', '.join(behind) or 'nothing'}")
    best_onset = max(rows, key=lambda row: row["rendered/onset_f1"])
    lines += ["", "![validation along the line](../../figures/interpolation/line.png)", "",
              f"Against A, by more than the noise of one validation (±{VALIDATION_NOISE}): {'; '.join(verdicts)}. "
              + (f"Level with A or ahead everywhere: alpha {', '.join(level)}. " if level else
                 "No point of the line is level with A everywhere: what B gains, the line gains only at the price "
                 "of what B loses. ")
              + (f"The highest rendered onset F1 of all, {best_onset['rendered/onset_f1']:.3f}, is inside the line "
                 f"(alpha {best_onset['alpha']:g}), above both ends." if 0 < best_onset["alpha"] < 1 else "")]
    return lines + line_continuation_lines(metadata)


JITTER_RUNS = ("reach_long/control", "reach_long/dilation16", "width_long/control", "width_long/k32",
               "velocity_head/joint")     # late-stage runs with a weight average: validated every few hundred steps


def validation_jitter() -> dict[str, float]:
    """Per metric, the median |change| between neighbouring validations in the second half of the
    :data:`JITTER_RUNS` (weights that barely move any more): how much a metric wanders by itself."""
    changes: dict[str, list[float]] = {}
    for run in JITTER_RUNS:
        path = ROOT / "figures" / f"{run}-validation.csv"
        if not path.is_file():
            continue
        rows = read_log(path)
        late = rows[len(rows) // 2:]
        for key in FINALIZED_COLUMNS:
            if key in late[0]:
                changes.setdefault(key, []).extend(np.abs(np.diff([row[key] for row in late])).tolist())
    return {key: float(np.median(values)) for key, values in changes.items()}


def line_continuation_lines(metadata: dict) -> list[str]:
    """The network at alpha 0.5 trained on with make train's data (``figures/interpolation/ablations.json``)."""
    result = _figures_json("interpolation", "ablations.json")
    if result is None:
        return []
    name = next(iter(result["variants"]))
    cfg = json.loads((ROOT / "figures" / "interpolation" / f"{name}-config.json").read_text())
    steps = result["variants"][name]["steps"]
    finalized = result.get("finalized", {})
    lines = ["", f"So the point at alpha 0.5 was trained on (`{name}`): {cfg.get('time_budget_s', 0):g} s on this "
             f"machine's 2 cores, {steps:,.0f} steps of {cfg.get('batch_size')} windows of `make train`'s data with "
             f"the default augmentation (the data the frame and pedal heads had learnt from), learning rate "
             f"{cfg.get('learning_rate', 0):g} (cosine over the time budget), weight average {cfg.get('ema_decay')} "
             f"(`figures/interpolation/{name}-config.json`, `-log.csv`); then its velocity head was fitted again "
             "(`fasolfa.velocity_fit --hidden 16`, the shipped head's data) and it was finalized:", "",
             *finalized_table(result), ""]
    if finalized.get("started from"):
        lines.append(f"Against the weights shipped before (A, `started from`), by more than the noise of one "
                     f"validation (±{VALIDATION_NOISE}): {_burst_verdicts(finalized)}.")
    jitter = validation_jitter()
    start, last = finalized.get("started from"), list(finalized.values())[-1] if finalized else None
    if jitter and start and last:
        behind = [key for key in FINALIZED_COLUMNS if last.get(key) is not None and last[key] < start[key] - VALIDATION_NOISE]
        lines += ["", f"The ±{VALIDATION_NOISE} is a bound on how far the selection wanders between neighbouring "
                  "validations; measured for each metric (the median change between neighbouring validations in "
                  f"the second half of the late runs {', '.join(f'`{run}`' for run in JITTER_RUNS)}), the metrics "
                  "wander by very different amounts: "
                  + ", ".join(f"{FINALIZED_COLUMNS[key]} {value:.4f}" for key, value in jitter.items()) + "."]
        shipped = _line_continuation(metadata.get("train_config", {})) is not None
        if behind and shipped:
            lines.append("Where it is behind (" + ", ".join(
                f"{FINALIZED_COLUMNS[key]} {last[key] - start[key]:+.3f}, about {abs(last[key] - start[key]) / jitter[key]:.1f}× "
                "its own wander" for key in behind if key in jitter) + "), it is behind by about what that metric "
                "wanders by itself, while the gains above are many times theirs; so it was shipped.")
    return lines


def second_cycle_section(metadata: dict) -> list[str]:
    """The recipe of *Between two checkpoints* run again from the weights it shipped, its room leg
    on a lent GPU (``figures/second_cycle``)."""
    result = _figures_json("second_cycle", "ablations.json")
    if result is None:
        return ["(not run: `ablations.py collect figures/second_cycle RUN --finalized ...`)"]
    folder = ROOT / "figures" / "second_cycle"
    room = json.loads((folder / "room3-config.json").read_text())
    room_steps = read_log(folder / "room3-log.csv")[-1]["step"]
    pack = _figures_json("room_burst", "pack-summary.json") or {}
    name = next(iter(result["variants"]))
    cfg = json.loads((folder / f"{name}-config.json").read_text())
    finalized = result.get("finalized", {})
    first_room_s = sum(json.loads((ROOT / "figures" / "room_burst" / f"{run}-config.json").read_text())["time_budget_s"]
                       for run in ("room+cpu", "room+cpu2"))
    lines = ["The recipe above — a continuation with the room augmentation (B), the network halfway between "
             "it and the shipped weights (A), that midpoint trained on with `make train`'s data and the default "
             "augmentation, its velocity head fitted again — was run once more from the weights it had shipped. "
             f"This time the room leg ran on a lent {pack.get('device', 'GPU')}: `room3`, "
             f"{room.get('time_budget_s', 0):g} s of training, {room_steps:,.0f} logged steps of {room.get('batch_size')} "
             f"windows from the window pack of *Rooms closer to real ones* ({pack.get('hours', 0):.1f} h of "
             f"`make train`'s data), learning rate {room.get('learning_rate', 0):g}, weight average "
             f"{room.get('ema_decay')}, the room augmentation (`figures/second_cycle/room3-config.json`, "
             f"`room3-log.csv`), where the first cycle's room leg had taken {first_room_s:,.0f} s of this "
             "machine's 2 cores besides a burst. `fasolfa.interpolate` took the point at alpha 0.5 (no finalizing in between), "
             f"and `{name}` trained it {cfg.get('time_budget_s', 0):,.0f} s on the 2 cores "
             f"({result['variants'][name]['steps']:,.0f} steps of {cfg.get('batch_size')} windows, learning rate "
             f"{cfg.get('learning_rate', 0):g}, weight average {cfg.get('ema_decay')}; "
             f"`figures/second_cycle/{name}-config.json`, `-log.csv`: the first cycle's settings), then "
             "`velocity_fit --hidden 16` and `--finalize` as before. When it failed the rule below, one more "
             "candidate was fixed before its validation: the network halfway between A and `mid+cpu` "
             "(`fasolfa.interpolate`), its velocity head fitted again, finalized:", "", *finalized_table(result), ""]
    if finalized.get("started from"):
        lines.append(f"Against the weights it started from (A), by more than the noise of one validation "
                     f"(±{VALIDATION_NOISE}): {_burst_verdicts(finalized)}.")
    jitter, start = validation_jitter(), finalized.get("started from")
    if jitter and start:
        lines += ["", "The rule, fixed before these validations: ship only if no metric is behind the weights it "
                  f"started from by more than the larger of ±{VALIDATION_NOISE} and that metric's own wander "
                  "(*Between two checkpoints*), and one of " + ", ".join(FINALIZED_COLUMNS[k] for k in SHIP_METRICS)
                  + f" is ahead by more than {VALIDATION_NOISE}. Each change, and in brackets that change over the "
                  "metric's own wander:", ""]
        shipped_name = (_line_continuation(metadata.get("train_config", {})) or {}).get("folder") == "second_cycle"
        for name, row in finalized.items():
            if name == "started from":
                continue
            passes, behind = ship_verdict(start, row, jitter)
            lines.append(f"- `{name}`: " + _changes(start, row, jitter)
                + (". Passes the rule" if passes else ". Fails it: " + ", ".join(FINALIZED_COLUMNS[k] for k in behind)
                   + " behind") + ".")
        if not shipped_name:
            lines += ["", "Not shipped: the weights above stay."]
    return lines + second_cycle_rooms_lines() + frame_tolerance_lines(jitter, finalized) + tie_tolerance_lines(jitter)


def second_cycle_rooms_lines() -> list[str]:
    """Reverberant recordings: the shipped weights (``figures/robustness.json``) against `mid+cpu`
    (``figures/second_cycle/robustness-mid+cpu``), both by ``check_robustness.py``."""
    robust = {"shipped": _figures_json("robustness.json"),
              "mid+cpu": _figures_json("second_cycle", "robustness-mid+cpu", "robustness.json")}
    if not all(robust.values()):
        return []
    names = [n for n in ROOM_BURST_CONDITIONS if all(n in r["conditions"] for r in robust.values())]
    lines = ["", "The room leg's purpose, reverberant recordings (`tests/bench/check_robustness.py --checkpoint "
             "figures/second_cycle/mid+cpu.pt --out figures/second_cycle/robustness-mid+cpu --conditions ...`; "
             "note-onset F1 rendered / MAPS, in brackets rendered frame F1):", "",
             "| condition | shipped | mid+cpu |", "|---|---|---|"]
    for name in names:
        description = robust["shipped"]["conditions"][name]["description"]
        cells = " | ".join(f"{r['conditions'][name]['scores']['rendered/onset_f1']:.3f} / "
                           f"{r['conditions'][name]['scores']['maps/onset_f1']:.3f} "
                           f"({r['conditions'][name]['scores']['rendered/frame_f1']:.3f})" for r in robust.values())
        lines.append(f"| {name}: {description} | {cells} |")
    return lines


def frame_tolerance_lines(jitter: dict[str, float], first: dict) -> list[str]:
    """Why `mid+cpu` lost frames: its stored threshold sweep, and both ends finalized again with
    ``--frame-tolerance`` (``figures/second_cycle/frame-tolerance.json``); ``first``: their rows
    as first finalized (``ablations.json``'s ``finalized``)."""
    kept = ROOT / "figures" / "second_cycle" / "mid+cpu.pt"
    again = _figures_json("second_cycle", "frame-tolerance.json")
    if not kept.is_file() or again is None:
        return []
    from fasolfa.train import load_weights, near_ties
    _, metadata = load_weights(kept)
    chosen = metadata["thresholds"]
    rows = [row for row in metadata["threshold_sweep"]
            if row["onset"] == chosen["onset"] and row["strong_onset"] == chosen["strong_onset"]]
    lines = ["", f"Where did `mid+cpu`'s rendered frames go? Its threshold sweep (stored in the checkpoint; onset "
             f"{chosen['onset']}, strong onset {chosen['strong_onset']}, before the offset threshold):", "",
             "| frame threshold | selection | rendered frame | rendered +offset | MAPS frame |", "|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: row["frame"]):
        lines.append(f"| {row['frame']:g}{' (chosen)' if row['frame'] == chosen['frame'] else ''} | "
                     f"{row['selection']:.4f} | {row['rendered/frame_f1']:.3f} | {row['rendered/onset_offset_f1']:.3f} | "
                     f"{row['maps/frame_f1']:.3f} |")
    alike = near_ties(metadata["threshold_sweep"], again["frame_tolerance"])
    at_chosen = next(row for row in rows if row["frame"] == chosen["frame"])
    finalized = again["finalized"]
    start, last = finalized["started from"], finalized["mid+cpu"]
    passes, behind = ship_verdict(start, last, jitter)
    _, shipped_metadata = load_weights(config.CHECKPOINT_DIR / "fasolfa.pt")
    shipped_sweep = shipped_metadata.get("threshold_sweep", [])
    shipped_alike = [row["rendered/frame_f1"] for row in near_ties(shipped_sweep, again["frame_tolerance"])] \
        if shipped_sweep else []
    lines += ["", f"At the frame threshold chosen, its rendered frame F1 is {at_chosen['rendered/frame_f1']:.3f} "
              f"(the weights it started from: {first.get('started from', {}).get('rendered/frame_f1', float('nan')):.3f} as "
              f"finalized); the offset threshold chosen next ({chosen['offset']}, by the mean "
              "over the rendered and MAPS groups of onset+offset F1) ends notes earlier, which the MAPS pianos' "
              "note lists (keys held, no pedal) reward, and takes rendered frames to "
              f"{first.get('mid+cpu', {}).get('rendered/frame_f1', float('nan')):.3f}. A smaller matter shows in the same table: the "
              f"frame thresholds {', '.join(format(row['frame'], 'g') for row in alike)} have selections within "
              f"{again['frame_tolerance']:g} of each other (a fraction of one validation's noise), so which of "
              "them is chosen is noise" + (f"; among the shipped weights' alike choices rendered frame F1 spans "
              f"{min(shipped_alike):.3f}–{max(shipped_alike):.3f}" if shipped_alike else "") + ". `--finalize` gained `--frame-tolerance` "
              "(`train.choose_note_thresholds`): among the choices whose selection is within the tolerance of "
              "the best, the frame threshold goes by the mean frame F1 over groups. It came after seeing these "
              "results, so it was applied to both ends alike: the weights shipped and `mid+cpu`, each finalized "
              f"again with `--frame-tolerance {again['frame_tolerance']:g}`:", "",
              *finalized_table({"finalized": finalized}), "",
              "By the same rule, against the shipped weights finalized the same way: " + ", ".join(
                  f"{FINALIZED_COLUMNS[key]} {last[key] - start[key]:+.3f}" for key in FINALIZED_COLUMNS
                  if last.get(key) is not None and start.get(key) is not None)
              + (". It passes." if passes else ". It fails again (" + ", ".join(FINALIZED_COLUMNS[k] for k in behind)
                 + " behind): the offset threshold still takes its frames, and its MAPS +velocity stays behind."),
              "", f"The shipped weights finalized this way are a trade, not a gain, against their own thresholds "
              "(the rows `started from` of both tables), so they keep the thresholds they shipped with, and "
              "`--frame-tolerance` stays 0 by default. `mid+cpu` — the first weights at 0.900 MAPS onset F1 on "
              f"validation — is kept for the next cycle (`figures/second_cycle/mid+cpu.pt`, SHA-256 "
              f"`{file_sha256(kept)[:12]}`, finalized as the first table's row)."]
    return lines


def _changes(start: dict, row: dict, scale: dict[str, float] | None = None) -> str:
    """Each metric's change from ``start`` to ``row`` and in brackets that change over ``scale``
    (a metric's wander); without ``scale``, each metric's value and in brackets its change."""
    keys = [key for key in FINALIZED_COLUMNS if (scale is None or key in scale)
            and row.get(key) is not None and start.get(key) is not None]
    if scale is None:
        return ", ".join(f"{FINALIZED_COLUMNS[key]} {row[key]:.3f} ({row[key] - start[key]:+.3f})" for key in keys)
    return ", ".join(f"{FINALIZED_COLUMNS[key]} {row[key] - start[key]:+.3f} ({(row[key] - start[key]) / scale[key]:+.1f}×)"
                     for key in keys)


def _verdict(start: dict, row: dict, wander: dict[str, float], passed: str, held_then: str = "") -> str:
    """``passed`` when ``row`` passes the rule against ``start``, else which metrics fail it (and
    ``held_then`` after those no velocity head can change)."""
    passes, behind = ship_verdict(start, row, wander)
    if passes:
        return passed
    held = [FINALIZED_COLUMNS[k] for k in behind if k not in VELOCITY_KEYS]
    return (". It fails on " + ", ".join(FINALIZED_COLUMNS[k] for k in behind)
            + (f"; {', '.join(held)} no velocity head can change{held_then}" if held else "") + ".")


def tie_tolerance_lines(jitter: dict[str, float]) -> list[str]:
    """One near-tie rule for the level, frame and offset choices (``--tie-tolerance``,
    ``figures/second_cycle/tie-tolerance.json``), then the velocity head's own fit noise
    (``figures/second_cycle/velocity-seeds.json``, by ``ablations.py score``)."""
    again = _figures_json("second_cycle", "tie-tolerance.json")
    if again is None or not jitter:
        return []
    finalized = again["finalized"]
    start, last = finalized["started from"], finalized["mid+cpu"]
    passes, behind = ship_verdict(start, last, jitter)
    tolerance = again["tie_tolerance"]
    lines = ["", "The frame threshold is not the only choice made this way. Of `--finalize`'s choices, three are made "
             "by a score that is not what they move: the input level (velocity reads it) by note onsets, the "
             "frame threshold by note onsets, the offset threshold by onset+offset F1 (frames move with it too). "
             "One rule for all three was written down before either end was finalized with it, "
             f"`--tie-tolerance {tolerance:g}`: among the choices whose own score is within {tolerance:g} of the "
             "best, the level goes by +velocity F1 (mean over groups, at the excerpts' own levels and at random "
             "gains; `train.choose_input_level`), the frame and offset thresholds by frame F1 "
             "(`train.choose_offset_threshold`). Both ends finalized with it "
             f"(`{again['command']}`):", "",
             *finalized_table({"finalized": finalized}), "",
             f"Thresholds: the shipped weights {_knobs(start)}; `mid+cpu` {_knobs(last)}. By the same rule: "
             + _changes(start, last, jitter) + ("; it passes." if passes else
             "; it fails on " + ", ".join(FINALIZED_COLUMNS[k] for k in behind) + " alone: the offset and frame "
             "choices no longer cost it frames or offsets, but the MAPS pianos' velocities stay behind.")]
    seeds = _figures_json("second_cycle", "velocity-seeds.json")
    if seeds:
        lines += (velocity_seed_lines(seeds, jitter) + continued_lines(seeds, jitter) + velocity_agreement_lines()
                  + width_burst_lines(seeds, jitter))
    return lines


def width_burst_lines(seeds: dict, jitter: dict[str, float]) -> list[str]:
    """Two arms trained side by side on a lent GPU from `mid+cpu2` (``figures/second_cycle/width_burst``:
    each arm's config and log, and ``arms.json`` by ``ablations.py score``), judged by the rule for
    later candidates."""
    result = _figures_json("second_cycle", "width_burst", "arms.json")
    if result is None:
        return []
    folder = ROOT / "figures" / "second_cycle" / "width_burst"
    start = seeds[f"shipped/{best_heads(seeds)['shipped']}"]
    wander = rule_wander(seeds, jitter)
    arms, sentences = {}, []
    for name, row in result.items():
        arm = name.split("/")[0]
        cfg = json.loads((folder / f"{arm}-config.json").read_text())
        log = read_log(folder / f"{arm}-log.csv")
        n_params = count_parameters(FasolfaNet(ModelConfig.from_dict(cfg["model"])))
        arms[arm] = {**row, "step": f"about {int(log[-1]['step']):,} steps"}
        sentences.append(f"`{arm}` ({cfg['model']['key_channels']} key and {cfg['model']['onset_channels']} onset "
                         f"channels, {n_params:,} parameters, learning rate {cfg['learning_rate']:g}, "
                         f"{float(log[-1]['elapsed_s']):.0f} s, about {int(log[-1]['step']):,} steps of {cfg['batch_size']} "
                         f"windows): " + _changes(start, row)
                         + _verdict(start, row, wander, ". It passes the rule.", ", so its other two head fits were not made"))
    base = json.loads((folder / "same-config.json").read_text())
    pedal_loss = [start["rendered/pedal_f1"] - row["rendered/pedal_f1"] for row in result.values()]
    return ["", "### Width on a lent GPU, from `mid+cpu2`",
            "A GPU machine was lent for 15 minutes (one NVIDIA H100 80GB HBM3). `tests/bench/gpu_burst.sh` trained two "
            f"arms side by side for {base.get('time_budget_s', 0):.0f} s each on the window pack of *Rooms closer to real "
            "ones* with the default augmentation, batch 64, weight average "
            f"{base.get('ema_decay')}, from `mid+cpu2`'s network (its kept head): `same`, the same network, and `wide`, "
            "grown by `widen` (the same function to start) — capacity is what the rendered onsets' target asks for. "
            "The rule of *The recipe again* was fixed before the burst: each arm's last weights had their velocity "
            "head fitted (`velocity_fit --hidden 16`, seed 0) and `--finalize --tie-tolerance 0.001` "
            "(`figures/second_cycle/width_burst/`: configs, logs, `arms.json` by `ablations.py score`):", "",
            *finalized_table({"finalized": {"shipped": {**start, "step": "kept head"}, **arms}}), "",
            "Against the shipped weights, each metric and its change: " + " ".join(sentences)
            + f" Every pack-only stage so far cost the pedal head (here {min(pedal_loss):.2f}–{max(pedal_loss):.2f} "
            f"in {base.get('time_budget_s', 0) / 60:.1f} minutes) while the "
            "wider network gained on +velocity and +offset; as in the first cycle, the pack's two hours of 12-second "
            "clips cannot stand in for `make train`'s six hours of whole pieces, so a burst is only ever a first leg "
            "that the CPU must continue."] + wide_continued_lines(start, wander) + wide_pedal_lines(start, wander) \
        + velocity_reads_lines(start, wander) + distil_lines(wander) + five_heads_lines(wander)


def wide_continued_lines(start: dict, wander: dict[str, float]) -> list[str]:
    """The `wide` arm continued on the 2 cores with `make train`'s data (``width_burst/wide+cpu-*``)."""
    folder = ROOT / "figures" / "second_cycle" / "width_burst"
    heads = _figures_json("second_cycle", "width_burst", "wide+cpu-seeds.json")
    if heads is None:
        return []
    cfg = json.loads((folder / "wide+cpu-config.json").read_text())
    log = read_log(folder / "wide+cpu-log.csv")
    network = next(iter(_by_network(heads)))
    seed = best_heads(heads)[network]
    row = heads[f"{network}/{seed}"]
    arm = _figures_json("second_cycle", "width_burst", "arms.json")["wide/0"]
    n_seeds = len(_by_network(heads)[network])
    windows_per_s = log[-1]["step"] * cfg["batch_size"] / log[-1]["elapsed_s"]
    return ["", f"Then, fixed before it was trained, `{network}`: `wide` (its head fitted, finalized) trained on for "
            f"{cfg['time_budget_s']:,.0f} s on the 2 cores with `make train`'s data and the default augmentation "
            f"(about {int(log[-1]['step']):,} steps of {cfg['batch_size']} windows, {windows_per_s:.1f} windows/s; "
            f"learning rate {cfg['learning_rate']:g} cosine over the time budget, weight average {cfg['ema_decay']}; "
            "`width_burst/wide+cpu-config.json`, `-log.csv`), its velocity head fitted, `--finalize --tie-tolerance "
            f"0.001`, " + (f"best of {n_seeds} head fits (seed {seed}; " if n_seeds > 1 else f"head seed {seed} (")
            + "`width_burst/wide+cpu-seeds.json`): " + _changes(start, row)
            + _verdict(start, row, wander, ". It passes the rule; kept for the next session to ship (the test split "
                       "is read then).", ", so its other two head fits were not made")
            + f" Against `wide` its pedal presses rose {row['rendered/pedal_f1'] - arm['rendered/pedal_f1']:+.3f} "
            f"and its frames {row['rendered/frame_f1'] - arm['rendered/frame_f1']:+.3f} in those "
            f"{int(log[-1]['step']):,} steps: the weights are kept to train on (`width_burst/wide+cpu.pt`, SHA-256 "
            f"`{file_sha256(folder / 'wide+cpu.pt')[:12]}`, finalized; CC BY-NC-SA 4.0 like these)."]


def wide_pedal_lines(start: dict, wander: dict[str, float]) -> list[str]:
    """`wide+cpu`'s pedal branch trained alone (``width_burst/wide+cpu-pedal-*``), its three heads."""
    folder = ROOT / "figures" / "second_cycle" / "width_burst"
    heads = _figures_json("second_cycle", "width_burst", "wide+cpu-pedal-seeds.json")
    before = _figures_json("second_cycle", "width_burst", "wide+cpu-seeds.json")
    if heads is None or before is None:
        return []
    cfg = json.loads((folder / "wide+cpu-pedal-config.json").read_text())
    log = read_log(folder / "wide+cpu-pedal-log.csv")
    net = FasolfaNet(ModelConfig.from_dict(cfg["model"]))
    trained = sum(p.numel() for name, p in net.named_parameters() if name.startswith(tuple(cfg["train_only"])))
    rows = _by_network(heads)["wide+cpu-pedal"]
    seed = best_heads(heads)["wide+cpu-pedal"]
    row, first, parent = heads[f"wide+cpu-pedal/{seed}"], rows[0], before["wide+cpu/0"]
    notes_moved = max(abs(first[key] - parent[key]) for key in FINALIZED_COLUMNS
                      if key != "rendered/pedal_f1" and key in first and key in parent)
    spread = {key: (min(r[key] for r in rows.values()), max(r[key] for r in rows.values())) for key in VELOCITY_KEYS}
    return ["", f"Can the pedal branch alone win back what the burst cost it? `wide+cpu-pedal`: `wide+cpu` with only "
            f"its pedal branch trained (`train_only: {json.dumps(cfg['train_only'])}`, {trained:,} of "
            f"{count_parameters(net):,} parameters; the trunk, note, onset and velocity heads fixed and their batch "
            f"normalisations frozen) on `make train`'s data, {cfg['time_budget_s']:,.0f} s on the 2 cores "
            f"(about {int(log[-1]['step']):,} steps of {cfg['batch_size']} windows, learning rate {cfg['learning_rate']:g} "
            f"cosine, weight average {cfg['ema_decay']}; `width_burst/wide+cpu-pedal-config.json`, `-log.csv`), then "
            f"`--finalize --tie-tolerance 0.001`. Pedal presses {parent['rendered/pedal_f1']:.3f} → "
            f"{first['rendered/pedal_f1']:.3f} (the shipped weights: {start['rendered/pedal_f1']:.3f}), every other "
            f"validation metric within {notes_moved:.4f} of `wide+cpu`'s (same head): the pedal cost of a burst is "
            "won back cheaply, without touching the notes. Scouted at the end of one session and judged the next by "
            "the rule, with its head the best of three fits (seed 0, `wide+cpu`'s; seeds 1 and 2 fitted again on the "
            f"finalized weights; `width_burst/wide+cpu-pedal-seeds.json`): seed {seed}, "
            + _changes(start, row) + _verdict(start, row, wander, ". It passes the rule.")
            + f" The three heads read rendered +velocity {spread[VELOCITY_KEYS[0]][0]:.3f}–"
            f"{spread[VELOCITY_KEYS[0]][1]:.3f} and MAPS +velocity {spread[VELOCITY_KEYS[1]][0]:.3f}–"
            f"{spread[VELOCITY_KEYS[1]][1]:.3f} on this one trunk"
            + (": the head that reads the renders best reads the recorded pianos worst" if
               max(rows, key=lambda s: rows[s][VELOCITY_KEYS[0]]) == min(rows, key=lambda s: rows[s][VELOCITY_KEYS[1]])
               else "") + f"; none reaches the shipped weights' MAPS +velocity ({start[VELOCITY_KEYS[1]]:.3f}). "
            f"Weights `width_burst/wide+cpu-pedal.pt` (SHA-256 `{file_sha256(folder / 'wide+cpu-pedal.pt')[:12]}`, "
            "its seed-0 head; CC BY-NC-SA 4.0)."]


def velocity_reads_lines(start: dict, wander: dict[str, float]) -> list[str]:
    """Velocity heads that read less, and heads averaged (``figures/second_cycle/velocity_reads/``)."""
    folder = ("second_cycle", "velocity_reads")
    variants, noreg, means, agree = (_figures_json(*folder, f"{name}.json") for name in
                                     ("variants", "noreg-seeds", "ens", "agree"))
    full = _figures_json("second_cycle", "width_burst", "wide+cpu-pedal-seeds.json")
    if None in (variants, noreg, means, agree, full):
        return []
    rendered, maps = VELOCITY_KEYS
    full_rows, noreg_rows = _by_network(full)["wide+cpu-pedal"], _by_network(noreg)["wcp-noreg"]
    shipped_rows = _by_network(_figures_json("second_cycle", "velocity-seeds.json"))["shipped"]
    families = (("shipped, full", shipped_rows, "shipped-ens"), ("`wide+cpu-pedal`, full", full_rows, "wcp-ens"),
                ("`wide+cpu-pedal`, no register", noreg_rows, "noreg-ens"))
    net = FasolfaNet(ModelConfig.from_dict(json.loads(
        (ROOT / "figures" / "second_cycle" / "width_burst" / "wide+cpu-pedal-config.json").read_text())["model"]))
    columns = {reads: int(design_columns(net, reads).sum()) for reads in ("all", "level", "no-register")}
    table = [("every column (its seed-0 head)", columns["all"], full_rows[0], agree["wcp/0"]),
             ("the level and the register only", columns["level"], variants["level/0"], agree["wcp-level/0"]),
             ("every column but the register's u, u²", columns["no-register"], variants["no-register/0"],
              agree["wcp-noreg/0"])]
    other = _by_network(_figures_json(*folder, "s26-noreg.json") or {}).get("shipped-noreg")   # {seed: row}
    lines = ["", "### What the velocity head reads", "",
             "The tilt table above says every network reads the MAPS pianos' bass too loud. The velocity head reads "
             "three things: the key features around the strike (5 frames), the level of the key's own bins (8 "
             "harmonics × 8 frames) and the key's register (u and u², u = 0 at A0 and 1 at C8), the last fitted on "
             "three soundfonts' balance of bass and treble. `python -m fasolfa.velocity_fit ... --reads` fits a head "
             "that reads less (the other weights zero). Fixed before any was scored: heads reading the level and register only, and all but the register, seed 0 on "
             "`wide+cpu-pedal`'s strikes, scored at its thresholds; one becomes a candidate only if its MAPS "
             f"+velocity is within the rule's allowance of the shipped weights' and its rendered +velocity too "
             "(`velocity_reads/variants.json`; r and tilt as in the tables above, `velocity_reads/agree.json`):", "",
             "| the head reads | columns | +velocity | MAPS +velocity | r rendered | r MAPS | MAPS tilt |",
             "|---|---|---|---|---|---|---|"]
    for label, columns, row, a in table:
        lines.append(f"| {label} | {columns} | {row[rendered]:.3f} | {row[maps]:.3f} | {a['groups']['rendered']:.3f} | "
                     f"{a['groups']['maps']:.3f} | {a['register_tilt']['groups']['maps']:+.2f} |")
    lines += ["", f"Read from the level alone, the renders' velocities are followed as well as by any head "
              f"({variants['level/0'][rendered]:.3f}) and the recorded pianos' far worse (r "
              f"{agree['wcp-level/0']['groups']['maps']:.3f}, tilt {agree['wcp-level/0']['register_tilt']['groups']['maps']:+.2f}):"
              " how loud a soundfont's key sounds says its velocity, a real piano's much less; the key features are "
              "what carries velocity to the recorded pianos. Without the register terms the MAPS +velocity of all three "
              f"head fits ({', '.join(f'{r[maps]:.3f}' for r in noreg_rows.values())}; `velocity_reads/noreg-seeds.json`) "
              f"is above every full head's ({', '.join(f'{r[maps]:.3f}' for r in full_rows.values())}), rendered "
              f"+velocity {min(r[rendered] for r in noreg_rows.values()):.3f}–{max(r[rendered] for r in noreg_rows.values()):.3f}. "
              "The correlation over every matched note does not rise with it (r above), so what the register terms "
              "cost the recorded pianos is notes just outside the +velocity tolerance, not the order of loudness."
              + ("" if other is None else _second_trunk_sentence(other, shipped_rows)), "",
              "The heads' scores also say that a fitted head is a draw: one trunk's three full heads span "
              f"{max(r[rendered] for r in full_rows.values()) - min(r[rendered] for r in full_rows.values()):.3f} of "
              "rendered +velocity. `velocity_fit.average_heads` puts a network's heads side by side (48 hidden units) "
              "and averages their logits; `velocity_fit --seeds 0,1,2` fits and averages in one command "
              "(`velocity_reads/ens.json`, each at its network's thresholds):", "",
              "| network, heads | each head: +velocity | their mean | each head: MAPS +velocity | their mean |",
              "|---|---|---|---|---|"]
    for label, rows, name in families:
        lines.append(f"| {label} | {' / '.join(f'{r[rendered]:.3f}' for r in rows.values())} | {means[name][rendered]:.3f} | "
                     f"{' / '.join(f'{r[maps]:.3f}' for r in rows.values())} | {means[name][maps]:.3f} |")
    chosen = means["noreg-ens"]
    kept = noreg[f"wcp-noreg/{best_heads(noreg)['wcp-noreg']}"]
    passes, _ = ship_verdict(start, chosen, wander)
    over_best = min(means[name][rendered] - max(r[rendered] for r in rows.values()) for _, rows, name in families)
    maps_better = all(means[name][maps] > np.mean([r[maps] for r in rows.values()]) for _, rows, name in families)
    lines += ["", ("The mean head reads the renders better than each of its members on every network, by "
                   f"{over_best:+.3f} or more over the best member" if over_best > 0 else
                   f"The mean head is not always ahead of its best member on the renders ({over_best:+.3f})")
              + ", and the MAPS pianos " + ("better than its members on average" if maps_better
                                            else "not always as well as its members on average") + ".", "",
              f"By the rule, the no-register candidate's kept head (seed {best_heads(noreg)['wcp-noreg']}, best mean "
              f"+velocity) against the shipped weights: {_changes(start, kept)}"
              + _verdict(start, kept, wander, ": it passes.")
              + " Its three heads' mean was computed beside it, declared a candidate only had it failed, and seen before "
              f"the choice; it passes too ({_changes(start, chosen)}"
              + ("" if passes else " — it does NOT pass") + "), and against the shipped network's own mean head as well "
              f"(+velocity {chosen[rendered] - means['shipped-ens'][rendered]:+.3f}, MAPS +velocity "
              f"{chosen[maps] - means['shipped-ens'][maps]:+.3f}). Shipped: that mean head on `wide+cpu-pedal` — the "
              "choice made after seeing its validation, as disclosed, and the test split read once, for it."]
    return lines


def _distil_against_noise(noise: dict, curve: dict[float, float], base: float) -> str:
    """Each distilled head's loss of rendered +velocity F1 beside what random noise of its RMS size
    costs (the noise curve, interpolated)."""
    sigmas = [0.0, *sorted(curve)]
    values = [base, *(curve[sigma] for sigma in sorted(curve))]
    noise_cost = {name: base - float(np.interp(row["rms_midi_units"], sigmas, values))
                  for name, row in noise["others"].items()}
    parts = [f"`{name}` (RMS {row['rms_midi_units']:.2f}) lost {base - row['rendered']:.3f}, noise of that size "
             f"{noise_cost[name]:.3f}" for name, row in noise["others"].items()]
    worse = all(base - row["rendered"] > noise_cost[name] for name, row in noise["others"].items())
    return ("The distilled heads: " + "; ".join(parts) + (": more than random errors of their size cost, so what a "
            "smaller head cannot copy is not noise but part of what the mean head gets right." if worse else "."))


def _second_trunk_sentence(other: dict[int, dict], full: dict[int, dict]) -> str:
    """Register-free heads on the stop-26 trunk (``velocity_reads/s26-noreg.json``) beside that
    trunk's full heads: does leaving out the register lift MAPS +velocity there too?"""
    rendered, maps = VELOCITY_KEYS
    above = all(r[maps] > max(f[maps] for f in full.values()) for r in other.values())
    seeds = ", ".join(str(seed) for seed in sorted(other))
    return (f" On the stop-26 weights' trunk, heads without them (seed{'s' if len(other) > 1 else ''} {seeds}, "
            f"`velocity_reads/s26-noreg.json`) read MAPS +velocity "
            f"{', '.join(f'{r[maps]:.3f}' for _, r in sorted(other.items()))} and +velocity "
            f"{', '.join(f'{r[rendered]:.3f}' for _, r in sorted(other.items()))}, where that trunk's full heads read "
            f"{', '.join(f'{r[maps]:.3f}' for r in full.values())} and {', '.join(f'{r[rendered]:.3f}' for r in full.values())}: "
            + ("above every full head there too, so the gain holds on two trunks." if above else
               "not above that trunk's full heads, so leaving out the register is not shown to be general."))


def distil_lines(wander: dict[str, float]) -> list[str]:
    """The shipped mean head distilled into one smaller head (``velocity_reads/distil.json``), the
    +velocity metric's sensitivity to noise (``velocity_reads/noise.json``, by
    ``tests/bench/velocity_noise.py``), and the head's cost saved at transcription instead."""
    folder = ("second_cycle", "velocity_reads")
    distil, means = _figures_json(*folder, "distil.json"), _figures_json(*folder, "ens.json")
    if distil is None or means is None:
        return []
    noise = _figures_json(*folder, "noise.json")
    teacher = means["noreg-ens"]
    rendered, maps = VELOCITY_KEYS
    net = FasolfaNet(ModelConfig.from_dict(json.loads(
        (ROOT / "figures" / "second_cycle" / "width_burst" / "wide+cpu-pedal-config.json").read_text())["model"]))
    head = {row["layer"]: row["mflops_per_s"] for row in layer_table(net, seconds=1.0)}
    per_unit = (head["velocity_head"] + head["velocity_level"]) / net.model_config.velocity_hidden

    def cost(units: int) -> str:
        return f"{per_unit * units:.0f}"
    lines = ["", "### One head distilled from three", "",
             f"The averaged head's hidden units cost the network {cost(48)} of its MFLOP per second of audio (48 units at "
             "every key and frame). `velocity_fit --distil` fits a smaller head to a network's own head's outputs on "
             "the same training strikes instead of to their velocities (Hinton et al., 2015). Fixed before it was "
             "computed: heads of 16, then 24 units (`--hidden H --reads no-register --distil`, the seed-0 strikes of "
             "the shipped weights), scored at the shipped thresholds; the smallest whose validation is behind the "
             "shipped weights' nowhere by more than the rule's allowance ships — no gain asked, the gain being speed "
             "(`velocity_reads/distil.json`; RMS: the difference from the shipped head's velocities at its notes' onsets, "
             "`velocity_reads/noise.json`):", "",
             "| head | hidden units | MFLOP/s of its hidden units | mean squared error to the mean head (training strikes) | RMS at the notes (MIDI units) | +velocity | MAPS +velocity |",
             "|---|---|---|---|---|---|---|",
             f"| the shipped mean head | 48 | {cost(48)} | 0 | 0 | {teacher[rendered]:.3f} | {teacher[maps]:.3f} |"]
    others = (noise or {}).get("others", {})
    verdicts = []
    for name, row in distil.items():
        units = row["velocity_fit"]["hidden"]
        rms = others.get(name, {}).get("rms_midi_units")
        lines.append(f"| `{name}` | {units} | {cost(units)} | {row['velocity_fit']['mse_to_teacher']:.1e} | "
                     f"{'—' if rms is None else f'{rms:.2f}'} | {row[rendered]:.3f} | {row[maps]:.3f} |")
        _, behind = ship_verdict(teacher, row, wander)
        verdicts.append(f"`{name}` " + ("passes" if not behind else
                                         "fails on " + ", ".join(f"{FINALIZED_COLUMNS[k]} ({row[k] - teacher[k]:+.3f})" for k in behind)))
    same = all(row[key] == teacher[key] for row in distil.values() for key in FINALIZED_COLUMNS
               if key not in VELOCITY_KEYS and key in row)
    lines += ["", ("Every other metric is the shipped weights' to the digit (only the head differs). " if same else
                   "Some metric other than velocity differs from the shipped weights' (it should not: only the head "
                   "differs). ") + "By the rule: " + "; ".join(verdicts)
              + (". Neither ships." if all("fails" in v for v in verdicts) else ".")]
    if noise is not None:
        curve = {float(sigma): np.mean(values["rendered"]) for sigma, values in noise["noise"].items()}
        base = noise["unchanged"]["rendered"]
        one = min(curve, key=lambda sigma: abs(sigma - 1.0))
        lines += ["", "Why a head that copies its teacher to about a MIDI unit still loses: `tests/bench/velocity_noise.py "
                  "figures/interpolation/config.json figures/second_cycle/velocity_reads/noise.json --checkpoint "
                  "fasolfa/checkpoints/fasolfa.pt --other NAME PATH ... --figure ...` adds Gaussian noise to the "
                  "shipped head's velocities (four draws per size; the notes themselves unchanged) and scores them "
                  f"again. Noise of {one:g} MIDI unit RMS costs {base - curve[one]:.3f} of rendered +velocity F1, "
                  + ", ".join(f"{sigma:g} units {base - value:.3f}" for sigma, value in curve.items() if sigma != one)
                  + ": the metric's tolerance, a tenth of each 30-s excerpt's own velocity range after a linear "
                  "recalibration, is a few MIDI units on these excerpts, and many notes sit near its edge. "
                  + _distil_against_noise(noise, curve, base)
                  + " The same arithmetic says what averaging three heads bought: each head's own errors, partly "
                  "independent, shrink in the mean.", "",
                  "![+velocity F1 against velocity noise](../../figures/second_cycle/velocity_reads/noise.png)"]
    lines += ["", "The head's cost was won back another way, without changing a note: `fasolfa transcribe` runs the "
              "velocity head only at the cells whose onset probability reaches the onset threshold (or 0.05, the "
              "lowest a slider offers, whichever is lower; `posteriorgrams.velocity_floor`), because a note reads "
              "its velocity at its onset peak only (`FasolfaNet.forward(..., velocity_floor=...)`; tests: the sparse "
              "head equals the dense one at those cells, and the notes of a transcription are the same to the "
              "velocity). See *Speed* in the README for what it saves."]
    return lines


def five_heads_lines(wander: dict[str, float]) -> list[str]:
    """Five register-free heads averaged instead of three (``velocity_reads/ens5.json``), judged
    by the rule against the three-head mean shipped at stop 30."""
    folder = ("second_cycle", "velocity_reads")
    five, three, noreg = (_figures_json(*folder, f"{name}.json") for name in ("ens5", "ens", "noreg-seeds"))
    if None in (five, three, noreg):
        return []
    rendered, maps = VELOCITY_KEYS
    start, row = three["noreg-ens"], five["noreg-ens5"]
    heads = {**_by_network(noreg)["wcp-noreg"], **_by_network({k: v for k, v in five.items() if "/" in k})["wcp-noreg"]}
    passes, behind = ship_verdict(start, row, wander)
    if passes:
        verdict = ": it passes, and ships (the test split read once, for it)."
    elif behind:
        verdict = _verdict(start, row, wander, "") + " Not shipped."
    else:
        verdict = (f". Nothing is ahead by more than {VALIDATION_NOISE}: it fails the rule and was not shipped. Two more "
                   f"heads moved the mean by {row[rendered] - start[rendered]:+.3f} and {row[maps] - start[maps]:+.3f}, "
                   f"where the first three read {start[rendered] - np.mean([heads[k][rendered] for k in (0, 1, 2)]):+.3f} "
                   "over their members' mean: what the heads still get wrong, they mostly get wrong together.")
    return ["", "### Five heads instead of three", "",
            "Once `fasolfa transcribe` ran the velocity head only where a note can start, a head's width no "
            "longer cost a user time, and the noise curve above says each head's own errors cost +velocity F1. "
            "Fixed before it was computed: two more register-free heads of the shipped network (seeds 3 and 4, "
            "`velocity_fit --hidden 16 --reads no-register --seed S`), the mean of all five "
            "(`velocity_fit.average_heads`, 80 hidden units; `--seeds 0,1,2,3,4` in one command), scored at the "
            "shipped thresholds and judged by the rule against the shipped three-head mean "
            "(`velocity_reads/ens5.json`):", "",
            "| heads | +velocity | MAPS +velocity |", "|---|---|---|",
            *(f"| seed {seed} alone | {h[rendered]:.3f} | {h[maps]:.3f} |" for seed, h in sorted(heads.items())),
            f"| mean of seeds 0–2 (shipped at stop 30) | {start[rendered]:.3f} | {start[maps]:.3f} |",
            f"| mean of seeds 0–4 | {row[rendered]:.3f} | {row[maps]:.3f} |", "",
            f"Against the three-head mean: {_changes(start, row)}" + verdict]


def velocity_agreement_lines() -> list[str]:
    """Pearson r of matched notes' velocities per group and MAPS piano
    (``figures/second_cycle/velocity-agreement.json``, by ``tests/bench/velocity_agreement.py``)."""
    result = _figures_json("second_cycle", "velocity-agreement.json")
    if result is None:
        return []
    pianos = sorted({piano for row in result.values() for piano in row["maps_pianos"]})
    lines = ["", "Where do the room leg's networks lose the MAPS pianos' velocities? `tests/bench/velocity_agreement.py "
             "figures/interpolation/config.json figures/second_cycle/velocity-agreement.json --checkpoint NAME PATH ...` "
             "correlates the estimated with the reference velocities of the notes whose onsets match (Pearson r, mean "
             "over excerpts; every matched note counts and no offset decides which, where +velocity F1 counts only "
             "the notes whose offsets pass too), each network with its kept head, level and thresholds (in "
             "brackets, the MAPS excerpts of each piano):", "",
             "| weights | rendered | MAPS | " + " | ".join(
                 f"MAPS {piano} ({sum(e['name'].endswith(piano) for e in next(iter(result.values()))['excerpts'])})"
                 for piano in pianos) + " |",
             "|---|---|---|" + "---|" * len(pianos)]
    for name, row in result.items():
        lines.append(f"| {name} | {row['groups']['rendered']:.3f} | {row['groups']['maps']:.3f} | "
                     + " | ".join(f"{row['maps_pianos'].get(piano, float('nan')):.3f}" for piano in pianos) + " |")
    names = list(result)
    first, last = result[names[0]], result[names[-1]]
    drops = {piano: last["maps_pianos"][piano] - first["maps_pianos"][piano] for piano in pianos}
    worst = min(drops, key=drops.get)
    lines += ["", f"From `{names[0]}` to `{names[-1]}` the rendered pianos' velocities are followed "
              f"{'better' if last['groups']['rendered'] > first['groups']['rendered'] else 'worse'} "
              f"({last['groups']['rendered'] - first['groups']['rendered']:+.3f}) and the MAPS pianos' "
              f"{'better' if last['groups']['maps'] > first['groups']['maps'] else 'worse'} "
              f"({last['groups']['maps'] - first['groups']['maps']:+.3f}), most on {worst} ({drops[worst]:+.3f}). "
              "A loss on recorded pianos that the renders do not show: what a next cycle has to recover (or "
              "the room leg has to keep from losing) before its MAPS onsets can ship."]
    if all("register_tilt" in row for row in result.values()):
        lines += ["", "The same notes read another way: after the +velocity metric's recalibration (the least-squares "
                  "line from estimated to reference velocity), by how many velocity units per octave up does each "
                  "network still read the treble too loud (`register_tilt` of `evaluate.velocity_agreement`: the "
                  "slope of the recalibrated error over pitch; negative, the bass too loud; mean over excerpts)?", "",
                  "| weights | rendered | MAPS | " + " | ".join(f"MAPS {piano}" for piano in pianos) + " |",
                  "|---|---|---|" + "---|" * len(pianos)]
        for name, row in result.items():
            tilt = row["register_tilt"]
            lines.append(f"| {name} | {tilt['groups']['rendered']:+.2f} | {tilt['groups']['maps']:+.2f} | "
                         + " | ".join(f"{tilt['maps_pianos'].get(piano, float('nan')):+.2f}" for piano in pianos) + " |")
        rendered = [row["register_tilt"]["groups"]["rendered"] for row in result.values()]
        maps_first, maps_last = (result[n]["register_tilt"]["groups"]["maps"] for n in (names[0], names[-1]))
        lines += ["", f"On the renders every network is level across the keyboard (within "
                  f"{max(abs(t) for t in rendered):.1f} units per octave); on the MAPS pianos every one reads the "
                  f"bass too loud, `{names[-1]}` more than `{names[0]}` ({maps_last:+.2f} against {maps_first:+.2f}) — "
                  "over the four octaves where most notes lie, a spread comparable to the +velocity metric's "
                  "tolerance (0.1 of the reference's velocity range, at most 12.7 units). Fitting the head through "
                  "a random spectral tilt (above) did not win the MAPS +velocity back."]
    return lines


def continued_lines(seeds: dict, jitter: dict[str, float]) -> list[str]:
    """`mid+cpu` trained on (``figures/second_cycle/continued``: ``ablations.py collect`` of its
    run, and its heads' ``velocity-seeds.json``), judged by the rule for later candidates."""
    result = _figures_json("second_cycle", "continued", "ablations.json")
    own = _figures_json("second_cycle", "continued", "velocity-seeds.json")
    if result is None or own is None:
        return []
    name = next(iter(result["variants"]))
    folder = ROOT / "figures" / "second_cycle" / "continued"
    cfg = json.loads((folder / f"{name}-config.json").read_text())
    chosen_seed = best_heads(own)[name]
    row = own[f"{name}/{chosen_seed}"]
    start = seeds[f"shipped/{best_heads(seeds)['shipped']}"]
    wander = rule_wander(seeds, jitter)
    passes, behind = ship_verdict(start, row, wander)
    lines = ["", f"Then, by that rule, one more candidate fixed before it was trained: `{name}`, `mid+cpu` trained on "
             f"for {cfg.get('time_budget_s', 0):,.0f} s on the 2 cores ({result['variants'][name]['steps']:,.0f} steps of "
             f"{cfg.get('batch_size')} windows of `make train`'s data, the default augmentation, learning rate "
             f"{cfg.get('learning_rate', 0):g} cosine over the time budget, weight average {cfg.get('ema_decay')}; "
             f"`figures/second_cycle/continued/{name}-config.json`, `-log.csv`), its velocity head fitted, "
             "`--finalize --tie-tolerance 0.001`, heads fitted again with seeds 1 and 2, the best of three kept "
             f"(seed {chosen_seed}; `continued/velocity-seeds.json`). Against the shipped weights (their kept head, "
             "finalized the same way), each change and in brackets over the wander the rule allows it now:", "",
             *finalized_table({"finalized": {"shipped": {**start, "step": "kept head"},
                                             name: {**row, "step": f"head seed {chosen_seed}"}}}), "",
             _changes(start, row, {key: max(VALIDATION_NOISE, value) for key, value in wander.items()})
             + (": it passes." if passes else ": it fails (" + ", ".join(FINALIZED_COLUMNS[k] for k in behind)
                + " behind); nothing shipped.")]
    soup = _figures_json("second_cycle", "continued", "soup2.json")
    if soup:
        lines += ["", f"The last candidate, also fixed before it existed: the network halfway between the shipped weights "
                  f"and `{name}` (`fasolfa.interpolate`, alpha 0.5), its head fitted (seed 0), `--finalize "
                  "--tie-tolerance 0.001` (`continued/soup2.json`): " + _changes(start, soup)
                  + _verdict(start, soup, wander, ". It passes.", ", so its other two head fits were not made")]
    room_heads = _figures_json("second_cycle", "continued", "vroom-seeds.json")
    if room_heads:
        network = next(iter(_by_network(room_heads)))
        seed = best_heads(room_heads)[network]
        row = room_heads[f"{network}/{seed}"]
        lines += ["", f"And one fixed before it existed for the MAPS velocities: `{network}`, `{name}`'s network with its velocity "
                  "head fitted on strikes read through the room augmentation as well (the velocity-head config with "
                  "`room3`'s augmentation, `continued/velocity-room-config.json`: half the windows in a simulated "
                  "room), finalized the same way, best of three "
                  f"head fits (seed {seed}; `continued/vroom-seeds.json`): " + _changes(start, row)
                  + _verdict(start, row, wander, ". It passes the rule; kept for the next session to ship "
                             "(the test split is read then).")]
    eq_heads = _figures_json("second_cycle", "continued", "veq-seeds.json")
    if eq_heads:
        network = next(iter(_by_network(eq_heads)))
        seed = best_heads(eq_heads)[network]
        row = eq_heads[f"{network}/{seed}"]
        augmentation = json.loads((folder / "velocity-eq-config.json").read_text())["augmentation"]
        lines += ["", f"And one more for them, fixed before it existed: does the recorded pianos' spectral balance, "
                  "not their rooms, mislead the head? `" + network + f"`, `{name}`'s network with its velocity head "
                  "fitted on strikes heard through a spectral tilt on every window (the velocity-head config with "
                  f"`eq_probability` {augmentation['eq_probability']:g} and `eq_tilt_db_per_octave` "
                  f"{augmentation['eq_tilt_db_per_octave']}, `continued/velocity-eq-config.json`), finalized the same "
                  f"way, best of three head fits (seed {seed}; `continued/veq-seeds.json`): " + _changes(start, row)
                  + _verdict(start, row, wander, ". It passes the rule; kept for the next session to ship "
                             "(the test split is read then).")]
    return lines


def _knobs(row: dict) -> str:
    """A finalized row's level and note thresholds, in words."""
    chosen = row["thresholds"]
    level = row.get("input_level_db")
    return (f"frame {chosen['frame']:g}, offset {chosen['offset'] if chosen['offset'] is not None else 'none'}"
            + ("" if not level else f", level {level[0]:g} dBFS" if level[0] == level[1]
               else f", levels {level[0]:g}…{level[1]:g} dBFS"))


VELOCITY_KEYS = ("rendered/onset_offset_velocity_f1", "maps/onset_offset_velocity_f1")


def _by_network(seeds: dict) -> dict[str, dict[int, dict]]:
    """``velocity-seeds.json``'s rows ``"NETWORK/SEED"`` grouped as ``{network: {seed: row}}``."""
    grouped: dict[str, dict[int, dict]] = {}
    for name, row in seeds.items():
        network, seed = name.rsplit("/", 1)
        grouped.setdefault(network, {})[int(seed)] = row
    return grouped


def _mean_velocity(row: dict) -> float:
    return float(np.mean([row[key] for key in VELOCITY_KEYS]))


def best_heads(seeds: dict) -> dict[str, int]:
    """Per network, the seed whose head has the best mean +velocity F1 over groups (the choice
    fixed before the seeds were scored)."""
    return {network: max(rows, key=lambda seed: _mean_velocity(rows[seed])) for network, rows in _by_network(seeds).items()}


def head_noise(seeds: dict) -> dict[str, float]:
    """Per velocity metric, the standard deviation over seeds of one network's head fits, pooled
    over the networks measured: how much refitting the head alone moves that metric."""
    grouped = _by_network(seeds)
    return {key: float(np.sqrt(np.mean([np.var([row[key] for row in rows.values()], ddof=1)
                                        for rows in grouped.values() if len(rows) > 1]))) for key in VELOCITY_KEYS}


def velocity_seed_lines(seeds: dict, jitter: dict[str, float]) -> list[str]:
    """Each trunk's velocity head fitted with other seeds: the head's own noise, and the choice
    among seeds fixed before they were scored."""
    grouped, chosen, noise = _by_network(seeds), best_heads(seeds), head_noise(seeds)
    lines = ["", "Is the MAPS +velocity gap the network or its velocity head? A head with hidden units is fitted "
             "by AdamW from a random start, on strikes drawn with a seed (`velocity_fit --seed`, default 0). "
             "Each end's head was fitted again with seeds 1 and 2 and read at the level and thresholds it stores "
             "(`python tests/bench/ablations.py score figures/interpolation/config.json "
             "figures/second_cycle/velocity-seeds.json --checkpoint NAME PATH ...`: only velocity can move). "
             "Before these were scored, the rule was fixed that each network keeps the head of the best mean "
             "+velocity F1 over the two groups among its three:", "",
             "| network | seed | +velocity | MAPS +velocity | mean |", "|---|---|---|---|---|"]
    for network, rows in grouped.items():
        for seed, row in sorted(rows.items()):
            mark = " (kept)" if chosen[network] == seed else ""
            lines.append(f"| {network} | {seed}{mark} | {row[VELOCITY_KEYS[0]]:.3f} | {row[VELOCITY_KEYS[1]]:.3f} | "
                         f"{_mean_velocity(row):.3f} |")
    start = grouped["shipped"][chosen["shipped"]]
    last = grouped["mid+cpu"][chosen["mid+cpu"]]
    gap = last[VELOCITY_KEYS[1]] - start[VELOCITY_KEYS[1]]
    lines += ["", "Refitting the head alone moves +velocity by a standard deviation of "
              f"{noise[VELOCITY_KEYS[0]]:.4f} (rendered) and {noise[VELOCITY_KEYS[1]]:.4f} (MAPS), pooled over the two "
              f"networks: {noise[VELOCITY_KEYS[0]] / jitter[VELOCITY_KEYS[0]]:.1f}× and "
              f"{noise[VELOCITY_KEYS[1]] / jitter[VELOCITY_KEYS[1]]:.1f}× those metrics' wander through training (one head), "
              "which the rule uses. With the kept heads, `mid+cpu`'s MAPS +velocity is "
              f"{gap:+.3f} ({abs(gap) / max(VALIDATION_NOISE, noise[VELOCITY_KEYS[1]]):.1f}× even the head's noise) and its "
              f"rendered +velocity {last[VELOCITY_KEYS[0]] - start[VELOCITY_KEYS[0]]:+.3f}: "
              + ("it fails the rule again and was not shipped. The MAPS pianos' velocities are the one thing the "
                 "room leg's network reads worse. " if not ship_verdict(start, last, jitter)[0] else
                 "with these heads it passes the rule. ") +
              "For later candidates (not applied back to this one), the rule counts the head's noise: the wander "
              "allowed the two +velocity metrics is the larger of the two measures, and each candidate keeps the "
              "best of three head fits, as here."]
    return lines


SHIP_METRICS = ("rendered/onset_f1", "rendered/onset_offset_f1", "rendered/onset_offset_velocity_f1",
                "rendered/frame_f1", "maps/onset_f1")


def rule_wander(seeds: dict, jitter: dict[str, float]) -> dict[str, float]:
    """Per metric, how much it moves by itself, as the rule for later candidates counts it: its
    wander between neighbouring validations (``jitter``) or, for the +velocity metrics, the
    velocity head's own refit noise (:func:`head_noise` of ``seeds``), whichever is larger;
    :func:`ship_verdict` allows the larger of that and :data:`VALIDATION_NOISE`."""
    noise = head_noise(seeds)
    return {key: max(value, noise.get(key, 0.0)) for key, value in jitter.items()}


def ship_verdict(start: dict, row: dict, jitter: dict[str, float]) -> tuple[bool, list[str]]:
    """The shipping rule fixed before the second cycle's validations: ``row`` (finalized scores)
    is behind ``start`` nowhere by more than ``max(VALIDATION_NOISE, jitter[metric])``, and ahead
    on one of :data:`SHIP_METRICS` by more than :data:`VALIDATION_NOISE`. Returns (passes, the
    metrics behind)."""
    keys = [key for key in FINALIZED_COLUMNS if row.get(key) is not None and start.get(key) is not None]
    behind = [key for key in keys if row[key] < start[key] - max(VALIDATION_NOISE, jitter.get(key, 0.0))]
    ahead = any(row[key] > start[key] + VALIDATION_NOISE for key in keys if key in SHIP_METRICS)
    return not behind and ahead, behind


def reading_verdict(rows: dict[str, dict], jitter: dict[str, float]) -> tuple[bool, list[str]]:
    """The ship rule of stop 39 (rule S39-4 in ``figures/second_cycle/partial_pedal/rules.txt``) on
    the 24 x 60 s reading: ``rows`` maps a metric of :data:`FINALIZED_COLUMNS` to the candidate's
    difference from the shipped checkpoint there, ``{"mean", "low", "high"}`` (mean over excerpts and
    its interval over pieces, :func:`fasolfa.evaluate.piece_bootstrap`). Behind: a mean below
    ``-max(VALIDATION_NOISE, jitter[metric])`` (:func:`ship_verdict`'s allowances, on three times
    the music); ahead: one of :data:`SHIP_METRICS` with a mean above :data:`VALIDATION_NOISE` and
    its whole interval above 0. Returns (passes, the metrics behind)."""
    behind = [key for key in FINALIZED_COLUMNS if key in rows
              and rows[key]["mean"] < -max(VALIDATION_NOISE, jitter.get(key, 0.0))]
    ahead = any(rows[key]["mean"] > VALIDATION_NOISE and rows[key]["low"] > 0
                for key in SHIP_METRICS if key in rows)
    return not behind and ahead, behind


def velocity_fit_section(metadata: dict) -> list[str]:
    """The velocity head's linear logit fitted by least squares (``fasolfa.velocity_fit``)."""
    result = _figures_json("velocity_fit", "ablations.json")
    if result is None:
        return ["(no least-squares fit: `ablations.py collect figures/velocity_fit ...`)"]
    finalized = result.get("finalized", {})
    before, after = finalized.get("started from"), finalized.get("least squares")
    fit = result.get("velocity_fit") or metadata.get("velocity_fit", {})     # stored: later weights may refit
    more = result["variants"].get("more-steps", {})
    first = result["variants"].get("velocity-head", {})
    gained = more.get("best", {}).get("selection", float("nan")) - first.get("best", {}).get("selection", float("nan"))
    lines = ["The velocity head's logit is linear in what it reads, and its loss counts onset cells only: "
             "training it alone is a regression of velocity / 127 on a few hundred numbers per strike. AdamW "
             "solved it slowly, because the columns are badly conditioned: the level columns sit near 0.7 at a "
             "strike and vary by about 0.1, so they move together with each other and with the bias (LeCun et al., "
             "*Efficient BackProp*, 1998). The run above (`velocity-head`) stopped improving within a few hundred "
             "steps, and the same head trained on from its weights for "
             f"{more.get('steps', 0):,.0f} more steps of a fresh cosine cycle (`more-steps`, learning rate "
             f"{result['arms'].get('more-steps', {}).get('learning_rate', float('nan')):g}; stopped there) gained "
             f"{gained:+.3f} on the mean +velocity F1 of the two groups, all of it by its step "
             f"{more.get('best', {}).get('step', 0):,.0f} (training-time validation):", "",
             *arm_table(result, ["selection", "rendered/onset_offset_velocity_f1", "maps/onset_offset_velocity_f1"]),
             "",
             "`fasolfa.velocity_fit` (notebook 06 section 7) solves the regression instead: one row per onset cell "
             f"of {fit.get('windows', 0):,} training windows ({fit.get('onsets', 0):,} strikes; the training data and "
             "augmentation, every window at its recorded level), each column standardised, the squared error of "
             f"`sigmoid` minimised by Gauss–Newton from the least-squares fit of logit(y), ridge {fit.get('ridge', 0):g} "
             "on the standardised weights. Mean squared error on those strikes "
             f"{fit.get('mse_before', float('nan')):.5f} → {fit.get('mse_after', float('nan')):.5f}. Only the head's "
             f"{fit.get('columns', 0)} weights changed; after `--finalize`:", "",
             *finalized_table(result), ""]
    if before and after:
        lines.append(_velocity_change_sentence(before, after) + " The ridge is the module's default, not tuned.")
    return lines


def velocity_hidden_section() -> list[str]:
    """The velocity head with hidden units: the probe on held-out strikes, then the real fit
    (``tests/bench/velocity_head_probe.py``, ``figures/velocity_probe/probe.json``)."""
    probe = _figures_json("velocity_probe", "probe.json")
    if probe is None:
        return ["(no probe: `python tests/bench/velocity_head_probe.py`)"]
    linear = probe["rows"][0]["held_out"]
    lines = ["Least squares gives the best *linear* logit of what the head reads; is linearity what limits "
             "velocity? `tests/bench/velocity_head_probe.py` gathered the same rows for the strikes of "
             f"{probe['windows']:,} training windows with the weights shipped before this head (SHA-256 "
             f"`{probe['checkpoint_sha256'][:12]}`; "
             f"{probe['strikes']['train']:,} strikes to learn from, the {probe['strikes']['held_out']:,} of the "
             "last fifth of the windows held out) and fitted the linear logit by least squares and small networks "
             "with H ReLU units between the same inputs and the logit (`fasolfa.velocity_fit.fit_sigmoid_network`: "
             f"AdamW on the same squared error, {probe['passes']} passes). On the held-out strikes (root-mean-square "
             "error in MIDI velocity; within 8: the share of strikes that close, about mir_eval's tolerance in a piece "
             "spanning 80 velocities):", "",
             "| head | weights | held-out RMSE | within 8 | RMSE on its own strikes |", "|---|---|---|---|---|"]
    for row in probe["rows"]:
        lines.append(f"| {row['head']} | {row['parameters']:,} | {row['held_out']['rmse']:.2f} | "
                     f"{row['held_out']['within_8']:.1%} | {row['train']['rmse']:.2f} |")
    best = min(probe["rows"][1:], key=lambda row: row["held_out"]["rmse"])["held_out"]
    lines += ["", f"A hidden layer lowers the held-out error by {linear['rmse'] - best['rmse']:.1f} velocities "
              f"({(linear['rmse'] - best['rmse']) / linear['rmse']:.0%}) and puts "
              f"{100 * (best['within_8'] - linear['within_8']):.1f} points more of the strikes within 8; beyond about 16 units the networks only fit their own strikes better. The rest of "
              "the error is in what the head reads, not in how it combines it. `ModelConfig.velocity_hidden` adds such a "
              "layer; `python -m fasolfa.velocity_fit CONFIG WEIGHTS OUT --hidden 16` fits it on the command's strikes, "
              "every other weight unchanged (notebook 06 section 7b)."]
    finalized = probe.get("finalized", {})
    if len(finalized) >= 2:
        names = list(finalized)
        lines += ["", "Fitted for real and `--finalize`d (validation):", "", *finalized_table(probe), "",
                  _velocity_change_sentence(finalized[names[0]], finalized[names[1]])]
    return lines


def error_section() -> list[str]:
    result = _figures_json("error_analysis.json")
    if result is None:
        return ["(no error analysis: `tests/bench/bench_errors.py`)"]
    lines = ["Where it fails (`tests/bench/bench_errors.py` on the validation excerpts, with the thresholds "
             "above; note-onset recall, notes in brackets):", "",
             "| register | " + " | ".join(result["recall"]) + " |", "|---|" + "---|" * len(result["recall"])]
    octaves = list(next(iter(result["recall"].values()))["octave"])
    for label in octaves:
        cells = [f"{rows['octave'][label]['recall']:.2f} ({rows['octave'][label]['n_notes']})"
                 if label in rows["octave"] else "—" for rows in result["recall"].values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    misses = "; ".join(f"{group}: " + ", ".join(f"{kind} {count}" for kind, count in
                                                sorted(kinds.items(), key=lambda item: -item[1]))
                       for group, kinds in result["misses"].items())
    lines += ["", f"Missed notes by what the transcription has near them — {misses}. Those with "
              "nothing near are notes the network did not see at all, concentrated above A5 (short, quickly decaying "
              "sound; on MAPS's 16 kHz recordings their upper partials are gone), below A1, in notes "
              "softer than velocity 40 (`figures/error_analysis.png`) and in dense, fast passages."]
    if "false_notes" in result:
        false = "; ".join(f"{group}: " + ", ".join(f"{kind} {count}" for kind, count in kinds.items())
                          for group, kinds in result["false_notes"].items())
        lines += ["", f"False notes by their relation to the reference notes sounding then — {false}."]
    lines += ["", "![recall by octave and velocity](../../figures/error_analysis.png)"]
    framed = [excerpt for excerpt in result.get("excerpts", []) if "frame_precision" in excerpt]
    if framed:
        worst = min(framed, key=lambda excerpt: excerpt["frame_precision"])
        lines += ["", "The MAPS frame F1 is a mean over 8 recordings that differ widely (notes as written on "
                  "both sides):", "", "| MAPS excerpt | notes | onset F1 | frame precision | frame recall | frame F1 |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {e['name']} | {e['n_notes']} | {e['f1']:.3f} | {e['frame_precision']:.3f} | "
                  f"{e['frame_recall']:.3f} | {e['frame_f1']:.3f} |" for e in framed]
        lines += ["", f"The lowest frame precision, `{worst['name']}` ({worst['frame_precision']:.2f}), is drawn "
                  "below (`figures/error_worst_maps.png`, by `bench_errors.py`): compare how long each labelled "
                  "note lasts (red) with how long the recording holds it (the note posteriorgram, grey). Its "
                  f"notes are labelled a median {worst['median_labelled_s']:.2f} s long and transcribed "
                  f"{worst['median_transcribed_s']:.2f} s long. MAPS's note lists carry no pedal; where a label "
                  "ends a note long before the recording lets it fade, a transcriber that follows the sound "
                  "loses frame precision there whatever it does.", "",
                  "![the MAPS excerpt of lowest frame precision](../../figures/error_worst_maps.png)"]
    return lines


def pedal_evidence_section() -> list[str]:
    result = _figures_json("pedal_evidence.json")
    if result is None:
        return ["(not measured: `tests/bench/check_pedal_evidence.py`)"]
    splits = result["splits"]
    tolerance_ms = 1000 * result["tolerance_s"]
    test_pedal = []
    bench = _figures_json("accuracy_bench.json") or {}
    for name, row in bench.get("sets", {}).items():
        scores = row["tools"].get("fasolfa", {}).get("mean", {}).get("pedal")
        if scores is not None:
            test_pedal.append(scores["f1"])

    def both(key, fmt):
        return " and ".join(f"{fmt(splits[s][key])} ({s})" for s in ("validation", "test") if s in splits)

    lines = [
        "In audio rendered by FluidSynth, pressing the pedal changes no sample, and a key released under the "
        "pedal sounds exactly as a key held until the lift: `tests/test_synth.py` checks both on all 12 training "
        "presets. What the audio shows of the pedal are note endings, so it places each press only somewhere after "
        "the last note ending it lets you hear and before the press's own lift "
        "(`fasolfa.evaluate.pedal_press_windows`). `tests/bench/check_pedal_evidence.py` measures those windows "
        f"on the reference MIDI of the first {result['seconds']:g} s of every validation and test performance:", "",
        f"- presses pinned by the audio to a {tolerance_ms:.0f}-ms match (window at most {2 * tolerance_ms:.0f} ms "
        f"wide): {both('pinned_by_audio', lambda v: f'{100 * v:.1f} %')};",
        f"- presses that change no sample at all (no key released under them): "
        f"{both('changes_no_sample', lambda v: f'{100 * v:.1f} %')};",
        f"- median window: {both('window_s_quartiles', lambda v: f'{v[1]:.2f} s')};",
        f"- the cue left is the pianists' habit: a press follows the last note onset by a median "
        f"{both('lag_from_last_onset_s_quartiles', lambda v: f'{1000 * v[1]:.0f} ms')}, and one constant lag puts "
        f"{both('share_within_tolerance_of_that_lag', lambda v: f'{100 * v:.0f} %')} of the presses within "
        f"{tolerance_ms:.0f} ms of the right onset. That is an optimistic reference, not a bound: a transcriber must "
        "also tell *which* onset a press follows, from the way notes end later.", "",
        "So on rendered audio the pedal-press score measures how well the network has learnt the pianists' "
        "habits, not what it hears"
        + (f" (the shipped weights: press F1 {min(test_pedal):.2f}–{max(test_pedal):.2f} on the test renders, "
           "table above)" if test_pedal else "")
        + "; the pedal-down frames, whose ends the audio does show, score far higher. A real piano gives more away "
        "(lifting the dampers lets every string ring in sympathy), but nothing here has pedal labels on "
        "recorded audio (MAPS's note lists carry none), so that is not measured.", "",
        "![press windows and the press-after-onset habit](../../figures/pedal_evidence.png)"]
    return lines


def test_section() -> list[str]:
    result = _figures_json("accuracy_bench.json")
    if result is None:
        return ["Not measured yet (`tests/bench/bench_accuracy.py`)."]
    limit = result.get("limit")
    sha = result.get("checkpoint_sha256")
    lines = [f"`{result['command']}` at commit `{result['commit'][:12]}`"
             + (f", checkpoint SHA-256 `{sha[:12]}`" if sha else "") + f" (first {result['seconds']:g} s of each "
             f"piece{'' if limit is None else f', first {limit} pieces of each set'}; mean over pieces):", "",
             "| set | tool | onset | +offset | +velocity | frame | pedal |", "|---|---|---|---|---|---|---|"]
    for name, row in result["sets"].items():
        for tool, scores in row["tools"].items():
            cells = " | ".join("n/a" if scores["mean"].get(m) is None else f"{scores['mean'][m]['f1']:.3f}"
                               for m in ("onset", "onset_offset", "onset_offset_velocity", "frame", "pedal"))
            lines.append(f"| {name} | {tool} | {cells} |")
    return lines


CONTINUATION_FOLDERS = ("interpolation", "second_cycle")   # the recipe's midpoint runs, in the order made


def _same_run(a: dict, b: dict) -> bool:
    """Two TrainConfigs of one run: equal but for the run folder, the start weights compared by file
    name (a stored config names them relative to the repository, a checkpoint as they were read)."""
    def key(cfg: dict) -> dict:
        return {k: Path(v).name if k == "init_weights" and v else v for k, v in cfg.items() if k != "run_dir"}
    return key(a) == key(b)


def _line_continuation(cfg: dict) -> dict | None:
    """The stored config of a midpoint's continuation (``figures/<CONTINUATION_FOLDERS>/*+cpu-config.json``)
    when ``cfg`` is that run's (:func:`_same_run`), with its ``name`` and ``folder``; else None."""
    for folder in CONTINUATION_FOLDERS:
        for path in sorted((ROOT / "figures" / folder).glob("*+cpu-config.json")):
            stored = json.loads(path.read_text())
            if _same_run(stored, cfg):
                return {"name": path.name.removesuffix("-config.json"), "folder": folder, **stored}
    return None


def _width_run(cfg: dict) -> dict | None:
    """The stored config of a run of *Width on a lent GPU* (``figures/second_cycle/width_burst/*-config.json``)
    when ``cfg`` is that run's (:func:`_same_run`), with its ``name``; else None."""
    for path in sorted((ROOT / "figures" / "second_cycle" / "width_burst").glob("*-config.json")):
        stored = json.loads(path.read_text())
        if _same_run(stored, cfg):
            return {"name": path.name.removesuffix("-config.json"), **stored}
    return None


def training_section(metadata: dict) -> list[str]:
    cfg = metadata.get("train_config", {})
    fit = metadata.get("velocity_fit") or {}
    hidden = fit.get("hidden", 0)
    width = _width_run(cfg) if cfg else None
    line = _line_continuation(cfg) if cfg else None
    if width:                    # the width runs continue the second cycle's midpoint (mid+cpu, mid+cpu2)
        line = {"name": "mid+cpu", "folder": "second_cycle",
                **json.loads((ROOT / "figures" / "second_cycle" / "mid+cpu-config.json").read_text())}
        hidden = 16
    lines = []
    if cfg.get("init_weights"):
        lines.append("- The last of a chain of fine-tunings, each starting from the weights before it: a CPU run "
                     "of `make train` (`figures/train_cpu/`); a GPU burst of 5,000 steps of 64 windows, 11.5 min "
                     "on one H100/H200 (`figures/train_gpu/`); `ftT`, 195 s on transposed excerpts "
                     "(`figures/transpose/`); `ftT3` and `vel10`, 420 s and 250 s on twice as many transposed "
                     "excerpts (`figures/finetune/`); then 30 minutes on this machine's 2 CPU cores with "
                     "`make train`'s own data, transposed copies included (`figures/train_cpu_transposed/`); "
                     "then grown by `fasolfa.model.widen` to 24 key and 16 onset channels with keys below "
                     "(subharmonic offsets; same function to start) and trained on with the same data on the "
                     "same 2 CPU cores (`figures/train_cpu_wide/`); then 500 steps with the velocity loss "
                     "counted only in windows left at their recorded level (`figures/velocity_level/`, "
                     "*Velocity from the recorded level* below); then on twice the music with a moving "
                     "average of the weights (`figures/more_music_ema/`, *More music and a weight average* "
                     "below); then grown by `widen` to 32 key and 24 onset channels and trained on with the "
                     "same data (`figures/width_long/`, *Width and reach* below); then grown by a fifth time block of "
                     "dilation 16 and trained one more cosine cycle on the same data (`figures/reach_long/`, the same "
                     "section); then its velocity head grown to read how loud each key sounds and trained alone "
                     "(`figures/velocity_head/`, *Velocity from how loud each key sounds* below)"
                     + ("; then the whole network one more cosine cycle with it (the same section)"
                        if not cfg.get("train_only") and not line else "")
                     + ("; then that head's linear logit fitted by least squares on the training strikes "
                        "(`fasolfa.velocity_fit`, *Velocity by least squares* below)" if metadata.get("velocity_fit")
                        else "")
                     + (f"; then that head given {hidden} hidden ReLU units, fitted on the same kind of strikes "
                        "(`fasolfa.velocity_fit --hidden`, *A velocity head with a hidden layer* below)" if hidden else "")
                     + (f"; then, from those weights, the room continuation (`room`, `room+cpu`, `room+cpu2`: *Rooms "
                        "closer to real ones* below), and the network halfway on the line between it and them "
                        "(`fasolfa.interpolate`, alpha 0.5) trained on with `make train`'s data (`alpha0.5+cpu`, "
                        "*Between two checkpoints* below), its velocity head fitted again with "
                        f"{hidden} hidden units" if line else "")
                     + ("; then the same recipe again from those weights: a room continuation on a lent GPU "
                        "(`room3`), the network halfway between it and them trained on with `make train`'s data "
                        f"(`{line['name']}`, *The recipe again* below), its velocity head fitted again"
                        if line and line["folder"] == "second_cycle" else "")
                     + ("; then `mid+cpu2` (`mid+cpu` trained on with the same data), a GPU burst that grew it to "
                        "48 key and 32 onset channels (`wide`), that network trained on with `make train`'s data on "
                        "the 2 cores (`wide+cpu`), and its pedal branch alone (`wide+cpu-pedal`; *Width on a lent GPU* "
                        "below); its velocity head "
                        + (f"the mean of {fit['averaged']} heads fitted with seeds "
                           f"{', '.join(str(x) for x in fit['seed'])}" if fit.get("averaged")
                           else "fitted again") + (" without the register terms" if fit.get("reads") == "no-register"
                                                   else "") + " (*What the velocity head reads* below)" if width else "")
                     + ". The last training run is described here.")
    if width:
        log = read_log(ROOT / "figures" / "second_cycle" / "width_burst" / f"{width['name']}-log.csv")
        lines.append(f"- `{width['name']}`: the last weights of a run of {cfg.get('time_budget_s', 0):g} s on this "
                     f"machine's 2 CPU cores (about {int(log[-1]['step']):,} steps, no validation during it), batch "
                     f"{cfg.get('batch_size')} windows of {config.WINDOW_N_SAMPLES / config.SAMPLE_RATE:.2f} s with "
                     f"{config.CONTEXT_N_SAMPLES / config.SAMPLE_RATE:.2f} s of audio context on each side; AdamW, "
                     f"learning rate {cfg.get('learning_rate')}, warm-up {cfg.get('warmup_steps')} steps then cosine "
                     "decay over the time budget; the weights saved are a moving average of the trained ones (decay "
                     f"{cfg.get('ema_decay')}); the default augmentation below"
                     + (f"; only the parameters named {', '.join(cfg['train_only'])}… trained, every other one frozen"
                        if cfg.get("train_only") else "")
                     + f" (`figures/second_cycle/width_burst/{width['name']}-config.json`, `-log.csv`)."
                     + (f" Then the velocity head: {fit['averaged']} heads of {fit['hidden'] // fit['averaged']} hidden units, "
                        f"each fitted on the strikes of {fit.get('windows', 0):,} windows of the same data drawn with "
                        f"its seed ({', '.join(str(x) for x in fit['seed'])}), reading "
                        + ("all but the register terms" if fit.get("reads") == "no-register" else "every column")
                        + ", side by side with their logits averaged (`python -m fasolfa.velocity_fit "
                        f"{fit.get('config')} {fit.get('weights')} OUT --hidden {fit['hidden'] // fit['averaged']} --reads {fit.get('reads', 'all')} "
                        f"--seeds {','.join(str(x) for x in fit['seed'])}`)." if fit.get("averaged") else ""))
    elif line:
        lines.append(f"- `{line['name']}`: the last weights of a run of {cfg.get('time_budget_s', 0):g} s "
                     f"({metadata.get('step')} steps, no validation during it), batch {cfg.get('batch_size')} windows "
                     f"of {config.WINDOW_N_SAMPLES / config.SAMPLE_RATE:.2f} s with "
                     f"{config.CONTEXT_N_SAMPLES / config.SAMPLE_RATE:.2f} s of audio context on each side; AdamW, "
                     f"learning rate {cfg.get('learning_rate')}, warm-up {cfg.get('warmup_steps')} steps then cosine "
                     f"decay over the time budget; onset weight {cfg.get('onset_positive_weight')}, label smoothing "
                     f"{cfg.get('label_smoothing')}; velocity loss only in the {cfg['velocity_from_level']:.0%} of "
                     f"windows left at their recorded level; the weights saved are a moving average of the trained "
                     f"ones (decay {cfg.get('ema_decay')}); the default augmentation below "
                     f"(`figures/{line['folder']}/{line['name']}-config.json`, `-log.csv`).")
    else:
        lines += [f"- Chosen at step {metadata.get('step')} (validation selection), after "
                 f"{metadata.get('elapsed_s', 0) / 60:.0f} minutes of training, batch {cfg.get('batch_size')} "
                 f"windows of {config.WINDOW_N_SAMPLES / config.SAMPLE_RATE:.2f} s with "
                 f"{config.CONTEXT_N_SAMPLES / config.SAMPLE_RATE:.2f} s of audio context on each side; AdamW, "
                 f"learning rate {cfg.get('learning_rate')}, warm-up {cfg.get('warmup_steps')} steps then cosine "
                 f"decay to step {cfg.get('steps')}; onset weight {cfg.get('onset_positive_weight')}, label "
                 f"smoothing {cfg.get('label_smoothing')}"
                 + (f"; velocity loss only in the {cfg['velocity_from_level']:.0%} of windows left at their "
                    f"recorded level" if cfg.get("velocity_from_level") else "")
                 + (f"; the weights validated and saved are a moving average of the trained ones (decay "
                    f"{cfg['ema_decay']})" if cfg.get("ema_decay") else "")
                 + (f"; only the parameters named {', '.join(cfg['train_only'])}… trained, every other one frozen, "
                    f"the step chosen by the mean {cfg.get('selection_metric')} F1" if cfg.get("train_only") else "")
                 + "."]
    for folder in sorted((ROOT / "figures").glob("train_*")):
        if (folder / "validation.csv").is_file():
            rows = read_log(folder / "validation.csv")
            log = read_log(folder / "log.csv") if (folder / "log.csv").is_file() else []
            best = max(rows, key=lambda row: row["selection"])
            lines.append(f"- `figures/{folder.name}/`: {len(rows)} validations up to step "
                         f"{rows[-1]['step']:.0f}; best selection {best['selection']:.3f} at step "
                         f"{best['step']:.0f}" + (f"; {log[-1]['elapsed_s'] / 60:.0f} min of training" if log else "")
                         + " (`curves.png`, `log.csv`, `validation.csv`).")
    return lines


def more_pieces_lines(checkpoint: Path) -> list[str]:
    """These weights on all 24 validation pieces, 60 s each (``tests/bench/readings.py --no-choice``,
    stop 35), when that measurement is of this very file: how far the 8-piece table above carries."""
    result = _figures_json("second_cycle", "readings", "legs-24x60.json")
    row = (result or {}).get("variants", {}).get("shipped")
    if row is None or row["readings"][0]["sha256"] != file_sha256(checkpoint):
        return []
    scores = row["at_thresholds_from"]
    n_rendered = sum(1 for name in row["at_thresholds_from_per_excerpt"] if not name.startswith("MAPS"))
    n_maps = len(row["at_thresholds_from_per_excerpt"]) - n_rendered
    cells = ", ".join(f"{label} {scores[key]:.3f}" for key, label in
                      (("rendered/onset_f1", "onset"), ("rendered/onset_offset_f1", "+offset"),
                       ("rendered/onset_offset_velocity_f1", "+velocity"), ("rendered/frame_f1", "frame"),
                       ("rendered/pedal_f1", "pedal presses"), ("maps/onset_f1", "MAPS onset"),
                       ("maps/onset_offset_f1", "MAPS +offset"), ("maps/onset_offset_velocity_f1", "MAPS +velocity"),
                       ("maps/frame_f1", "MAPS frame")))
    return [f"The validation table above reads 8 of the 24 validation pieces for 30 s. On all 24 for 60 s "
            f"({n_rendered} rendered excerpts and the {n_maps} MAPS recordings, at the thresholds stored here; "
            "`tests/bench/readings.py figures/second_cycle/readings/validation24x60-config.json OUT --no-choice`): "
            f"{cells}. Differences of a few thousandths between two networks on the 8 pieces are within what "
            "another draw of pieces moves (`tests/bench/piece_bootstrap.py`; `figures/training_history.md`, stop 35).", ""]


def main() -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", type=Path, default=config.CHECKPOINT_DIR / "fasolfa.pt")
    parser.add_argument("--data", default="", help="what the run trained on, when not the corpus sample its "
                        "config names (e.g. the excerpts of a GPU burst)")
    args = parser.parse_args()
    checkpoint = args.checkpoint
    model, metadata = load_weights(checkpoint)
    cfg = metadata.get("train_config", {})
    layers = layer_table(model)
    total = layers[-1]
    velocity_mflops = sum(row["mflops_per_s"] for row in layers if row["layer"].startswith("velocity_"))
    augmentation = Augmentation()
    text = "\n".join([
        f"# `{checkpoint.name}` — model card",
        "",
        f"*Written by `python tests/bench/model_card.py` at commit `{_commit()}` from the checkpoint's "
        f"metadata and the measurements in `figures/`.*",
        "",
        "## What it is",
        f"- `FasolfaNet` (`fasolfa/model.py`, explained in notebook 05): {count_parameters(model):,} parameters, "
        f"{checkpoint.stat().st_size / 1000:.0f} kB as float32, {total['mflops_per_s']:.1f} MFLOP per second of "
        f"audio with the velocity head at every key and frame ({velocity_mflops:.0f} of them), as training and "
        f"validation run it; `fasolfa transcribe` runs that head only where a note can start "
        f"(`posteriorgrams.velocity_floor`, the same notes). Input: the HCQT (8 harmonics × 264 bins, 86 frames/s). Outputs: contour, note, onset, "
        f"velocity and sustain-pedal posteriorgrams; `fasolfa.notes` turns them into notes with the "
        f"thresholds stored here.",
        "- Loaded by default by `fasolfa transcribe` and `fasolfa.transcribe`.",
        "",
        "## License: non-commercial",
        "Trained on data licensed for non-commercial use only, so **these weights are CC BY-NC-SA 4.0**:",
        "- performance MIDI of the ASAP dataset (Foscarin et al., ISMIR 2020), partly from MAESTRO "
        "(Hawthorne et al., ICLR 2019), CC BY-NC-SA 4.0, rendered to audio with FluidSynth;",
        "- MAPS recordings (Emiya et al., 2010) of four sampled grand pianos (AkPnBcht, AkPnCGdD, AkPnStgb, "
        "SptkBGCl), non-commercial research license.",
        "",
        "## Data",
        *([f"- {args.data}"] if args.data else
          [f"- {cfg.get('train_hours')} h of performance MIDI sampled from the train split (seed {cfg.get('seed')}), "
           f"each piece rendered with every soundfont and program below."]),
        f"- Soundfonts {', '.join(cfg.get('soundfonts', []))}, programs {cfg.get('programs')} (General MIDI's "
        f"acoustic piano family: grand, bright grand, electric grand, honky-tonk), rendered by `make setup`'s "
        f"Debian packages; MAPS train recordings {'used' if cfg.get('use_maps') else 'not used'} "
        f"({cfg.get('maps_share', 0):.0%} of windows; no pedal labels there: the pedal losses are masked).",
        "- Augmentation (`fasolfa.augment.Augmentation()`, per window): "
        f"gain {augmentation.gain_db} dB; EQ (p={augmentation.eq_probability}: tilt, shelves ±9 dB); reverb "
        f"(p={augmentation.reverb_probability}, RT60 {augmentation.reverb_rt60_s} s, wet {augmentation.reverb_wet}, "
        f"the dry path kept so onsets do not move); noise (p={augmentation.noise_probability}, SNR "
        f"{augmentation.noise_snr_db} dB, white or pink); detuning (p={augmentation.detune_probability}, "
        f"{augmentation.detune_cents} cents, labels moved with the audio); band limit "
        f"(p={augmentation.band_limit_probability}, {augmentation.band_limit_hz} Hz).",
        "- Split by piece; validation pieces and MAPS validation pieces never trained on; the test split "
        "read only for the table below.",
        "",
        "## Training",
        *training_section(metadata),
        "",
        "## Validation",
        *validation_section(metadata),
        "",
        "## Test",
        *test_section(),
        "",
        "## Ablations: what each data source and augmentation buys",
        *ablation_section(),
        "",
        "## Capacity and data probe: does a wider network or more music help?",
        *capacity_section(),
        "",
        "## Transposition probe: does the rare registers' data help?",
        *transpose_section(),
        "",
        "## Longer fine-tuning on transposed music",
        *finetune_section(),
        "",
        "## Keys below: octave and twelfth ghosts",
        *subharmonic_section(),
        "",
        "## Velocity from the recorded level",
        *velocity_level_section(),
        "",
        "## More music and a weight average",
        *more_music_section(),
        "",
        "## Re-struck keys",
        *restrike_section(),
        "",
        "## Width and reach",
        *width_reach_section(),
        "",
        "## Velocity from how loud each key sounds",
        *velocity_head_section(),
        "",
        "## Velocity by least squares",
        *velocity_fit_section(metadata),
        "",
        "## A velocity head with a hidden layer",
        *velocity_hidden_section(),
        "",
        "## A GPU burst from a window pack",
        *gpu_burst_section(),
        "",
        "## Rooms closer to real ones",
        *room_burst_section(),
        "",
        "## Between two checkpoints",
        *interpolation_section(metadata),
        "",
        "## The recipe again",
        *second_cycle_section(metadata),
        "",
        "## Level and tuning",
        *input_level_section(metadata),
        "",
        "## What to expect on pianos it never heard",
        "The MAPS validation row is the closest measurement: real recordings of sampled grands in their "
        "own rooms, pieces never trained on. Expect about that on a clean recording of an acoustic piano, "
        "less with a distant microphone, a reverberant hall or an upright with a different timbre: the "
        "network is small (sized to run at tens of times real time on a laptop CPU). It was not "
        "tuned to any one piano: the thresholds were chosen on rendered pieces and MAPS pianos together. "
        "Raising `--onset-threshold` trades recall for precision. Velocities: expect them to follow which "
        "notes are played louder (matched notes' Pearson r 0.74 on the MAPS pianos against 0.88 on the "
        "renders for the first of its three heads, *What the velocity head reads*) more than to match a velocity number; a piano voiced brighter or darker "
        "in the bass than the soundfonts reads too loud or too soft there (the register tilt), and the head "
        "leaves out the register terms that would carry the soundfonts' own balance to it (*What the velocity "
        "head reads*).",
        "",
        *more_pieces_lines(checkpoint),
        *robustness_lines(),
        "",
        *error_section(),
        "",
        "## What the audio shows of the sustain pedal",
        *pedal_evidence_section(),
        "",
        "## Reproduce",
        "```bash",
        "make train                                   # notebook 06 through papermill, resumable",
        "python -m fasolfa.train RUN/config.json --finalize RUN/best.pt fasolfa/checkpoints/fasolfa.pt",
        *(["python -m fasolfa.velocity_fit RUN/config.json FINAL.pt FITTED.pt --windows "
           f"{metadata['velocity_fit']['windows']}"
           + (f" --hidden {metadata['velocity_fit']['hidden']}" if metadata["velocity_fit"].get("hidden") else "")
           + "   # then --finalize FITTED.pt as above"]
          if metadata.get("velocity_fit") else []),
        *(["python -m fasolfa.interpolate A.pt figures/room_burst/room+cpu2.pt MID.pt --alpha 0.5   # A: the weights before",
           "python -m fasolfa.train CONFIG.json --finalize MID.pt MID-final.pt",
           "python -m fasolfa.train figures/interpolation/alpha0.5+cpu-config.json   # init_weights: MID-final.pt",
           "python -m fasolfa.velocity_fit figures/velocity_fit/velocity-head-config.json LAST.pt FIT.pt --hidden 16",
           "python -m fasolfa.train CONFIG.json --finalize FIT.pt fasolfa/checkpoints/fasolfa.pt   # CONFIG: figures/interpolation/config.json"]
          if _line_continuation(metadata.get("train_config", {})) else []),
        *(["# the recipe again (A: the weights the lines above wrote; ROOM3: the GPU burst's last snapshot)",
           "tests/bench/gpu_burst.sh figures/second_cycle/room3-config.json   # on a lent GPU, with the window pack",
           "python -m fasolfa.interpolate A.pt ROOM3.pt MID.pt --alpha 0.5",
           "python -m fasolfa.train figures/second_cycle/mid+cpu-config.json   # init_weights: MID.pt",
           "python -m fasolfa.velocity_fit figures/velocity_fit/velocity-head-config.json LAST.pt FIT.pt --hidden 16",
           "python -m fasolfa.train figures/interpolation/config.json --finalize FIT.pt fasolfa/checkpoints/fasolfa.pt"]
          if (_line_continuation(metadata.get("train_config", {})) or {}).get("folder") == "second_cycle" else []),
        "python tests/bench/model_card.py             # this card",
        "```",
        "The GPU bursts that produced these weights: `python tests/bench/ablations.py prepare DIR [--seed 1]` "
        "here, then `python tests/bench/ablations.py run DIR OUT --variants full --device cuda --batch-size 64 "
        "--workers 14 --validate-every 300 --steps 5000` on the GPU machine (see `figures/train_gpu/config.json`); "
        "then the fine-tuning on transposed excerpts: `ablations.py prepare DIR4 --renders 140 --maps 24 "
        "--excerpt-s 30 --validation-s 20 --validation-pieces 4 --seed 2 --vorbis 0.5 --transpose 12` here, "
        "`ablations.py run DIR4 OUT --variants --arm ftT '{\"init_weights\": \"fasolfa/checkpoints/fasolfa.pt\", "
        "\"learning_rate\": 0.0007, \"warmup_steps\": 100}' --seconds 195 --device cuda --batch-size 64 --workers 14 "
        "--validate-every 300 --steps 3000` there, and `python -m fasolfa.train CONFIG --finalize OUT/ftT/best.pt "
        "fasolfa/checkpoints/fasolfa.pt` here (CONFIG: the earlier run's `config.json`, whose validation set is the "
        "standard one). Then the longer fine-tuning: `ablations.py prepare DIR5 ... --seed 3 ...` (as DIR4), "
        "`ablations.py merge DIR6 DIR4 DIR5 --renders 90` here; `ablations.py run DIR6 OUT --variants --arm ftT3 "
        "'{\"init_weights\": \"fasolfa/checkpoints/fasolfa.pt\", \"learning_rate\": 0.001, \"warmup_steps\": 200}' "
        "--seconds 420 --device cuda --batch-size 256 --workers 12 --validate-every 500 --steps 3000` there; then "
        "`--arm vel10` with `init_weights` the `ftT3/best.pt`, learning rate 5e-4, warm-up 100, the velocity loss "
        "weight 10, `--seconds 250 --workers 14 --validate-every 250 --steps 1100` (`figures/finetune/*-config.json`), "
        "and `--finalize OUT/vel10/best.pt` as before. The CPU steps since: `python -m fasolfa.train CONFIG` "
        "with each folder's config (`figures/train_cpu_transposed/config.json`, `figures/train_cpu_wide/config.json`, "
        "then `figures/velocity_level/vel-level-config.json` and, for the comparison, `vel-ctrl-config.json`, "
        "`figures/more_music_ema/more-data-ema-config.json`, and `figures/width_long/k32-config.json`, whose "
        "model has 32 key and 24 onset channels, so the run grows the weights it starts from by `widen` "
        "itself; `control-config.json` beside it is the comparison; then `figures/reach_long/dilation16-config.json`, "
        "whose model adds a fifth time block, grown the same way, with `control-config.json` beside it; then "
        "`figures/velocity_head/velocity-head-config.json`, whose model's velocity head reads the level, grown the "
        "same way, and which trains that head alone (`train_only`)"
        + ("; then `figures/velocity_head/joint-config.json`, the whole network from its finalized weights"
           if not cfg.get("train_only") and not _line_continuation(cfg) else "")
        + ("; then `figures/room_burst/room+cpu-config.json` and `room+cpu2-config.json` (the room continuation, "
           "from the `room` burst's weights: *Rooms closer to real ones*) and `figures/interpolation/alpha0.5+cpu-config.json` "
           "(from the network at alpha 0.5, as the lines above)" if _line_continuation(cfg) else "") + "), "
        "`init_weights` pointing at the weights of the step before (their `run_dir` and `init_weights` are this "
        "machine's paths), and `--finalize RUN/best.pt fasolfa/checkpoints/fasolfa.pt` with the last one. "
        "`make train` itself trains `ModelConfig()`'s network (24 key and 16 onset channels) from scratch.",
        "",
    ])
    path = checkpoint.parent / "MODEL_CARD.md"
    atomic_write(path, lambda temporary: temporary.write_text(text))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
