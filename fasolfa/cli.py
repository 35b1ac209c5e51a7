"""The ``fasolfa`` command line.

``fasolfa transcribe AUDIO... [-o OUTPUT] [options]`` transcribes piano audio to MIDI (notes,
velocities, sustain pedal); see :func:`command_transcribe` and the README's command-line section.
``fasolfa render MIDI... [-o OUTPUT] [--soundfont NAME] [--program N] [--figure PNG]``
renders MIDI to piano audio with FluidSynth (and optionally draws the piano roll over the
audio's spectrogram). ``fasolfa soundfonts`` lists the soundfonts fasolfa can find.

User-facing problems (:class:`fasolfa.errors.FasolfaError`) are printed as one line,
``fasolfa: error: <file>: <problem>``, and the exit status is 1. No output file is ever left
half-written: audio, MIDI and figures are written to a temporary name and renamed.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError

DESCRIPTION = ("fasolfa, an open, teachable piano transcriber. 'fasolfa transcribe' turns piano "
               "audio into MIDI (notes, velocities, sustain pedal); 'fasolfa render' turns MIDI into "
               "piano audio with FluidSynth; 'fasolfa soundfonts' lists the soundfonts it finds.")
EPILOG = """examples:
  fasolfa transcribe piano.wav                    # writes piano.mid beside it
  fasolfa transcribe recordings/ -o midi/ --notes-csv
  fasolfa render data/examples/phrase.mid -o phrase.flac --figure phrase.png
run 'fasolfa COMMAND --help' for a command's options."""

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MIDI_SUFFIXES = (".mid", ".midi")


def _error(message: str) -> None:
    print(f"fasolfa: error: {message}", file=sys.stderr)


