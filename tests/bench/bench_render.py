"""Benchmark: how fast fasolfa.synth.render turns MIDI into audio, per installed soundfont.

Run: ``.venv/bin/python tests/bench/bench_render.py [--minutes 3]`` (part of ``make bench``).

A random piano-like performance (two hands, chords, phrase dynamics, sustain pedal changed
every bar) of a few minutes is generated here, then rendered in this one process with each
soundfont (program 0). Speed is reported as a multiple of real time: seconds of audio per
wall-clock second, single core. Reference measured in the same run: the ``fluidsynth``
command-line program rendering the same MIDI file (``-F``, same sample rate, gain and
polyphony) when it is installed, so the cost of driving FluidSynth event by event from Python
shows. Results go to ``figures/render_bench.json``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from common import busy_warning, machine_info, write_report
from fasolfa import config, synth
from fasolfa.midi import Notes, Pedal, read_midi, write_midi


def piano_like_performance(minutes: float, seed: int = 0) -> tuple[Notes, Pedal]:
    """Random but piano-like: a melody in the right hand (4 to 8 notes per second), broken
    chords and bass in the left, velocities following 8-bar phrases, pedal changed each bar."""
    rng = np.random.default_rng(seed)
    duration_s = minutes * 60
    onset, offset, pitch, velocity = [], [], [], []
    pedal_on, pedal_off = [], []
    bar_s = 2.0
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    for bar in range(int(duration_s / bar_s)):
        start = bar * bar_s
        root = 36 + int(rng.choice(scale)) + 12 * int(rng.integers(0, 2))
        phrase = 0.5 + 0.4 * np.sin(2 * np.pi * bar / 8)            # dynamics over 8 bars
        # left hand: bass note, then a broken chord in eighths
        onset.append(start); offset.append(start + 0.5); pitch.append(root)
        velocity.append(int(40 + 50 * phrase))
        for k in range(8):
            t = start + k * bar_s / 8
            onset.append(t); offset.append(t + rng.uniform(0.1, 0.25))
            pitch.append(root + 12 + int((0, 4, 7, 12)[k % 4])); velocity.append(int(30 + 40 * phrase))
        # right hand: a melody of 8..16 notes, sometimes in octaves / thirds
        n_melody = int(rng.integers(8, 17))
        times = start + np.sort(rng.uniform(0, bar_s, n_melody))
        line = 67 + np.cumsum(rng.integers(-3, 4, n_melody))
        line = np.clip(line, 60, 96)
        for t, p in zip(times, line):
            length = rng.uniform(0.08, 0.6)
            vel = int(np.clip(50 + 60 * phrase + rng.normal(0, 8), 15, 127))
            onset.append(t); offset.append(t + length); pitch.append(int(p)); velocity.append(vel)
            if rng.random() < 0.3:
                onset.append(t); offset.append(t + length); pitch.append(int(p) - 12)
                velocity.append(max(1, vel - 10))
        pedal_on.append(start + 0.05); pedal_off.append(start + bar_s - 0.05)
    return (Notes.from_arrays(onset, offset, pitch, velocity),
            Pedal.from_arrays(pedal_on, pedal_off))


def time_fluidsynth_cli(soundfont: synth.Soundfont, midi_path: Path, workdir: Path) -> float | None:
    """Seconds the ``fluidsynth`` program spends rendering ``midi_path`` (its load time, measured
    on a one-note file, subtracted); ``None`` when the program is not installed."""
    program = shutil.which("fluidsynth")
    if program is None:
        return None
    one_note = write_midi(workdir / "one.mid", Notes.from_arrays([0.0], [0.1], [60]))

    def run(path: Path) -> float:
        command = [program, "-ni", "-q", "-F", str(workdir / "out.wav"), "-r", str(config.SAMPLE_RATE),
                   "-g", str(synth.DEFAULT_GAIN), "-R", "0", "-C", "0",
                   "-o", f"synth.polyphony={synth.POLYPHONY}", "-o", "synth.cpu-cores=1",
                   str(soundfont.path), str(path)]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    load_s = min(run(one_note) for _ in range(2))
    return max(run(midi_path) - load_s, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the test piece")
    parser.add_argument("--output", default=str(config.FIGURES_DIR / "render_bench.json"))
    args = parser.parse_args()

    load_at_start = busy_warning()
    soundfonts = synth.find_soundfonts()
    if not soundfonts:
        print("no soundfonts installed; " + synth.INSTALL_SOUNDFONTS, file=sys.stderr)
        return 1
    notes, pedal = piano_like_performance(args.minutes)
    workdir = Path(tempfile.mkdtemp(prefix="fasolfa-bench-"))
    midi_path = write_midi(workdir / "piece.mid", notes, pedal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # a random re-strike may round to zero length
        performance = read_midi(midi_path)
    print(f"piece: {len(notes)} notes, {len(pedal)} pedal presses, "
          f"{performance.duration_s:.0f} s; one process, sample rate {config.SAMPLE_RATE} Hz")
    results = []
    try:
        for soundfont in soundfonts:
            start = time.perf_counter()
            synth.render(Notes.from_arrays([0.0], [0.05], [60]), soundfont, tail_s=0.0)
            load_s = time.perf_counter() - start                  # loading the soundfont
            timings = []
            for _ in range(2):
                start = time.perf_counter()
                audio = synth.render(performance, soundfont)
                timings.append(time.perf_counter() - start)
            audio_s = len(audio) / config.SAMPLE_RATE
            speed = audio_s / min(timings)
            cli_s = time_fluidsynth_cli(soundfont, midi_path, workdir)
            cli_speed = audio_s / cli_s if cli_s else None
            results.append({"soundfont": soundfont.name, "load_s": round(load_s, 3),
                            "audio_s": round(audio_s, 2), "render_s": round(min(timings), 3),
                            "times_real_time": round(speed, 1),
                            "fluidsynth_cli_times_real_time": round(cli_speed, 1) if cli_speed else None,
                            "ratio_to_cli": round(speed / cli_speed, 2) if cli_speed else None})
            cli_text = (f"; fluidsynth CLI {cli_speed:6.1f}x (ours / CLI = {speed / cli_speed:.2f})"
                        if cli_speed else "")
            print(f"{soundfont.name:>24}: {speed:6.1f}x real time (load {load_s:.2f} s){cli_text}")
            synth.clear_synth_cache()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = {"benchmark": "render", "unit": "seconds of audio per wall-clock second, one process",
              "piece": {"minutes": args.minutes, "notes": len(notes), "pedal_presses": len(pedal)},
              "sample_rate": config.SAMPLE_RATE, "polyphony": synth.POLYPHONY,
              "machine": machine_info(load_at_start),
              "results": results}
    write_report(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
