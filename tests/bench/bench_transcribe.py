"""Benchmark: how fast ``fasolfa transcribe`` is, where its time goes, and its peak memory.

Run: ``.venv/bin/python tests/bench/bench_transcribe.py [--minutes 3] [--memory-minutes 1 60]``
(part of ``make bench``). Uses the shipped checkpoint (``fasolfa/checkpoints/fasolfa.pt``);
speed does not depend on the weights, only on the model's shape, which the report records.

1. A piano-like piece of ``--minutes`` (``bench_render.piano_like_performance``) is rendered
   with FluidSynth and written as a 44.1 kHz FLAC (so decoding and resampling are measured).
2. **In-process speed**, model loaded: ``fasolfa.transcribe(path)``, seconds of audio per
   wall-clock second (× real time), best of ``--repeats``; then again (with the stages of 3)
   after :func:`fasolfa.cli.keep_freed_memory`, as the command line sets up its own process
   (``in_process_freed_memory_kept``).
3. **Stages**, timed one by one on the same file: the first pass that measures the level and
   tuning (its own decoding included), audio decoding (+ resampling), the HCQT, the
   network as ``transcribe`` runs it (the velocity head only where the onset probability reaches
   ``posteriorgrams.velocity_floor``) and, as the reference in the same run, with the velocity
   head at every cell (``network_velocity_everywhere_s``), note creation (posteriorgrams to
   notes and MIDI), and start-up (a whole
   ``fasolfa transcribe`` process on 0.1 s of audio: interpreter, imports, model loading).
4. **Whole process from the shell**: ``fasolfa transcribe FILE -o OUT.mid``, wall clock, best of
   ``--repeats`` (5): one machine's timings wander by a tenth of a second from run to run.
5. **Reference, same file, same run**, best of as many runs: Basic Pitch 0.4.0's CLI (``basic-pitch OUTDIR FILE``,
   its ONNX model) from ``.venv-peer`` (made by ``make peer``); skipped, with the reason, when
   that environment is absent.
6. **Peak memory** (max RSS of a whole ``fasolfa transcribe`` process) for ``--memory-minutes``
   of audio (the piece repeated, written block by block as a temporary FLAC).

Results go to ``figures/transcribe_bench.json``.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from common import busy_warning, machine_info, write_report

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PEER = ROOT / ".venv-peer"
FILE_RATE = 44_100


def render_piece(minutes: float, folder: Path) -> tuple[Path, np.ndarray]:
    import soxr

    from bench_render import piano_like_performance
    from fasolfa import config, synth
    notes, pedal = piano_like_performance(minutes)
    audio = synth.render((notes, pedal), synth.get_soundfont(None))
    audio = audio[:int(minutes * 60 * config.SAMPLE_RATE)]
    audio_44k = soxr.resample(audio, config.SAMPLE_RATE, FILE_RATE).astype(np.float32)
    path = folder / f"piece_{minutes:g}min.flac"
    soundfile.write(path, np.clip(audio_44k, -1, 1), FILE_RATE)
    return path, audio_44k


def repeated_flac(piece: np.ndarray, minutes: float, folder: Path) -> Path:
    """``piece`` repeated up to ``minutes``, written block by block (never whole in memory)."""
    path = folder / f"long_{minutes:g}min.flac"
    n_total = int(minutes * 60 * FILE_RATE)
    with soundfile.SoundFile(path, "w", FILE_RATE, 1) as file:
        written = 0
        while written < n_total:
            block = piece[:n_total - written]
            file.write(np.clip(block, -1, 1))
            written += len(block)
    return path


def timed(function, repeats: int = 1):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def stage_times(path: Path, chunk_frames: int) -> dict:
    """Seconds spent in each stage of one transcription of ``path`` (model loaded)."""
    import torch

    from fasolfa import config
    from fasolfa.audio_stream import open_audio
    from fasolfa.notes import NoteThresholds, notes_to_midi, posteriorgrams_to_notes
    from fasolfa.posteriorgrams import audio_chunks, velocity_floor
    from fasolfa.transcription import checkpoint_thresholds, load_model
    model, hcqt, device = load_model(None, "cpu")
    floor = velocity_floor(checkpoint_thresholds().onset)     # as transcribe runs the velocity head
    source = open_audio(path)
    block = chunk_frames * config.HOP_LENGTH * source.sample_rate // config.SAMPLE_RATE
    decode_s, blocks = timed(lambda: list(source.blocks(block)))
    from fasolfa.level import LevelMeter
    from fasolfa.tuning import TuningMeter
    measure_s, _ = timed(lambda: source.scan([LevelMeter(), TuningMeter()], block))   # the first pass
    hcqt_s = network_s = dense_s = 0.0
    parts = {}
    with torch.inference_mode():
        for first, last, input_first, _, span in audio_chunks(blocks, chunk_frames, model.time_margin_frames):
            start = time.perf_counter()
            features = hcqt.with_context(torch.from_numpy(span)[None], config.CONTEXT_N_SAMPLES)
            hcqt_s += time.perf_counter() - start
            start = time.perf_counter()
            logits = model(features, velocity_floor=floor)
            keep = slice(first - input_first, last - input_first)
            for name, values in logits.items():
                if name != "contour":
                    parts.setdefault(name, []).append(torch.sigmoid(values[0, ..., keep]).numpy())
            network_s += time.perf_counter() - start
            start = time.perf_counter()
            model(features)                                   # the reference: the velocity head everywhere
            dense_s += time.perf_counter() - start
    posteriorgrams = {name: np.concatenate(values, -1) for name, values in parts.items()}
    notes_s, _ = timed(lambda: notes_to_midi(*posteriorgrams_to_notes(posteriorgrams, NoteThresholds())))
    return {"level_and_tuning_pass_s": measure_s, "decode_and_resample_s": decode_s, "hcqt_s": hcqt_s,
            "network_s": network_s, "network_velocity_everywhere_s": dense_s,
            "note_creation_s": notes_s}


def peak_memory_mb(command: list[str]) -> tuple[float, float]:
    """(wall seconds, max RSS in MB) of one child process."""
    code = ("import resource, subprocess, sys, time; start = time.perf_counter(); "
            "code = subprocess.run(sys.argv[1:]).returncode; "
            "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); "
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()}")
    wall_s, rss_mb = result.stdout.split()[-2:]
    return float(wall_s), float(rss_mb)


def basic_pitch(path: Path, folder: Path, repeats: int = 1) -> dict:
    """Basic Pitch's CLI on ``path``: the best of ``repeats`` whole-process wall times (as for
    fasolfa's), or why it was skipped."""
    cli = PEER / "bin" / "basic-pitch"
    if not cli.exists():
        reason = f"{os.path.relpath(cli, ROOT)} not found (make peer builds it)"
        print(f"Basic Pitch: skipped, {reason}")
        return {"skipped": reason}
    out = folder / "basic_pitch_out"
    best = float("inf")
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)          # it refuses to overwrite its output
        out.mkdir()
        start = time.perf_counter()
        result = subprocess.run([str(cli), str(out), str(path)], capture_output=True, text=True)
        wall_s = time.perf_counter() - start
        if result.returncode:
            reason = f"basic-pitch failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}"
            print(f"Basic Pitch: skipped, {reason}")
            return {"skipped": reason}
        best = min(best, wall_s)
    return {"whole_process_s": best, "repeats": repeats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs, for both tools")
    parser.add_argument("--memory-minutes", type=float, nargs="*", default=[1.0, 60.0])
    parser.add_argument("--output", default=str(ROOT / "figures" / "transcribe_bench.json"))
    args = parser.parse_args()
    load = busy_warning()

    import torch

    import fasolfa
    from fasolfa.model import count_parameters
    from fasolfa.transcription import DEFAULT_CHUNK_FRAMES, SHIPPED_CHECKPOINT, load_model
    load_s, (model, _, _) = timed(lambda: load_model(None, "cpu"))
    report = {"machine": machine_info(load, torch_threads=torch.get_num_threads(),
                                      torch=torch.__version__),
              "checkpoint": {"path": os.path.relpath(SHIPPED_CHECKPOINT, ROOT),
                             "parameters": count_parameters(model),
                             "model_config": model.model_config.to_dict()},
              "chunk_frames": DEFAULT_CHUNK_FRAMES}
    fasolfa_cli = str(BIN / "fasolfa")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, piece = render_piece(args.minutes, folder)
        seconds = len(piece) / FILE_RATE
        fasolfa.transcribe(piece[:FILE_RATE], FILE_RATE)                    # warm-up
        transcribe_s, result = timed(lambda: fasolfa.transcribe(path), args.repeats)
        stages = stage_times(path, DEFAULT_CHUNK_FRAMES)
        # the same, with the allocator set up as the command line sets up its own process
        from fasolfa.cli import keep_freed_memory
        kept = keep_freed_memory()
        cli_transcribe_s, _ = timed(lambda: fasolfa.transcribe(path), args.repeats)
        cli_stages = stage_times(path, DEFAULT_CHUNK_FRAMES)
        tiny = folder / "tiny.wav"
        soundfile.write(tiny, piece[:FILE_RATE // 10], FILE_RATE)
        startup_s, _ = timed(lambda: subprocess.run([fasolfa_cli, "transcribe", str(tiny), "-o",
                                                     str(folder / "tiny.mid")], check=True,
                                                    capture_output=True), 2)
        process_s, _ = timed(lambda: subprocess.run([fasolfa_cli, "transcribe", str(path), "-o",
                                                     str(folder / "piece.mid")], check=True,
                                                    capture_output=True), args.repeats)
        peer = basic_pitch(path, folder, args.repeats)
        memory = []
        for minutes in args.memory_minutes:
            long_path = repeated_flac(piece, minutes, folder)
            wall_s, rss_mb = peak_memory_mb([fasolfa_cli, "transcribe", str(long_path), "-o",
                                             str(folder / "long.mid")])
            memory.append({"minutes": minutes, "peak_rss_mb": round(rss_mb, 1),
                           "whole_process_s": round(wall_s, 2),
                           "times_real_time": round(minutes * 60 / wall_s, 1)})
            long_path.unlink()
            print(f"{minutes:g} min: peak RSS {rss_mb:.0f} MB, {wall_s:.1f} s")
    report.update({
        "audio": {"seconds": round(seconds, 2), "file": "FLAC, 44.1 kHz mono (resampled to 22.05 kHz)",
                  "notes_found": len(result.notes)},
        "model_load_s": round(load_s, 3),
        "in_process": {"seconds": round(transcribe_s, 3), "times_real_time": round(seconds / transcribe_s, 1)},
        "stages_s": {**{k: round(v, 3) for k, v in stages.items()}, "start_up_s": round(startup_s, 3)},
        "in_process_freed_memory_kept": {
            "applied": kept, "seconds": round(cli_transcribe_s, 3),
            "times_real_time": round(seconds / cli_transcribe_s, 1),
            "stages_s": {k: round(v, 3) for k, v in cli_stages.items()}},
        "whole_process": {"seconds": round(process_s, 3), "times_real_time": round(seconds / process_s, 1)},
        "basic_pitch": peer,
        "peak_memory": memory,
    })
    if "whole_process_s" in peer:
        peer["times_real_time"] = round(seconds / peer["whole_process_s"], 1)
        report["whole_process"]["speedup_vs_basic_pitch"] = round(peer["whole_process_s"] / process_s, 2)
    print(f"{seconds:.0f} s of audio: in process {seconds / transcribe_s:.0f}× real time "
          f"(model loaded; {seconds / cli_transcribe_s:.0f}× with cli.keep_freed_memory), "
          f"whole process {process_s:.2f} s ({seconds / process_s:.0f}×)")
    for name, value in report["stages_s"].items():
        kept_s = cli_stages.get(name)
        print(f"  {name:24s} {value:7.3f} s" + (f"  ({kept_s:.3f} s freed memory kept)" if kept_s else ""))
    write_report(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
