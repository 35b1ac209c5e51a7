"""Training data: a MIDI corpus, a cache of its renderings, and random windows of audio with
their frame targets, augmented.

Explained in ``notebooks/04_rendering_a_dataset.ipynb``.

* :class:`MidiCorpus` reads the shared corpus (``split.csv``: ``path,split,duration_s,composer,
  title``) or a MAESTRO download (``maestro-v3.0.0.csv`` / ``.json``) into
  :class:`CorpusEntry` rows with a ``train`` / ``validation`` / ``test`` split.
* :class:`RenderCache` renders each (piece, soundfont, program) once with
  :func:`fasolfa.synth.render` to FLAC under ``~/.cache/fasolfa`` (or ``$FASOLFA_CACHE``), and
  keeps each piece's notes and pedal as a small ``.npz`` beside it. Every file is written to a
  temporary name and renamed, so an interrupted run leaves no half-written file and the next
  run picks up where it stopped.
* :class:`WindowDataset` (a ``torch.utils.data.Dataset``) yields fixed-length windows of cached
  audio with their targets from :func:`fasolfa.midi.notes_to_targets`; window ``i`` of epoch
  ``e`` is a deterministic function of ``(seed, e, i)``, augmentation included
  (:class:`Augmentation`).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile
import torch

from fasolfa import config, synth
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, apply_sustain, notes_in_window, notes_to_targets, read_midi

SPLITS = ("train", "validation", "test")
SPLIT_CSV_COLUMNS = ("path", "split", "duration_s", "composer", "title")
MAESTRO_FILES = ("maestro-v3.0.0.csv", "maestro-v3.0.0.json", "maestro-v2.0.0.csv",
                 "maestro-v2.0.0.json", "maestro-v1.0.0.csv", "maestro-v1.0.0.json")
MAESTRO_COLUMNS = ("split", "midi_filename", "duration")
CACHE_FORMAT_VERSION = 1      # bump when the rendering or the files' layout changes
FLAC_PEAK = 0.99              # renderings louder than this are scaled down before 16-bit FLAC


# --- the corpus ------------------------------------------------------------------------

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


class MidiCorpus:
    """A list of :class:`CorpusEntry` rows with their splits.

    Build it with :meth:`from_split_csv` (the shared corpus) or :meth:`from_maestro`; take a
    split with :meth:`split`. Supports ``len``, iteration and indexing.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    def __init__(self, entries, source: str | Path = ""):
        self.entries: list[CorpusEntry] = list(entries)
        self.source = Path(source) if source else None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return MidiCorpus(self.entries[index], self.source or "")
        return self.entries[index]

    def __repr__(self) -> str:
        return f"MidiCorpus({len(self)} performances, {self.duration_s / 3600:.2f} h)"

    @property
    def duration_s(self) -> float:
        """Total duration of the performances in seconds."""
        return float(sum(entry.duration_s for entry in self.entries))

    def split(self, name: str) -> "MidiCorpus":
        """The performances of one split: ``"train"``, ``"validation"`` or ``"test"``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return MidiCorpus([e for e in self.entries if e.split == name], self.source or "")

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


# --- the render cache ------------------------------------------------------------------

def _midi_path(entry_or_midi) -> Path:
    return Path(entry_or_midi.path if isinstance(entry_or_midi, CorpusEntry) else entry_or_midi)


_HASHES: dict[tuple, str] = {}


def midi_hash(path: str | Path) -> str:
    """SHA-256 of a MIDI file's bytes (memoised by path, size and modification time).
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise FasolfaError(f"{path}: no such MIDI file") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _HASHES[key]


