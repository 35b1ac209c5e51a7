"""Training data: a cache of rendered (or resampled) audio, and random windows of it with their
frame targets, augmented.

Explained in ``notebooks/04_rendering_a_dataset.ipynb``.

* :class:`RenderCache` renders each (MIDI file, soundfont, program) once with
  :func:`fasolfa.synth.render` to FLAC under ``~/.cache/fasolfa`` (or ``$FASOLFA_CACHE``), and
  keeps each piece's notes and pedal as a small ``.npz`` beside it. Every file is written with
  :func:`fasolfa.atomic.atomic_write`, so an interrupted run leaves no half-written file and
  the next run picks up where it stopped. The MIDI files come from :mod:`fasolfa.corpus`.
* :func:`maps_pieces` resamples MAPS recordings (:class:`fasolfa.corpus.MapsCorpus`) once
  into the same cache, as pieces without pedal annotation.
* :class:`WindowDataset` (a ``torch.utils.data.Dataset``) yields fixed-length windows of cached
  audio (optionally with real audio context around them) with their targets from
  :func:`fasolfa.midi.notes_to_targets`; window ``i`` of epoch ``e`` is a deterministic
  function of ``(seed, e, i)``, augmentation (:mod:`fasolfa.augment`) included.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import torch

from fasolfa import config, synth
from fasolfa.atomic import atomic_write, remove_stale_partials
from fasolfa.augment import Augmentation, augment
from fasolfa.corpus import CorpusEntry, read_maps_notes
from fasolfa.errors import FasolfaError
from fasolfa.midi import (Notes, Pedal, apply_sustain, notes_in_window, notes_to_targets, read_midi,
                          release_tails)

CACHE_FORMAT_VERSION = 1      # bump when the rendering or the files' layout changes
FLAC_PEAK = 0.99              # renderings louder than this are scaled down before 16-bit FLAC


# --- the render cache ------------------------------------------------------------------

def _midi_path(entry_or_midi) -> Path:
    return Path(entry_or_midi.path if isinstance(entry_or_midi, CorpusEntry) else entry_or_midi)


_HASHES: dict[tuple, str] = {}


def midi_hash(path: str | Path, kind: str = "MIDI") -> str:
    """SHA-256 of a file's bytes (memoised by path, size and modification time); ``kind`` names
    the file in the error for a missing one. Explained in notebooks/04_rendering_a_dataset.ipynb."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise FasolfaError(f"{path}: no such {kind} file") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _HASHES[key]


def _soundfont_name(soundfont) -> str:
    """The name of the real soundfont file: ``"timgm6mb"``, an alias such as
    ``"MuseScore_General"``, a path or a :class:`~fasolfa.synth.Soundfont` all give the name
    :meth:`RenderCache.render_all` files renderings under (the resolved file's stem)."""
    if isinstance(soundfont, synth.Soundfont):
        return soundfont.name
    return synth.get_soundfont(soundfont).name


