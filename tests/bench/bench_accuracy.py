"""Benchmark: accuracy and speed of fasolfa and Basic Pitch on the same audio, in the same run.

Run: ``.venv/bin/python tests/bench/bench_accuracy.py [--limit N] [--seconds 30]
[--checkpoint PATH]`` (part of ``make bench``; ``--limit`` takes the first N pieces of each set,
for a quick run). Explained in ``notebooks/08_evaluation.ipynb``.

The sets, each cut to its first ``--seconds`` (notes cut there as training's validation does,
:func:`fasolfa.train.excerpt`), prepared once in ``config.cache_dir()/bench/``:

* ``test/<soundfont>``: every test-split performance of ``split.csv`` rendered with each
  training soundfont (program 0), as ``<name>.flac`` with its reference ``<name>.mid`` beside it;
* ``maps/validation``: the MAPS validation recordings (16 kHz FLAC) with ``<name>.tsv`` note
  lists (no pedal: the pedal score is n/a there).

Each set goes through :func:`fasolfa.compare.compare`, as ``fasolfa evaluate
--compare-basic-pitch SET_DIR SET_DIR`` would: fasolfa (the shipped checkpoint
``fasolfa/checkpoints/fasolfa.pt`` unless ``--checkpoint``) and Basic Pitch (``make peer``),
each skipped with a line saying why when it is missing. Mean and micro scores, timings and the
commit go to ``figures/accuracy_bench.json``; ``tests/bench/report.py`` writes the README's table.
Without the shared corpus (``config.corpus_dir()``) it prints a skip line and exits 0.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import busy_warning, file_sha256, machine_info
from fasolfa import compare, config, peer, scorecard
from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError

SOUNDFONTS = ("FluidR3_GM", "TimGM6mb", "MuseScore_General_Lite")
OUTPUT = config.FIGURES_DIR / "accuracy_bench.json"
DEFAULT_CHECKPOINT = config.CHECKPOINT_DIR / "fasolfa.pt"


def prepare_rendered(entries, soundfont: str, seconds: float, folder: Path) -> list[str]:
    """Render each entry's first ``seconds`` into ``folder/<name>.flac`` beside the reference
    ``folder/<name>.mid`` (kept from earlier runs). Returns the stems, in order."""
    from fasolfa import audio, synth
    from fasolfa.corpus import unique_name
    from fasolfa.midi import read_midi, write_midi
    from fasolfa.train import excerpt
    stems = []
    for entry in entries:
        name = unique_name(entry.path)
        audio_path, midi_path = folder / f"{name}.flac", folder / f"{name}.mid"
        if not (audio_path.is_file() and midi_path.is_file()):
            performance = read_midi(entry.path)
            notes, pedal = excerpt(performance.notes, performance.pedal, seconds)
            rendered = synth.render((notes, pedal), soundfont, 0)[:int(seconds * config.SAMPLE_RATE)]
            write_midi(midi_path, notes, pedal)
            audio.write_audio(audio_path, rendered)
        stems.append(name)
    return stems


def write_tsv(path: Path, notes) -> Path:
    """A MAPS-style note list: header ``# onset,offset,note,velocity``, tab separated."""
    lines = ["# onset,offset,note,velocity"] + [
        f"{on:.6f}\t{off:.6f}\t{pitch}\t{velocity}" for on, off, pitch, velocity in
        zip(notes.onset_s, notes.offset_s, notes.pitch, notes.velocity)]
    return atomic_write(path, lambda temporary: temporary.write_text("\n".join(lines) + "\n"))


def prepare_maps(recordings, seconds: float, folder: Path) -> list[str]:
    """The first ``seconds`` of each MAPS recording (its own sample rate) and its notes."""
    import soundfile
    from fasolfa.corpus import read_maps_notes
    from fasolfa.midi import Pedal
    from fasolfa.train import excerpt
    stems = []
    for recording in recordings:
        name = recording.audio_path.stem
        audio_path, notes_path = folder / f"{name}.flac", folder / f"{name}.tsv"
        if not (audio_path.is_file() and notes_path.is_file()):
            samples, rate = soundfile.read(recording.audio_path, dtype="float32")
            samples = samples[:int(seconds * rate)]
            notes, _ = excerpt(read_maps_notes(recording.notes_path), Pedal.empty(), seconds)
            write_tsv(notes_path, notes)
            atomic_write(audio_path, lambda temporary: soundfile.write(temporary, samples, rate))
        stems.append(name)
    return stems


def available_tools(checkpoint: Path) -> list[str]:
    tools = []
    try:
        compare.fasolfa_transcriber()
        if checkpoint.is_file():
            tools.append("fasolfa")
        else:
            print(f"skip fasolfa: no checkpoint {checkpoint}")
    except FasolfaError as error:
        print(f"skip fasolfa: {error}")
    if peer.is_available():
        tools.append("basic_pitch")
    else:
        print(f"skip Basic Pitch: {peer.NOT_SET_UP}")
    return tools


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=config.REPO_ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+uncommitted changes" if dirty else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N pieces of each set")
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length (s)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    corpus = config.corpus_dir()
    if not (corpus / "split.csv").is_file():
        print(f"skip: no shared corpus at {corpus} (set FASOLFA_DATA)")
        return 0
    tools = available_tools(args.checkpoint)
    if not tools:
        print("skip: neither fasolfa nor Basic Pitch can run here")
        return 0
    load = busy_warning()
    from fasolfa import corpus as corpora
    test_entries = sorted(corpora.MidiCorpus.from_split_csv().split("test").entries,
                          key=lambda entry: str(entry.path))[:args.limit]
    maps = list(corpora.MapsCorpus.from_csv().split("validation"))[:args.limit]
    seconds_tag = f"{args.seconds:g}s"
    root = config.cache_dir() / "bench"
    sets = {}
    for name, folder, prepare in (
            *[(f"test/{soundfont}", root / f"test-{seconds_tag}" / soundfont,
               lambda folder, soundfont=soundfont: prepare_rendered(test_entries, soundfont,
                                                                    args.seconds, folder))
              for soundfont in SOUNDFONTS],
            ("maps/validation", root / f"maps-validation-{seconds_tag}",
             lambda folder: prepare_maps(maps, args.seconds, folder))):
        started = time.perf_counter()
        stems = prepare(folder)
        print(f"== {name}: {len(stems)} pieces in {folder} (prepared in "
              f"{time.perf_counter() - started:.0f} s)", flush=True)
        result = compare.compare(folder, folder, root / "predictions" / name.replace("/", "-"),
                                 tools=tools, checkpoint=args.checkpoint if "fasolfa" in tools else None,
                                 stems=stems, progress=lambda line: print("  " + line, flush=True))
        print(compare.format_comparison(result), flush=True)
        sets[name] = {"n_pieces": result["n_pieces"], "audio_seconds": result["audio_seconds"],
                      "tools": {tool: {key: report[key] for key in ("mean", "micro", "timing")}
                                for tool, report in result["tools"].items()}}
    command = "make bench" if args.limit is None else \
        f"python tests/bench/bench_accuracy.py --limit {args.limit}"
    scorecard.write_json(args.output, {
        "commit": commit(), "command": command, "seconds": args.seconds, "limit": args.limit,
        "checkpoint": str(args.checkpoint) if "fasolfa" in tools else None,
        "checkpoint_sha256": file_sha256(args.checkpoint) if "fasolfa" in tools else None, "tools": tools,
        "machine": machine_info(load), "sets": sets})
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
