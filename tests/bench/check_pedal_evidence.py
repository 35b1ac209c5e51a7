"""Check: how much of the reference's sustain pedal can rendered audio show at all?

Run: ``.venv/bin/python tests/bench/check_pedal_evidence.py [--seconds 30]`` (part of
``make bench``; it needs the shared corpus, ``$FASOLFA_DATA`` or ``../shared/data``, and reads
MIDI only: nothing is rendered or transcribed). Explained in notebooks/08_evaluation.ipynb,
section 6.

In audio rendered by FluidSynth a press changes no sample, and a key released under the pedal
sounds exactly as a key held until the lift (``tests/test_synth.py`` checks both on every
training preset). So the audio places each press only somewhere after the last note ending it
lets you hear and before the press's lift (:func:`fasolfa.evaluate.pedal_press_windows`). For
the first ``--seconds`` of every validation- and test-split performance (the excerpts training
validates on and ``make bench`` tests on) this counts:

* the presses whose window is at most twice the pedal metric's tolerance (50 ms) wide: the only
  ones the audio alone pins to a match;
* the presses under which no key is released (they change no sample at all);
* how the presses sit in time against the notes: the lag from the last note onset before each
  press and from the previous lift, and the share of presses a single constant lag would place
  within the tolerance (a habit of the pianists, the cue left to a transcriber).

Results: ``figures/pedal_evidence.json`` and ``figures/pedal_evidence.png``. Without the shared
corpus it prints a skip line and exits 0.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_report  # noqa: E402

from fasolfa import config, corpus  # noqa: E402
from fasolfa.evaluate import PEDAL_TOLERANCE_S as TOLERANCE_S, pedal_press_windows  # noqa: E402
from fasolfa.midi import read_midi  # noqa: E402
from fasolfa.train import excerpt  # noqa: E402

REPORT = config.FIGURES_DIR / "pedal_evidence.json"
FIGURE = config.FIGURES_DIR / "pedal_evidence.png"
LAGS_S = np.arange(0.0, 0.5, 0.005)


def split_presses(entries, seconds: float) -> tuple[dict[str, np.ndarray], int]:
    """Per press of every entry's first ``seconds``: window width, heard, press - last onset,
    press - previous lift (NaN where there is none); and how many entries have a pedal there."""
    width, heard, onset_lag, lift_gap = [], [], [], []
    for entry in entries:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # dropped zero-length notes: counted elsewhere
            performance = read_midi(entry.path)
        notes, pedal = excerpt(performance.notes, performance.pedal, seconds)
        if not len(pedal):
            continue
        after_s, lift_s, press_heard = pedal_press_windows(notes, pedal)
        width.append(lift_s - after_s)
        heard.append(press_heard)
        onsets = np.sort(notes.onset_s)
        last = np.searchsorted(onsets, pedal.onset_s, side="right") - 1
        onset_lag.append(np.where(last >= 0, pedal.onset_s - onsets[np.maximum(last, 0)], np.nan)
                         if len(onsets) else np.full(len(pedal), np.nan))
        lift_gap.append(np.concatenate([[np.nan], pedal.onset_s[1:] - pedal.offset_s[:-1]]))
    presses = {name: np.concatenate(parts) if parts else np.zeros(0)
               for name, parts in (("width_s", width), ("heard", heard), ("onset_lag_s", onset_lag),
                                   ("lift_gap_s", lift_gap))}
    presses["heard"] = presses["heard"].astype(bool)
    return presses, len(width)


def best_constant_lag(lags: np.ndarray) -> tuple[float, float]:
    """The constant lag that puts the most presses within the tolerance, and that share."""
    lags = lags[np.isfinite(lags)]
    if not len(lags):
        return float("nan"), 0.0
    shares = [float(np.mean(np.abs(lags - lag) <= TOLERANCE_S)) for lag in LAGS_S]
    best = int(np.argmax(shares))
    return float(LAGS_S[best]), shares[best]


def quartiles(values: np.ndarray) -> list[float]:
    return [round(float(q), 3) for q in np.nanpercentile(values, [25, 50, 75])] if len(values) else []


def summary(presses: dict[str, np.ndarray], n_performances: int) -> dict:
    width, lag, gap = presses["width_s"], presses["onset_lag_s"], presses["lift_gap_s"]
    onset_lag, onset_share = best_constant_lag(lag)
    lift_lag, lift_share = best_constant_lag(gap)
    return {"performances_with_pedal": n_performances, "presses": int(len(width)),
            "pinned_by_audio": round(float(np.mean(width <= 2 * TOLERANCE_S)), 4) if len(width) else None,
            "changes_no_sample": round(float(np.mean(~presses["heard"])), 4) if len(width) else None,
            "window_s_quartiles": quartiles(width),
            "lag_from_last_onset_s_quartiles": quartiles(lag),
            "best_constant_lag_from_last_onset_s": round(onset_lag, 3),
            "share_within_tolerance_of_that_lag": round(onset_share, 4),
            "gap_from_previous_lift_s_quartiles": quartiles(gap),
            "best_constant_gap_from_previous_lift_s": round(lift_lag, 3),
            "share_within_tolerance_of_that_gap": round(lift_share, 4)}


def draw(per_split: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
    for (name, presses), color in zip(per_split.items(), ("tab:blue", "tab:orange")):
        for ax, key in zip(axes, ("width_s", "onset_lag_s")):
            values = np.sort(presses[key][np.isfinite(presses[key])])
            ax.plot(np.maximum(values, 1e-3), np.arange(1, len(values) + 1) / max(len(values), 1), color=color,
                    label=f"{name} ({len(values)} presses)")
    axes[0].axvline(2 * TOLERANCE_S, color="k", linestyle=":", linewidth=1)
    axes[0].text(2 * TOLERANCE_S, 0.9, " 100 ms: pinned to\n a 50-ms match", fontsize=7, va="top")
    axes[0].set(xscale="log", xlabel="window the audio leaves for the press (s, log)",
                ylabel="share of presses at most this")
    axes[0].set_title("where a rendered press could be: last note ending .. lift", fontsize=9, loc="left")
    best = best_constant_lag(next(iter(per_split.values()))["onset_lag_s"])[0]
    axes[1].axvspan(best - TOLERANCE_S, best + TOLERANCE_S, color="0.9")
    axes[1].text(best + TOLERANCE_S, 0.05, f" a press guessed {1000 * best:.0f} ms after the onset\n"
                 f" matches those in the grey band", fontsize=7)
    axes[1].set(xlim=(0, 0.6), xlabel="press - last note onset before it (s)")
    axes[1].set_title("the pianists' habit: a press follows a note onset", fontsize=9, loc="left")
    for ax in axes:
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.text(0.995, 0.005, "tests/bench/check_pedal_evidence.py", fontsize=6, ha="right", color="0.5")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path.relative_to(config.FIGURES_DIR.parent)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length (s), as make bench tests")
    args = parser.parse_args(argv)
    if not (config.corpus_dir() / "split.csv").is_file():
        print(f"{config.corpus_dir()}: no split.csv; skipped (set FASOLFA_DATA)")
        return 0
    start = time.perf_counter()
    midi_corpus = corpus.MidiCorpus.from_split_csv()
    per_split, report = {}, {}
    for split in ("validation", "test"):
        entries = sorted(midi_corpus.split(split).entries, key=lambda e: str(e.path))
        presses, n_pedalled = split_presses(entries, args.seconds)
        per_split[split] = presses
        report[split] = summary(presses, n_pedalled)
        row = report[split]
        print(f"{split}: {row['presses']} presses in the first {args.seconds:g} s of {len(entries)} performances; "
              f"pinned by the audio (window <= {2000 * TOLERANCE_S:.0f} ms) {row['pinned_by_audio']:.3f}; "
              f"no sample changed {row['changes_no_sample']:.3f}; window quartiles {row['window_s_quartiles']} s; "
              f"press - last onset quartiles {row['lag_from_last_onset_s_quartiles']} s, a constant "
              f"{row['best_constant_lag_from_last_onset_s']:.3f} s puts {row['share_within_tolerance_of_that_lag']:.3f} "
              f"within {1000 * TOLERANCE_S:.0f} ms")
    draw(per_split, FIGURE)
    write_report(REPORT, {"check": "what rendered audio shows of each reference pedal press "
                                   "(fasolfa.evaluate.pedal_press_windows)",
                          "seconds": args.seconds, "tolerance_s": TOLERANCE_S, "splits": report,
                          "elapsed_s": round(time.perf_counter() - start, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