class RenderCache:
    """Renderings of MIDI files, each (piece, soundfont, program) rendered once, as FLAC.

    Files live under ``cache_dir`` (default ``config.cache_dir()``: ``$FASOLFA_CACHE`` or
    ``~/.cache/fasolfa``): ``renders/<soundfont>/p<program>/<stem>-<key>.flac`` where ``key``
    hashes the MIDI file's content, the soundfont's name, the program and the render settings
    (sample rate, gain, tail, :data:`CACHE_FORMAT_VERSION`), and ``notes/<stem>-<hash>.npz``
    (the notes and pedal read from the MIDI file). Audio is 16-bit FLAC, scaled down only if
    it would clip.

    A piece can also be rendered **transposed** (``semitones`` ≠ 0: every note that many keys
    higher, :meth:`fasolfa.midi.Notes.transposed`, notes leaving the 88 keys dropped): its files
    are ``<stem>+<semitones>-<key>`` with ``semitones`` in the key, beside the untransposed ones
    (whose names and keys do not change). Transposition puts real performances into the
    registers they rarely visit (above A5, below A1), where recall is lowest.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
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

    def path_for(self, entry_or_midi, soundfont, program: int = 0, semitones: int = 0) -> Path:
        """Where the rendering of this MIDI file (a path or :class:`CorpusEntry`) with this
        soundfont (name, path or :class:`~fasolfa.synth.Soundfont`) and program, transposed by
        ``semitones``, is stored."""
        midi = _midi_path(entry_or_midi)
        name = _soundfont_name(soundfont)
        fields = [midi_hash(midi), name, int(program), self.settings]
        if semitones:
            fields.append({"semitones": int(semitones)})
        key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
        return (self.cache_dir / "renders" / name / f"p{int(program):03d}"
                / f"{midi.stem}{_shift_tag(semitones)}-{key}.flac")

    def notes_path_for(self, entry_or_midi, semitones: int = 0) -> Path:
        """Where the notes and pedal of this MIDI file (transposed by ``semitones``) are stored
        (``.npz``)."""
        midi = _midi_path(entry_or_midi)
        text = f"{midi_hash(midi)}|{CACHE_FORMAT_VERSION}" + (f"|{int(semitones)}" if semitones else "")
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self.cache_dir / "notes" / f"{midi.stem}{_shift_tag(semitones)}-{key}.npz"

    def is_cached(self, entry_or_midi, soundfont, program: int = 0, semitones: int = 0) -> bool:
        return self.path_for(entry_or_midi, soundfont, program, semitones).is_file()

    # -- writing
    @staticmethod
    def _performance(midi: Path, semitones: int = 0):
        """The MIDI file's notes and pedal, transposed by ``semitones``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # dropped zero-length notes etc.
            performance = read_midi(midi)
        if semitones:
            performance = dataclasses.replace(performance, notes=performance.notes.transposed(semitones))
        return performance

    @staticmethod
    def _write_notes(path: Path, performance) -> Path:
        """Store ``performance.notes``, ``.pedal`` and ``.duration_s`` as ``.npz`` (atomic)."""
        def write(temporary: Path):
            with open(temporary, "wb") as handle:
                np.savez(handle, onset_s=performance.notes.onset_s,
                         offset_s=performance.notes.offset_s, pitch=performance.notes.pitch,
                         velocity=performance.notes.velocity, channel=performance.notes.channel,
                         pedal_onset_s=performance.pedal.onset_s,
                         pedal_offset_s=performance.pedal.offset_s,
                         pedal_channel=performance.pedal.channel,
                         duration_s=np.float64(performance.duration_s))
        return atomic_write(path, write)

    def _render_one(self, entry_or_midi, soundfont, program: int, semitones: int = 0) -> Path:
        midi = _midi_path(entry_or_midi)
        path = self.path_for(midi, soundfont, program, semitones)
        notes_path = self.notes_path_for(midi, semitones)
        if path.is_file() and notes_path.is_file():
            return path
        performance = self._performance(midi, semitones)
        if not notes_path.is_file():
            self._write_notes(notes_path, performance)
        if not path.is_file():
            audio = synth.render(performance, soundfont, program, sample_rate=self.sample_rate,
                                 gain=self.gain, tail_s=self.tail_s)
            _write_flac(path, audio, self.sample_rate)
        return path

    def render_all(self, items, progress: bool = True, *, workers: int = 1) -> list[Path]:
        """Render every ``(entry_or_midi, soundfont, program)`` or ``(entry_or_midi, soundfont,
        program, semitones)`` in ``items`` not yet cached.

        Shows a tqdm bar (``progress``); ``workers > 1`` renders in that many processes
        (started with ``spawn``, so each loads its soundfonts once).
        Cached files are skipped, so an interrupted run resumes where it stopped; leftovers of
        killed runs (``.*.partial``) are deleted first. Returns the FLAC paths, in order.
        Explained in notebooks/04_rendering_a_dataset.ipynb.
        """
        from tqdm.auto import tqdm
        items = [(entry, soundfont if isinstance(soundfont, synth.Soundfont) else
                  synth.get_soundfont(soundfont), int(program), int(semitones[0]) if semitones else 0)
                 for entry, soundfont, program, *semitones in items]
        paths = [self.path_for(*item) for item in items]
        todo = [i for i, (item, path) in enumerate(zip(items, paths))
                if not (path.is_file() and self.notes_path_for(item[0], item[3]).is_file())]
        remove_stale_partials(self.cache_dir)
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
    def load(self, entry_or_midi, soundfont, program: int = 0, semitones: int = 0) -> np.ndarray:
        """The rendering (mono float32, shape ``(n_samples,)``), rendered first if missing.

        Raises :class:`FasolfaError` naming the file if the cached FLAC is unreadable.
        """
        path = self._render_one(entry_or_midi, soundfont, program, semitones)
        return read_flac(path)

    def load_notes(self, entry_or_midi, semitones: int = 0) -> tuple[Notes, Pedal, float]:
        """``(notes, pedal, duration_s)`` of a MIDI file (transposed by ``semitones``), from the
        cache (stored if missing)."""
        midi = _midi_path(entry_or_midi)
        path = self.notes_path_for(midi, semitones)
        if not path.is_file():
            self._write_notes(path, self._performance(midi, semitones))
        return read_notes(path)


