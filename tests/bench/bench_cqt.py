"""Benchmark: fasolfa's CQT against librosa.cqt on a minute of rendered piano.

Run: ``.venv/bin/python tests/bench/bench_cqt.py`` (part of ``make bench``).

Renders 60 s of random piano-like music (``bench_render.piano_like_performance``, seed 0) with
the first installed soundfont, then times, in this one process with ``torch.set_num_threads(2)``,
``librosa.cqt`` and :class:`fasolfa.cqt.CQT` with the model's settings (A0, 36 bins per octave,
hop 256) at 311 bins (every bin below Nyquist) and at 288 bins (8 octaves). Runs alternate
between the two and the medians are compared. Also timed: the clean mode
(``CQT(match_librosa=False)``, the model's front end) against the librosa mode at 311 bins, :class:`fasolfa.hcqt.HCQT` (the
model's input), the GPU when there is one, and nnAudio's CQTs when nnAudio is installed
(``pip install nnAudio``; it is not a fasolfa dependency). A profile of one fasolfa call says
where its time goes. Results go to ``figures/cqt_bench.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render import piano_like_performance  # noqa: E402

import librosa  # noqa: E402

from fasolfa import config, synth  # noqa: E402
from fasolfa.cqt import CQT, compare_magnitudes_db  # noqa: E402
from fasolfa.hcqt import HCQT  # noqa: E402


def librosa_cqt(audio, n_bins):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # "n_fft too large" in the last octave
        return librosa.cqt(audio, sr=config.SAMPLE_RATE, hop_length=config.HOP_LENGTH,
                           fmin=config.FMIN_HZ, n_bins=n_bins, bins_per_octave=config.BINS_PER_OCTAVE)


def timed(fn, sync=None) -> float:
    if sync:
        sync()
    start = time.perf_counter()
    fn()
    if sync:
        sync()
    return time.perf_counter() - start


def interleaved(functions: dict, runs: int) -> dict:
    """Seconds of each function over ``runs`` rounds, the functions alternating within a round."""
    for fn in functions.values():      # warm-up (caches, allocator)
        fn()
    times = {name: [] for name in functions}
    for _ in range(runs):
        for name, fn in functions.items():
            times[name].append(timed(fn))
    return times


def summary(seconds: list) -> dict:
    return {"median_s": round(float(np.median(seconds)), 5), "min_s": round(float(np.min(seconds)), 5),
            "runs": len(seconds)}


def profile_breakdown(module, audio) -> tuple[dict, list]:
    """Self CPU time of one call per fasolfa stage (profiler labels) and per torch operator."""
    with torch.no_grad(), torch.profiler.profile() as prof:
        module(audio)
    events = prof.key_averages()
    stages = {e.key: round(e.cpu_time_total / 1e3, 2) for e in events if e.key.startswith("cqt.")}
    ops = sorted((e for e in events if e.key.startswith("aten::")), key=lambda e: -e.self_cpu_time_total)
    top = [{"op": e.key, "self_ms": round(e.self_cpu_time_total / 1e3, 2), "calls": e.count} for e in ops[:8]]
    return stages, top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(config.FIGURES_DIR / "cqt_bench.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0]
    if load_at_start > 0.5:
        print(f"note: the machine is busy (load average {load_at_start:.1f}); timings are noisier")

    soundfonts = synth.find_soundfonts()
    if not soundfonts:
        print("no soundfonts installed; " + synth.INSTALL_SOUNDFONTS, file=sys.stderr)
        return 1
    notes, pedal = piano_like_performance(args.seconds / 60, seed=0)
    n_samples = int(args.seconds * config.SAMPLE_RATE)
    audio = synth.render((notes, pedal), soundfonts[0], tail_s=1.0)[:n_samples]
    audio = np.pad(audio, (0, n_samples - len(audio)))
    audio_t = torch.from_numpy(audio)[None]
    print(f"audio: {len(audio) / config.SAMPLE_RATE:.1f} s of piano ({soundfonts[0].name}), "
          f"{args.threads} threads, median of {args.runs} alternating runs")

    results = []
    profile = {}
    for n_bins in (config.N_CQT_BINS, 288):
        start = time.perf_counter()
        module = CQT(n_bins=n_bins)
        build_s = time.perf_counter() - start
        with torch.no_grad():
            times = interleaved({"librosa": lambda: librosa_cqt(audio, n_bins),
                                 "fasolfa": lambda: module(audio_t)}, args.runs)
            agreement = compare_magnitudes_db(module(audio_t)[0].numpy(), librosa_cqt(audio, n_bins))
        row = {"n_bins": n_bins, "librosa": summary(times["librosa"]), "fasolfa_cpu": summary(times["fasolfa"]),
               "speedup": round(float(np.median(times["librosa"]) / np.median(times["fasolfa"])), 1),
               "kernel_build_s": round(build_s, 3), "methods_by_octave": module.methods,
               "agreement_with_librosa_db": {k: (round(v, 6) if isinstance(v, float) else v)
                                             for k, v in agreement.items()}}
        if n_bins == config.N_CQT_BINS:
            clean = CQT(n_bins=n_bins, match_librosa=False)     # the model's front end
            with torch.no_grad():
                clean_times = interleaved({"librosa mode": lambda: module(audio_t),
                                           "clean": lambda: clean(audio_t)}, args.runs)
            row["fasolfa_clean_cpu"] = {**summary(clean_times["clean"]),
                                        "librosa_mode_same_rounds_median_s": summary(clean_times["librosa mode"])["median_s"],
                                        "methods_by_octave": clean.methods}
            profile["stages_ms"], profile["top_ops"] = profile_breakdown(module, audio_t)
            hcqt = HCQT()
            with torch.no_grad():
                row["hcqt_cpu"] = summary(interleaved({"hcqt": lambda: hcqt(audio_t)}, args.runs)["hcqt"])
        results.append(row)

    gpu = None
    if torch.cuda.is_available():
        device = torch.device("cuda")
        sync = torch.cuda.synchronize
        gpu = {"device": torch.cuda.get_device_name(0), "results": []}
        windows = torch.from_numpy(audio[: 16 * config.WINDOW_N_SAMPLES].reshape(16, -1)).to(device)
        for n_bins in (config.N_CQT_BINS, 288):
            module = CQT(n_bins=n_bins).to(device)
            on_gpu = audio_t.to(device)
            with torch.no_grad():
                module(on_gpu)
                piece = [timed(lambda: module(on_gpu), sync) for _ in range(args.runs)]
                module(windows)
                batch = [timed(lambda: module(windows), sync) for _ in range(args.runs)]
            gpu["results"].append({"n_bins": n_bins, "fasolfa_60s": summary(piece),
                                   "fasolfa_batch_16x2s": summary(batch)})

    nn_audio = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from nnAudio.features import CQT1992v2, CQT2010v2
    except ImportError:
        print("nnAudio is not installed (pip install nnAudio): skipped")
    else:
        nn_audio = {"note": "time only; nnAudio's centring (frames) and scaling differ from librosa's",
                    "results": []}
        for name, cls, bins in (("CQT2010v2", CQT2010v2, (config.N_CQT_BINS, 288)),
                                ("CQT1992v2", CQT1992v2, (config.N_CQT_BINS,))):
            for n_bins in bins:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    layer = cls(sr=config.SAMPLE_RATE, hop_length=config.HOP_LENGTH, fmin=config.FMIN_HZ,
                                n_bins=n_bins, bins_per_octave=config.BINS_PER_OCTAVE,
                                output_format="Complex", verbose=False)
                    with torch.no_grad():
                        seconds = interleaved({name: lambda: layer(audio_t)}, min(args.runs, 5))[name]
                nn_audio["results"].append({"class": name, "n_bins": n_bins, **summary(seconds)})

    print(f"\n{'':>24}{'librosa s':>11}{'fasolfa s':>11}{'speed-up':>10}")
    for row in results:
        print(f"{'CQT, ' + str(row['n_bins']) + ' bins':>24}{row['librosa']['median_s']:>11.4f}"
              f"{row['fasolfa_cpu']['median_s']:>11.4f}{row['speedup']:>9.1f}x")
    print(f"{'CQT clean mode, 311':>24}{'':>11}{results[0]['fasolfa_clean_cpu']['median_s']:>11.4f}")
    print(f"{'HCQT (8 x 264 bins)':>24}{'':>11}{results[0]['hcqt_cpu']['median_s']:>11.4f}")
    if gpu:
        for row in gpu["results"]:
            print(f"{'GPU, ' + str(row['n_bins']) + ' bins':>24}{'':>11}{row['fasolfa_60s']['median_s']:>11.4f}"
                  f"   (16 x 2 s windows: {row['fasolfa_batch_16x2s']['median_s']:.4f} s)")
    else:
        print(f"{'GPU':>24}   none in this session")
    if nn_audio:
        for row in nn_audio["results"]:
            print(f"{'nnAudio ' + row['class'] + ', ' + str(row['n_bins']):>24}{'':>11}{row['median_s']:>11.4f}")
    print("\nfasolfa, 311 bins, one call by stage (ms, profiler on):",
          ", ".join(f"{k} {v}" for k, v in sorted(profile["stages_ms"].items(), key=lambda kv: -kv[1])))
    print("top operators (self ms):", ", ".join(f"{o['op']} {o['self_ms']}" for o in profile["top_ops"][:5]))
    print("agreement with librosa (311 bins, loud bins):", results[0]["agreement_with_librosa_db"])

    report = {
        "benchmark": "cqt",
        "audio": {"seconds": round(len(audio) / config.SAMPLE_RATE, 2), "soundfont": soundfonts[0].name,
                  "music": "bench_render.piano_like_performance(seed=0)"},
        "settings": {"sample_rate": config.SAMPLE_RATE, "hop_length": config.HOP_LENGTH,
                     "fmin_hz": config.FMIN_HZ, "bins_per_octave": config.BINS_PER_OCTAVE},
        "machine": {"processor": platform.machine(), "cpu_count": os.cpu_count(),
                    "load_average_1min_at_start": round(load_at_start, 2), "torch_threads": args.threads,
                    "torch": torch.__version__, "librosa": librosa.__version__},
        "results": results,
        "profile_fasolfa_311_bins": profile,
        "gpu": gpu,
        "nnaudio": nn_audio,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {output.relative_to(config.REPO_ROOT) if output.is_relative_to(config.REPO_ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
