"""Benchmark: training windows per second from a warm render cache (fasolfa.data.WindowDataset).

Run: ``.venv/bin/python tests/bench/bench_windows.py`` (part of ``make bench``).

Random piano-like pieces (see ``bench_render.py``) are rendered into a temporary cache with
every installed soundfont (not timed), then windows of ``WINDOW_N_SAMPLES`` samples with their
targets are drawn through a ``torch.utils.data.DataLoader`` with 0 and 2 worker processes,
without and with augmentation. References measured in the same run, on the same windows, in
this one process: reading the raw FLAC windows only (``soundfile`` with ``start``/``frames``),
and computing the targets only (``notes_to_targets`` on sustained notes). Results go to
``figures/data_bench.json``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render import piano_like_performance  # noqa: E402

from common import busy_warning, machine_info, write_report
from fasolfa import config, data, synth  # noqa: E402
from fasolfa.augment import Augmentation  # noqa: E402
from fasolfa.midi import apply_sustain, notes_in_window, notes_to_targets, write_midi  # noqa: E402


def windows_per_second(dataset, n_windows: int, workers: int, batch_size: int) -> float:
    """Windows per second through a DataLoader, after its first batch (worker start-up)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                         shuffle=False, persistent_workers=False)
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    count = 0
    for batch in iterator:
        count += batch["audio"].shape[0]
    elapsed = time.perf_counter() - start
    assert count == n_windows - batch_size
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each piece")
    parser.add_argument("--windows", type=int, default=1024, help="windows per measurement")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(config.FIGURES_DIR / "data_bench.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_at_start = busy_warning()
    soundfonts = synth.find_soundfonts()
    if not soundfonts:
        print("no soundfonts installed; " + synth.INSTALL_SOUNDFONTS, file=sys.stderr)
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="fasolfa-bench-"))
    try:
        midi_paths = [write_midi(workdir / f"piece{i}.mid", *piano_like_performance(args.minutes, seed=i))
                      for i in range(args.pieces)]
        cache = data.RenderCache(workdir / "cache")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cache.render_all(cache.items(midi_paths, soundfonts, (0,)), progress=False,
                             workers=min(2, os.cpu_count() or 1))
        render_s = time.perf_counter() - start
        print(f"cache: {args.pieces} pieces x {len(soundfonts)} soundfonts x {args.minutes:g} min "
              f"rendered in {render_s:.1f} s (not part of the measurements)")

        plain = data.WindowDataset.from_cache(cache, midi_paths, soundfonts, (0,), args.windows,
                                              seed=0, progress=False, render_missing=False,
                                              augmentation=Augmentation.none())
        augmented = data.WindowDataset.from_cache(cache, midi_paths, soundfonts, (0,), args.windows,
                                                  seed=0, progress=False, render_missing=False)
        # the same windows' positions, for the references
        windows = [plain.window(i) for i in range(min(256, args.windows))]
        n_samples = plain.window_n_samples

        start = time.perf_counter()
        for window in windows:
            soundfile.read(window.rendition.audio_path, start=window.start_sample, frames=n_samples,
                           dtype="float32")
        flac_rate = len(windows) / (time.perf_counter() - start)

        sustained = {}
        for i, piece in enumerate(plain.pieces):
            notes, pedal, _ = data.read_notes(piece.notes_path)
            sustained[i] = (apply_sustain(notes, pedal), pedal)
        frame_s = config.HOP_LENGTH / config.SAMPLE_RATE
        start = time.perf_counter()
        for window in windows:
            notes, pedal = sustained[window.piece]
            end_s = window.start_s + plain.n_frames * frame_s
            notes_to_targets(notes_in_window(notes, window.start_s - frame_s, end_s + frame_s),
                             pedal, plain.n_frames, window.start_s)
        targets_rate = len(windows) / (time.perf_counter() - start)
        print(f"references, one process: raw FLAC window reads {flac_rate:7.0f}/s; "
              f"targets only {targets_rate:7.0f}/s")

        results = []
        for name, dataset in (("no augmentation", plain), ("default augmentation", augmented)):
            for workers in (0, 2):
                rate = windows_per_second(dataset, args.windows, workers, args.batch_size)
                results.append({"augmentation": name, "workers": workers,
                                "windows_per_s": round(rate, 1),
                                "audio_s_per_s": round(rate * n_samples / config.SAMPLE_RATE, 1),
                                "ratio_to_raw_flac_reads": round(rate / flac_rate, 2)})
                print(f"{name:>21}, {workers} workers: {rate:7.1f} windows/s "
                      f"({rate * n_samples / config.SAMPLE_RATE:6.0f} s of audio per s; "
                      f"{rate / flac_rate:.2f} x raw FLAC reads)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = {"benchmark": "windows", "unit": "training windows per wall-clock second",
              "window_n_samples": n_samples, "n_frames": plain.n_frames,
              "batch_size": args.batch_size, "windows_measured": args.windows - args.batch_size,
              "cache": {"pieces": args.pieces, "minutes_each": args.minutes,
                        "soundfonts": [s.name for s in soundfonts]},
              "references_one_process": {"raw_flac_window_reads_per_s": round(flac_rate, 1),
                                         "targets_only_per_s": round(targets_rate, 1)},
              "machine": machine_info(load_at_start, torch_threads=torch.get_num_threads()),
              "results": results}
    write_report(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
