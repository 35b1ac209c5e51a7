"""Audio in, MIDI out: ``fasolfa.transcribe`` and the :class:`Transcription` it returns.

Notebook ``00_quickstart`` shows it; the steps it chains are explained in notebooks 03
(HCQT), 05 (the network, chunked inference) and 07 (posteriorgrams to notes).

1. :func:`fasolfa.audio_stream.open_audio` checks the input and reads it in blocks, resampled
   to ``config.SAMPLE_RATE`` on the fly; a first pass measures the recording's level and
   tuning: every block is brought into the checkpoint's ``input_level_db`` band when it stores
   one (:mod:`fasolfa.level`: a recording far too loud or quiet reads as one of a level the
   network knows), and the HCQT's bins follow the tuning (:mod:`fasolfa.tuning`: a piano at
   A = 445 Hz reads as one at 440);
2. :func:`fasolfa.posteriorgrams.iter_posteriorgrams` cuts the stream into chunks of
   ``chunk_frames`` frames with the network's receptive field and the HCQT's context around
   each, so the chunks stitch without seams (the same numbers as one pass over the whole file)
   while memory holds one chunk; the velocity head runs only where the onset probability
   reaches :func:`~fasolfa.posteriorgrams.velocity_floor` of the onset threshold (notes read
   velocity at their onset only), not at all with ``velocity=False``;
3. the posteriorgrams are kept as float16 (about 45 kB per second of audio for note, onset
   and velocity; the contour head, as much again, only with ``keep_contour=True``; the pedal
   heads, tiny, as float32) and
   turned into notes and pedal by :func:`fasolfa.notes.posteriorgrams_to_notes`, a block of
   keys at a time.

The model is loaded once per process and checkpoint (:func:`load_model`), in inference form
(``eval().fuse()``); ``torch.set_num_threads`` is left as it is.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fasolfa import config
from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal

SHIPPED_CHECKPOINT = config.CHECKPOINT_DIR / "fasolfa.pt"
DEFAULT_CHUNK_FRAMES = 1024             # ~11.9 s of output per chunk: bounded memory, little overlap
STORED_DTYPE = np.float16               # the 88- and 264-row posteriorgrams of a whole recording
NOTE_HEADS = ("note", "onset", "velocity", "pedal", "pedal_onset", "pedal_offset")


@dataclass
class Transcription:
    """What :func:`transcribe` returns.

    * ``midi`` — :class:`pretty_midi.PrettyMIDI`, one piano (program 0), sustain as CC64
      (built on first use);
    * ``notes`` (:class:`fasolfa.midi.Notes`), ``pedal`` (:class:`fasolfa.midi.Pedal`), in seconds;
    * ``posteriorgrams`` — dict of arrays, frequency first, time last: ``note``, ``onset``,
      ``velocity`` ``(88, n_frames)`` (float16; velocity only where the onset probability
      reaches :func:`fasolfa.posteriorgrams.velocity_floor`, 0 elsewhere), ``pedal``, ``pedal_onset``, ``pedal_offset``
      ``(n_frames,)`` (float32), and ``contour (264, n_frames)`` (float16) unless
      ``keep_contour=False``; frame ``i``
      is centred at ``i / config.FRAMES_PER_SECOND`` seconds;
    * ``duration_s`` — the audio's length in seconds;
    * ``gain_db`` — the gain applied to bring the recording into the checkpoint's input level
      band (0.0 when none was: inside it, ``level=False``, or a checkpoint without one);
    * ``tuning_cents`` — how many cents the HCQT's bins were moved to follow the recording's
      tuning (0.0: none, ``tuning=False`` or a tuning within 2 cents of A = 440 Hz).
    """

    notes: Notes
    pedal: Pedal
    posteriorgrams: dict = field(repr=False)
    duration_s: float
    gain_db: float = 0.0
    tuning_cents: float = 0.0
    _midi: object = field(default=None, repr=False, compare=False)

    @property
    def midi(self):
        """The notes and pedal as a :class:`pretty_midi.PrettyMIDI` (:func:`fasolfa.notes.notes_to_midi`)."""
        if self._midi is None:
            from fasolfa.notes import notes_to_midi
            self._midi = notes_to_midi(self.notes, self.pedal)
        return self._midi

    def save(self, path: str | Path) -> Path:
        """Write the MIDI file (:func:`fasolfa.midi.write_midi`: one piano track, the sustain
        pedal as controller 64, 1 ms ticks; atomically, never a partial file)."""
        from fasolfa.midi import write_midi
        return write_midi(path, self.notes, self.pedal)

    def save_notes_csv(self, path: str | Path) -> Path:
        """Write the notes as CSV, ``onset_s,offset_s,pitch,velocity`` (atomically)."""
        from fasolfa.notes import notes_table
        text = notes_table(self.notes)
        return atomic_write(path, lambda temporary: Path(temporary).write_text(text))

    def save_posteriorgrams(self, path: str | Path) -> Path:
        """Write the posteriorgrams as a compressed ``.npz`` (atomically), one array per head,
        plus ``frames_per_second``."""
        arrays = dict(self.posteriorgrams, frames_per_second=np.float64(config.FRAMES_PER_SECOND))
        return atomic_write(path, lambda temporary: np.savez_compressed(temporary, **arrays))


def resolve_checkpoint(checkpoint: str | Path | None) -> Path:
    """The checkpoint to use: ``checkpoint``, or the shipped one (a :class:`FasolfaError` that
    says how to get one when it is missing)."""
    if checkpoint is not None:
        return Path(checkpoint)
    if not SHIPPED_CHECKPOINT.is_file():
        raise FasolfaError(f"no shipped checkpoint at {SHIPPED_CHECKPOINT}; train one with "
                           "make train or pass --checkpoint")
    return SHIPPED_CHECKPOINT


def load_model(checkpoint: str | Path | None = None, device: str = "auto"):
    """``(model, hcqt, device)`` ready for inference, loaded once per process for each
    checkpoint file (path, size and modification time) and device."""
    return _loaded(checkpoint, device)[:3]


def checkpoint_thresholds(checkpoint: str | Path | None = None):
    """The note-creation thresholds stored with a checkpoint (chosen on validation by
    :func:`fasolfa.train.finalize`), or :class:`fasolfa.notes.NoteThresholds`' defaults."""
    return _loaded(checkpoint, "cpu")[3]


