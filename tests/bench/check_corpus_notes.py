"""Check: fasolfa's MIDI reader finds the notes pretty_midi finds, file by file, on the corpus.

Run: ``.venv/bin/python tests/bench/check_corpus_notes.py [FOLDER]`` (part of ``make bench``,
never of ``make test``: it needs the shared corpus, ``$FASOLFA_DATA`` or ``../shared/data``).

For every MIDI file under the folder it counts the notes of :func:`fasolfa.midi.read_midi` and of
``pretty_midi`` (all non-drum instruments) and prints each file whose counts differ. One
difference is known and intended: pretty_midi keeps two notes of one pitch struck at the same
tick (``same-tick duplicates``), fasolfa keeps one (a key cannot sound twice; the first would
last zero seconds). Any other difference is reported as UNEXPLAINED. Last run on the shared
corpus: 1067 of 1067 files equal, 3,594,981 notes each.

Exit status 1 if a difference is left unexplained. Results: ``figures/corpus_notes_check.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import pretty_midi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_report  # noqa: E402

from fasolfa import config  # noqa: E402
from fasolfa.errors import FasolfaError  # noqa: E402
from fasolfa.midi import read_midi  # noqa: E402

REPORT = config.FIGURES_DIR / "corpus_notes_check.json"


def pretty_midi_notes(path: Path) -> list:
    midi = pretty_midi.PrettyMIDI(str(path))
    return [note for instrument in midi.instruments if not instrument.is_drum
            for note in instrument.notes]


def same_tick_duplicates(notes) -> int:
    """Notes of pretty_midi that repeat (pitch, start) of another: a key struck twice at once."""
    counts = Counter((note.pitch, round(note.start, 9)) for note in notes)
    return sum(count - 1 for count in counts.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(config.corpus_dir()),
                        help="folder searched for .mid/.midi files (default: the shared corpus)")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not paths:
        print(f"{folder}: no MIDI files; skipped (set FASOLFA_DATA or give a folder)")
        return 0
    start = time.perf_counter()
    rows, unexplained = [], 0
    total_fasolfa = total_pretty = 0
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                n_fasolfa = len(read_midi(path).notes)
            except FasolfaError as error:
                print(f"fasolfa cannot read {path}: {error}")
                n_fasolfa = 0
            notes = pretty_midi_notes(path)
        n_pretty = len(notes)
        total_fasolfa += n_fasolfa
        total_pretty += n_pretty
        if n_fasolfa == n_pretty:
            continue
        duplicates = same_tick_duplicates(notes)
        explained = n_pretty - n_fasolfa == duplicates
        unexplained += not explained
        reason = f"{duplicates} same-tick duplicates in pretty_midi" if explained else "UNEXPLAINED"
        rows.append({"file": str(path.relative_to(folder)), "fasolfa": n_fasolfa,
                     "pretty_midi": n_pretty, "reason": reason})
        print(f"{path.relative_to(folder)}: fasolfa {n_fasolfa}, pretty_midi {n_pretty} ({reason})")
    summary = {"files": len(paths), "files_equal": len(paths) - len(rows),
               "notes_fasolfa": total_fasolfa, "notes_pretty_midi": total_pretty,
               "files_unexplained": unexplained, "seconds": round(time.perf_counter() - start, 1)}
    print(f"{summary['files_equal']} of {len(paths)} files: same note count as pretty_midi; "
          f"notes: fasolfa {total_fasolfa}, pretty_midi {total_pretty}; "
          f"{unexplained} differences unexplained")
    write_report(REPORT, {"check": "per-file note counts, fasolfa.midi.read_midi vs pretty_midi",
                          "pretty_midi": pretty_midi.__version__ if hasattr(pretty_midi, "__version__")
                          else "", "summary": summary, "differences": rows})
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
