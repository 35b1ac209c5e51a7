"""Audio of any length, read and resampled in blocks: what ``fasolfa transcribe`` reads.

:func:`open_audio` checks a file or an array at once (missing, empty, not audio, a MIDI file,
a truncated wav, a sample rate out of range) and returns an :class:`AudioSource`, whose
:meth:`~AudioSource.blocks` yields mono float32 blocks at ``config.SAMPLE_RATE``:

* wav, flac, ogg and mp3 (libsndfile >= 1.1) are read a block at a time with soundfile, and
  resampled with a streaming resampler (``soxr.ResampleStream``, the same soxr "HQ" filter that
  ``librosa.resample`` uses), so memory holds one block whatever the file's length;
* formats libsndfile cannot read fall back to librosa/audioread, which decodes the **whole file**
  at once (memory grows with the file's length);
* arrays: ``(n_samples,)``, or 2-D with the shorter axis as channels (soundfile's
  ``(n_samples, n_channels)`` and librosa's ``(n_channels, n_samples)`` both work); integer
  arrays are scaled as PCM (int16 by 32768, ...).

Channels are averaged to mono. NaN or infinite samples, and samples beyond
``±MAX_ABS_SAMPLE`` (integer PCM stored as float, most likely), raise :class:`FasolfaError`
naming the file when the block holding them is read. Used by :mod:`fasolfa.transcribe`;
notebook ``00_quickstart`` shows it at work.
"""
from __future__ import annotations

import queue
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile

from fasolfa import config
from fasolfa.errors import FasolfaError

MIN_SAMPLE_RATE = 1000          # Hz: slower "audio" is certainly a mistake
MAX_SAMPLE_RATE = 768_000       # Hz
MAX_ABS_SAMPLE = 1000.0         # float audio lies in [-1, 1]; far beyond it is not audio
MIDI_SUFFIXES = (".mid", ".midi", ".kar")


@dataclass
class AudioSource:
    """Where audio comes from: a file read in blocks (``samples is None``) or an array.

    ``name`` is what error messages call it (the path, or ``"audio array"``); ``n_frames_in`` the
    number of samples per channel at ``sample_rate`` (the file's own rate), as the header says.
    """

    name: str
    sample_rate: int
    n_frames_in: int
    path: Path | None = None
    samples: np.ndarray | None = None        # (n_samples, n_channels) float32, arrays only

    @property
    def duration_s(self) -> float:
        return self.n_frames_in / self.sample_rate

    def blocks(self, block_n_samples: int, sample_rate: int = config.SAMPLE_RATE) -> Iterator[np.ndarray]:
        """Mono float32 blocks ``(n,)`` at ``sample_rate``, about ``block_n_samples`` long each
        (``block_n_samples`` at the source's rate, resampled), that concatenated make the whole
        recording. Raises :class:`FasolfaError` at the first block that cannot be decoded or
        holds NaN, infinite or absurdly large samples."""
        resampler = None
        if self.sample_rate != sample_rate:
            import soxr
            resampler = soxr.ResampleStream(self.sample_rate, sample_rate, 1, dtype="float32",
                                            quality="HQ")
        done = 0
        for block, last in self._raw_blocks(max(int(block_n_samples), 1)):
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            mono = np.ascontiguousarray(mono, np.float32)
            if not np.all(np.isfinite(mono)):
                raise FasolfaError(f"{self.name}: the audio holds NaN or infinite samples "
                                   f"(near {done / self.sample_rate:.1f} s)")
            peak = float(np.max(np.abs(mono))) if mono.size else 0.0
            if peak > MAX_ABS_SAMPLE:
                raise FasolfaError(f"{self.name}: samples reach {peak:.3g} near "
                                   f"{done / self.sample_rate:.1f} s; audio should lie in [-1, 1]")
            done += len(mono)
            yield resampler.resample_chunk(mono, last=last) if resampler is not None else mono

    def scan(self, meters, block_n_samples: int = 1 << 18) -> None:
        """One pass over the recording's blocks at ``config.SAMPLE_RATE``, each given to every
        meter's ``add`` (:class:`fasolfa.level.LevelMeter`, :class:`fasolfa.tuning.TuningMeter`);
        a file is decoded for it; errors as :meth:`blocks`."""
        for block in self.blocks(block_n_samples):
            for meter in meters:
                meter.add(block)

    def level_db(self, block_n_samples: int = 1 << 18) -> float:
        """The recording's level (:func:`fasolfa.level.level_db`), from :meth:`scan`."""
        from fasolfa.level import LevelMeter
        meter = LevelMeter()
        self.scan([meter], block_n_samples)
        return meter.level_db()

    def _raw_blocks(self, block_n_samples: int) -> Iterator[tuple[np.ndarray, bool]]:
        """``(block (n, n_channels) float32, is_last)`` at the source's own rate."""
        if self.samples is not None:
            n = len(self.samples)
            for start in range(0, max(n, 1), block_n_samples):
                yield self.samples[start:start + block_n_samples], start + block_n_samples >= n
            return
        try:
            with soundfile.SoundFile(self.path) as file:
                while True:
                    block = file.read(block_n_samples, dtype="float32", always_2d=True)
                    last = len(block) < block_n_samples
                    yield block, last
                    if last:
                        return
        except FasolfaError:
            raise
        except Exception as error:
            raise FasolfaError(f"{self.name}: cannot be decoded ({_one_line(error)})") from None


