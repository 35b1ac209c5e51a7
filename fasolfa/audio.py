"""Load audio files as mono float32 at fasolfa's sample rate; write them atomically.

Used by the command line and by every notebook that loads audio.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from fasolfa import config
from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError


def load_audio(path: str | Path, sample_rate: int = config.SAMPLE_RATE) -> np.ndarray:
    """Read an audio file (wav, flac, ogg, mp3, ...) as mono float32 at ``sample_rate``.

    Stereo is averaged to mono; other rates are resampled (``librosa.resample``, soxr).
    Returns shape ``(n_samples,)``. Raises :class:`FasolfaError` naming the file when it is
    missing, not audio, or holds no samples. Silence is valid audio.
    """
    path = Path(path)
    if not path.is_file():
        raise FasolfaError(f"{path}: no such audio file")
    try:
        samples, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as soundfile_error:
        samples, file_rate = _load_with_librosa(path, soundfile_error)
    if samples.shape[0] == 0:
        raise FasolfaError(f"{path}: the audio file holds no samples")
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if not np.all(np.isfinite(mono)):
        raise FasolfaError(f"{path}: the audio holds NaN or infinite samples")
    if file_rate != sample_rate:
        import librosa
        mono = librosa.resample(mono, orig_sr=file_rate, target_sr=sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _load_with_librosa(path: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    """Fallback for formats libsndfile cannot read (librosa → audioread / ffmpeg)."""
    import warnings

    import librosa
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples, file_rate = librosa.load(path, sr=None, mono=False)
    except Exception:
        raise FasolfaError(f"{path}: not an audio file ({first_error})") from None
    samples = np.atleast_2d(samples).T       # (n_samples, n_channels)
    return samples.astype(np.float32), int(file_rate)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int = config.SAMPLE_RATE) -> Path:
    """Write mono audio (shape ``(n_samples,)``) to wav/flac/ogg by the path's suffix.

    Written with :func:`fasolfa.atomic.atomic_write`: an interrupted write leaves no partial file.
    """
    audio = np.asarray(audio, dtype=np.float32)
    return atomic_write(path, lambda temporary: soundfile.write(temporary, audio, sample_rate))
