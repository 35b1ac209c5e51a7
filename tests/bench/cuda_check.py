"""Check: ``fasolfa.transcribe`` gives the same notes on CUDA as on the CPU, with the level band
and the tuned HCQT at work (a recording far too quiet and 20 cents sharp), and how long each takes.

Run on a machine with a GPU: ``python tests/bench/cuda_check.py`` (prints a skip line without
one). The audio is made here (harmonic tones, no FluidSynth needed): 60 s of a random melody
with chords, 20 cents sharp, 35 dB below full scale.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

import fasolfa  # noqa: E402
from fasolfa import config  # noqa: E402


def melody(seconds: float = 60.0, cents: float = 20.0, level: float = 10 ** (-35 / 20), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * config.SAMPLE_RATE)) / config.SAMPLE_RATE
    audio = np.zeros(len(time_s))
    for onset_s in np.arange(0.0, seconds - 1.0, 0.25):
        for pitch in rng.choice(np.arange(40, 90), size=int(rng.integers(1, 4)), replace=False):
            f0_hz = 440.0 * 2 ** ((pitch - 69) / 12 + cents / 1200)
            t = time_s - onset_s
            on = (t >= 0) & (t < 1.0)
            for partial in range(1, 8):
                audio[on] += rng.uniform(0.3, 1.0) / partial * np.exp(-3 * t[on]) * np.sin(2 * np.pi * partial * f0_hz * t[on])
    return (level * audio / np.abs(audio).max()).astype(np.float32)


def main() -> int:
    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return 0
    audio = melody()
    results = {}
    for device in ("cpu", "cuda"):
        fasolfa.transcribe(audio[:config.SAMPLE_RATE], config.SAMPLE_RATE, device=device)      # load, warm up
        start = time.perf_counter()
        results[device] = fasolfa.transcribe(audio, config.SAMPLE_RATE, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        result = results[device]
        print(f"{device}: {len(result.notes)} notes, level {result.gain_db:+.1f} dB, tuning {result.tuning_cents:+.1f} "
              f"cents, {seconds:.2f} s ({len(audio) / config.SAMPLE_RATE / seconds:.0f}x real time)")
    cpu, cuda = results["cpu"], results["cuda"]
    worst = max(float(np.abs(cpu.posteriorgrams[k].astype(np.float32) - cuda.posteriorgrams[k].astype(np.float32)).max())
                for k in cpu.posteriorgrams)
    same = (len(cpu.notes) == len(cuda.notes) and np.array_equal(cpu.notes.pitch, cuda.notes.pitch)
            and np.allclose(cpu.notes.onset_s, cuda.notes.onset_s))
    print(f"largest posteriorgram difference {worst:.4f}; same notes: {same}; "
          f"same level and tuning: {cpu.gain_db == cuda.gain_db and cpu.tuning_cents == cuda.tuning_cents}")
    return 0 if worst < 0.02 and cpu.tuning_cents == cuda.tuning_cents else 1


if __name__ == "__main__":
    sys.exit(main())
