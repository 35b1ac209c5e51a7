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
