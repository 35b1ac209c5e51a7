"""Audio -> posteriorgrams, in chunks of bounded memory that stitch without seams.

Explained in notebooks/05_the_model.ipynb (section "Training windows = inference chunks").

A recording of any length is cut into chunks of ``chunk_frames`` output frames. Each chunk is
computed from

* the network's input frames ``margin`` frames beyond the chunk on both sides (the network's
  time receptive field, :meth:`fasolfa.model.FasolfaNet.time_margin_frames`), clipped at the
  recording's ends, where a whole-file pass would see its zero padding too;
* the audio under those frames plus ``CONTEXT_N_SAMPLES`` on both sides (zeros past the
  recording's ends), so every HCQT frame equals the frame computed inside the whole recording
  (:meth:`fasolfa.hcqt.HCQT.with_context`) — exactly what a training window sees.

The margins are dropped and the chunks concatenated: the result equals one pass over the whole
file (to float rounding), while memory holds one chunk.
"""
from __future__ import annotations

import numpy as np
import torch

from fasolfa import config
from fasolfa.hcqt import HCQT
from fasolfa.model import FasolfaNet, probabilities

DEFAULT_CHUNK_FRAMES = 2048          # ~23.8 s of output per chunk


def n_frames_for(n_samples: int, hop_length: int = config.HOP_LENGTH) -> int:
    """Frames of a recording of ``n_samples`` (frame ``i`` centred on sample ``i * hop``)."""
    return 1 + int(n_samples) // hop_length


def audio_span(audio: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``audio[start:stop]`` with zeros where the span leaves the recording. Shape ``(stop - start,)``."""
    out = np.zeros(stop - start, np.float32)
    lo, hi = max(start, 0), min(stop, len(audio))
    if hi > lo:
        out[lo - start:hi - start] = audio[lo:hi]
    return out


def chunk_spans(n_frames: int, chunk_frames: int, margin: int):
    """``(first, last, input_first, input_last)`` per chunk: output frames ``[first, last)`` from
    network input frames ``[input_first, input_last)`` (``margin`` more each side, clipped)."""
    for first in range(0, n_frames, chunk_frames):
        last = min(first + chunk_frames, n_frames)
        yield first, last, max(first - margin, 0), min(last + margin, n_frames)


@torch.inference_mode()
def compute_posteriorgrams(audio: np.ndarray, model: FasolfaNet, hcqt: HCQT | None = None, *,
                           chunk_frames: int = DEFAULT_CHUNK_FRAMES, device: str | torch.device = "cpu",
                           progress=None) -> dict[str, np.ndarray]:
    """Posteriorgrams of mono ``audio`` ``(n_samples,)`` at ``config.SAMPLE_RATE``.

    Returns float32 probabilities: ``contour (264, n_frames)``, ``note``, ``onset``, ``velocity``
    ``(88, n_frames)``, ``pedal``, ``pedal_onset``, ``pedal_offset`` ``(n_frames,)``, with
    ``n_frames = 1 + n_samples // HOP_LENGTH``. ``progress``: a callable given the number of
    frames done after each chunk (a tqdm bar's ``update``), or None.
    """
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono, shape (n_samples,), got {audio.shape}")
    hop, context = config.HOP_LENGTH, config.CONTEXT_N_SAMPLES
    hcqt = hcqt if hcqt is not None else HCQT()
    hcqt = hcqt.to(device)
    model = model.to(device).eval()
    n_frames = n_frames_for(len(audio))
    margin = model.time_margin_frames
    outputs: dict[str, list[np.ndarray]] = {}
    for first, last, input_first, input_last in chunk_spans(n_frames, int(chunk_frames), margin):
        n_input = input_last - input_first
        span = audio_span(audio, input_first * hop - context, (input_last - 1) * hop + context)
        waveform = torch.from_numpy(span).to(device)[None]                # (1, samples)
        features = hcqt.with_context(waveform, context)                   # (1, 8, 264, n_input)
        assert features.shape[-1] == n_input
        posteriors = probabilities(model(features))
        keep = slice(first - input_first, first - input_first + (last - first))
        for name, values in posteriors.items():
            outputs.setdefault(name, []).append(values[0, ..., keep].float().cpu().numpy())
        if progress is not None:
            progress(last - first)
    return {name: np.concatenate(parts, axis=-1) for name, parts in outputs.items()}