def _soundfont_name(soundfont) -> str:
    if isinstance(soundfont, synth.Soundfont):
        return soundfont.name
    if isinstance(soundfont, str) and os.sep not in soundfont and not soundfont.endswith(
            synth.SOUNDFONT_SUFFIXES):
        return soundfont            # a name: no need to look the file up to name a cache entry
    return synth.get_soundfont(soundfont).name


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(temporary_path)`` then rename it to ``path`` (no half-written ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def _remove_stale_partials(folder: Path) -> int:
    """Delete ``.*.partial`` files left by killed processes (their pid no longer runs)."""
    removed = 0
    if not folder.is_dir():
        return 0
    for partial in folder.rglob(".*.partial"):
        try:
            pid = int(partial.name.rsplit(".", 2)[-2])
            os.kill(pid, 0)
            continue                      # that process is alive: maybe still writing
        except (ValueError, IndexError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


class RenderCache:
    """Renderings of MIDI files, each (piece, soundfont, program) rendered once, as FLAC.

    Files live under ``cache_dir`` (default ``config.cache_dir()``: ``$FASOLFA_CACHE`` or
    ``~/.cache/fasolfa``): ``renders/<soundfont>/p<program>/<stem>-<key>.flac`` where ``key``
    hashes the MIDI file's content, the soundfont's name, the program and the render settings
    (sample rate, gain, tail, :data:`CACHE_FORMAT_VERSION`), and ``notes/<stem>-<hash>.npz``
    (the notes and pedal read from the MIDI file). Audio is 16-bit FLAC, scaled down only if
    it would clip. Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    def __init__(self, cache_dir: str | Path | None = None, *,
                 sample_rate: int = config.SAMPLE_RATE, gain: float = synth.DEFAULT_GAIN,
                 tail_s: float = synth.DEFAULT_TAIL_S):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else config.cache_dir()
        self.sample_rate = int(sample_rate)
        self.gain = float(gain)
        self.tail_s = float(tail_s)

    def __repr__(self) -> str:
        return f"RenderCache({self.cache_dir})"

    @property
    def settings(self) -> dict:
        """Everything besides the MIDI, soundfont and program that changes a rendering."""
        return {"version": CACHE_FORMAT_VERSION, "sample_rate": self.sample_rate,
                "gain": self.gain, "tail_s": self.tail_s, "polyphony": synth.POLYPHONY}

    def path_for(self, entry_or_midi, soundfont, program: int = 0) -> Path:
        """Where the rendering of this MIDI file (a path or :class:`CorpusEntry`) with this
        soundfont (name, path or :class:`~fasolfa.synth.Soundfont`) and program is stored."""
        midi = _midi_path(entry_or_midi)
        name = _soundfont_name(soundfont)
        text = json.dumps([midi_hash(midi), name, int(program), self.settings], sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self.cache_dir / "renders" / name / f"p{int(program):03d}" / f"{midi.stem}-{key}.flac"

    def notes_path_for(self, entry_or_midi) -> Path:
        """Where the notes and pedal of this MIDI file are stored (``.npz``)."""
        midi = _midi_path(entry_or_midi)
        key = hashlib.sha256(f"{midi_hash(midi)}|{CACHE_FORMAT_VERSION}".encode()).hexdigest()[:16]
        return self.cache_dir / "notes" / f"{midi.stem}-{key}.npz"

    def is_cached(self, entry_or_midi, soundfont, program: int = 0) -> bool:
        return self.path_for(entry_or_midi, soundfont, program).is_file()

    # -- writing
    def _store_notes(self, midi: Path, performance) -> Path:
        def write(temporary: Path):
            with open(temporary, "wb") as handle:
                np.savez(handle, onset_s=performance.notes.onset_s,
                         offset_s=performance.notes.offset_s, pitch=performance.notes.pitch,
                         velocity=performance.notes.velocity, channel=performance.notes.channel,
                         pedal_onset_s=performance.pedal.onset_s,
                         pedal_offset_s=performance.pedal.offset_s,
                         pedal_channel=performance.pedal.channel,
                         duration_s=np.float64(performance.duration_s))
        return _atomic_write(self.notes_path_for(midi), write)

    def _render_one(self, entry_or_midi, soundfont, program: int) -> Path:
        midi = _midi_path(entry_or_midi)
        path = self.path_for(midi, soundfont, program)
        notes_path = self.notes_path_for(midi)
        if path.is_file() and notes_path.is_file():
            return path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # dropped zero-length notes etc.
            performance = read_midi(midi)
        if not notes_path.is_file():
            self._store_notes(midi, performance)
        if not path.is_file():
            audio = synth.render(performance, soundfont, program, sample_rate=self.sample_rate,
                                 gain=self.gain, tail_s=self.tail_s)
            peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
            if peak > FLAC_PEAK:
                audio = audio * np.float32(FLAC_PEAK / peak)
            _atomic_write(path, lambda temporary: soundfile.write(
                temporary, audio, self.sample_rate, format="FLAC", subtype="PCM_16"))
        return path

    def render_all(self, items, progress: bool = True, *, workers: int = 1) -> list[Path]:
        """Render every ``(entry_or_midi, soundfont, program)`` in ``items`` not yet cached.

        Shows a tqdm bar (``progress``); ``workers > 1`` renders in that many processes
        (started with ``spawn``, so each loads its soundfonts once).
        Cached files are skipped, so an interrupted run resumes where it stopped; leftovers of
        killed runs (``.*.partial``) are deleted first. Returns the FLAC paths, in order.
        Explained in notebooks/04_rendering_a_dataset.ipynb.
        """
        from tqdm.auto import tqdm
        items = [(entry, soundfont if isinstance(soundfont, synth.Soundfont) else
                  synth.get_soundfont(soundfont), int(program)) for entry, soundfont, program in items]
        paths = [self.path_for(entry, soundfont, program) for entry, soundfont, program in items]
        todo = [i for i, (item, path) in enumerate(zip(items, paths))
                if not (path.is_file() and self.notes_path_for(item[0]).is_file())]
        _remove_stale_partials(self.cache_dir)
        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc="rendering",
                   unit="file", disable=not progress)
        try:
            if workers <= 1 or len(todo) <= 1:
                for i in todo:
                    self._render_one(*items[i])
                    bar.update(1)
            else:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor, as_completed
                # spawn, not fork: libfluidsynth loads soundfonts with OpenMP threads, and a
                # forked copy of a process that already used them hangs in its first sfload
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                    futures = [pool.submit(_render_in_worker, self, items[i]) for i in todo]
                    for future in as_completed(futures):
                        future.result()
                        bar.update(1)
        finally:
            bar.close()
        return paths

    @staticmethod
    def items(entries, soundfonts, programs=(0,)) -> list[tuple]:
        """Every ``(entry, soundfont, program)`` combination, for :meth:`render_all`."""
        return [(entry, soundfont, int(program)) for entry in entries
                for soundfont in soundfonts for program in programs]

    # -- reading
    def load(self, entry_or_midi, soundfont, program: int = 0) -> np.ndarray:
        """The rendering (mono float32, shape ``(n_samples,)``), rendered first if missing.

        Raises :class:`FasolfaError` naming the file if the cached FLAC is unreadable.
        """
        path = self._render_one(entry_or_midi, soundfont, program)
        return read_flac(path)

    def load_notes(self, entry_or_midi) -> tuple[Notes, Pedal, float]:
        """``(notes, pedal, duration_s)`` of a MIDI file, from the cache (stored if missing)."""
        midi = _midi_path(entry_or_midi)
        path = self.notes_path_for(midi)
        if not path.is_file():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._store_notes(midi, read_midi(midi))
        return read_notes(path)


def _render_in_worker(cache: RenderCache, item) -> Path:
    return cache._render_one(*item)


def read_flac(path: str | Path, start: int = 0, frames: int = -1) -> np.ndarray:
    """Samples ``start .. start + frames`` of a cached rendering (float32, zero-padded past
    the end). Raises :class:`FasolfaError` naming the file if it is missing or corrupt.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    path = Path(path)
    try:
        audio = soundfile.read(path, start=start, frames=frames, dtype="float32",
                               fill_value=0.0 if frames >= 0 else None, always_2d=False)[0]
    except Exception as error:     # soundfile.LibsndfileError, RuntimeError, ...
        if not path.is_file():
            raise FasolfaError(f"{path}: cached rendering not found") from None
        raise FasolfaError(f"{path}: corrupt cached rendering ({error}); delete it and it will "
                           f"be rendered again") from None
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return np.ascontiguousarray(audio, dtype=np.float32)


def read_notes(path: str | Path) -> tuple[Notes, Pedal, float]:
    """``(notes, pedal, duration_s)`` from a cache ``.npz``; :class:`FasolfaError` if corrupt.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    path = Path(path)
    try:
        with np.load(path) as data:
            notes = Notes(data["onset_s"], data["offset_s"], data["pitch"], data["velocity"],
                          data["channel"])
            pedal = Pedal(data["pedal_onset_s"], data["pedal_offset_s"], data["pedal_channel"])
            duration_s = float(data["duration_s"])
    except Exception as error:
        raise FasolfaError(f"{path}: corrupt cached notes ({type(error).__name__}: {error}); "
                           f"delete it and it will be read again") from None
    return notes, pedal, duration_s


# --- augmentation ----------------------------------------------------------------------

@dataclass(frozen=True)
class Augmentation:
    """How windows are changed before training. Each effect is applied with its probability;
    its parameters are drawn uniformly from the given ``(low, high)`` ranges.

    * gain: ``gain_db``;
    * EQ: a spectral tilt (``eq_tilt_db_per_octave`` around 1 kHz), a low shelf below
      ``eq_low_hz`` and a high shelf above ``eq_high_hz`` (``eq_shelf_db`` each), at most
      ``eq_max_db`` either way, applied as a zero-phase FFT filter;
    * reverb: convolution with exponentially decaying noise (``reverb_rt60_s``: time to decay by
      60 dB), mixed in at ``reverb_wet`` (0 dry .. 1 wet);
    * noise: white or pink noise at ``noise_snr_db`` below the window's RMS.

    Choosing the soundfont and program is done by :class:`WindowDataset` (each window picks
    one of its piece's renditions). ``Augmentation.none()`` changes nothing (validation).
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    gain_probability: float = 1.0
    gain_db: tuple[float, float] = (-18.0, 6.0)
    eq_probability: float = 0.5
    eq_tilt_db_per_octave: tuple[float, float] = (-2.0, 2.0)
    eq_shelf_db: tuple[float, float] = (-9.0, 9.0)
    eq_low_hz: tuple[float, float] = (80.0, 400.0)
    eq_high_hz: tuple[float, float] = (2000.0, 8000.0)
    eq_max_db: float = 15.0
    reverb_probability: float = 0.3
    reverb_rt60_s: tuple[float, float] = (0.2, 1.5)
    reverb_wet: tuple[float, float] = (0.05, 0.4)
    noise_probability: float = 0.3
    noise_snr_db: tuple[float, float] = (15.0, 45.0)

    @classmethod
    def none(cls) -> "Augmentation":
        """No augmentation at all (for validation and tests)."""
        return cls(gain_probability=0.0, eq_probability=0.0, reverb_probability=0.0,
                   noise_probability=0.0)

    def draw(self, rng: np.random.Generator) -> dict:
        """Draw one window's augmentation parameters (``None`` for effects not applied).

        Every value is drawn whatever the probabilities, so changing one probability does not
        change the others' draws."""
        uniform = lambda bounds: float(rng.uniform(*bounds))  # noqa: E731
        applied = rng.random(4) < np.array([self.gain_probability, self.eq_probability,
                                            self.reverb_probability, self.noise_probability])
        gain = uniform(self.gain_db)
        eq = {"tilt_db_per_octave": uniform(self.eq_tilt_db_per_octave),
              "low_shelf_db": uniform(self.eq_shelf_db), "low_hz": uniform(self.eq_low_hz),
              "high_shelf_db": uniform(self.eq_shelf_db), "high_hz": uniform(self.eq_high_hz)}
        reverb = {"rt60_s": uniform(self.reverb_rt60_s), "wet": uniform(self.reverb_wet),
                  "seed": int(rng.integers(2 ** 31))}
        noise = {"snr_db": uniform(self.noise_snr_db), "color": ("white", "pink")[int(rng.integers(2))],
                 "seed": int(rng.integers(2 ** 31))}
        return {"gain_db": gain if applied[0] else None, "eq": eq if applied[1] else None,
                "reverb": reverb if applied[2] else None, "noise": noise if applied[3] else None}

    @property
    def reverb_max_samples(self) -> int:
        """Longest impulse response (so the audio needed before a window), in samples."""
        return 0 if self.reverb_probability <= 0 else int(np.ceil(self.reverb_rt60_s[1] * config.SAMPLE_RATE))


def eq_gain_db(frequencies_hz: np.ndarray, tilt_db_per_octave: float, low_shelf_db: float,
               low_hz: float, high_shelf_db: float, high_hz: float,
               max_db: float = 15.0) -> np.ndarray:
    """Gain in dB of the augmentation EQ at ``frequencies_hz`` (smooth shelves, one octave wide).
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    octaves = np.log2(np.maximum(frequencies_hz, 1.0) / 1000.0)
    low = 1.0 / (1.0 + np.exp(4.0 * (np.log2(np.maximum(frequencies_hz, 1.0) / low_hz))))
    high = 1.0 / (1.0 + np.exp(-4.0 * (np.log2(np.maximum(frequencies_hz, 1.0) / high_hz))))
    gain_db = tilt_db_per_octave * octaves + low_shelf_db * low + high_shelf_db * high
    return np.clip(gain_db, -max_db, max_db)


def apply_eq(audio: np.ndarray, sample_rate: int = config.SAMPLE_RATE, max_db: float = 15.0,
             **eq) -> np.ndarray:
    """Filter ``audio`` (shape ``(n_samples,)``) with :func:`eq_gain_db`: zero phase, applied
    to the window's FFT (a circular filter; the smooth curve's response lasts a few ms).
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    n_fft = len(audio)
    spectrum = scipy.fft.rfft(np.asarray(audio, np.float32), n_fft)
    frequencies_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    spectrum *= (10.0 ** (eq_gain_db(frequencies_hz, max_db=max_db, **eq) / 20.0)).astype(np.float32)
    return scipy.fft.irfft(spectrum, n_fft)[:len(audio)].astype(np.float32)


def reverb_impulse_response(rt60_s: float, seed: int, sample_rate: int = config.SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: Gaussian noise decaying by 60 dB over ``rt60_s`` seconds, unit energy.
    Shape ``(round(rt60_s * sample_rate),)``.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    n_samples = max(int(round(rt60_s * sample_rate)), 1)
    time_s = np.arange(n_samples) / sample_rate
    envelope = 10.0 ** (-3.0 * time_s / rt60_s)            # -60 dB at rt60_s
    noise = np.random.default_rng(seed).standard_normal(n_samples) * envelope
    return (noise / np.sqrt(np.sum(noise ** 2))).astype(np.float32)


def _colored_noise(n_samples: int, color: str, seed: int) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(n_samples, dtype=np.float32)
    if color == "pink":                # 1/f power: divide the amplitude spectrum by sqrt(f)
        n_fft = scipy.fft.next_fast_len(n_samples, real=True)
        spectrum = scipy.fft.rfft(white, n_fft)
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum), dtype=np.float32))
        spectrum[0] = 0
        white = scipy.fft.irfft(spectrum, n_fft)[:n_samples]
    return (white / np.sqrt(np.mean(white.astype(np.float64) ** 2))).astype(np.float32)


