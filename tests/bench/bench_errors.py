"""Error analysis on the validation excerpts: which notes the shipped checkpoint misses.

Run: ``.venv/bin/python tests/bench/bench_errors.py [--checkpoint PATH]`` (part of ``make bench``;
needs ``../shared/data``). The validation set is the one training selects on (``TrainConfig()``'s:
8 validation-split pieces × 3 soundfonts and the 8 MAPS validation recordings, first 30 s), so
this reads nothing the test split should keep unseen. Each excerpt is transcribed with the
checkpoint's own thresholds, and its reference notes are matched with mir_eval (onset within
50 ms, offsets ignored). Reported, per group (rendered, MAPS):

* note-onset **recall by octave** (A0–G#1, A1–G#2, ..., A6–C8) and **by velocity** (0–19, 20–39, ...),
* where the missed notes went: a same-key estimate 50–200 ms away (a repeated note merged into
  one when the reference strikes that key again within 200 ms, else timing), an octave error,
  a neighbouring key, or nothing near (a note the network did not see); for the merged repeated
  notes, the median time to the other strike and their count per octave,
* how high the **onset posteriorgram** rose within 50 ms of each missed note (quantiles per kind
  of miss, against the checkpoint's onset threshold): a miss whose peak falls just short of the
  threshold is the thresholds' to win back, one with no peak at all is the network's,
* what a **lower threshold for re-strikes** would add: the onset-posteriorgram peaks 0.1 and 0.2
  below the threshold that lie inside a transcribed note of their key (at least ``min_note_ms``
  from both its ends, where note creation would split it), counted as re-strikes the reference
  has (within 50 ms of a missed strike of that key) or not,
* where the **false notes** (estimates matching no reference note) came from: inside a sounding
  reference note of the same key (a double strike), 12, 19 or 24 keys above a sounding reference
  note (its 2nd, 3rd, 4th partial read as a note: the ghosts that subharmonic keys are for),
  12 keys below one, next to one, or none of these,
* precision, recall and F1 per excerpt (the dense, fast pieces are where recall falls), and for
  the MAPS recordings also frame precision, recall and F1 (notes as written on both sides, as
  the MAPS set is scored): one recording whose notes are labelled far shorter than they ring
  shows here as a frame precision far below the others'.

Results go to ``figures/error_analysis.json`` and ``figures/error_analysis.png``, and
``figures/error_worst_maps.png`` draws the MAPS excerpt of lowest frame precision: its note
posteriorgram, its labelled notes and the transcribed ones, to look at what the number hides.
"""
from __future__ import annotations

import collections
import dataclasses
import sys
from pathlib import Path

import numpy as np

from common import checkpoint_parser, machine_info, save_png, write_report

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

OCTAVES = ["A0–G#1", "A1–G#2", "A2–G#3", "A3–G#4", "A4–G#5", "A5–G#6", "A6–C8"]
VELOCITIES = ["0–19", "20–39", "40–59", "60–79", "80–99", "100–127"]


def matched(reference, estimate):
    """Boolean hit per reference note and per estimated note (onset within 50 ms, same key)."""
    import mir_eval
    ref_interval = np.stack([reference.onset_s, reference.onset_s + 0.1], 1)
    est_interval = np.stack([estimate.onset_s, estimate.onset_s + 0.1], 1)
    pairs = mir_eval.transcription.match_notes(
        ref_interval, mir_eval.util.midi_to_hz(reference.pitch.astype(float)),
        est_interval, mir_eval.util.midi_to_hz(estimate.pitch.astype(float)), offset_ratio=None)
    ref_hit = np.zeros(len(reference), bool)
    est_hit = np.zeros(len(estimate), bool)
    ref_hit[[a for a, _ in pairs]] = True
    est_hit[[b for _, b in pairs]] = True
    return ref_hit, est_hit


def other_strike_s(onset_s: float, pitch: int, reference) -> float:
    """Seconds from a reference note to the nearest other reference strike of its key (inf if none)."""
    gaps_s = np.abs(reference.onset_s[reference.pitch == pitch] - onset_s)
    gaps_s = gaps_s[gaps_s > 0]
    return float(gaps_s.min()) if len(gaps_s) else float("inf")


def miss_kind(onset_s: float, pitch: int, estimate, reference) -> str:
    """What the transcription has near a missed reference note (``onset_s``, ``pitch``): an
    octave error or a neighbouring key within 50 ms; a same-key note 50–200 ms away, split by
    whether the reference strikes that key again within 200 ms (a repeated note the
    transcription merged into one) or not (a timing error); or nothing near."""
    close = np.abs(estimate.onset_s - onset_s) < 0.05
    offsets = set((estimate.pitch[close].astype(int) - int(pitch)).tolist())
    if offsets & {-12, 12}:
        return "octave error"
    if offsets & {-1, 1}:
        return "neighbouring key"
    nearby = (np.abs(estimate.onset_s - onset_s) < 0.2) & (estimate.pitch == pitch)
    if not nearby.any():
        return "nothing near"
    repeated = other_strike_s(onset_s, pitch, reference) < 0.2
    return "same key struck again within 200 ms, merged" if repeated else "same key, 50-200 ms off"


