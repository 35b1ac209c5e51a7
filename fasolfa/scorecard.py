"""Score transcription files against reference files: pair them, score, summarise, write.

Explained in ``notebooks/08_evaluation.ipynb``; ``fasolfa evaluate`` is its command line.

* **Pairing** (:func:`pair_files`): a reference and a prediction are files, or folders whose
  files are matched by stem. A prediction named ``<stem>_basic_pitch.mid`` (Basic Pitch's
  output name) also matches the reference ``<stem>``. A reference without a prediction is
  scored against an **empty** prediction (every note missed), never skipped.
* **References** (:func:`read_reference`) are MIDI files (notes and sustain pedal) or ``.tsv``
  note lists (MAPS: ``onset, offset, pitch, velocity``, no pedal). A ``.tsv`` reference says
  nothing about the pedal, so its ``pedal`` metric is **n/a** (``None`` in JSON, an empty
  CSV cell), left out of the mean and the micro sums, not counted as 0. Against such a
  reference the prediction's notes are also scored as written, not lengthened by the
  prediction's own pedal: a pedal the reference cannot confirm would change only one side
  (training's validation, :func:`fasolfa.train.validate`, scores MAPS the same way).
* **Scores** are :func:`fasolfa.evaluate.score`'s (reference offsets sustain-extended) for
  :data:`REPORT_METRICS`; a report (:func:`summarise`) is
  ``{"pieces": {stem: {metric: {"precision", "recall", "f1"} | None}}, "mean": {...},
  "micro": {...}}``: ``mean`` averages the pieces (each weighs the same), ``micro`` scores the
  counts summed over pieces (each note weighs the same).
* **Files** are written with :func:`fasolfa.atomic.atomic_write` (:func:`write_json`,
  :func:`write_csv`), never half.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError
from fasolfa.evaluate import SCORE_NAMES, mean_scores, pooled_scores, read_midi_allowing_no_notes, score
from fasolfa.midi import Notes, Pedal

REPORT_METRICS = ("onset", "onset_offset", "onset_offset_velocity", "frame", "pedal")
METRIC_LABELS = {"onset": "onset", "onset_offset": "+offset", "onset_offset_velocity": "+velocity",
                 "frame": "frame", "pedal": "pedal"}
MIDI_SUFFIXES = (".mid", ".midi")
REFERENCE_SUFFIXES = MIDI_SUFFIXES + (".tsv",)
BASIC_PITCH_STEM_SUFFIX = "_basic_pitch"
SUMMARIES = ("mean", "micro")


@dataclass(frozen=True)
class Pair:
    """One piece to score: its stem, reference file, and prediction file (None: no prediction)."""

    stem: str
    reference: Path
    prediction: Path | None


def prediction_stem(path: str | Path) -> str:
    """The reference stem a prediction file answers: ``x_basic_pitch.mid`` -> ``x``."""
    stem = Path(path).stem
    return stem[:-len(BASIC_PITCH_STEM_SUFFIX)] if stem.endswith(BASIC_PITCH_STEM_SUFFIX) else stem


def files_by_stem(folder: Path, suffixes: tuple[str, ...], stem_of) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith("."):
            stem = stem_of(path)
            if stem in found:
                raise FasolfaError(f"{folder}: two files for the piece {stem!r} "
                                   f"({found[stem].name}, {path.name}); keep one")
            found[stem] = path
    return found


def _check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise FasolfaError(f"{path}: not a {what} (expected {', '.join(suffixes)})")


def reference_files(reference: str | Path) -> dict[str, Path]:
    """``{stem: path}`` of a reference file or of the references in a folder (recursively).
    Raises :class:`FasolfaError` for a missing path, a file of another kind, a folder without
    references, or two references of one stem."""
    reference = Path(reference)
    if not reference.exists():
        raise FasolfaError(f"{reference}: no such file or folder")
    if reference.is_file():
        _check_suffix(reference, REFERENCE_SUFFIXES, "MIDI file or .tsv note list")
        return {reference.stem: reference}
    references = files_by_stem(reference, REFERENCE_SUFFIXES, lambda path: path.stem)
    if not references:
        raise FasolfaError(f"{reference}: no reference files "
                           f"({', '.join(REFERENCE_SUFFIXES)}) in this folder")
    return references


def pair_files(reference: str | Path, prediction: str | Path) -> tuple[list[Pair], list[Path]]:
    """``(pairs sorted by stem, predictions that match no reference)``.

    ``reference`` is a MIDI/``.tsv`` file or a folder of them (searched recursively);
    ``prediction`` a MIDI file or a folder of them. A file reference takes a file prediction as
    is (any name), or the file of its stem in a prediction folder. Raises
    :class:`FasolfaError` for a missing path, a file of another kind, a folder without
    references, a reference folder with a prediction file, or two files of one stem.
    """
    reference, prediction = Path(reference), Path(prediction)
    references = reference_files(reference)
    if not prediction.exists():
        raise FasolfaError(f"{prediction}: no such file or folder")
    if prediction.is_file():
        if reference.is_dir():
            raise FasolfaError(f"{prediction}: a reference folder needs a prediction folder")
        _check_suffix(prediction, MIDI_SUFFIXES, "MIDI file")
        return [Pair(reference.stem, reference, prediction)], []
    predictions = files_by_stem(prediction, MIDI_SUFFIXES, prediction_stem)
    pairs = [Pair(stem, path, predictions.get(stem)) for stem, path in sorted(references.items())]
    unmatched = [path for stem, path in sorted(predictions.items()) if stem not in references]
    return pairs, unmatched


def read_reference(path: str | Path) -> tuple[Notes, Pedal | None]:
    """Notes and pedal of a reference: a MIDI file (:func:`fasolfa.midi.read_midi`; no notes is
    an empty performance) or a MAPS ``.tsv`` note list (:func:`fasolfa.corpus.read_maps_notes`),
    whose pedal is ``None``: unknown. Raises :class:`FasolfaError` naming a bad file."""
    path = Path(path)
    _check_suffix(path, REFERENCE_SUFFIXES, "MIDI file or .tsv note list")
    if path.suffix.lower() == ".tsv":
        from fasolfa.corpus import read_maps_notes
        return read_maps_notes(path), None
    return read_midi_allowing_no_notes(path)


def read_prediction(path: str | Path | None) -> tuple[Notes, Pedal]:
    """Notes and pedal of a prediction MIDI file; ``None`` (no prediction) is empty."""
    if path is None:
        return Notes.empty(), Pedal.empty()
    _check_suffix(Path(path), MIDI_SUFFIXES, "MIDI file")
    return read_midi_allowing_no_notes(path)


def score_pair(pair: Pair, **options) -> dict:
    """:func:`fasolfa.evaluate.score` of one pair: ``{metric: {"precision", "recall", "f1",
    "counts"} | None}`` for :data:`REPORT_METRICS` (``pedal`` is None for a reference without
    pedal, and the prediction's pedal then lengthens none of its notes: see the module doc).
    ``options`` go to :func:`~fasolfa.evaluate.score` (``onset_tolerance_s``, ...)."""
    reference_notes, reference_pedal = read_reference(pair.reference)
    estimated_notes, estimated_pedal = read_prediction(pair.prediction)
    if reference_pedal is None:
        estimated_pedal = Pedal.empty()
    scores = score(reference_notes, reference_pedal, estimated_notes, estimated_pedal, **options)
    result = {metric: scores[metric] for metric in REPORT_METRICS}
    if reference_pedal is None:
        result["pedal"] = None
    return result


def _public(scores: dict | None) -> dict | None:
    return None if scores is None else {name: float(scores[name]) for name in SCORE_NAMES}


def summarise(piece_scores: dict[str, dict]) -> dict:
    """The report of :func:`score_pair` results ``{stem: scores}`` (shape in the module doc).

    A metric that is ``None`` for a piece is left out of that metric's mean and micro sums;
    a metric ``None`` for every piece is ``None`` in both.
    """
    if not piece_scores:
        raise ValueError("no pieces to summarise")
    report = {"pieces": {stem: {metric: _public(scores[metric]) for metric in REPORT_METRICS}
                         for stem, scores in piece_scores.items()}, "mean": {}, "micro": {}}
    for metric in REPORT_METRICS:
        known = [{metric: scores[metric]} for scores in piece_scores.values()
                 if scores[metric] is not None]
        report["mean"][metric] = mean_scores(known)[metric] if known else None
        report["micro"][metric] = _public(pooled_scores(known)[metric]) if known else None
    return report


def score_files(reference: str | Path, prediction: str | Path, **options) -> tuple[dict, list[Path]]:
    """``(report, unmatched predictions)`` of :func:`pair_files` then :func:`score_pair` for
    each pair then :func:`summarise`. Reads everything before returning: a bad file raises
    :class:`FasolfaError` and nothing is half done."""
    pairs, unmatched = pair_files(reference, prediction)
    return summarise({pair.stem: score_pair(pair, **options) for pair in pairs}), unmatched


# --- writing and printing ----------------------------------------------------------------

def write_json(path: str | Path, document: dict) -> Path:
    """``document`` as indented JSON, written atomically."""
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    return atomic_write(Path(path), lambda temporary: temporary.write_text(text))


def csv_columns(with_tool: bool = False) -> list[str]:
    """``[tool,] piece, kind, <metric>_<precision|recall|f1>...``; ``kind`` is ``piece``,
    ``mean`` or ``micro`` (the summary rows have the piece ``(all)``)."""
    return (["tool"] if with_tool else []) + ["piece", "kind"] + [
        f"{metric}_{name}" for metric in REPORT_METRICS for name in SCORE_NAMES]


def _csv_rows(report: dict) -> list[tuple[str, str, dict]]:
    rows = [(stem, "piece", scores) for stem, scores in report["pieces"].items()]
    return rows + [("(all)", kind, report[kind]) for kind in SUMMARIES]


def write_csv(path: str | Path, reports: dict[str, dict] | dict) -> Path:
    """One row per piece and per summary (:func:`csv_columns`); n/a cells are empty.

    ``reports`` is one report, or ``{tool: report}`` (then a ``tool`` column leads)."""
    with_tool = "pieces" not in reports
    tools = reports if with_tool else {"": reports}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_columns(with_tool))
    for tool, report in tools.items():
        for piece, kind, scores in _csv_rows(report):
            cells = [("" if scores[metric] is None else f"{scores[metric][name]:.6f}")
                     for metric in REPORT_METRICS for name in SCORE_NAMES]
            writer.writerow(([tool] if with_tool else []) + [piece, kind] + cells)
    text = out.getvalue()
    return atomic_write(Path(path), lambda temporary: temporary.write_text(text))


def _cell(scores: dict | None, name: str = "f1") -> str:
    if scores is None:
        return "n/a"
    value = scores[name]
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def format_report(report: dict) -> str:
    """A plain-text table: F1 per piece, then precision, recall and F1 of ``mean`` and ``micro``."""
    names = list(report["pieces"]) + [f"{kind} {label}" for kind in SUMMARIES
                                      for label in ("P", "R", "F1")]
    width = max(12, *(len(name) for name in names))
    header = f"{'piece (F1)':<{width}}  " + "  ".join(f"{METRIC_LABELS[m]:>9}" for m in REPORT_METRICS)
    lines = [header, "-" * len(header)]
    for stem, scores in report["pieces"].items():
        lines.append(f"{stem:<{width}}  " + "  ".join(f"{_cell(scores[m]):>9}" for m in REPORT_METRICS))
    lines.append("-" * len(header))
    for kind in SUMMARIES:
        for label, name in (("P", "precision"), ("R", "recall"), ("F1", "f1")):
            lines.append(f"{f'{kind} {label}':<{width}}  " + "  ".join(
                f"{_cell(report[kind][m], name):>9}" for m in REPORT_METRICS))
    return "\n".join(lines)