def _cached_piece(cache: RenderCache, entry, presets, semitones: int = 0) -> "Piece":
    """A :class:`Piece` of a rendered MIDI file: its renditions with each ``(soundfont,
    program)`` of ``presets``, transposed by ``semitones``. Raises :class:`FasolfaError` for a
    rendition not rendered yet."""
    renditions = []
    for soundfont, program in presets:
        path = cache.path_for(entry, soundfont, program, semitones)
        if not path.is_file():
            raise FasolfaError(f"{path}: not rendered yet (run RenderCache.render_all)")
        renditions.append(Rendition(path, _soundfont_name(soundfont), int(program)))
    notes, pedal, duration_s = cache.load_notes(entry, semitones)
    n_samples = synth.render_length(notes, pedal, end_s=duration_s, sample_rate=cache.sample_rate,
                                    tail_s=cache.tail_s)
    return Piece(cache.notes_path_for(entry, semitones), n_samples, tuple(renditions),
                 _midi_path(entry).stem + _shift_tag(semitones))


def _shift_tag(semitones: int) -> str:
    """``""`` for an untransposed piece, ``"+7"`` / ``"-3"`` in the names of transposed ones."""
    return f"{int(semitones):+d}" if semitones else ""


def transposed_pieces(cache: RenderCache, entries, soundfonts, programs=(0,), max_semitones: int = 12,
                      seed: int = 0, *, progress: bool = True, workers: int = 1) -> list["Piece"]:
    """One transposed rendition of every entry (CorpusEntry rows or MIDI paths), rendered into
    ``cache`` where missing: entry ``i`` is played ``±1 .. ±max_semitones`` semitones higher
    with one ``(soundfont, program)`` of the given ones, both drawn from
    ``np.random.default_rng([seed, 12, i])`` (so the same call always renders the same files).
    For :class:`WindowDataset`; ``fasolfa.train`` mixes its windows with the untransposed ones
    (``TrainConfig.transposed_share``). Explained in notebooks/04_rendering_a_dataset.ipynb."""
    if max_semitones < 1:
        raise ValueError(f"max_semitones must be at least 1, got {max_semitones}")
    return _one_rendition_each(
        cache, entries, soundfonts, programs, [int(seed), 12],
        lambda rng: int(rng.integers(1, max_semitones + 1)) * (1 if rng.random() < 0.5 else -1),
        progress=progress, workers=workers)


def lowered_pieces(cache: RenderCache, entries, soundfonts, programs=(0,), semitones_down=(12, 24),
                   seed: int = 0, *, progress: bool = True, workers: int = 1) -> list["Piece"]:
    """One rendition of every entry played lower, for the bass register the corpus rarely
    visits (6 of the 6,324 notes of the rendered validation excerpts lie below A1): entry ``i``
    is transposed down by ``semitones_down[0] .. semitones_down[1]`` semitones (notes leaving
    the 88 keys dropped) and played with one ``(soundfont, program)`` of the given ones, both
    drawn from ``np.random.default_rng([seed, 13, i])``. Rendered into ``cache`` where missing;
    for :class:`WindowDataset` (``TrainConfig.lowered_semitones``, ``lowered_share``).
    Raises ``ValueError`` for a range that is not ``1 <= low <= high``."""
    low, high = (int(value) for value in semitones_down)
    if not 1 <= low <= high:
        raise ValueError(f"semitones_down must be (low, high) with 1 <= low <= high, got {semitones_down}")
    return _one_rendition_each(cache, entries, soundfonts, programs, [int(seed), 13],
                               lambda rng: -int(rng.integers(low, high + 1)),
                               progress=progress, workers=workers)