def _expand_inputs(inputs: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given, plus the matching files inside any folder given (sorted)."""
    paths = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes))
        else:
            paths.append(path)
    return paths


def _output_paths(inputs: list[Path], output: str | None, suffix: str) -> list[Path]:
    """One output per input: ``-o`` names a file (one input) or a folder (several inputs)."""
    if output is None:
        return [path.with_suffix(suffix) for path in inputs]
    output_path = Path(output)
    if len(inputs) == 1 and output_path.suffix:
        return [output_path]
    return [output_path / (path.stem + suffix) for path in inputs]


def save_figure(figure, path: str | Path) -> Path:
    """Save a matplotlib figure atomically (:func:`fasolfa.atomic.atomic_write`)."""
    return atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=110))


def command_render(args: argparse.Namespace) -> int:
    from fasolfa import audio, config, midi, synth

    if not 0 <= args.program <= 127:
        raise FasolfaError(f"--program {args.program}: not a General MIDI preset (expected 0..127)")
    inputs = _expand_inputs(args.inputs, MIDI_SUFFIXES)
    if not inputs:
        raise FasolfaError(f"{' '.join(args.inputs)}: no MIDI files found")
    suffix = Path(args.output).suffix if args.output and len(inputs) == 1 else ".flac"
    if suffix and suffix.lower() not in AUDIO_SUFFIXES:
        raise FasolfaError(f"{args.output}: output must end in one of {', '.join(AUDIO_SUFFIXES)}")
    soundfont = synth.get_soundfont(args.soundfont)
    n_failed = 0
    for midi_path, audio_path in zip(inputs, _output_paths(inputs, args.output, suffix or ".flac")):
        try:
            performance = midi.read_midi(midi_path)
            rendered = synth.render(performance, soundfont, program=args.program,
                                    reverb=args.reverb)
            audio.write_audio(audio_path, rendered)
            print(f"{audio_path}  ({len(rendered) / config.SAMPLE_RATE:.1f} s, "
                  f"{len(performance.notes)} notes, {len(performance.pedal)} pedal presses, "
                  f"{soundfont.name} program {args.program})")
            if args.figure:
                figure_path = (Path(args.figure) if len(inputs) == 1
                               else Path(args.figure) / f"{midi_path.stem}.png")
                print(f"{draw_render_figure(rendered, performance, figure_path)}  (figure)")
        except FasolfaError as error:
            if len(inputs) == 1:
                raise
            _error(str(error))
            n_failed += 1
    return 1 if n_failed else 0


def draw_render_figure(rendered, performance, path: str | Path) -> Path:
    """Piano roll of ``performance`` over the spectrogram of its rendering, saved to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fasolfa import plots
    figure, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    plots.plot_spectrogram_with_notes(rendered, performance.notes, performance.pedal, ax=ax)
    ax.set_title(f"{Path(performance.path).name}: notes (outlines) over the rendered audio's "
                 "spectrogram; pedal in orange", fontsize=9)
    saved = save_figure(figure, path)
    plt.close(figure)
    return saved


def command_soundfonts(args: argparse.Namespace) -> int:
    from fasolfa import synth
    soundfonts = synth.find_soundfonts()
    if not soundfonts:
        raise FasolfaError("no soundfonts found; " + synth.INSTALL_SOUNDFONTS)
    for soundfont in soundfonts:
        print(f"{soundfont.name}\t{soundfont.path}")
    return 0


# --- fasolfa evaluate ------------------------------------------------------------------------

def command_evaluate(args: argparse.Namespace) -> int:
    """``fasolfa evaluate REF EST`` or ``fasolfa evaluate --compare-basic-pitch AUDIO_DIR REF_DIR``:
    everything is read and scored before the JSON/CSV files are written (atomically)."""
    from fasolfa import scorecard
    if not 0 < args.onset_tolerance_ms <= 1000:
        raise FasolfaError(f"--onset-tolerance-ms {args.onset_tolerance_ms:g}: expected 0 < ms <= 1000")
    options = {"onset_tolerance_s": args.onset_tolerance_ms / 1000}
    for option in ("json", "csv"):
        path = getattr(args, option)
        if path and Path(path).is_dir():
            raise FasolfaError(f"--{option} {path}: is a folder; give a file name")
    if args.compare_basic_pitch:
        return _evaluate_comparison(args, options)
    report, unmatched = scorecard.score_files(*args.inputs, **options)
    print(scorecard.format_report(report))
    if unmatched:
        print(f"({len(unmatched)} predictions match no reference and were left out: "
              f"{', '.join(path.name for path in unmatched[:5])})", file=sys.stderr)
    if args.json:
        print(f"{scorecard.write_json(args.json, report)}  (JSON)")
    if args.csv:
        print(f"{scorecard.write_csv(args.csv, report)}  (CSV)")
    return 0


def _evaluate_comparison(args: argparse.Namespace, options: dict) -> int:
    import tempfile

    from fasolfa import compare, scorecard
    audio_dir, reference_dir = args.inputs
    progress = lambda line: print(line, file=sys.stderr, flush=True)   # noqa: E731
    with tempfile.TemporaryDirectory(prefix="fasolfa-compare-") as scratch:
        midi_dir = Path(args.midi_dir) if args.midi_dir else Path(scratch)
        result = compare.compare(audio_dir, reference_dir, midi_dir, checkpoint=args.checkpoint,
                                 progress=progress, **options)
    print(compare.format_comparison(result))
    if args.midi_dir:
        print(f"{midi_dir}  (MIDI of both tools)")
    if args.json:
        print(f"{scorecard.write_json(args.json, result)}  (JSON)")
    if args.csv:
        reports = {tool: report for tool, report in result["tools"].items()}
        print(f"{scorecard.write_csv(args.csv, reports)}  (CSV)")
    return 0


def _add_evaluate_parser(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score transcriptions against references (note, frame, pedal F1)",
        description="Score predicted MIDI against reference MIDI (or MAPS .tsv note lists): "
        "files, or folders matched by stem (<stem>_basic_pitch.mid matches <stem>; a reference "
        "without prediction scores as an empty one). Prints F1 per piece, and precision, recall "
        "and F1 as the mean over pieces and pooled over notes (micro). Reference offsets are "
        "extended by the sustain pedal; .tsv references have no pedal, so their pedal score is n/a.")
    evaluate.add_argument("inputs", nargs=2, metavar=("REF", "EST"),
                          help="reference and prediction (files or folders); with "
                          "--compare-basic-pitch: AUDIO_DIR REF_DIR")
    evaluate.add_argument("--json", help="also write the scores as JSON to this file")
    evaluate.add_argument("--csv", help="also write the scores as CSV to this file")
    evaluate.add_argument("--onset-tolerance-ms", type=float, default=50.0,
                          help="onset tolerance in milliseconds (default 50)")
    evaluate.add_argument("--compare-basic-pitch", action="store_true",
                          help="transcribe AUDIO_DIR with fasolfa and Basic Pitch (needs `make "
                          "peer`), score both against REF_DIR, print one table with timings")
    evaluate.add_argument("--checkpoint", help="with --compare-basic-pitch: fasolfa checkpoint "
                          "(default: the shipped one)")
    evaluate.add_argument("--midi-dir", help="with --compare-basic-pitch: keep both tools' MIDI "
                          "here (default: a temporary folder)")
    evaluate.set_defaults(run=command_evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fasolfa", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    add_transcribe_parser(commands)

    render = commands.add_parser("render", help="render MIDI files to piano audio with FluidSynth")
    render.add_argument("inputs", nargs="+", help="MIDI files or folders of them")
    render.add_argument("-o", "--output", help="audio file (.flac/.wav/.ogg) or folder; "
                        "default: beside each input, as .flac")
    render.add_argument("--soundfont", help="soundfont name (see 'fasolfa soundfonts') or path")
    render.add_argument("--program", type=int, default=0,
                        help="General MIDI preset, 0..127 (0 acoustic grand, 1 bright, 2 electric grand)")
    render.add_argument("--reverb", action="store_true", help="turn FluidSynth's reverb on")
    render.add_argument("--figure", help="also draw the piano roll over the spectrogram (PNG "
                        "path; a folder when rendering several files)")
    render.set_defaults(run=command_render)

    soundfonts = commands.add_parser("soundfonts", help="list the soundfonts fasolfa finds")
    soundfonts.set_defaults(run=command_soundfonts)

    _add_evaluate_parser(commands)
    return parser


# --- fasolfa transcribe ---------------------------------------------------------------------

TRANSCRIBE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
TRANSCRIBE_EPILOG = """examples:
  fasolfa transcribe piano.wav                          # -> piano.mid beside it
  fasolfa transcribe take1.flac -o take1.mid --notes-csv --figure take1.png
  fasolfa transcribe recordings/ -o midi/               # every audio file in the folder
  fasolfa transcribe archive/ -o midi/ --jobs 8         # 8 worker processes
  fasolfa transcribe piano.mp3 --onset-threshold 0.6 --no-pedal --checkpoint my.pt

exit status: 0 all written; 1 an error (one line on stderr each, naming the file; nothing
written for that file, the others in a folder run are written); 130 interrupted."""


def add_transcribe_parser(commands) -> None:
    from fasolfa.notes import NoteThresholds
    defaults = NoteThresholds()
    parser = commands.add_parser(
        "transcribe", help="transcribe piano audio to MIDI (notes, velocities, sustain pedal)",
        description="Transcribe piano recordings (wav, flac, ogg, mp3; any sample rate, mono or\n"
                    "stereo, any length) to MIDI files with notes, velocities and sustain pedal.",
        epilog=TRANSCRIBE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders of them")
    parser.add_argument("-o", "--output", help="MIDI file (one input) or folder; default: beside "
                        "each input, piece.wav -> piece.mid")
    parser.add_argument("--onset-threshold", type=float, default=None, metavar="P",
                        help="onset probability that starts a note, 0..1 (default: the value stored "
                        "with the checkpoint, chosen on validation; higher: fewer, surer notes)")
    parser.add_argument("--frame-threshold", type=float, default=None, metavar="P",
                        help="note probability that keeps a note sounding, 0..1 (default: the "
                        "checkpoint's)")
    parser.add_argument("--offset-threshold", type=float, default=None, metavar="P",
                        help="a note ends at the first dip of the note probability below this, once "
                        "--min-note-ms have passed, 0..1 (default: the checkpoint's; at or below the "
                        "frame threshold: notes end where the frame threshold ends them)")
    parser.add_argument("--min-note-ms", type=float, default=None, metavar="MS",
                        help=f"shortest note kept, in ms (default: the checkpoint's, else {defaults.min_note_ms:g})")
    parser.add_argument("--no-pedal", action="store_true", help="write no sustain pedal")
    parser.add_argument("--no-velocity", action="store_true", help="every note at velocity 80")
    parser.add_argument("--keep-level", action="store_true", help="read the recording at its own "
                        "level (default: one louder or quieter than the band of levels the checkpoint "
                        "knows is scaled to the band's nearer end)")
    parser.add_argument("--no-tuning", action="store_true", help="read the recording against A = 440 Hz "
                        "(default: the spectrum's bins follow the recording's own tuning, estimated first)")
    parser.add_argument("--notes-csv", action="store_true", help="also write the notes as CSV "
                        "(onset_s, offset_s, pitch, velocity) beside the MIDI file")
    parser.add_argument("--save-posteriorgrams", action="store_true", help="also write the "
                        "network's posteriorgrams (.npz) beside the MIDI file")
    parser.add_argument("--figure", help="also draw the note posteriorgram with the detected notes "
                        "over it (PNG path; a folder when transcribing several files)")
    parser.add_argument("--checkpoint", help="model weights (default: the shipped "
                        "fasolfa/checkpoints/fasolfa.pt)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the network runs (default auto: CUDA when available)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="transcribe a folder with N worker processes, each with cores/N threads "
                        "(default 1). Under torchrun or a scheduler that sets RANK and WORLD_SIZE, "
                        "each rank takes its share of the files (sorted(files)[RANK::WORLD_SIZE])")
    parser.set_defaults(run=command_transcribe)


def _transcribe_inputs(names: list[str]) -> list[Path]:
    """Audio files as given, and the audio files inside each folder given (a folder without
    any is an error)."""
    paths = []
    for name in names:
        found = _expand_inputs([name], TRANSCRIBE_SUFFIXES)
        if Path(name).is_dir() and not found:
            raise FasolfaError(f"{name}: no audio files in this folder "
                               f"({', '.join(TRANSCRIBE_SUFFIXES)})")
        paths.extend(found)
    return paths


def _thresholds_from_args(args: argparse.Namespace):
    """The checkpoint's thresholds with the options given on the command line put in."""
    import dataclasses

    from fasolfa.transcription import checkpoint_thresholds
    for option, value in (("--onset-threshold", args.onset_threshold),
                          ("--frame-threshold", args.frame_threshold),
                          ("--offset-threshold", args.offset_threshold)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise FasolfaError(f"{option} {value}: must lie in 0..1")
    if args.min_note_ms is not None and not 0.0 <= args.min_note_ms <= 60_000:
        raise FasolfaError(f"--min-note-ms {args.min_note_ms}: must lie in 0..60000")
    given = {"onset": args.onset_threshold, "frame": args.frame_threshold, "offset": args.offset_threshold,
             "min_note_ms": args.min_note_ms}
    stored = checkpoint_thresholds(args.checkpoint)
    if args.onset_threshold is not None and stored.strong_onset is not None:
        # a strike clear enough to keep unheld is never weaker than the onset threshold
        given["strong_onset"] = max(stored.strong_onset, args.onset_threshold)
    return dataclasses.replace(stored, **{name: value for name, value in given.items() if value is not None})


def _write_all(writes: list) -> list[Path]:
    """Run ``(path, write)`` pairs; if one fails, remove the files the others wrote (all or
    nothing) and raise a :class:`FasolfaError` naming the file that could not be written."""
    written = []
    try:
        for path, write in writes:
            try:
                written.append(write(path))
            except OSError as error:
                raise FasolfaError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
    return written


def command_transcribe(args: argparse.Namespace) -> int:
    """Transcribe every input; a folder run reports a bad file and goes on. ``--jobs N``: N
    worker processes; under ``torchrun`` or a scheduler (``WORLD_SIZE`` > 1) this rank takes
    ``sorted(files)[RANK::WORLD_SIZE]``. Lines are printed in the order of the files."""
    if args.jobs < 1:
        raise FasolfaError(f"--jobs {args.jobs}: must be at least 1")
    keep_freed_memory()
    inputs = _transcribe_inputs(args.inputs)
    if args.output and len(inputs) == 1 and Path(args.output).suffix:
        if Path(args.output).suffix.lower() not in MIDI_SUFFIXES:
            raise FasolfaError(f"{args.output}: output must end in .mid or .midi")
    outputs = _output_paths(inputs, args.output, ".mid")
    ahead = {}
    if len(inputs) == 1 and args.jobs == 1 and os.environ.get("WORLD_SIZE", "1") == "1":
        ahead = {inputs[0]: _read_ahead(inputs[0])}     # decoding starts while torch loads
    try:
        return _transcribe_command(args, inputs, outputs, ahead)
    finally:
        for source in ahead.values():
            source.close()


def _read_ahead(path: Path):
    from fasolfa.audio_stream import ReadAhead, open_audio
    from fasolfa.transcription import chunk_block_n_samples
    source = open_audio(path)
    return ReadAhead(source, chunk_block_n_samples(source.sample_rate))


def _transcribe_command(args: argparse.Namespace, inputs: list, outputs: list, ahead: dict) -> int:
    import gc

    from fasolfa.distributed import finishing_together, shard, world_from_env
    from fasolfa.transcription import load_model
    if not gc.isenabled():     # the fasolfa command (console_main) owns this process: the objects
        gc.freeze()            # torch's import left (about a million) are set aside, so the garbage
        gc.enable()            # collector's full passes (tens of ms each) no longer walk them

    thresholds = _thresholds_from_args(args)
    rank, world_size, _ = world_from_env()
    pairs = list(zip(inputs, outputs))
    if world_size > 1:
        pairs = shard(pairs, rank, world_size)          # by input path: the same on every rank
    load_model(args.checkpoint, args.device)            # a bad checkpoint stops before any file
    several = len(inputs) > 1
    options = {"checkpoint": args.checkpoint, "thresholds": thresholds, "velocity": not args.no_velocity,
               "pedal": not args.no_pedal, "device": args.device, "notes_csv": args.notes_csv,
               "save_posteriorgrams": args.save_posteriorgrams, "figure": args.figure,
               "several": several, "progress": args.jobs == 1, "ahead": ahead, "level": not args.keep_level,
               "tuning": not args.no_tuning}
    with finishing_together():
        n_failed = _transcribe_all(pairs, options, args.jobs, several)
    if n_failed:
        where = f" on rank {rank} of {world_size}" if world_size > 1 else ""
        _error(f"{n_failed} of {len(pairs)} files failed{where}")
    return 1 if n_failed else 0


def _transcribe_all(pairs: list, options: dict, jobs: int, several: bool) -> int:
    """Transcribe and print, in order; returns the number of files that failed."""
    folder_bar = None
    if several:
        from tqdm.auto import tqdm
        folder_bar = tqdm(total=len(pairs), unit="file", desc="fasolfa transcribe", leave=False,
                          disable=None)
    n_failed = 0
    try:
        for lines, failed in _transcribed(pairs, options, jobs):
            for stream, line in lines:
                _print_above_bar(line, folder_bar, sys.stderr if stream == "stderr" else None)
            n_failed += failed
            if folder_bar is not None:
                folder_bar.update(1)
    finally:
        if folder_bar is not None:
            folder_bar.close()
    return n_failed


def _transcribed(pairs: list, options: dict, jobs: int):
    """``(lines, failed)`` for each ``(audio, midi)`` pair, in order: in this process, or with
    ``jobs`` > 1 in that many spawned worker processes (each loads the model once and uses
    ``cores // jobs`` torch threads)."""
    jobs = min(jobs, len(pairs))
    if jobs <= 1:
        for pair in pairs:
            yield _transcribe_one(pair, options)
        return
    import multiprocessing
    import os
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_start_worker,
                      initargs=(max(1, cores // jobs), options["checkpoint"], options["device"])) as pool:
        yield from pool.imap(functools.partial(_transcribe_one, options=options), pairs)


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Ask glibc's allocator to keep freed memory for reuse (up to ``limit_bytes``) instead of
    handing every large block back to the system and faulting it in again on the next chunk:
    the network's tensors for one chunk are tens of MB, above glibc's largest automatic
    threshold (32 MB), so without this each chunk pays fresh page faults (``make bench``: the
    network and HCQT about 20 % faster on 2 cores). Called by the command line only, which owns
    its process; returns False where the C library is not glibc (nothing changes there)."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, limit_bytes)) and bool(mallopt(m_trim_threshold, limit_bytes))


def _start_worker(threads: int, checkpoint, device: str) -> None:
    import torch

    from fasolfa.transcription import load_model
    keep_freed_memory()
    torch.set_num_threads(threads)
    load_model(checkpoint, device)


def _transcribe_one(pair: tuple, options: dict) -> tuple[list[tuple[str, str]], bool]:
    """Transcribe one file and write what was asked (all or nothing): ``(lines to print as
    (stream, text), failed)``. A :class:`FasolfaError` is a failed file in a folder run, and
    raised for a single file."""
    from fasolfa.transcription import transcribe
    audio_path, midi_path = pair
    try:
        source = options.get("ahead", {}).get(audio_path, audio_path)       # read ahead, or the path
        result = transcribe(source, checkpoint=options["checkpoint"], thresholds=options["thresholds"],
                            velocity=options["velocity"], pedal=options["pedal"], device=options["device"],
                            progress=options["progress"], keep_contour=options["save_posteriorgrams"],
                            level=options["level"], tuning=options["tuning"])
        writes = [(midi_path, result.save)]
        if options["notes_csv"]:
            writes.append((midi_path.with_suffix(".csv"), result.save_notes_csv))
        if options["save_posteriorgrams"]:
            writes.append((midi_path.with_suffix(".npz"), result.save_posteriorgrams))
        if options["figure"]:
            figure = Path(options["figure"])
            figure_path = figure / f"{audio_path.stem}.png" if options["several"] else figure
            writes.append((figure_path, lambda path, result=result, name=audio_path.name:
                           draw_transcription_figure(result, name, path)))
        written = _write_all(writes)
    except FasolfaError as error:
        if not options["several"]:
            raise
        return [("stderr", f"fasolfa: error: {error}")], True
    message = (f"{midi_path}  ({result.duration_s:.1f} s, {len(result.notes)} notes, "
               f"{len(result.pedal)} pedal presses"
               + (f", level {result.gain_db:+.1f} dB" if abs(result.gain_db) >= 0.05 else "")
               + (f", tuning {result.tuning_cents:+.1f} cents" if result.tuning_cents else "") + ")")
    return [("stdout", message)] + [("stdout", f"{path}") for path in written[1:]], False


def _print_above_bar(message: str, bar, file=None) -> None:
    file = file or sys.stdout
    if bar is not None and not bar.disable:
        bar.write(message, file=file)
    else:
        print(message, file=file)


def draw_transcription_figure(result, name: str, path: str | Path) -> Path:
    """The note posteriorgram with the detected notes and pedal over it, saved to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fasolfa import plots
    figure, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    plots.plot_posteriorgram_with_notes(result.posteriorgrams["note"], result.notes, result.pedal, ax=ax)
    ax.set_title(f"{name}: note posteriorgram, detected notes outlined in cyan, pedal in orange",
                 fontsize=9)
    try:
        return save_figure(figure, path)
    finally:
        plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    import gc
    args = build_parser().parse_args(argv)
    if args.run is not command_transcribe and not gc.isenabled():
        gc.enable()            # paused by console_main; transcribe resumes it after importing torch
    try:
        return args.run(args)
    except FasolfaError as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def console_main() -> None:
    """The ``fasolfa`` command: :func:`main` with the garbage collector paused while torch is
    imported, then leave without the interpreter's teardown (unloading torch takes about 0.2 s,
    a tenth of a short run). Everything is written and
    closed by then: outputs atomically, worker pools by their ``with`` blocks; the standard
    streams are flushed here."""
    import gc
    import os
    gc.disable()               # imports make no garbage worth collecting; re-enabled after torch's
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 1
    os._exit(status)


if __name__ == "__main__":
    console_main()