def checkpoint_input_level(checkpoint: str | Path | None = None) -> tuple[float, float] | None:
    """The input level band ``(low, high)`` in dBFS stored with a checkpoint (chosen on
    validation by :func:`fasolfa.train.finalize`; :mod:`fasolfa.level`), or None for one without."""
    return _loaded(checkpoint, "cpu")[4]


def _loaded(checkpoint, device):
    from fasolfa.train import pick_device
    path = resolve_checkpoint(checkpoint)
    torch_device = pick_device(device)
    try:
        stat = path.stat()
    except OSError:
        raise FasolfaError(f"{path}: no such checkpoint") from None
    return _load_model(str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(torch_device))


@functools.lru_cache(maxsize=4)
def _load_model(path: str, size: int, mtime_ns: int, device: str):
    import torch

    from fasolfa.hcqt import HCQT
    from fasolfa.train import load_weights
    from fasolfa.notes import NoteThresholds
    model, metadata = load_weights(path, "cpu")
    stored = metadata.get("thresholds") if isinstance(metadata, dict) else None
    known = NoteThresholds.__dataclass_fields__
    thresholds = NoteThresholds(**{k: v for k, v in stored.items() if k in known}) if isinstance(stored, dict) else NoteThresholds()
    if not all(bool(torch.isfinite(p).all()) for p in model.state_dict().values()
               if p.is_floating_point()):
        raise FasolfaError(f"{path}: the checkpoint holds NaN or infinite weights")
    from fasolfa.level import level_range
    level = metadata.get("input_level_db") if isinstance(metadata, dict) else None
    model = model.eval().fuse().to(device)
    return model, HCQT().to(device), device, thresholds, (level_range(level) if level is not None else None)


