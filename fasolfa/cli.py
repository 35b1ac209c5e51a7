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
    return parser


# --- fasolfa transcribe ---------------------------------------------------------------------

TRANSCRIBE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
TRANSCRIBE_EPILOG = """examples:
  fasolfa transcribe piano.wav                          # -> piano.mid beside it
  fasolfa transcribe take1.flac -o take1.mid --notes-csv --figure take1.png
  fasolfa transcribe recordings/ -o midi/               # every audio file in the folder
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
    parser.add_argument("--onset-threshold", type=float, default=defaults.onset, metavar="P",
                        help=f"onset probability that starts a note, 0..1 (default {defaults.onset}; "
                        "higher: fewer, surer notes)")
    parser.add_argument("--frame-threshold", type=float, default=defaults.frame, metavar="P",
                        help=f"note probability that keeps a note sounding, 0..1 (default {defaults.frame})")
    parser.add_argument("--min-note-ms", type=float, default=defaults.min_note_ms, metavar="MS",
                        help=f"shortest note kept, in ms (default {defaults.min_note_ms:g})")
    parser.add_argument("--no-pedal", action="store_true", help="write no sustain pedal")
    parser.add_argument("--no-velocity", action="store_true", help="every note at velocity 80")
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
    from fasolfa.notes import NoteThresholds
    for option, value in (("--onset-threshold", args.onset_threshold),
                          ("--frame-threshold", args.frame_threshold)):
        if not 0.0 <= value <= 1.0:
            raise FasolfaError(f"{option} {value}: must lie in 0..1")
    if not 0.0 <= args.min_note_ms <= 60_000:
        raise FasolfaError(f"--min-note-ms {args.min_note_ms}: must lie in 0..60000")
    return NoteThresholds(onset=args.onset_threshold, frame=args.frame_threshold,
                          min_note_ms=args.min_note_ms)


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
    from fasolfa.transcription import load_model, transcribe

    thresholds = _thresholds_from_args(args)
    inputs = _transcribe_inputs(args.inputs)
    if args.output and len(inputs) == 1 and Path(args.output).suffix:
        if Path(args.output).suffix.lower() not in MIDI_SUFFIXES:
            raise FasolfaError(f"{args.output}: output must end in .mid or .midi")
    outputs = _output_paths(inputs, args.output, ".mid")
    load_model(args.checkpoint, args.device)            # a bad checkpoint stops before any file
    several = len(inputs) > 1
    folder_bar = None
    if several:
        from tqdm.auto import tqdm
        folder_bar = tqdm(total=len(inputs), unit="file", desc="fasolfa transcribe", leave=False,
                          disable=None)
    n_failed = 0
    try:
        for audio_path, midi_path in zip(inputs, outputs):
            try:
                result = transcribe(audio_path, checkpoint=args.checkpoint, thresholds=thresholds,
                                    velocity=not args.no_velocity, pedal=not args.no_pedal,
                                    device=args.device, progress=True,
                                    keep_contour=args.save_posteriorgrams)
                writes = [(midi_path, result.save)]
                if args.notes_csv:
                    writes.append((midi_path.with_suffix(".csv"), result.save_notes_csv))
                if args.save_posteriorgrams:
                    writes.append((midi_path.with_suffix(".npz"), result.save_posteriorgrams))
                if args.figure:
                    figure_path = Path(args.figure) / f"{audio_path.stem}.png" if several else Path(args.figure)
                    writes.append((figure_path, lambda path, result=result, name=audio_path.name:
                                   draw_transcription_figure(result, name, path)))
                written = _write_all(writes)
                message = (f"{midi_path}  ({result.duration_s:.1f} s, {len(result.notes)} notes, "
                           f"{len(result.pedal)} pedal presses)")
                _print_above_bar(message, folder_bar)
                for path in written[1:]:
                    _print_above_bar(f"{path}", folder_bar)
            except FasolfaError as error:
                if not several:
                    raise
                _print_above_bar(f"fasolfa: error: {error}", folder_bar, sys.stderr)
                n_failed += 1
            if folder_bar is not None:
                folder_bar.update(1)
    finally:
        if folder_bar is not None:
            folder_bar.close()
    if n_failed:
        _error(f"{n_failed} of {len(inputs)} files failed")
    return 1 if n_failed else 0


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