def _reverberate(audio: np.ndarray, response: np.ndarray, preroll: np.ndarray | None) -> np.ndarray:
    """The last ``len(audio)`` samples of ``concat(preroll, audio) * response`` (convolution),
    with silence before ``preroll``. A circular FFT convolution over just the needed span
    suffices: wrap-around only reaches outputs earlier than ``len(response) - 1`` samples."""
    n_history = len(response) - 1
    before = np.zeros(0, np.float32)
    if preroll is not None and n_history:
        before = np.asarray(preroll[max(len(preroll) - n_history, 0):], np.float32)
    source = np.concatenate([np.zeros(n_history - len(before), np.float32), before, audio])
    n_fft = scipy.fft.next_fast_len(len(source), real=True)
    wet = scipy.fft.irfft(scipy.fft.rfft(source, n_fft) * scipy.fft.rfft(response, n_fft), n_fft)
    return wet[n_history:n_history + len(audio)].astype(np.float32)


def augment(audio: np.ndarray, params: dict, sample_rate: int = config.SAMPLE_RATE,
            eq_max_db: float = 15.0, preroll: np.ndarray | None = None) -> np.ndarray:
    """Apply drawn augmentation ``params`` (see :meth:`Augmentation.draw`) to a window.

    Order: reverb (fed by ``preroll``, the audio just before the window, so notes struck
    earlier ring into it), EQ, gain, noise. Returns float32 of the same shape as ``audio``.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    out = audio.astype(np.float32, copy=True)
    if params.get("reverb"):
        response = reverb_impulse_response(params["reverb"]["rt60_s"], params["reverb"]["seed"],
                                           sample_rate)
        wet = _reverberate(out, response, preroll)
        dry_rms = np.sqrt(np.mean(out ** 2)) + 1e-12
        wet_rms = np.sqrt(np.mean(wet ** 2)) + 1e-12
        mix = params["reverb"]["wet"]
        out = ((1 - mix) * out + mix * wet * (dry_rms / wet_rms)).astype(np.float32)
    if params.get("eq"):
        out = apply_eq(out, sample_rate, max_db=eq_max_db, **params["eq"])
    if params.get("gain_db") is not None:
        out *= np.float32(10.0 ** (params["gain_db"] / 20.0))
    if params.get("noise"):
        signal_rms = max(float(np.sqrt(np.mean(out ** 2))), 1e-4)   # silence: noise at -80 dBFS-ish
        noise_rms = signal_rms / 10.0 ** (params["noise"]["snr_db"] / 20.0)
        out += np.float32(noise_rms) * _colored_noise(len(out), params["noise"]["color"],
                                                      params["noise"]["seed"])
    return out


# --- the window dataset ----------------------------------------------------------------

@dataclass(frozen=True)
class Rendition:
    """One cached rendering of a piece: its FLAC file, soundfont name and program.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""

    audio_path: Path
    soundfont: str
    program: int


