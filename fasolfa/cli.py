"""The ``fasolfa`` command line.

``fasolfa render MIDI... [-o OUTPUT] [--soundfont NAME] [--program N] [--figure PNG]``
renders MIDI to piano audio with FluidSynth (and optionally draws the piano roll over the
audio's spectrogram). ``fasolfa soundfonts`` lists the soundfonts fasolfa can find.

User-facing problems (:class:`fasolfa.errors.FasolfaError`) are printed as one line,
``fasolfa: error: <file>: <problem>``, and the exit status is 1. No output file is ever left
half-written: audio, MIDI and figures are written to a temporary name and renamed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError

DESCRIPTION = ("fasolfa, an open, teachable piano transcriber. 'fasolfa render' turns MIDI into "
               "piano audio with FluidSynth; 'fasolfa soundfonts' lists the soundfonts it finds.")

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
    parser = argparse.ArgumentParser(prog="fasolfa", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FasolfaError as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