GHOSTS = {12: "octave above a sounding note", 19: "twelfth above a sounding note",
          24: "two octaves above a sounding note", -12: "octave below a sounding note"}


def false_kind(onset_s: float, pitch: int, reference) -> str:
    """Why an unmatched estimate at ``onset_s`` on ``pitch`` may have been made: the first of
    the :data:`GHOSTS` relations (or same key, or neighbouring key) to a reference note sounding
    then (struck at most 50 ms later, not yet released)."""
    sounding = (reference.onset_s <= onset_s + 0.05) & (reference.offset_s > onset_s)
    above = set((int(pitch) - reference.pitch[sounding].astype(int)).tolist())   # estimate - sounding
    if 0 in above:
        return "inside a same-key note"
    for interval, name in GHOSTS.items():
        if interval in above:
            return name
    return "next to a sounding note" if above & {-1, 1} else "none of these"


def peak_near(onset: np.ndarray, onset_s: float, pitch: int, tolerance_s: float = 0.05) -> float:
    """Highest onset probability of ``pitch``'s row within ``tolerance_s`` of ``onset_s``
    (``onset``: ``(88, n_frames)``, frame ``i`` centred at ``i / FRAMES_PER_SECOND``)."""
    from fasolfa import config
    fps = config.FRAMES_PER_SECOND
    low = max(int(np.ceil((onset_s - tolerance_s) * fps)), 0)
    high = min(int(np.floor((onset_s + tolerance_s) * fps)) + 1, onset.shape[1])
    row = onset[int(pitch) - config.MIDI_PITCH_MIN, low:high]
    return float(row.max()) if len(row) else 0.0


def weak_restrikes(onset: np.ndarray, estimate, reference, ref_hit: np.ndarray, threshold: float,
                   floor: float, min_note_s: float) -> tuple[int, int]:
    """Onset-posteriorgram peaks in ``[floor, threshold)`` inside a transcribed note of their key, at
    least ``min_note_s`` from both its ends (where note creation would split that note, were the
    threshold for re-strikes ``floor``): ``(true, false)``, true when a missed reference strike of
    that key lies within 50 ms (each missed strike counted once)."""
    from fasolfa import config
    from fasolfa.notes import onset_peaks
    peaks = onset_peaks(np.asarray(onset, np.float64), floor) & (np.asarray(onset) < threshold)
    missed = {key: list(reference.onset_s[(reference.pitch == key) & ~ref_hit]) for key in set(reference.pitch.tolist())}
    true = false = 0
    for row, frame in zip(*np.nonzero(peaks)):
        pitch, time_s = row + config.MIDI_PITCH_MIN, frame / config.FRAMES_PER_SECOND
        inside = ((estimate.pitch == pitch) & (estimate.onset_s + min_note_s <= time_s)
                  & (time_s <= estimate.offset_s - min_note_s))
        if not inside.any():
            continue
        strikes = missed.get(pitch, [])
        near = [k for k, strike_s in enumerate(strikes) if abs(strike_s - time_s) < 0.05]
        if near:
            strikes.pop(near[0])
            true += 1
        else:
            false += 1
    return true, false


RESTRIKE_FLOORS_BELOW = (0.1, 0.2)       # re-strike thresholds tried: this far below the onset threshold