@dataclass(frozen=True)
class Piece:
    """A piece for :class:`WindowDataset`: its cached notes (``.npz``), its length in samples
    (every rendition has this length) and its renditions.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""

    notes_path: Path
    n_samples: int
    renditions: tuple[Rendition, ...]
    name: str = ""

    @property
    def duration_s(self) -> float:
        return self.n_samples / config.SAMPLE_RATE


@dataclass
class Window:
    """One training window before it becomes tensors (for tests and the notebook).

    ``audio`` / ``clean_audio``: shape ``(window_n_samples,)``, after / before augmentation;
    ``targets``: :class:`fasolfa.midi.Targets` with ``1 + window_n_samples // HOP_LENGTH``
    frames, frame ``i`` centred at ``start_s + i * HOP_LENGTH / SAMPLE_RATE``.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""

    audio: np.ndarray
    clean_audio: np.ndarray
    targets: object
    piece: int
    rendition: Rendition
    start_sample: int
    augmentation: dict = field(default_factory=dict)

    @property
    def start_s(self) -> float:
        return self.start_sample / config.SAMPLE_RATE


class WindowDataset(torch.utils.data.Dataset):
    """Random fixed-length windows of cached audio with their frame-aligned targets.

    Item ``i`` is a deterministic function of ``(seed, epoch, i)``
    (``np.random.default_rng([seed, epoch, i])``): it picks a piece (weighted by duration),
    one of its renditions (soundfont and program), a start frame, and augmentation
    parameters; it reads only that window from the FLAC and computes the targets with
    :func:`fasolfa.midi.notes_to_targets` on the notes (sustain-extended by the pedal when
    ``sustain``). Returns a dict of float32 tensors: ``audio (window_n_samples,)``,
    ``onset, note, velocity (88, n_frames)``, ``contour (264, n_frames)``,
    ``pedal, pedal_onset, pedal_offset (n_frames,)``, ``n_frames = 1 + window_n_samples //
    HOP_LENGTH``; frame ``i`` is centred on window sample ``i * HOP_LENGTH``.

    Call :meth:`set_epoch` before each epoch for new windows. Safe with DataLoader workers: it
    holds only paths and numbers (no open files, no synthesizers).
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    def __init__(self, pieces, n_windows: int, seed: int = 0, *,
                 augmentation: Augmentation | None = None, sustain: bool = True,
                 window_n_samples: int = config.WINDOW_N_SAMPLES, epoch: int = 0):
        self.pieces: list[Piece] = [p for p in pieces if p.renditions]
        if not self.pieces:
            raise ValueError("WindowDataset needs at least one piece with a rendition")
        if window_n_samples % config.HOP_LENGTH:
            raise ValueError(f"window_n_samples must be a multiple of HOP_LENGTH={config.HOP_LENGTH}")
        self.n_windows = int(n_windows)
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.augmentation = augmentation if augmentation is not None else Augmentation()
        self.sustain = bool(sustain)
        self.window_n_samples = int(window_n_samples)
        self.n_frames = 1 + self.window_n_samples // config.HOP_LENGTH
        weights = np.array([p.n_samples for p in self.pieces], np.float64)
        self.weights = weights / weights.sum()
        self._notes: dict[int, tuple] = {}

    @classmethod
    def from_cache(cls, cache: RenderCache, entries, soundfonts, programs=(0,), n_windows: int = 1000,
                   seed: int = 0, *, render_missing: bool = True, progress: bool = True,
                   workers: int = 1, **kwargs) -> "WindowDataset":
        """Windows over ``entries`` (CorpusEntry rows or MIDI paths) rendered with every
        soundfont and program, from ``cache`` (missing renderings are rendered first, unless
        ``render_missing`` is false, then they raise :class:`FasolfaError`)."""
        soundfonts = [s if isinstance(s, synth.Soundfont) else synth.get_soundfont(s) for s in soundfonts]
        items = RenderCache.items(entries, soundfonts, programs)
        if render_missing:
            cache.render_all(items, progress=progress, workers=workers)
        pieces = []
        for entry in entries:
            renditions = []
            for soundfont in soundfonts:
                for program in programs:
                    path = cache.path_for(entry, soundfont, program)
                    if not path.is_file():
                        raise FasolfaError(f"{path}: not rendered yet (run RenderCache.render_all)")
                    renditions.append(Rendition(path, soundfont.name, int(program)))
            notes, pedal, duration_s = cache.load_notes(entry)
            n_samples = synth.render_length(notes, pedal, end_s=duration_s,
                                            sample_rate=cache.sample_rate, tail_s=cache.tail_s)
            pieces.append(Piece(cache.notes_path_for(entry), n_samples, tuple(renditions),
                                _midi_path(entry).stem))
        return cls(pieces, n_windows, seed, **kwargs)

    def __len__(self) -> int:
        return self.n_windows

    def set_epoch(self, epoch: int) -> None:
        """Draw a different set of windows (call before building each epoch's iterator)."""
        self.epoch = int(epoch)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_notes"] = {}          # each worker loads its own notes
        return state

    def _piece_notes(self, index: int) -> tuple[Notes, Pedal]:
        cached = self._notes.get(index)
        if cached is None:
            notes, pedal, _ = read_notes(self.pieces[index].notes_path)
            if self.sustain:
                notes = apply_sustain(notes, pedal)
            if len(self._notes) >= 256:
                self._notes.pop(next(iter(self._notes)))
            cached = self._notes[index] = (notes, pedal)
        return cached

    def window(self, index: int) -> Window:
        """Window ``index`` of the current epoch as numpy arrays, with what was drawn."""
        if not 0 <= index < self.n_windows:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        piece_index = int(rng.choice(len(self.pieces), p=self.weights))
        piece = self.pieces[piece_index]
        rendition = piece.renditions[int(rng.integers(len(piece.renditions)))]
        last_start_frame = max(0, (piece.n_samples - self.window_n_samples) // config.HOP_LENGTH)
        start_sample = int(rng.integers(last_start_frame + 1)) * config.HOP_LENGTH
        params = self.augmentation.draw(rng)

        preroll_n = self.augmentation.reverb_max_samples if params["reverb"] else 0
        preroll_n = min(preroll_n, start_sample)
        audio = read_flac(rendition.audio_path, start_sample - preroll_n,
                          preroll_n + self.window_n_samples)
        preroll, clean = audio[:preroll_n], audio[preroll_n:]
        augmented = augment(clean, params, config.SAMPLE_RATE, self.augmentation.eq_max_db,
                            preroll=preroll)

        notes, pedal = self._piece_notes(piece_index)
        start_s = start_sample / config.SAMPLE_RATE
        frame_s = config.HOP_LENGTH / config.SAMPLE_RATE
        end_s = start_s + self.n_frames * frame_s
        window_notes = notes_in_window(notes, start_s - frame_s, end_s + frame_s)
        pedal_mask = (pedal.offset_s > start_s - frame_s) & (pedal.onset_s < end_s + frame_s)
        window_pedal = Pedal(pedal.onset_s[pedal_mask], pedal.offset_s[pedal_mask],
                             pedal.channel[pedal_mask])
        targets = notes_to_targets(window_notes, window_pedal, self.n_frames, start_s)
        return Window(augmented, clean, targets, piece_index, rendition, start_sample, params)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = self.window(int(index))
        item = {"audio": torch.from_numpy(window.audio)}
        for name, values in window.targets.as_dict().items():
            item[name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        return item