_END = object()


class ReadAhead:
    """An :class:`AudioSource` decoded and resampled in a background thread, at most
    ``max_blocks`` blocks of ``block_n_samples`` ahead of its reader (memory stays bounded).

    The command line starts one before it imports torch, so that the file is being decoded on
    the second core while the first loads the network (about a tenth of a second saved on a
    3-minute file). It reads like the source (``name``, ``sample_rate``, ``duration_s``, ...), but
    :meth:`blocks` can be iterated once; a decoding error is raised there, in the reader's thread.
    :meth:`close` stops the thread (``blocks`` does when it ends or is abandoned).
    """

    def __init__(self, source: AudioSource, block_n_samples: int, max_blocks: int = 4):
        self.source, self.block_n_samples = source, int(block_n_samples)
        self._queue: queue.Queue = queue.Queue(max(int(max_blocks), 1))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"read-ahead {source.name}", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str):
        return getattr(self.source, name)

    def _read(self) -> None:
        try:
            for block in self.source.blocks(self.block_n_samples):
                if not self._put(block):
                    return
            self._put(_END)
        except BaseException as error:            # handed to the reader, raised there
            self._put(error)

    def _put(self, item) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def scan(self, meters, block_n_samples: int | None = None) -> None:
        """:meth:`AudioSource.scan`: a pass of its own over the source in the caller's thread,
        while the reader goes on filling its queue."""
        self.source.scan(meters, block_n_samples or self.block_n_samples)

    def level_db(self, block_n_samples: int | None = None) -> float:
        """The recording's level (:meth:`AudioSource.level_db`), from :meth:`scan`."""
        return self.source.level_db(block_n_samples or self.block_n_samples)

    def blocks(self, block_n_samples: int | None = None, sample_rate: int = config.SAMPLE_RATE) -> Iterator[np.ndarray]:
        """The blocks, as :meth:`AudioSource.blocks` gives them (``block_n_samples`` long at the
        source's rate: the length given at construction; ``block_n_samples`` is accepted and
        ignored, since the reader is already under way)."""
        if sample_rate != config.SAMPLE_RATE:
            raise ValueError(f"a ReadAhead gives blocks at {config.SAMPLE_RATE} Hz only")
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join()


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def check_sample_rate(sample_rate, name: str) -> int:
    """``sample_rate`` as an int, or :class:`FasolfaError` when outside the usable range."""
    if sample_rate is None:
        raise TypeError("sample_rate is required when transcribing an array")
    try:
        rate = float(sample_rate)
    except (TypeError, ValueError):
        raise TypeError(f"sample_rate must be a number, got {sample_rate!r}") from None
    if not np.isfinite(rate) or rate != int(rate) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise FasolfaError(f"{name}: sample rate {sample_rate} Hz is not an integer in "
                           f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    return int(rate)


def _array_source(audio, sample_rate) -> AudioSource:
    name = "audio array"
    array = np.asarray(audio)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.integer)
                                     or np.issubdtype(array.dtype, np.floating)
                                     or array.dtype == bool):
        raise TypeError(f"audio must be a numeric array, got dtype {array.dtype}")
    rate = check_sample_rate(sample_rate, name)
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim == 2:
        if array.shape[0] < array.shape[1]:
            array = array.T                   # (n_channels, n_samples) -> (n_samples, n_channels)
    else:
        raise FasolfaError(f"{name}: expected shape (n_samples,) or (n_samples, n_channels), "
                           f"got {array.shape}")
    if array.size == 0:
        raise FasolfaError(f"{name}: holds no samples")
    if np.issubdtype(array.dtype, np.integer):
        scale = float(2 ** (8 * array.dtype.itemsize - 1))
        array = array.astype(np.float32) / np.float32(scale)
    else:
        with np.errstate(over="ignore"):
            array = array.astype(np.float32)  # float64 beyond float32's range becomes inf: refused
    return AudioSource(name, rate, len(array), samples=array)


def wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file whose ``data`` chunk claims more bytes than the file holds, the
    problem in words; otherwise None (libsndfile would silently read what is there)."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        header = file.read(12)
        if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX") or header[8:12] != b"WAVE":
            return None
        endian = "<" if header[:4] == b"RIFF" else ">"
        position = 12
        while position + 8 <= size:
            file.seek(position)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", file.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):            # streamed wav: size unknown
                    return None
                held = size - position - 8
                if held < chunk_size:
                    return (f"truncated: the header announces {chunk_size} bytes of samples, "
                            f"the file holds {held}")
                return None
            position += 8 + chunk_size + (chunk_size & 1)
    return None


def _file_source(path) -> AudioSource:
    path = Path(path)
    if not path.exists():
        raise FasolfaError(f"{path}: no such audio file")
    if path.is_dir():
        raise FasolfaError(f"{path}: a folder, not an audio file")
    if path.suffix.lower() in MIDI_SUFFIXES:
        raise FasolfaError(f"{path}: a MIDI file; transcribe takes audio (wav, flac, ogg, mp3)")
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError as error:
        raise FasolfaError(f"{path}: cannot be read ({error.strerror})") from None
    if size == 0:
        raise FasolfaError(f"{path}: empty file")
    if head == b"MThd":
        raise FasolfaError(f"{path}: a MIDI file; transcribe takes audio (wav, flac, ogg, mp3)")
    try:
        info = soundfile.info(str(path))
    except Exception as soundfile_error:
        from fasolfa.audio import _load_with_librosa
        samples, rate = _load_with_librosa(path, soundfile_error)        # whole file (mp3 etc.)
        if len(samples) == 0:
            raise FasolfaError(f"{path}: the audio file holds no samples") from None
        return AudioSource(str(path), check_sample_rate(rate, str(path)), len(samples), path=path,
                           samples=np.ascontiguousarray(samples, np.float32))
    problem = wav_truncation(path)
    if problem:
        raise FasolfaError(f"{path}: {problem}")
    if info.frames <= 0:
        raise FasolfaError(f"{path}: the audio file holds no samples")
    return AudioSource(str(path), check_sample_rate(info.samplerate, str(path)), int(info.frames),
                       path=path)


def open_audio(path_or_audio, sample_rate: int | None = None) -> AudioSource:
    """An :class:`AudioSource` for a path (``str`` or ``Path``) or an array with its
    ``sample_rate``. Raises :class:`FasolfaError` naming the file for what a user can get wrong
    (see the module docstring), ``TypeError`` for an array without a sample rate or of a
    non-numeric type. An :class:`AudioSource` or :class:`ReadAhead` is returned as it is."""
    if isinstance(path_or_audio, (AudioSource, ReadAhead)):
        return path_or_audio
    if isinstance(path_or_audio, (str, Path)):
        return _file_source(path_or_audio)
    return _array_source(path_or_audio, sample_rate)