def _one_rendition_each(cache: RenderCache, entries, soundfonts, programs, stream: list[int],
                        draw_semitones, *, progress: bool, workers: int) -> list["Piece"]:
    """Entry ``i`` rendered once, moved by ``draw_semitones(rng)`` semitones and then played with
    one preset drawn from the same ``rng = np.random.default_rng(stream + [i])`` (in that order,
    so that a cache rendered before keeps its files)."""
    presets = [(soundfont, int(program)) for soundfont in soundfonts for program in programs]
    items = []
    for i, entry in enumerate(entries):
        rng = np.random.default_rng([*stream, i])
        semitones = draw_semitones(rng)
        soundfont, program = presets[int(rng.integers(len(presets)))]
        items.append((entry, soundfont, program, semitones))
    cache.render_all(items, progress=progress, workers=workers)
    return [_cached_piece(cache, entry, [(soundfont, program)], semitones)
            for entry, soundfont, program, semitones in items]


def _render_in_worker(cache: RenderCache, item) -> Path:
    return cache._render_one(*item)


MAPS_RENDITION = "MAPS"      # Rendition.soundfont of a MAPS recording: "MAPS <piano>"


def maps_pieces(recordings, cache: RenderCache | str | Path | None = None, *,
                progress: bool = True) -> list[Piece]:
    """Pieces for :class:`WindowDataset` from MAPS recordings (a
    :class:`fasolfa.corpus.MapsCorpus` or :class:`~fasolfa.corpus.MapsRecording` rows).

    Each recording is resampled once to ``config.SAMPLE_RATE`` with soxr (high quality), mono,
    and stored as 16-bit FLAC in ``<cache>/maps/<stem>-<key>.flac`` beside its notes
    ``<stem>-<key>.npz`` (``key`` hashes the audio and note files' content, the sample rate and
    :data:`CACHE_FORMAT_VERSION`); later calls only read the cache. The pieces have
    ``has_pedal=False``: MAPS gives no pedal, so the notes are not sustain-extended and the
    dataset's ``pedal_known`` is 0. Raises :class:`FasolfaError` naming a missing or corrupt
    audio or note file. Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    import soxr
    from tqdm.auto import tqdm

    if not isinstance(cache, RenderCache):
        cache = RenderCache(cache)
    recordings = list(recordings)
    remove_stale_partials(cache.cache_dir / "maps")
    pieces = []
    for recording in tqdm(recordings, desc="MAPS", unit="file", disable=not progress):
        text = json.dumps([midi_hash(recording.audio_path, "audio"),
                           midi_hash(recording.notes_path, "notes"), cache.sample_rate,
                           CACHE_FORMAT_VERSION])
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        stem = Path(recording.audio_path).stem
        audio_path = cache.cache_dir / "maps" / f"{stem}-{key}.flac"
        notes_path = audio_path.with_suffix(".npz")
        if not notes_path.is_file():
            notes = read_maps_notes(recording.notes_path)
            performance = _Recorded(notes, Pedal.empty(), notes.end_s)
            cache._write_notes(notes_path, performance)
        if not audio_path.is_file():
            try:
                samples, file_rate = soundfile.read(recording.audio_path, dtype="float32",
                                                    always_2d=True)
            except Exception as error:
                raise FasolfaError(f"{recording.audio_path}: not an audio file ({error})") from None
            if not len(samples):
                raise FasolfaError(f"{recording.audio_path}: the audio file holds no samples")
            mono = samples.mean(axis=1)
            if file_rate != cache.sample_rate:
                mono = soxr.resample(mono, file_rate, cache.sample_rate, quality="HQ")
            _write_flac(audio_path, np.asarray(mono, np.float32), cache.sample_rate)
        n_samples = int(soundfile.info(audio_path).frames)
        pieces.append(Piece(notes_path, n_samples,
                            (Rendition(audio_path, f"{MAPS_RENDITION} {recording.piano}".strip(), 0),),
                            stem, has_pedal=False))
    return pieces


@dataclass(frozen=True)
class _Recorded:
    """Notes, pedal and duration of a recording, shaped like :class:`fasolfa.midi.Performance`."""

    notes: Notes
    pedal: Pedal
    duration_s: float


def _write_flac(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit FLAC, scaled down to :data:`FLAC_PEAK` only if it would clip; atomic."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > FLAC_PEAK:
        audio = audio * np.float32(FLAC_PEAK / peak)
    return atomic_write(path, lambda temporary: soundfile.write(
        temporary, audio, sample_rate, format="FLAC", subtype="PCM_16"))


RESAMPLE_MARGIN = 512     # samples read beyond a detuned span, so the resampler's edges fall outside


def read_span(path: str | Path, start: int, n_samples: int, ratio: float = 1.0) -> np.ndarray:
    """``n_samples`` of a cached recording from sample ``start`` (which may be negative), zeros
    outside the recording. With ``ratio != 1`` (detuning: pitch times ``ratio``) it reads
    ``ratio * n_samples`` samples from ``start`` and resamples them (soxr) to ``n_samples``, so
    the audio plays ``ratio`` times faster and higher. Shape ``(n_samples,)``.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    if ratio == 1.0:
        return _read_padded(path, start, n_samples)
    import soxr
    margin = RESAMPLE_MARGIN
    n_source = int(round(n_samples * ratio)) + 2 * margin
    source = _read_padded(path, start - margin, n_source)
    resampled = soxr.resample(source, config.SAMPLE_RATE * ratio, config.SAMPLE_RATE, quality="HQ")
    first = int(round(margin / ratio))
    out = np.zeros(n_samples, np.float32)
    part = resampled[first:first + n_samples]
    out[:len(part)] = part
    return out