def analyse(items, transcribe, thresholds) -> dict:
    """``transcribe(item)`` -> ``(notes, onset posteriorgram (88, n_frames))``; ``thresholds``:
    the :class:`fasolfa.notes.NoteThresholds` it used."""
    from fasolfa.evaluate import score
    counts = collections.defaultdict(lambda: np.zeros(2, int))      # (hits, notes)
    kinds = collections.defaultdict(collections.Counter)
    false = collections.defaultdict(collections.Counter)
    repeats = collections.defaultdict(list)                          # (gap to the other strike, octave)
    peaks = collections.defaultdict(lambda: collections.defaultdict(list))   # group -> kind -> onset peaks
    restrikes = collections.defaultdict(lambda: np.zeros((len(RESTRIKE_FLOORS_BELOW), 2), int))
    excerpts = []
    for item in items:
        estimate, onset = transcribe(item)
        reference = item.notes.select(item.notes.onset_s >= 0)       # notes struck inside the excerpt
        ref_hit, est_hit = matched(reference, estimate)
        for row, below in enumerate(RESTRIKE_FLOORS_BELOW):
            restrikes[item.group][row] += weak_restrikes(onset, estimate, reference, ref_hit, thresholds.onset,
                                                         thresholds.onset - below, thresholds.min_note_ms / 1000)
        for onset_s, pitch in zip(estimate.onset_s[~est_hit], estimate.pitch[~est_hit]):
            false[item.group][false_kind(onset_s, pitch, reference)] += 1
        for hit, pitch, velocity, onset_s in zip(ref_hit, reference.pitch, reference.velocity, reference.onset_s):
            octave = min((int(pitch) - 21) // 12, len(OCTAVES) - 1)
            band = min(int(velocity) // 20, len(VELOCITIES) - 1)
            for key in (("octave", OCTAVES[octave]), ("velocity", VELOCITIES[band]), ("all", "all")):
                counts[(item.group,) + key] += (int(hit), 1)
            if not hit:
                kind = miss_kind(onset_s, pitch, estimate, reference)
                kinds[item.group][kind] += 1
                peaks[item.group][kind].append(peak_near(onset, onset_s, pitch))
                if kind.endswith("merged"):
                    repeats[item.group].append((other_strike_s(onset_s, pitch, reference), OCTAVES[octave]))
        scores = score(reference, None, estimate, None)
        onset = scores["onset"]
        excerpts.append({"name": item.name, "group": item.group, "n_notes": len(reference),
                         "precision": onset["precision"], "recall": onset["recall"], "f1": onset["f1"]})
        if not item.has_pedal:                    # MAPS: scored as written, so this is its frame score
            excerpts[-1].update({f"frame_{k}": scores["frame"][k] for k in ("precision", "recall", "f1")})
            for name, notes in (("labelled", reference), ("transcribed", estimate)):
                lengths_s = notes.offset_s - notes.onset_s
                excerpts[-1][f"median_{name}_s"] = float(np.median(lengths_s)) if len(lengths_s) else None
    recall = {}
    for (group, axis, label), (hits, total) in sorted(counts.items()):
        recall.setdefault(group, {}).setdefault(axis, {})[label] = {"recall": hits / total, "n_notes": int(total)}
    repeated = {group: {"n_notes": len(rows), "median_gap_s": float(np.median([gap for gap, _ in rows])),
                        "by_octave": dict(collections.Counter(octave for _, octave in rows))}
                for group, rows in repeats.items()}
    miss_peaks = {group: {kind: {"n_notes": len(values),
                                 "quantiles": dict(zip(("q10", "q25", "median", "q75", "q90"),
                                                       np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist())),
                                 "share_within_0.2_of_threshold": float(np.mean(np.asarray(values) >= thresholds.onset - 0.2)),
                                 "values": np.round(values, 3).tolist()}
                          for kind, values in kinds_.items()} for group, kinds_ in peaks.items()}
    weak = {group: [{"threshold": round(thresholds.onset - below, 3), "true_restrikes": int(counts[row, 0]),
                     "false_restrikes": int(counts[row, 1])} for row, below in enumerate(RESTRIKE_FLOORS_BELOW)]
            for group, counts in restrikes.items()}
    return {"recall": recall, "misses": {g: dict(c) for g, c in kinds.items()}, "repeated_notes_merged": repeated,
            "miss_onset_peaks": miss_peaks, "onset_threshold": thresholds.onset, "lower_restrike_threshold": weak,
            "false_notes": {g: dict(c.most_common()) for g, c in false.items()}, "excerpts": excerpts}


def draw(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.2, 1, 1]})
    for ax, (axis, labels) in zip(axes[:2], (("octave", OCTAVES), ("velocity", VELOCITIES))):
        groups = list(result["recall"])
        width = 0.8 / len(groups)
        for g, group in enumerate(groups):
            rows = result["recall"][group][axis]
            values = [rows.get(label, {}).get("recall", np.nan) for label in labels]
            bars = ax.bar(np.arange(len(labels)) + (g - (len(groups) - 1) / 2) * width, values, width, label=group)
            for bar, label in zip(bars, labels):
                n = rows.get(label, {}).get("n_notes", 0)
                if n:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02, str(n), ha="center",
                            fontsize=6, rotation=90)
        ax.set_xticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set(ylim=(0, 1.12), ylabel="note-onset recall", xlabel=f"reference note's {axis}",
               title=f"recall by {axis} (numbers: notes)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[2]
    short = {"nothing near": "nothing near", "same key struck again within 200 ms, merged": "re-strike\nmerged",
             "octave error": "octave\nerror"}
    boxes, names = [], []
    for group, kinds in result["miss_onset_peaks"].items():
        for kind, label in short.items():
            if kinds.get(kind, {}).get("n_notes", 0) >= 5:
                boxes.append(kinds[kind]["values"])
                names.append(f"{group}\n{label}\n({kinds[kind]['n_notes']})")
    if boxes:
        ax.boxplot(boxes, whis=(10, 90), showfliers=False)
        ax.set_xticks(np.arange(1, len(names) + 1), names, fontsize=7)
    ax.axhline(result["onset_threshold"], color="tab:red", lw=1, ls="--", label="onset threshold")
    ax.set(ylim=(0, 1), ylabel="highest onset probability within 50 ms",
           title="the onset posteriorgram near each missed note")
    ax.legend(fontsize=8, loc="upper right")
    save_png(fig, path, dpi=90)


def draw_excerpt(item, posteriorgrams: dict, estimate, excerpt: dict, path: Path, seconds: float = 20.0) -> None:
    """The note posteriorgram of one excerpt (grey) with its labelled notes (red) and the
    transcribed ones (blue, thin), over the first ``seconds``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fasolfa import config
    note = np.asarray(posteriorgrams["note"], np.float32)                # (88, n_frames)
    n_frames = min(note.shape[1], int(seconds * config.FRAMES_PER_SECOND))
    end_s = n_frames / config.FRAMES_PER_SECOND
    fig, ax = plt.subplots(figsize=(11, 4.2), constrained_layout=True)
    ax.imshow(note[:, :n_frames], origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
              extent=(0, end_s, config.MIDI_PITCH_MIN - 0.5, config.MIDI_PITCH_MIN + config.N_KEYS - 0.5))
    for notes, colour, width, label in ((item.notes, "tab:red", 3.0, "labelled"), (estimate, "tab:blue", 1.0, "transcribed")):
        shown = notes.onset_s < end_s
        for k, (onset_s, offset_s, pitch) in enumerate(zip(notes.onset_s[shown], notes.offset_s[shown], notes.pitch[shown])):
            ax.plot([onset_s, min(offset_s, end_s)], [pitch, pitch], color=colour, lw=width, alpha=0.8,
                    label=label if k == 0 else None)
    pitches = item.notes.pitch
    if len(pitches):
        ax.set_ylim(max(pitches.min() - 8, 20), min(pitches.max() + 20, 109))
    ax.set(xlabel="time (s)", ylabel="MIDI pitch",
           title=f"{item.name}: frame precision {excerpt['frame_precision']:.2f}, recall {excerpt['frame_recall']:.2f} "
                 f"(note posteriorgram in grey)")
    ax.legend(loc="upper right", fontsize=8)
    save_png(fig, path)


def main(argv=None) -> int:
    args = checkpoint_parser(__doc__).parse_args(argv)
    import fasolfa
    from fasolfa import config, train
    from fasolfa.transcription import checkpoint_thresholds, resolve_checkpoint
    items = train.build_validation(train.TrainConfig(), progress=True)
    kept = {}

    def transcribe(item):
        transcription = fasolfa.transcribe(item.audio, config.SAMPLE_RATE, checkpoint=args.checkpoint,
                                           pedal=False, keep_contour=False)
        if not item.has_pedal:                    # MAPS: kept for the figure of the worst one
            kept[item.name] = (item, transcription.posteriorgrams, transcription.notes)
        return transcription.notes, np.asarray(transcription.posteriorgrams["onset"], np.float32)

    thresholds = checkpoint_thresholds(args.checkpoint)
    result = analyse(items, transcribe, thresholds)
    checkpoint = resolve_checkpoint(args.checkpoint)
    report = {"checkpoint": str(checkpoint.relative_to(ROOT)) if checkpoint.is_relative_to(ROOT) else str(checkpoint),
              "thresholds": dataclasses.asdict(thresholds),
              "machine": machine_info(0.0), **result}
    write_report(args.out / "error_analysis.json", report)
    draw(result, args.out / "error_analysis.png")
    framed = [excerpt for excerpt in result["excerpts"] if "frame_precision" in excerpt]
    if framed:
        worst = min(framed, key=lambda excerpt: excerpt["frame_precision"])
        draw_excerpt(*kept[worst["name"]], worst, args.out / "error_worst_maps.png")
    for group, axes in result["recall"].items():
        print(group, "recall", f"{axes['all']['all']['recall']:.3f};", "by octave",
              {k: round(v["recall"], 2) for k, v in axes["octave"].items()})
    print("misses:", result["misses"])
    for group, kinds in result["miss_onset_peaks"].items():
        print(group, "onset peak near the misses (median):", {k: v["quantiles"]["median"] for k, v in kinds.items()})
    print("a lower threshold for re-strikes would add:", result["lower_restrike_threshold"])
    print("false notes:", result["false_notes"])
    for excerpt in result["excerpts"]:
        if "frame_f1" in excerpt:
            print(f"{excerpt['name']}: onset F1 {excerpt['f1']:.3f}, frame P {excerpt['frame_precision']:.3f} "
                  f"R {excerpt['frame_recall']:.3f} F1 {excerpt['frame_f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
