"""Corpora: which recordings or MIDI files exist, with their train / validation / test split.

Explained in ``notebooks/04_rendering_a_dataset.ipynb``.

* :class:`MidiCorpus` reads the shared MIDI corpus (``split.csv``: ``path,split,duration_s,
  composer,title``) or a MAESTRO download (``maestro-v3.0.0.csv`` / ``.json``) into
  :class:`CorpusEntry` rows (performance MIDI, rendered to audio by :mod:`fasolfa.data`).
* :class:`MapsCorpus` reads MAPS piano recordings with aligned notes, either the shared
  ``maps.csv`` (16 kHz FLAC and note TSVs) or the original MAPS folder tree (``MAPS_MUS-*.wav``
  beside ``MAPS_MUS-*.txt``), into :class:`MapsRecording` rows; :func:`read_maps_notes` reads
  their note lists. MAPS has no pedal annotation.

Nothing here reads audio; every problem with a file is one :class:`FasolfaError` line naming it.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fasolfa import config
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes

SPLITS = ("train", "validation", "test")
MAESTRO_FILES = ("maestro-v3.0.0.csv", "maestro-v3.0.0.json", "maestro-v2.0.0.csv",
                 "maestro-v2.0.0.json", "maestro-v1.0.0.csv", "maestro-v1.0.0.json")
MAESTRO_COLUMNS = ("split", "midi_filename", "duration")


@dataclass(frozen=True)
class CorpusEntry:
    """One performance: its MIDI file, split (train / validation / test), duration in seconds,
    composer and title. Explained in notebooks/04_rendering_a_dataset.ipynb."""

    path: Path
    split: str
    duration_s: float
    composer: str = ""
    title: str = ""

    @property
    def piece(self) -> tuple[str, str]:
        """(composer, title): performances of one piece share it, and never cross splits."""
        return (self.composer, self.title)


class _SplitList:
    """A list of rows, each with a ``split`` and a ``duration_s``, as read from one source:
    ``len``, iteration, indexing (a slice keeps the type), total duration and :meth:`split`."""

    noun = "rows"

    def __init__(self, rows, source: str | Path = ""):
        self._rows = list(rows)
        self.source = Path(source) if source else None

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self):
        return iter(self._rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(self._rows[index], self.source or "")
        return self._rows[index]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} {self.noun}, {self.duration_s / 3600:.2f} h)"

    @property
    def duration_s(self) -> float:
        """Total duration in seconds."""
        return float(sum(row.duration_s for row in self._rows))

    def split(self, name: str):
        """The rows of one split: ``"train"``, ``"validation"`` or ``"test"`` (same type)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return type(self)([row for row in self._rows if row.split == name], self.source or "")


def unique_name(midi_path: str | Path, root: str | Path | None = None) -> str:
    """A file stem naming one performance of the corpus and no other: its path under ``root``
    (the shared corpus, :func:`fasolfa.config.corpus_dir`, when None) with ``/`` as ``-`` and no
    suffix; the file's own stem when it lies elsewhere. Stems alone repeat: ASAP keeps a
    prelude and its fugue as ``Bach/Prelude/bwv_868/GonzalezJ05M.mid`` and
    ``Bach/Fugue/bwv_868/GonzalezJ05M.mid`` (118 of the 1067 file names occur twice)."""
    midi_path = Path(midi_path)
    root = Path(root) if root is not None else config.corpus_dir()
    try:
        return str(midi_path.resolve().relative_to(root.resolve()).with_suffix("")).replace("/", "-")
    except ValueError:
        return midi_path.stem