def chunk_block_n_samples(sample_rate: int, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> int:
    """Samples at ``sample_rate`` (a file's own rate) that make one chunk of ``chunk_frames``
    output frames: the block length :func:`transcribe` reads audio in."""
    return int(chunk_frames) * config.HOP_LENGTH * int(sample_rate) // config.SAMPLE_RATE


def transcribe(path_or_audio, sample_rate: int | None = None, *, checkpoint: str | Path | None = None,
               thresholds=None, velocity: bool = True, pedal: bool = True, device: str = "auto",
               chunk_frames: int = DEFAULT_CHUNK_FRAMES, progress=False,
               keep_contour: bool = True, level: bool = True, tuning: bool = True) -> Transcription:
    """Transcribe piano audio: a file path (wav, flac, ogg, mp3, ...), an array with its
    ``sample_rate`` (``(n_samples,)``, or 2-D with the shorter axis as channels), or a source
    already opened by :func:`fasolfa.audio_stream.open_audio` (or read ahead,
    :class:`fasolfa.audio_stream.ReadAhead`).

    ``checkpoint``: a :func:`fasolfa.train.save_weights` file (default: the shipped
    ``fasolfa/checkpoints/fasolfa.pt``). ``thresholds``: a :class:`fasolfa.notes.NoteThresholds`
    (None: the thresholds stored with the checkpoint, :func:`checkpoint_thresholds`). ``velocity=False``: every note at velocity 80;
    ``pedal=False``: no sustain pedal. ``device``: ``"auto"`` (CUDA when available), ``"cpu"``,
    ``"cuda"``. ``chunk_frames``: output frames per chunk (memory, not results, depends on it).
    ``progress``: True for a tqdm bar over the audio's seconds (on a terminal, after 2 s), or a callable given the seconds
    done after each chunk. ``keep_contour=False`` drops the contour posteriorgram (three
    quarters of the memory kept for a long recording). ``level``: bring the recording into the
    checkpoint's ``input_level_db`` band (:mod:`fasolfa.level`; a first pass over the audio
    measures it); False: read it at its own level, as checkpoints without one always do. ``tuning``: move
    the HCQT's bins to the recording's tuning, estimated in the same pass (:mod:`fasolfa.tuning`);
    False: bins at A = 440 Hz.

    Raises :class:`FasolfaError` (one line naming the file or "audio array") for every input a
    user can get wrong: missing, empty, undecodable or truncated files, MIDI files, NaN or
    infinite samples, a sample rate out of range, a missing or broken checkpoint.
    """
    from fasolfa.audio_stream import open_audio
    from fasolfa.notes import NoteThresholds, posteriorgrams_to_notes
    from fasolfa.posteriorgrams import iter_posteriorgrams, velocity_floor

    thresholds = checkpoint_thresholds(checkpoint) if thresholds is None else thresholds
    if not isinstance(thresholds, NoteThresholds):
        raise TypeError(f"thresholds must be a NoteThresholds, got {type(thresholds).__name__}")
    if int(chunk_frames) < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    source = open_audio(path_or_audio, sample_rate)
    model, hcqt, torch_device = load_model(checkpoint, device)
    update, close = _progress(progress, source.duration_s, source.name)
    names = NOTE_HEADS + (("contour",) if keep_contour else ())
    block_n_samples = chunk_block_n_samples(source.sample_rate, chunk_frames)
    # one preallocated array per head, sized from the header (grown if the estimate is short):
    # no list of chunk pieces to concatenate (which would double the peak) or to fragment memory
    estimate = 1 + round(source.n_frames_in * config.SAMPLE_RATE / source.sample_rate) // config.HOP_LENGTH
    stored = _Stored(estimate + 8)
    reference_db = checkpoint_input_level(checkpoint) if level else None
    applied_db, tuning_cents, blocks = 0.0, 0.0, source.blocks(block_n_samples)
    try:
        if reference_db is not None or tuning:          # the first pass: level and tuning
            from fasolfa.level import LevelMeter, gain_db
            from fasolfa.tuning import TuningMeter, correction_cents, tuned_hcqt
            level_meter, tuning_meter = LevelMeter(), TuningMeter()
            source.scan([level_meter, tuning_meter] if tuning else [level_meter], block_n_samples)
            if reference_db is not None:
                applied_db = gain_db(level_meter.level_db(), reference_db)
                gain = np.float32(10.0 ** (applied_db / 20.0))
                blocks = (block * gain for block in blocks)
            if tuning:
                tuning_cents = correction_cents(tuning_meter.cents(), tuning_meter.strength())
                if tuning_cents:
                    hcqt = tuned_hcqt(tuning_cents, torch_device)
        for first, posteriors in iter_posteriorgrams(
                blocks, model, hcqt, chunk_frames=int(chunk_frames),
                device=torch_device, names=names,
                velocity_floor=velocity_floor(thresholds.onset) if velocity else 2.0,   # 2: nowhere
                progress=lambda n: update(n / config.FRAMES_PER_SECOND)):
            for name, values in posteriors.items():
                if not np.all(np.isfinite(values)):
                    raise FasolfaError(f"{source.name}: the network gave NaN (a broken checkpoint?)")
                stored.put(name, first, values)
    finally:
        close()
    posteriorgrams = stored.arrays()
    notes, pedal_intervals = posteriorgrams_to_notes(posteriorgrams, thresholds,
                                                     velocity=velocity, pedal=pedal)
    n_frames = posteriorgrams["note"].shape[-1]
    duration_s = source.duration_s if source.duration_s else (n_frames - 1) / config.FRAMES_PER_SECOND
    return Transcription(notes, pedal_intervals if pedal else Pedal.empty(), posteriorgrams, float(duration_s),
                         float(applied_db), float(tuning_cents))


class _Stored:
    """Posteriorgrams of a whole recording, written chunk by chunk into preallocated arrays
    (float16 for the 88- and 264-row heads, float32 for the pedal), time last."""

    def __init__(self, capacity: int):
        self.capacity, self.n_frames, self.data = int(capacity), 0, {}

    def put(self, name: str, first: int, values: np.ndarray) -> None:
        last = first + values.shape[-1]
        if name not in self.data:
            dtype = np.float32 if values.ndim == 1 else STORED_DTYPE
            self.data[name] = np.zeros(values.shape[:-1] + (self.capacity,), dtype)
        array = self.data[name]
        if last > array.shape[-1]:                       # the header's length was short
            grown = np.zeros(array.shape[:-1] + (max(last, 2 * array.shape[-1]),), array.dtype)
            grown[..., :array.shape[-1]] = array
            self.data[name] = array = grown
        array[..., first:last] = values
        self.n_frames = max(self.n_frames, last)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: array[..., :self.n_frames] for name, array in self.data.items()}


def _progress(progress, total_s: float, name: str):
    """``(update(seconds), close())`` for ``progress`` (False, True or a callable)."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return (lambda seconds: None), (lambda: None)
    from tqdm.auto import tqdm
    # shown on a terminal only (disable=None), and only for files that take over 2 s
    bar = tqdm(total=round(total_s, 1), unit="s", desc=Path(name).name, leave=False, disable=None,
               delay=2.0,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
    return (lambda seconds: bar.update(min(seconds, bar.total - bar.n))), bar.close
