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

from typing import Iterable

import numpy as np
import torch

from fasolfa import config
from fasolfa.hcqt import HCQT
from fasolfa.model import FasolfaNet

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


def audio_chunks(blocks: Iterable[np.ndarray], chunk_frames: int, margin: int):
    """Cut a stream of mono audio into the chunks of :func:`chunk_spans`, holding one chunk.

    ``blocks``: mono float32 arrays ``(n,)`` at ``config.SAMPLE_RATE``, of any sizes, that
    concatenated make the recording (its length need not be known in advance). Yields
    ``(first, last, input_first, input_last, span)`` per chunk, with ``span`` the audio of
    samples ``[input_first * hop - context, (input_last - 1) * hop + context)`` (zeros outside
    the recording): the same spans as :func:`chunk_spans` over the whole recording. A chunk is
    cut as soon as the audio it needs has arrived, or the stream has ended; audio no later chunk
    needs is dropped, so memory holds about one chunk whatever the recording's length.
    """
    hop, context = config.HOP_LENGTH, config.CONTEXT_N_SAMPLES
    chunk_frames, margin = int(chunk_frames), int(margin)
    if chunk_frames < 1 or margin < 0:
        raise ValueError(f"chunk_frames must be >= 1 and margin >= 0, got {chunk_frames}, {margin}")
    blocks = iter(blocks)
    buffer = np.zeros(0, np.float32)          # samples [buffer_start, buffer_start + len(buffer))
    buffer_start = n_samples = first = 0
    ended = False
    while True:
        needed_end = (first + chunk_frames + margin - 1) * hop + context
        parts = [buffer]
        while not ended and n_samples < needed_end:
            block = next(blocks, None)
            if block is None:
                ended = True
                break
            block = np.asarray(block, np.float32)
            if block.ndim != 1:
                raise ValueError(f"audio blocks must be mono, shape (n,), got {block.shape}")
            parts.append(block)
            n_samples += len(block)
        if len(parts) > 1:
            buffer = np.concatenate(parts)
        if ended:
            n_frames = n_frames_for(n_samples)
            last = min(first + chunk_frames, n_frames)
            input_last = min(last + margin, n_frames)
        else:                                 # at least last + margin frames exist
            last, input_last = first + chunk_frames, first + chunk_frames + margin
        input_first = max(first - margin, 0)
        start = input_first * hop - context
        span = audio_span(buffer, start - buffer_start, (input_last - 1) * hop + context - buffer_start)
        yield first, last, input_first, input_last, span
        if ended and last >= n_frames:
            return
        first = last
        keep_from = max(first - margin, 0) * hop - context      # the next chunk's first sample
        if keep_from > buffer_start:
            buffer = buffer[keep_from - buffer_start:].copy()
            buffer_start = keep_from


VELOCITY_FLOOR = 0.05     # the lowest onset threshold notebook 07's slider offers


def velocity_floor(onset_threshold: float) -> float:
    """The onset probability from which :func:`fasolfa.transcribe` computes the velocity head
    (``FasolfaNet.forward``'s ``velocity_floor``): ``onset_threshold`` or :data:`VELOCITY_FLOOR`,
    whichever is lower, less float16's rounding (the onset posteriorgram is stored as float16,
    which can round a cell just below the floor up onto it). Notes read velocity at onset peaks
    that reach their threshold only, so the notes of any onset threshold from :data:`VELOCITY_FLOOR`
    up are those of the dense head."""
    return min(float(onset_threshold), VELOCITY_FLOOR) * (1.0 - 2.0 ** -8)


@torch.inference_mode()
def iter_posteriorgrams(blocks: Iterable[np.ndarray], model: FasolfaNet, hcqt: HCQT | None = None, *,
                        chunk_frames: int = DEFAULT_CHUNK_FRAMES, device: str | torch.device = "cpu",
                        names=None, progress=None, velocity_floor: float | None = None):
    """Posteriorgrams of a stream of mono audio blocks (see :func:`audio_chunks`), chunk by chunk.

    Yields ``(first, posteriorgrams)``: float32 arrays for output frames ``[first, first + n)``,
    shapes as in :func:`compute_posteriorgrams` with ``n`` frames. ``names``: the heads to
    return (default: all). Concatenated, the chunks equal one pass over the whole recording.
    ``velocity_floor``: velocity only where the onset probability reaches it, 0 elsewhere
    (:func:`velocity_floor`; a fifth of the shipped network's work saved); None: everywhere.
    """
    hcqt = hcqt if hcqt is not None else HCQT()
    hcqt = hcqt.to(device)
    model = model.to(device).eval()
    context = config.CONTEXT_N_SAMPLES
    for first, last, input_first, input_last, span in audio_chunks(blocks, chunk_frames,
                                                                   model.time_margin_frames):
        waveform = torch.from_numpy(span).to(device)[None]                # (1, samples)
        features = hcqt.with_context(waveform, context)                   # (1, 8, 264, n_input)
        assert features.shape[-1] == input_last - input_first
        logits = model(features, velocity_floor=velocity_floor)
        keep = slice(first - input_first, last - input_first)
        yield first, {name: torch.sigmoid(values[0, ..., keep]).float().cpu().numpy()
                      for name, values in logits.items() if names is None or name in names}
        if progress is not None:
            progress(last - first)


def compute_posteriorgrams(audio: np.ndarray, model: FasolfaNet, hcqt: HCQT | None = None, *,
                           chunk_frames: int = DEFAULT_CHUNK_FRAMES, device: str | torch.device = "cpu",
                           progress=None, velocity_floor: float | None = None) -> dict[str, np.ndarray]:
    """Posteriorgrams of mono ``audio`` ``(n_samples,)`` at ``config.SAMPLE_RATE``.

    Returns float32 probabilities: ``contour (264, n_frames)``, ``note``, ``onset``, ``velocity``
    ``(88, n_frames)``, ``pedal``, ``pedal_onset``, ``pedal_offset`` ``(n_frames,)``, with
    ``n_frames = 1 + n_samples // HOP_LENGTH``. ``progress``: a callable given the number of
    frames done after each chunk (a tqdm bar's ``update``), or None. ``velocity_floor``: as in
    :func:`iter_posteriorgrams` (None: velocity at every cell).
    """
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono, shape (n_samples,), got {audio.shape}")
    outputs: dict[str, list[np.ndarray]] = {}
    for _, posteriors in iter_posteriorgrams([audio], model, hcqt, chunk_frames=chunk_frames,
                                             device=device, progress=progress, velocity_floor=velocity_floor):
        for name, values in posteriors.items():
            outputs.setdefault(name, []).append(values)
    return {name: np.concatenate(parts, axis=-1) for name, parts in outputs.items()}