class MidiCorpus(_SplitList):
    """A list of :class:`CorpusEntry` rows with their splits.

    Build it with :meth:`from_split_csv` (the shared corpus) or :meth:`from_maestro`; take a
    split with :meth:`split`. Supports ``len``, iteration and indexing.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    noun = "performances"

    @property
    def entries(self) -> list[CorpusEntry]:
        """The performances, in file order."""
        return self._rows

    def summary(self) -> dict[str, dict[str, float]]:
        """Per split: number of performances, distinct pieces (composer, title) and hours."""
        return {name: {"performances": len(part := self.split(name)),
                       "pieces": len({entry.piece for entry in part}),
                       "hours": part.duration_s / 3600} for name in SPLITS}

    @classmethod
    def from_split_csv(cls, path: str | Path | None = None, *, check_files: bool = True) -> "MidiCorpus":
        """Read a ``split.csv`` (``path,split,duration_s,composer,title``; ``path`` relative to
        the CSV's folder). Default: ``config.corpus_dir() / "split.csv"``.

        Raises :class:`FasolfaError` naming the file for a missing or unreadable CSV, missing
        columns, an unknown split or a bad duration (with the line number), and, when
        ``check_files``, a MIDI file that does not exist.
        """
        path = Path(path) if path is not None else config.corpus_dir() / "split.csv"
        rows = _read_csv(path, required=("path", "split", "duration_s"),
                         hint="set FASOLFA_DATA to the folder that holds split.csv")
        root = path.parent
        entries = []
        for line, row in rows:
            split = _check_split(path, line, row["split"])
            duration_s = _check_duration(path, line, row["duration_s"])
            midi_path = root / row["path"]
            if check_files and not midi_path.is_file():
                raise FasolfaError(f"{path}: line {line}: MIDI file {row['path']} not found")
            entries.append(CorpusEntry(midi_path, split, duration_s, row.get("composer") or "",
                                       row.get("title") or ""))
        return cls(entries, path)

    @classmethod
    def from_maestro(cls, root: str | Path, *, check_files: bool = True) -> "MidiCorpus":
        """Read a MAESTRO download: ``root`` is its folder (holding ``maestro-v3.0.0.csv`` or
        ``.json``, or the v2/v1 files) or the CSV/JSON file itself. The JSON may be
        column-oriented (v3: ``{"split": {"0": "train", ...}, ...}``) or a list of rows (v1/v2).

        Raises :class:`FasolfaError` naming the folder or file when it does not exist, has no
        metadata file, or the metadata is unreadable or incomplete.
        """
        root = Path(root)
        if root.is_file():
            metadata = root
            root = root.parent
        elif root.is_dir():
            candidates = [root / name for name in MAESTRO_FILES if (root / name).is_file()]
            candidates = candidates or sorted(root.glob("maestro-v*.csv")) + sorted(root.glob("maestro-v*.json"))
            if not candidates:
                raise FasolfaError(f"{root}: no MAESTRO metadata here (expected maestro-v3.0.0.csv "
                                   f"or maestro-v3.0.0.json from the MAESTRO download)")
            metadata = candidates[0]
        else:
            raise FasolfaError(f"{root}: no such MAESTRO folder")
        if metadata.suffix.lower() == ".json":
            rows = _read_maestro_json(metadata)
        else:
            rows = _read_csv(metadata, required=MAESTRO_COLUMNS, hint="")
        entries = []
        for line, row in rows:
            split = _check_split(metadata, line, row["split"])
            duration_s = _check_duration(metadata, line, row["duration"])
            midi_path = root / str(row["midi_filename"])
            if check_files and not midi_path.is_file():
                raise FasolfaError(f"{metadata}: row {line}: MIDI file {row['midi_filename']} not found")
            entries.append(CorpusEntry(midi_path, split, duration_s,
                                       str(row.get("canonical_composer") or ""),
                                       str(row.get("canonical_title") or "")))
        return cls(entries, metadata)


def _read_csv(path: Path, required, hint: str) -> list[tuple[int, dict]]:
    """Rows of a CSV file as ``(line_number, row)``, with one-line errors naming the file."""
    if not path.exists():
        raise FasolfaError(f"{path}: no such file" + (f"; {hint}" if hint else ""))
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:   # -sig: Excel BOM
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FasolfaError(f"{path}: cannot read this CSV file ({type(error).__name__}: "
                           f"{error})") from None
    missing = [name for name in required if name not in columns]
    if missing:
        raise FasolfaError(f"{path}: missing column(s) {', '.join(missing)} "
                           f"(found: {', '.join(columns) or 'nothing'})")
    if not rows:
        raise FasolfaError(f"{path}: no rows")
    for line, row in rows:
        if None in row or any(row[name] is None for name in required):
            raise FasolfaError(f"{path}: line {line}: wrong number of fields")
    return rows


def _read_maestro_json(path: Path) -> list[tuple[int, dict]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise FasolfaError(f"{path}: cannot read this JSON file ({type(error).__name__}: "
                           f"{error})") from None
    if isinstance(data, dict):          # v3: column-oriented {"split": {"0": "train", ...}, ...}
        missing = [name for name in MAESTRO_COLUMNS if not isinstance(data.get(name), dict)]
        if missing:
            raise FasolfaError(f"{path}: missing column(s) {', '.join(missing)}")
        keys = sorted(data["split"], key=lambda key: int(key) if str(key).isdigit() else key)
        rows = [(i + 1, {column: values.get(key) for column, values in data.items()
                         if isinstance(values, dict)}) for i, key in enumerate(keys)]
    elif isinstance(data, list):        # v1, v2: a list of rows
        rows = [(i + 1, row) for i, row in enumerate(data) if isinstance(row, dict)]
        if rows and any(name not in rows[0][1] for name in MAESTRO_COLUMNS):
            missing = [name for name in MAESTRO_COLUMNS if name not in rows[0][1]]
            raise FasolfaError(f"{path}: missing column(s) {', '.join(missing)}")
    else:
        raise FasolfaError(f"{path}: not MAESTRO metadata (expected a JSON object or list)")
    if not rows:
        raise FasolfaError(f"{path}: no rows")
    return rows


def _check_split(path: Path, line: int, value) -> str:
    if value not in SPLITS:
        raise FasolfaError(f"{path}: line {line}: unknown split {value!r} "
                           f"(expected train, validation or test)")
    return value


def _check_duration(path: Path, line: int, value) -> float:
    try:
        duration_s = float(value)
    except (TypeError, ValueError):
        duration_s = float("nan")
    if not np.isfinite(duration_s) or duration_s < 0:
        raise FasolfaError(f"{path}: line {line}: bad duration {value!r}")
    return duration_s


# --- MAPS: piano recordings with aligned notes --------------------------------------------

MAPS_CSV_COLUMNS = ("audio", "notes", "split", "duration_s")
MAPS_DEFAULT_VELOCITY = 64     # the original MAPS .txt lists give no velocity: every note gets this
MAPS_AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class MapsRecording:
    """One MAPS recording: its audio file, its note list (``.tsv`` with velocities or MAPS's own
    ``.txt`` without), split, duration in seconds, piano (e.g. ``"AkPnBcht"``) and piece (e.g.
    ``"alb_esp2"``). Explained in notebooks/04_rendering_a_dataset.ipynb."""

    audio_path: Path
    notes_path: Path
    split: str
    duration_s: float
    piano: str = ""
    piece: str = ""

    @property
    def name(self) -> str:
        return self.audio_path.stem


class MapsCorpus(_SplitList):
    """A list of :class:`MapsRecording` rows with their splits (MAPS: sampled and real pianos,
    aligned notes, **no pedal annotation**).

    Build it with :meth:`from_csv` (the shared ``maps.csv``) or :meth:`from_maps_folder` (the
    original MAPS download); take a split with :meth:`split`. Supports ``len``, iteration and
    indexing. :func:`fasolfa.data.maps_pieces` turns it into pieces for
    :class:`fasolfa.data.WindowDataset`. Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    noun = "recordings"

    @property
    def recordings(self) -> list[MapsRecording]:
        """The recordings, in file order."""
        return self._rows

    @classmethod
    def from_csv(cls, path: str | Path | None = None, *, check_files: bool = True) -> "MapsCorpus":
        """Read a ``maps.csv`` (``audio,notes,split,piano,piece,duration_s,sample_rate,n_notes``;
        paths relative to the CSV's folder). Default: ``config.corpus_dir() / "maps.csv"``.

        Raises :class:`FasolfaError` naming the file for a missing or unreadable CSV, missing
        columns, an unknown split or a bad duration (with the line number), and, when
        ``check_files``, an audio or notes file that does not exist.
        """
        path = Path(path) if path is not None else config.corpus_dir() / "maps.csv"
        rows = _read_csv(path, required=MAPS_CSV_COLUMNS,
                         hint="set FASOLFA_DATA to the folder that holds maps.csv")
        recordings = []
        for line, row in rows:
            split = _check_split(path, line, row["split"])
            duration_s = _check_duration(path, line, row["duration_s"])
            audio_path, notes_path = path.parent / row["audio"], path.parent / row["notes"]
            if check_files:
                for kind, file in (("audio", audio_path), ("notes", notes_path)):
                    if not file.is_file():
                        raise FasolfaError(f"{path}: line {line}: {kind} file {row[kind]} not found")
            piano, piece = _maps_piano_piece(audio_path.stem)
            recordings.append(MapsRecording(audio_path, notes_path, split, duration_s,
                                            row.get("piano") or piano, row.get("piece") or piece))
        return cls(recordings, path)

    @classmethod
    def from_maps_folder(cls, root: str | Path, *, validation_pieces=(), test_pieces=()) -> "MapsCorpus":
        """Read the original MAPS layout: every ``MAPS_MUS-<piece>_<piano>.wav`` (or ``.flac``)
        under ``root`` with its ``.txt`` note list beside it (``OnsetTime OffsetTime MidiPitch``,
        tab separated, one header line; no velocities, see :data:`MAPS_DEFAULT_VELOCITY`).
        MAPS defines no split: recordings of ``validation_pieces`` / ``test_pieces`` (piece
        names such as ``"alb_esp2"``) go there, the rest to train. Durations are read from the
        audio files' headers.

        Raises :class:`FasolfaError` naming the folder when it does not exist or holds no
        ``MAPS_MUS-*`` recording, or naming a recording whose ``.txt`` is missing.
        """
        import soundfile

        root = Path(root)
        if not root.is_dir():
            raise FasolfaError(f"{root}: no such MAPS folder")
        audio_paths = sorted(p for p in root.rglob("MAPS_MUS-*")
                             if p.suffix.lower() in MAPS_AUDIO_SUFFIXES)
        if not audio_paths:
            raise FasolfaError(f"{root}: no MAPS_MUS-*.wav recordings in this folder")
        recordings = []
        for audio_path in audio_paths:
            notes_path = audio_path.with_suffix(".txt")
            if not notes_path.is_file():
                raise FasolfaError(f"{audio_path}: no note list {notes_path.name} beside it")
            try:
                duration_s = float(soundfile.info(audio_path).duration)
            except Exception as error:
                raise FasolfaError(f"{audio_path}: not an audio file ({error})") from None
            piano, piece = _maps_piano_piece(audio_path.stem)
            split = ("validation" if piece in validation_pieces else
                     "test" if piece in test_pieces else "train")
            recordings.append(MapsRecording(audio_path, notes_path, split, duration_s, piano, piece))
        return cls(recordings, root)


def _maps_piano_piece(stem: str) -> tuple[str, str]:
    """``MAPS_MUS-alb_esp2_AkPnCGdD`` -> ``("AkPnCGdD", "alb_esp2")``."""
    body = stem.split("-", 1)[1] if stem.startswith("MAPS_") and "-" in stem else stem
    piece, _, piano = body.rpartition("_")
    return (piano, piece) if piece else ("", body)


def read_maps_notes(path: str | Path) -> Notes:
    """The notes of a MAPS recording, from either kind of note list:

    * ``.tsv`` (the shared copy): header ``# onset,offset,note,velocity``, then onset_s,
      offset_s, MIDI pitch, velocity per line, tab separated;
    * ``.txt`` (original MAPS): header ``OnsetTime OffsetTime MidiPitch``, then onset_s,
      offset_s, MIDI pitch, tab separated; no velocity, so every note gets
      :data:`MAPS_DEFAULT_VELOCITY`.

    Returns :class:`fasolfa.midi.Notes` (channel 0); zero-length notes are dropped. Raises
    :class:`FasolfaError` naming the file if it is missing, empty or not such a list.
    """
    path = Path(path)
    if not path.is_file():
        raise FasolfaError(f"{path}: no such MAPS note list")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FasolfaError(f"{path}: cannot read this note list ({type(error).__name__})") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if lines and (lines[0][1].lstrip().startswith("#") or not _is_number(lines[0][1].split()[0])):
        lines = lines[1:]                            # the header line
    rows = []
    for number, line in lines:
        fields = line.split()
        if len(fields) not in (3, 4) or not all(_is_number(value) for value in fields):
            raise FasolfaError(f"{path}: line {number}: expected onset, offset, pitch[, velocity] "
                               f"numbers, got {line.strip()[:60]!r}")
        rows.append([float(value) for value in fields])
    if not rows:
        raise FasolfaError(f"{path}: no notes in this note list")
    if len({len(row) for row in rows}) > 1:
        raise FasolfaError(f"{path}: some lines have a velocity and others not")
    table = np.array(rows, np.float64)
    velocity = (np.rint(table[:, 3]).clip(1, 127) if table.shape[1] == 4
                else np.full(len(table), MAPS_DEFAULT_VELOCITY))
    pitch = np.rint(table[:, 2])
    if not np.all(np.isfinite(table)) or pitch.min() < 0 or pitch.max() > 127:
        raise FasolfaError(f"{path}: times must be finite and pitches MIDI numbers 0..127")
    notes = Notes.from_arrays(table[:, 0], table[:, 1], pitch, velocity)
    return notes.drop_invalid()[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