def _read_padded(path, start: int, n_samples: int) -> np.ndarray:
    before = max(-start, 0)
    audio = read_flac(path, max(start, 0), n_samples - before) if n_samples > before else np.zeros(0, np.float32)
    return np.concatenate([np.zeros(before, np.float32), audio]) if before else audio


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
    (every rendition has this length) and its renditions. ``has_pedal`` is false for recordings
    without pedal annotation (MAPS): their pedal targets are unknown, not "pedal up", and their
    notes are not sustain-extended. ``margin_n_samples``: windows start and end at least this
    far inside the recording (a clip of a :mod:`fasolfa.pack`, whose margins give the windows
    their real context). Explained in notebooks/04_rendering_a_dataset.ipynb."""

    notes_path: Path
    n_samples: int
    renditions: tuple[Rendition, ...]
    name: str = ""
    has_pedal: bool = True
    margin_n_samples: int = 0     # windows start and end at least this far inside (a pack's clips)

    @property
    def duration_s(self) -> float:
        return self.n_samples / config.SAMPLE_RATE


@dataclass
class Window:
    """One training window before it becomes tensors (for tests and the notebook).

    ``audio`` / ``clean_audio``: shape ``(context_n_samples + window_n_samples +
    context_n_samples,)``, after / before augmentation (the window's sample 0 is
    ``audio[context_n_samples]``; context beyond the recording's ends is zeros);
    ``targets``: :class:`fasolfa.midi.Targets` with ``1 + window_n_samples // HOP_LENGTH``
    frames, frame ``i`` centred at ``start_s + i * HOP_LENGTH / SAMPLE_RATE``; ``has_pedal``:
    whether the pedal targets are known; ``note_known (N_KEYS, n_frames)`` /
    ``contour_known (N_CONTOUR_BINS, n_frames)``: 1 where the note / contour target is known, 0 in
    the release tails of a piece without pedal (only with ``release_unknown_s``, else None).
    Explained in notebooks/04_rendering_a_dataset.ipynb."""

    audio: np.ndarray
    clean_audio: np.ndarray
    targets: object
    piece: int
    rendition: Rendition
    start_sample: int
    augmentation: dict = field(default_factory=dict)
    context_n_samples: int = 0
    has_pedal: bool = True
    note_known: np.ndarray | None = None
    contour_known: np.ndarray | None = None

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
    ``sustain`` and the piece ``has_pedal``). Returns a dict of float32 tensors:
    ``audio (context_n_samples + window_n_samples + context_n_samples,)``,
    ``onset, note, velocity (88, n_frames)``, ``contour (264, n_frames)``,
    ``pedal, pedal_onset, pedal_offset (n_frames,)``, ``pedal_known ()`` (1.0, or 0.0 for a
    piece without pedal annotation, whose pedal targets are zeros that a loss must ignore) and
    ``level_kept ()`` (1.0 when no gain was drawn: the window plays at its recorded level);
    with ``release_unknown_s > 0`` also ``note_known (88, n_frames)`` and ``contour_known
    (264, n_frames)``: 0 in the ``release_unknown_s`` seconds after each key's release in a piece
    without pedal annotation (:func:`fasolfa.midi.release_tails`; the key-by-key note lists of
    MAPS say nothing of a pedal, so the recording may ring there or not), where the target is
    0; 1 elsewhere and in every piece with pedal; ``n_frames = 1 + window_n_samples //
    HOP_LENGTH``; frame ``i`` is centred on window sample ``i * HOP_LENGTH``, which is
    ``audio[context_n_samples + i * HOP_LENGTH]``.

    ``context_n_samples`` (a multiple of ``HOP_LENGTH``; default 0): real audio of the
    recording on both sides of the window, zeros beyond its ends, so that a model sees what
    inference sees around a chunk (:data:`fasolfa.config.CONTEXT_N_SAMPLES`). Augmentation
    applies to the whole span.

    Call :meth:`set_epoch` before each epoch for new windows. Safe with DataLoader workers,
    persistent ones included: the epoch lives in a shared-memory tensor that every worker
    reads, and the dataset holds only paths and numbers (no open files, no synthesizers).
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    def __init__(self, pieces, n_windows: int, seed: int = 0, *,
                 augmentation: Augmentation | None = None, sustain: bool = True,
                 window_n_samples: int = config.WINDOW_N_SAMPLES, epoch: int = 0,
                 context_n_samples: int = 0, release_unknown_s: float = 0.0):
        self.pieces: list[Piece] = [p for p in pieces if p.renditions]
        if not self.pieces:
            raise ValueError("WindowDataset needs at least one piece with a rendition")
        if window_n_samples % config.HOP_LENGTH:
            raise ValueError(f"window_n_samples must be a multiple of HOP_LENGTH={config.HOP_LENGTH}")
        if context_n_samples < 0 or context_n_samples % config.HOP_LENGTH:
            raise ValueError(f"context_n_samples must be a non-negative multiple of HOP_LENGTH="
                             f"{config.HOP_LENGTH}")
        self.n_windows = int(n_windows)
        self.seed = int(seed)
        # shared memory: DataLoader workers (forked or spawned, persistent or not) see set_epoch
        self._epoch = torch.full((), int(epoch), dtype=torch.int64).share_memory_()
        self.context_n_samples = int(context_n_samples)
        if release_unknown_s < 0:
            raise ValueError(f"release_unknown_s must be >= 0, got {release_unknown_s}")
        self.release_unknown_s = float(release_unknown_s)
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
        pieces = [_cached_piece(cache, entry, [(soundfont, program) for soundfont in soundfonts
                                               for program in programs]) for entry in entries]
        return cls(pieces, n_windows, seed, **kwargs)

    def __len__(self) -> int:
        return self.n_windows

    @property
    def epoch(self) -> int:
        """The epoch whose windows are drawn (see :meth:`set_epoch`)."""
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Draw a different set of windows: call before iterating over each epoch's DataLoader.
        Reaches DataLoader workers that are already running (``persistent_workers=True``)."""
        self._epoch.fill_(int(epoch))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_notes"] = {}          # each worker loads its own notes
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if not self._epoch.is_shared():   # a plain pickle copy: give it its own shared epoch
            self._epoch = self._epoch.clone().share_memory_()

    def _piece_notes(self, index: int) -> tuple[Notes, Pedal]:
        cached = self._notes.get(index)
        if cached is None:
            notes, pedal, _ = read_notes(self.pieces[index].notes_path)
            if self.sustain and self.pieces[index].has_pedal:
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
        if piece.margin_n_samples:
            first_frame = -(-piece.margin_n_samples // config.HOP_LENGTH)
            last_start_frame = max(first_frame, (piece.n_samples - self.window_n_samples
                                                 - piece.margin_n_samples) // config.HOP_LENGTH)
            start_sample = int(rng.integers(first_frame, last_start_frame + 1)) * config.HOP_LENGTH
        else:
            last_start_frame = max(0, (piece.n_samples - self.window_n_samples) // config.HOP_LENGTH)
            start_sample = int(rng.integers(last_start_frame + 1)) * config.HOP_LENGTH
        params = self.augmentation.draw(rng)

        context_n = self.context_n_samples
        span_n = context_n + self.window_n_samples + context_n
        preroll_n = self.augmentation.reverb_max_samples if params["reverb"] else 0
        ratio = 2.0 ** (params["detune_cents"] / 1200.0) if params.get("detune_cents") else 1.0
        # the span (reverb preroll + context + window + context) read from the recording, zeros
        # where it lies outside; detuned: ratio times as many samples, resampled to span length
        audio = read_span(rendition.audio_path, start_sample - (preroll_n + context_n), preroll_n + span_n, ratio)
        preroll, clean = audio[:preroll_n], audio[preroll_n:]
        augmented = augment(clean, params, config.SAMPLE_RATE, self.augmentation.eq_max_db,
                            preroll=preroll)

        notes, pedal = self._piece_notes(piece_index)
        start_s = start_sample / config.SAMPLE_RATE
        frame_s = config.HOP_LENGTH / config.SAMPLE_RATE
        end_s = start_s + self.n_frames * frame_s * ratio          # in the recording's time
        window_notes = notes_in_window(notes, start_s - frame_s, end_s + frame_s)
        pedal_mask = (pedal.offset_s > start_s - frame_s) & (pedal.onset_s < end_s + frame_s)
        window_pedal = Pedal(pedal.onset_s[pedal_mask], pedal.offset_s[pedal_mask],
                             pedal.channel[pedal_mask])
        if ratio != 1.0:        # the audio plays `ratio` times faster: so do the notes
            squeeze = lambda time_s: start_s + (time_s - start_s) / ratio   # noqa: E731
            window_notes = Notes(squeeze(window_notes.onset_s), squeeze(window_notes.offset_s),
                                 window_notes.pitch, window_notes.velocity, window_notes.channel)
            window_pedal = Pedal(squeeze(window_pedal.onset_s), squeeze(window_pedal.offset_s),
                                 window_pedal.channel)
        targets = notes_to_targets(window_notes, window_pedal, self.n_frames, start_s)
        note_known = contour_known = None
        if self.release_unknown_s > 0:
            note_known = np.ones_like(targets.note)                     # (88, n_frames)
            contour_known = np.ones_like(targets.contour)               # (264, n_frames)
            if not piece.has_pedal:
                tails = notes_in_window(release_tails(notes, self.release_unknown_s),
                                        start_s - frame_s, end_s + frame_s)
                if ratio != 1.0:
                    tails = Notes(squeeze(tails.onset_s), squeeze(tails.offset_s), tails.pitch,
                                  tails.velocity, tails.channel)
                unknown = notes_to_targets(tails, None, self.n_frames, start_s)
                note_known[(unknown.note > 0) & (targets.note == 0)] = 0.0
                contour_known[(unknown.contour > 0) & (targets.contour == 0)] = 0.0
        return Window(augmented, clean, targets, piece_index, rendition, start_sample, params,
                      context_n, piece.has_pedal, note_known, contour_known)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = self.window(int(index))
        item = {"audio": torch.from_numpy(window.audio)}
        for name, values in window.targets.as_dict().items():
            item[name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        item["pedal_known"] = torch.tensor(1.0 if window.has_pedal else 0.0, dtype=torch.float32)
        item["level_kept"] = torch.tensor(1.0 if window.augmentation.get("gain_db") is None else 0.0,
                                          dtype=torch.float32)
        if window.note_known is not None:
            item["note_known"] = torch.from_numpy(window.note_known)
            item["contour_known"] = torch.from_numpy(window.contour_known)
        return item
