"""Training: losses, optimiser and schedule, validation with real note metrics, early stopping,
atomic checkpoints with exact resume, a CSV log and its curves.

Explained in notebooks/06_training.ipynb.

:func:`train` runs the whole loop from a :class:`TrainConfig`. The run's folder
(``TrainConfig.run_dir``) holds ``config.json``, ``state.pt`` (model, optimiser, schedule, step,
best score: everything needed to resume), ``best.pt`` (the best weights so far, the shipped
format, see :func:`save_weights`), ``log.csv`` (one row per logged step, one per validation)
and ``curves.png``. Killed at any moment (``kill -9`` included), the next call with the same
config resumes from the last ``state.pt`` and computes exactly the same steps: window ``i`` of
epoch ``e`` is a fixed function of ``(seed, e, i)`` (:class:`fasolfa.data.WindowDataset`), and
the state holds every random generator the loop uses.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fasolfa import config
from fasolfa.atomic import atomic_write
from fasolfa.distributed import Group
from fasolfa.errors import FasolfaError
from fasolfa.hcqt import HCQT
from fasolfa.model import FasolfaNet, ModelConfig, can_widen, count_parameters, widen
from fasolfa.notes import PARTIAL_FRAMES, PARTIAL_KEYS

TARGET_NAMES = ("contour", "note", "onset", "velocity", "pedal", "pedal_onset", "pedal_offset")


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as the run's ``config.json``).

    Explained in notebooks/06_training.ipynb.
    """

    run_dir: str = str(config.cache_dir() / "runs" / "default")   # "<cache>/runs/x": under $FASOLFA_CACHE
    steps: int = 20000                  # optimiser steps in all
    batch_size: int = 8                 # windows per step
    window_n_hops: int = config.WINDOW_N_HOPS   # window length in hops (its frames: one more): ~2 s
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    seed: int = 0
    window_seed: int | None = None      # the windows' draws (excerpts, augmentation) and torch's
                                        # generator; None: ``seed``. Leaves the corpus sample, the
                                        # renders and the validation pieces as ``seed`` makes them,
                                        # so a continuation can see windows no earlier leg saw
    device: str = "auto"                # "auto": cuda when available, else cpu
    workers: int = 1                    # DataLoader worker processes
    threads: int = 0                    # torch threads in the main process (0: torch's default)
    init_weights: str = ""              # start from these weights (a save_weights file of the same
                                        # model shape) instead of random ones: fine-tuning
    # data
    data: str = "corpus"                # "corpus" (../shared/data), "example" (the shipped phrase: CI)
                                        # or "pack" (a window pack, fasolfa.pack: a GPU machine, Colab)
    pack: str = ""                      # the window pack's folder, for data "pack"
    soundfonts: tuple = ("FluidR3_GM", "TimGM6mb", "MuseScore_General_Lite")
    programs: tuple = (0, 1, 2, 3)      # General MIDI's acoustic piano family
    train_hours: float = 3.0            # MIDI hours sampled from the train split (each rendered with every preset)
    transpose_semitones: int = 12       # also render each sampled piece once transposed by ±1..this
                                        # many semitones (0: none): notes in the rare registers
    transposed_share: float = 0.3       # share of the rendered windows drawn from those
    lowered_semitones: tuple = ()       # (low, high): also render each sampled piece once transposed
                                        # down by low..high semitones (data.lowered_pieces): the bass
                                        # register and its partials; (): none
    lowered_share: float = 0.15         # share of the rendered windows drawn from those
    use_maps: bool = True               # add the MAPS train recordings (no pedal labels)
    maps_share: float = 0.25            # share of windows drawn from MAPS when it is used
    release_unknown_s: float = 0.0      # > 0: in sources without pedal labels (MAPS) the note and contour
                                        # losses leave out this many seconds after each key's release (it
                                        # may ring under an unlabelled pedal; see data.WindowDataset)
    augment: bool = True
    augmentation: dict = field(default_factory=dict)   # changes to fasolfa.augment.Augmentation()'s
                                        # settings, e.g. {"reverb_model": "room", "reverb_rt60_s": [0.3, 3]}
    velocity_from_level: float = 0.0    # share of windows left at their recorded level (no gain drawn);
                                        # when > 0 the velocity loss counts only those (see losses)
    render_workers: int = 2
    # validation
    validate_every: int = 500           # steps
    validation_pieces: int = 8          # validation-split performances (each rendered by every soundfont)
    validation_seconds: float = 30.0    # first seconds of each validation piece / MAPS recording
    maps_validation: bool = True
    patience: int = 8                   # validations without improvement before stopping early
    checkpoint_every_s: float = 300.0   # seconds between state.pt saves (and at every validation)
    time_budget_s: float = 0.0          # > 0: the learning-rate schedule runs over this many seconds of
                                        # training (elapsed_s) instead of over `steps`, and the run ends
                                        # there: a burst on a lent machine (not reproducible step for step)
    keep_snapshots: bool = False        # also save the validated weights of every validation step as
                                        # snapshots/step-NNNNNN.pt (with no validation excerpts: the only save)
    log_every: int = 25
    model: dict = field(default_factory=lambda: ModelConfig().to_dict())
    loss_weights: dict = field(default_factory=lambda: {
        "contour": 1.0, "note": 1.0, "onset": 1.0, "velocity": 1.0, "pedal": 0.5,
        "pedal_onset": 0.5, "pedal_offset": 0.5})
    onset_positive_weight: float = 20.0  # BCE weight of onset frames (about 1 cell in 1000) against the rest
    label_smoothing: float = 0.05
    restrike_weight: float = 1.0        # onset cells of a key already sounding the frame before (a re-strike
                                        # under the pedal, a repeated note) weigh this many times more
    partial_weight: float = 1.0         # non-onset cells at a struck note's 2nd..6th partials (notes.PARTIAL_KEYS
                                        # keys above it, within notes.PARTIAL_FRAMES frames; see partial_cells)
                                        # weigh this many times more: the ghost notes of a low bass note
    ema_decay: float = 0.0              # > 0: validate and save an exponential moving average of the
                                        # weights (:func:`update_average`), e.g. 0.999; 0: the weights as trained
    train_only: tuple = ()              # parameter-name prefixes trained (e.g. ["velocity_"]); every other
                                        # parameter and normalisation statistic stays as it starts; (): all
    selection_metric: str = "onset"     # validation picks the best weights by the mean over groups of this
                                        # metric's F1 ("onset", "onset_offset", "onset_offset_velocity", "frame")

    @property
    def window_n_samples(self) -> int:
        return self.window_n_hops * config.HOP_LENGTH

    @property
    def draw_seed(self) -> int:
        """The seed of the windows' draws and of torch: ``window_seed``, else ``seed``."""
        return self.seed if self.window_seed is None else int(self.window_seed)

    def to_dict(self) -> dict:
        values = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def read(cls, path: str | Path) -> "TrainConfig":
        """A config from a JSON file (a run's ``config.json``); :class:`FasolfaError` naming the
        file when it is missing or not a config."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError, AttributeError) as error:
            raise FasolfaError(f"{path}: not a readable training configuration ({error})") from None

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {k: tuple(v) if k in ("soundfonts", "programs", "train_only", "lowered_semitones") else v
                 for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise FasolfaError("--device cuda: no CUDA device is available here")
    return torch.device(device)


# --- losses --------------------------------------------------------------------------------

def smoothed(targets: torch.Tensor, amount: float) -> torch.Tensor:
    """Label smoothing toward 0.5: ``t (1 - amount) + amount / 2``."""
    return targets * (1 - amount) + amount / 2 if amount else targets


def losses(logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], cfg: TrainConfig,
           group: Group = Group()) -> dict[str, torch.Tensor]:
    """Per-head losses (scalars) for one batch. Explained in notebooks/06_training.ipynb.

    * ``contour``, ``note``: binary cross-entropy against the (soft) frame targets;
    * ``onset``: the same, onset cells weighted ``onset_positive_weight`` (about 1 cell in 1000
      is an onset: unweighted, their share of the loss is so small that the head stays near
      "no" — on one window, 300 steps left every onset at 0.34 with weight 5 and at 0.95 with 20);
      re-strikes (onsets of a key whose note target is on in the frame before) weigh
      ``restrike_weight`` times more: a struck key that already sounds changes the spectrum least;
    * with ``partial_weight``, the non-onset cells where a struck note's partials sound
      (:func:`partial_cells`) weigh ``partial_weight`` times more: a low note's 2nd..6th partials
      are the network's commonest false onsets (tests/bench/partial_ghosts.py);
    * ``velocity``: squared error of ``sigmoid(logit)`` against ``velocity / 127``, only at onset
      frames (elsewhere the target means nothing); with ``velocity_from_level > 0``, only in the
      windows left at their recorded level (``level_kept``): a gain drawn at random hides how
      loud a strike was, the best cue to its velocity (the velocity metric fits a line per piece,
      so a recording's overall level does not matter there);
    * ``pedal``, ``pedal_onset``, ``pedal_offset``: cross-entropy, masked where the window's
      source has no pedal annotation (``pedal_known`` = 0, the MAPS recordings);
    * with ``release_unknown_s``, ``contour`` and ``note`` are means over the cells where the
      batch's ``contour_known`` / ``note_known`` is 1: the seconds after a key's release in a
      recording listed without pedal (MAPS) are left out, since it may ring there or not.

    Distributed (``group``, each rank given an equal share of the global batch): the plain
    means above are means over equal shares, so the mean over ranks (DDP's gradient average)
    is the global mean. The masked means (velocity over onset cells, pedal over the windows
    with pedal labels, note and contour over known cells) count a different number of cells on
    each rank: each rank's numerator is divided by the count summed over ranks and multiplied by
    the world size, so that the mean over ranks is again exactly the global masked mean (one
    process: the masked mean itself).
    """
    bce = nn.functional.binary_cross_entropy_with_logits
    s = cfg.label_smoothing
    out = {}
    for name in ("contour", "note"):
        known = batch.get(f"{name}_known")                              # (B, bins, T) or None
        if known is None:
            out[name] = bce(logits[name], smoothed(batch[name], s))
        else:                   # the mean over known cells (release tails of MAPS left out)
            per_cell = bce(logits[name], smoothed(batch[name], s), reduction="none")
            n_cells = group.total(known.sum())
            out[name] = (per_cell * known).sum() * group.world_size / n_cells.clamp(min=1.0)
    onset = batch["onset"]
    weight = 1.0 + (cfg.onset_positive_weight - 1.0) * onset
    if cfg.restrike_weight != 1.0:
        restrike = torch.zeros_like(onset)                              # (B, 88, T)
        restrike[..., 1:] = onset[..., 1:] * (batch["note"][..., :-1] > 0.5)
        weight = weight * (1.0 + (cfg.restrike_weight - 1.0) * restrike)
    if cfg.partial_weight != 1.0:
        weight = weight * (1.0 + (cfg.partial_weight - 1.0) * partial_cells(onset))
    out["onset"] = bce(logits["onset"], smoothed(onset, s), weight=weight)
    mask = onset > 0.5                                                   # (B, 88, T)
    if cfg.velocity_from_level > 0:
        mask = mask & (batch["level_kept"][:, None, None] > 0.5)
    n_onsets = group.total(mask.sum().to(logits["velocity"].dtype))      # over every rank
    error = (torch.sigmoid(logits["velocity"]) - batch["velocity"]) ** 2
    out["velocity"] = error[mask].sum() * group.world_size / n_onsets.clamp(min=1.0)
    known = batch.get("pedal_known", torch.ones(onset.shape[0], device=onset.device))[:, None]   # (B, 1)
    n_known = group.total(known.sum() * logits["pedal"].shape[-1])      # pedal-labelled frames, every rank
    for name in ("pedal", "pedal_onset", "pedal_offset"):
        per_frame = bce(logits[name], smoothed(batch[name], s), reduction="none")     # (B, T)
        if name != "pedal":
            per_frame = per_frame * (1.0 + (cfg.onset_positive_weight - 1.0) * batch[name])
        out[name] = (per_frame * known).sum() * group.world_size / n_known.clamp(min=1.0)
    return out


def partial_cells(onset: torch.Tensor) -> torch.Tensor:
    """1.0 where a key that is not struck (no onset within ``notes.PARTIAL_FRAMES`` frames) sits
    ``notes.PARTIAL_KEYS`` keys (an octave, a twelfth, two octaves, ...) above a key struck within
    ``PARTIAL_FRAMES`` frames, else 0.0: where a low note's partials could fool the onset head.

    ``onset``: ``(batch, 88, frames)`` targets (a cell above 0.5 is an onset); returns the same shape.
    """
    struck = (onset > 0.5).float()                                      # (B, 88, T)
    span = 2 * PARTIAL_FRAMES + 1
    near = nn.functional.max_pool1d(struck, span, stride=1, padding=PARTIAL_FRAMES)   # (B, 88, T): struck within ± frames
    above = torch.zeros_like(near)
    for interval in PARTIAL_KEYS:
        above[:, interval:] = torch.maximum(above[:, interval:], near[:, :-interval])
    return above * (1.0 - near)


def total_loss(parts: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    return sum(weights.get(name, 1.0) * value for name, value in parts.items())


# --- the learning-rate schedule ------------------------------------------------------------

def learning_rate_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up, then a cosine decay to 5 % of the peak at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def time_budget_factor(step: int, warmup_steps: int, elapsed_s: float, budget_s: float) -> float:
    """:func:`learning_rate_factor` with the cosine run over training seconds: linear warm-up
    over ``warmup_steps`` steps, then the decay by ``elapsed_s / budget_s`` (a run with a fixed
    time on a lent machine, whose speed is not known before it starts)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(elapsed_s / budget_s, 1.0)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


# --- weight averaging ------------------------------------------------------------------------

@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """One step of an exponential moving average of ``model``'s weights kept in ``average``
    (Polyak averaging): ``a <- d a + (1 - d) w`` for every float parameter and buffer (batch-norm
    statistics too), with ``d = min(decay, (1 + step) / (10 + step))`` so that the first steps
    are not dominated by the starting weights. Integer buffers are copied. The average of the
    last ~``1 / (1 - decay)`` steps smooths the step-to-step noise of a small batch.
    Explained in notebooks/06_training.ipynb."""
    d = min(decay, (1 + step) / (10 + step))
    for kept, current in zip(average.state_dict().values(), model.state_dict().values()):
        if kept.is_floating_point():
            kept.lerp_(current.detach(), 1.0 - d)
        else:
            kept.copy_(current)


# --- checkpoints -----------------------------------------------------------------------------

def save_weights(path: str | Path, model: FasolfaNet, metadata: dict | None = None) -> Path:
    """The shipped checkpoint format: float32 weights, the model config, and ``metadata``
    (step, scores, data, ...), written atomically. Load with :func:`load_weights`."""
    payload = {"format": "fasolfa-weights-1", "model_config": model.model_config.to_dict(),
               "state_dict": {k: v.detach().float().cpu() for k, v in model.state_dict().items()},
               "metadata": metadata or {}}
    return atomic_write(Path(path), lambda temporary: torch.save(payload, temporary))


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> tuple[FasolfaNet, dict]:
    """``(model in eval mode, metadata)`` from a :func:`save_weights` file.

    Raises :class:`FasolfaError` naming the file when it is missing, not a fasolfa checkpoint,
    or holds weights of another shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FasolfaError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise FasolfaError(f"{path}: not a fasolfa checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != "fasolfa-weights-1":
        raise FasolfaError(f"{path}: not a fasolfa checkpoint (no fasolfa-weights-1 header)")
    try:
        model = FasolfaNet(ModelConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FasolfaError(f"{path}: checkpoint does not fit the network ({first_line})") from None
    return model.to(device).eval(), payload.get("metadata", {})


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- data ------------------------------------------------------------------------------------

def sample_entries(entries, hours: float, seed: int):
    """A random sample of corpus entries (fixed by ``seed``) adding up to about ``hours``."""
    order = np.random.default_rng(seed).permutation(len(entries))
    chosen, total_s = [], 0.0
    for index in order:
        if total_s >= hours * 3600:
            break
        chosen.append(entries[int(index)])
        total_s += entries[int(index)].duration_s
    return chosen


def training_augmentation(cfg: TrainConfig, augmentation=None):
    """The augmentation of ``cfg``'s training windows: ``augmentation`` (default: every effect
    with ``cfg.augmentation``'s changes, or none without ``cfg.augment``), with the gain left out
    of a ``velocity_from_level`` share of the windows, the ones the velocity loss counts
    (:func:`losses`)."""
    from fasolfa import augment
    if augmentation is None:
        augmentation = (augment.Augmentation().with_changes(cfg.augmentation) if cfg.augment
                        else augment.Augmentation.none())
    if cfg.velocity_from_level > 0:
        augmentation = replace(augmentation, gain_probability=min(augmentation.gain_probability,
                                                                  1.0 - cfg.velocity_from_level))
    return augmentation


def build_training_data(cfg: TrainConfig, progress: bool = True):
    """The training :class:`torch.utils.data.Dataset`: windows of the sampled MIDI corpus rendered
    with every soundfont and program (with ``transpose_semitones``, a ``transposed_share`` of
    them from one transposed rendition of each piece, :func:`fasolfa.data.transposed_pieces`;
    with ``lowered_semitones``, a ``lowered_share`` of them from one rendition played lower,
    :func:`fasolfa.data.lowered_pieces`;
    with ``use_maps``, windows of the MAPS train recordings), each with ``CONTEXT_N_SAMPLES``
    of audio context. ``cfg.data == "example"`` uses the shipped example phrase instead (seconds
    of data: CI and QUICK notebooks).
    Explained in notebooks/06_training.ipynb."""
    from fasolfa import augment, corpus, data
    cache = data.RenderCache()
    augmentation = training_augmentation(cfg)
    window_seed = cfg.draw_seed
    windows_per_epoch = max(cfg.validate_every, 1) * cfg.batch_size
    common = dict(augmentation=augmentation, window_n_samples=cfg.window_n_samples,
                  context_n_samples=config.CONTEXT_N_SAMPLES, release_unknown_s=cfg.release_unknown_s)
    if cfg.data == "pack":
        from fasolfa.pack import pack_windows
        if not cfg.pack:
            raise FasolfaError('data "pack" needs "pack": the folder of a window pack (python -m fasolfa.pack)')
        return pack_windows(cfg.pack, windows_per_epoch, window_seed, **common)
    if cfg.data == "example":
        entries = [config.EXAMPLES_DIR / "phrase.mid"]
    else:
        midi_corpus = corpus.MidiCorpus.from_split_csv()
        entries = sample_entries(midi_corpus.split("train").entries, cfg.train_hours, cfg.seed)
    rendered = data.WindowDataset.from_cache(cache, entries, cfg.soundfonts, cfg.programs,
                                             n_windows=windows_per_epoch, seed=window_seed,
                                             progress=progress, workers=cfg.render_workers, **common)
    if cfg.transpose_semitones:
        shifted = data.transposed_pieces(cache, entries, cfg.soundfonts, cfg.programs, cfg.transpose_semitones,
                                         cfg.seed, progress=progress, workers=cfg.render_workers)
        rendered = MixedWindows(rendered, data.WindowDataset(shifted, windows_per_epoch, window_seed + 2, **common),
                                cfg.transposed_share, window_seed + 2)
    if cfg.lowered_semitones:
        lowered = data.lowered_pieces(cache, entries, cfg.soundfonts, cfg.programs, cfg.lowered_semitones,
                                      cfg.seed, progress=progress, workers=cfg.render_workers)
        rendered = MixedWindows(rendered, data.WindowDataset(lowered, windows_per_epoch, window_seed + 3, **common),
                                cfg.lowered_share, window_seed + 3)
    if not cfg.use_maps or cfg.data == "example":
        return rendered
    maps = corpus.MapsCorpus.from_csv().split("train")
    recorded = data.WindowDataset(data.maps_pieces(maps, cache, progress=progress), windows_per_epoch,
                                  window_seed + 1, **common)
    return MixedWindows(rendered, recorded, cfg.maps_share, window_seed)


class MixedWindows(torch.utils.data.Dataset):
    """Two window datasets drawn from in a fixed proportion: item ``i`` of an epoch comes from
    ``second`` with probability ``share`` (decided by ``(seed, epoch, i)``), else from ``first``;
    :meth:`set_epoch` reaches both."""

    def __init__(self, first, second, share: float, seed: int = 0):
        self.first, self.second, self.share, self.seed = first, second, float(share), int(seed)

    def __len__(self) -> int:
        return len(self.first)

    @property
    def epoch(self) -> int:
        return self.first.epoch

    def set_epoch(self, epoch: int) -> None:
        self.first.set_epoch(epoch)
        self.second.set_epoch(epoch)

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, 7, self.first.epoch, int(index)])
        source = self.second if rng.random() < self.share else self.first
        return source[int(index) % len(source)]


class RangeSampler(torch.utils.data.Sampler):
    """Indices ``start .. stop - 1`` in order (a resumed epoch starts where it stopped)."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = int(start), int(stop)

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


class ShareSampler(torch.utils.data.Sampler):
    """One rank's share of every step's windows: step ``s`` of the epoch is windows
    ``s * batch_size .. (s + 1) * batch_size - 1``, and rank ``r`` of ``world_size`` takes the
    ``r``-th contiguous ``batch_size / world_size`` of them, for steps ``first_step ..
    stop_step - 1`` (a resumed epoch starts where it stopped). The shares of all ranks make up
    exactly the one-process batches; one process: indices ``first_step * batch_size ..
    stop_step * batch_size - 1`` in order."""

    def __init__(self, first_step: int, stop_step: int, batch_size: int, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise FasolfaError(f"batch_size {batch_size} is not divisible by the {world_size} processes; "
                               f"choose a multiple of {world_size}")
        self.first_step, self.stop_step = int(first_step), int(stop_step)
        self.batch_size, self.share = int(batch_size), int(batch_size) // int(world_size)
        self.rank = int(rank)

    def __iter__(self):
        for step in range(self.first_step, self.stop_step):
            first = step * self.batch_size + self.rank * self.share
            yield from range(first, first + self.share)

    def __len__(self) -> int:
        return (self.stop_step - self.first_step) * self.share


# --- validation ------------------------------------------------------------------------------

@dataclass
class ValidationItem:
    """One validation excerpt: mono audio at ``SAMPLE_RATE`` and its reference notes and pedal;
    ``tuning_cents``: the HCQT's bins follow this tuning (:func:`tuned`, as ``fasolfa
    transcribe`` does; 0: A = 440 Hz)."""

    name: str
    group: str                   # "rendered" (soundfonts) or "maps" (recorded pianos)
    audio: np.ndarray            # (n_samples,)
    notes: object                # fasolfa.midi.Notes
    pedal: object                # fasolfa.midi.Pedal (empty where unknown)
    has_pedal: bool = True
    tuning_cents: float = 0.0


def tuned(items: list[ValidationItem]) -> list[ValidationItem]:
    """The excerpts with ``tuning_cents`` set as :func:`fasolfa.transcribe` sets a recording's
    (:func:`fasolfa.tuning.estimate_tuning`, then :func:`~fasolfa.tuning.correction_cents`)."""
    from fasolfa.tuning import correction_cents, estimate_tuning
    return [replace(item, tuning_cents=correction_cents(*estimate_tuning(item.audio))) for item in items]


def _posteriorgrams(model: FasolfaNet, hcqt: HCQT, items: list[ValidationItem], device) -> list[dict]:
    """Each excerpt's posteriorgrams, through ``hcqt`` or, for a tuned one, an HCQT that follows it."""
    from fasolfa.posteriorgrams import compute_posteriorgrams
    from fasolfa.tuning import tuned_hcqt
    return [compute_posteriorgrams(item.audio, model, tuned_hcqt(item.tuning_cents, device) if item.tuning_cents
                                   else hcqt, device=device) for item in items]


def excerpt(notes, pedal, seconds: float, start_s: float = 0.0):
    """Notes and pedal of the ``seconds`` from ``start_s`` (those struck or pressed then, offsets cut
    at the end), their times counted from ``start_s``; notes still sounding from before are left out."""
    from fasolfa.midi import Notes, Pedal
    end_s = start_s + seconds
    keep = (notes.onset_s >= start_s) & (notes.onset_s < end_s)
    notes = Notes(notes.onset_s[keep] - start_s, np.minimum(notes.offset_s[keep], end_s) - start_s,
                  notes.pitch[keep], notes.velocity[keep], notes.channel[keep])
    down = (pedal.onset_s >= start_s) & (pedal.onset_s < end_s)
    pedal = Pedal(pedal.onset_s[down] - start_s, np.minimum(pedal.offset_s[down], end_s) - start_s,
                  pedal.channel[down])
    return notes, pedal


def build_validation(cfg: TrainConfig, progress: bool = True, maps_start_s: float = 0.0) -> list[ValidationItem]:
    """The validation excerpts: the first ``validation_seconds`` of ``validation_pieces``
    validation-split performances rendered with each training soundfont (program 0), and of
    every MAPS validation recording (or its ``validation_seconds`` from ``maps_start_s``, with the
    notes struck then: other music of the same pianos). Rendered once and kept in the cache folder."""
    from tqdm.auto import tqdm

    from fasolfa import corpus, synth
    from fasolfa.midi import Pedal, read_midi
    items: list[ValidationItem] = []
    seconds = cfg.validation_seconds
    if cfg.data == "example":
        pieces = [corpus.CorpusEntry(config.EXAMPLES_DIR / "phrase.mid", "validation", 0.0)]
    elif cfg.validation_pieces <= 0:      # none (a burst on a machine without the corpus)
        pieces = []
    else:
        entries = corpus.MidiCorpus.from_split_csv().split("validation").entries
        chosen = sample_entries(sorted(entries, key=lambda e: str(e.path)), float("inf"), cfg.seed + 11)
        pieces, seen = [], set()
        for entry in chosen:               # one performance per piece, as many pieces as asked
            if entry.piece not in seen and len(pieces) < cfg.validation_pieces:
                seen.add(entry.piece)
                pieces.append(entry)
    folder = config.cache_dir() / "validation"
    jobs = [(entry, soundfont) for entry in pieces for soundfont in cfg.soundfonts]
    for entry, soundfont in tqdm(jobs, desc="validation audio", disable=not progress):
        performance = read_midi(entry.path)
        notes, pedal = excerpt(performance.notes, performance.pedal, seconds)
        name = corpus.unique_name(entry.path)            # stems repeat across pieces: the path
        path = folder / f"{name}-{soundfont}-{seconds:g}s.npy"
        if path.is_file():
            audio = np.load(path)
        else:
            audio = synth.render((notes, pedal), soundfont, 0)[:int(seconds * config.SAMPLE_RATE)]
            atomic_write(path, lambda temporary: np.save(temporary, audio))
        items.append(ValidationItem(f"{name}/{soundfont}", "rendered", audio, notes, pedal))
    if cfg.maps_validation and cfg.data != "example":
        from fasolfa.audio import load_audio
        for recording in corpus.MapsCorpus.from_csv().split("validation"):
            first = int(maps_start_s * config.SAMPLE_RATE)
            audio = load_audio(recording.audio_path)[first:first + int(seconds * config.SAMPLE_RATE)]
            notes, _ = excerpt(corpus.read_maps_notes(recording.notes_path), Pedal.empty(), seconds, maps_start_s)
            name = recording.audio_path.stem + (f"@{maps_start_s:g}s" if maps_start_s else "")
            items.append(ValidationItem(name, "maps", audio, notes, Pedal.empty(), has_pedal=False))
    return items


VALIDATION_GRID = ((0.5, 0.3), (0.5, 0.6), (0.7, 0.3), (0.7, 0.6))   # (onset, frame) thresholds


def validate(model: FasolfaNet, hcqt: HCQT, items: list[ValidationItem], device, thresholds=None,
             metric: str = "onset") -> dict:
    """Mean scores per group (``rendered``, ``maps``) and overall: ``{"rendered/onset_f1": ...,
    "selection": ..., "onset_threshold": ..., "frame_threshold": ...}``. Transcribes each excerpt
    exactly as ``fasolfa transcribe`` does (chunks, note creation), with ``thresholds``, or, when
    None, with each (onset, frame) pair of :data:`VALIDATION_GRID`, keeping the pair of the best
    selection: one fixed pair judges a network by how its probabilities happen to be calibrated
    (the transposed fine-tune `ftT`: 0.744 at (0.5, 0.3), 0.820 at its own pair), which
    :func:`finalize` then changes anyway. The network runs once per excerpt either way.
    ``metric``: the note metric whose mean F1 over groups is the ``selection``."""
    from fasolfa.notes import NoteThresholds
    was_training = model.training
    model.eval()
    posteriors = _posteriorgrams(model, hcqt, items, device)
    model.train(was_training)
    grid = [thresholds] if thresholds is not None else [NoteThresholds(onset=o, frame=f) for o, f in VALIDATION_GRID]
    summaries = [_validation_scores(items, posteriors, candidate, metric) for candidate in grid]
    return max(summaries, key=lambda summary: summary["selection"])


SELECTION_METRICS = ("onset", "onset_offset", "onset_offset_velocity", "frame")


def check_selection_metric(metric: str) -> None:
    """One line naming the choices when ``metric`` is not one of :data:`SELECTION_METRICS`."""
    if metric not in SELECTION_METRICS:
        raise FasolfaError(f"selection_metric must be one of {', '.join(SELECTION_METRICS)}, got {metric!r}")


def _validation_scores(items: list[ValidationItem], posteriors: list[dict], thresholds,
                       metric: str = "onset", per_item: bool = False) -> dict:
    """Mean F1 per group and metric of the notes ``thresholds`` make from ``posteriors`` (one dict
    per item), the ``selection`` (mean over groups of ``metric``'s F1: note onsets unless told)
    and the thresholds used. The estimate gets its own sustain pedal only where the excerpt has
    pedal labels. With ``per_item``, also ``"per_item"``: ``{item name: {metric: F1}}``."""
    check_selection_metric(metric)
    from fasolfa.evaluate import score
    from fasolfa.midi import Pedal
    from fasolfa.notes import posteriorgrams_to_notes
    per_group: dict[str, list[dict]] = {}
    items_f1 = {}
    for item, posterior in zip(items, posteriors):
        notes, pedal = posteriorgrams_to_notes(posterior, thresholds)
        scores = score(item.notes, item.pedal, notes, pedal if item.has_pedal else Pedal.empty())
        if not item.has_pedal:
            scores = {name: value for name, value in scores.items() if not name.startswith("pedal")}
        per_group.setdefault(item.group, []).append(scores)
        items_f1[item.name] = {name: value["f1"] for name, value in scores.items()}
    summary = {"per_item": items_f1} if per_item else {}
    for group, rows in per_group.items():
        for name in rows[0]:
            summary[f"{group}/{name}_f1"] = float(np.mean([row[name]["f1"] for row in rows]))
    chosen = [summary[f"{group}/{metric}_f1"] for group in per_group]
    summary["selection"] = float(np.mean(chosen)) if chosen else 0.0
    summary["onset_threshold"], summary["frame_threshold"] = thresholds.onset, thresholds.frame
    return summary


def freeze_all_but(model: nn.Module, prefixes) -> list[nn.Parameter]:
    """Train only the parameters whose names start with one of ``prefixes`` (all when empty):
    the others stop needing gradients. Returns the trained parameters; a prefix that names none
    is an error. See :func:`set_training_modes` for the normalisation statistics."""
    prefixes = tuple(prefixes)
    named = list(model.named_parameters())
    if not prefixes:
        return [parameter for _, parameter in named]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in named):
            raise FasolfaError(f"train_only: no parameter of this model starts with {prefix!r}")
    for name, parameter in named:
        parameter.requires_grad_(name.startswith(prefixes))
    return [parameter for _, parameter in named if parameter.requires_grad]


def set_training_modes(model: nn.Module) -> nn.Module:
    """``model.train()``, except the batch normalisations whose parameters are all frozen
    (:func:`freeze_all_but`): they stay in eval mode, normalising with their running statistics
    and leaving them as they are, so a frozen part computes in training exactly what it computes
    at inference. Returns ``model``."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parameters = list(module.parameters())
            if parameters and not any(parameter.requires_grad for parameter in parameters):
                module.eval()
    return model


# --- the loop --------------------------------------------------------------------------------

class CsvLog:
    """Rows appended to a CSV file (flushed at once); rows past ``keep_until_step`` from a killed
    run are dropped when the run resumes, so the log always matches the state."""

    def __init__(self, path: Path, keep_until_step: int):
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file():
            with open(path, newline="") as handle:
                rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= keep_until_step]
            if rows:
                self.columns = list(rows[0].keys())
            with open(path, "w", newline="") as handle:
                if self.columns:
                    writer = csv.DictWriter(handle, self.columns)
                    writer.writeheader()
                    writer.writerows(rows)

    def write(self, row: dict) -> None:
        new_file = self.columns is None
        if new_file:
            self.columns = list(row.keys())
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def read_log(path: str | Path) -> list[dict]:
    """Rows of a run's ``log.csv`` or ``validation.csv`` as dicts of floats."""
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _same_run(saved: dict, wanted: dict) -> list[str]:
    """Settings that differ between a saved run and the one asked for (those that may change
    between sessions — steps, workers, device, ... — and settings newer than the saved run, at
    their defaults, do not count)."""
    free = {"steps", "patience", "workers", "threads", "render_workers", "checkpoint_every_s", "log_every",
            "device", "run_dir"}
    defaults = TrainConfig().to_dict()
    saved = {**saved}
    if "model" in saved:                   # model sizes newer than the saved run count at their defaults
        saved["model"] = ModelConfig.from_dict(saved["model"]).to_dict()
    wanted = {**wanted, "model": ModelConfig.from_dict(wanted["model"]).to_dict()} if "model" in wanted else wanted
    return [k for k in wanted if k not in free
            and saved.get(k, defaults.get(k)) != wanted.get(k)]


CACHE_MARK = "<cache>"     # stands for the cache folder in stored configs and logs (no machine paths)


def resolve_run_dir(run_dir: str | Path) -> Path:
    """The folder a ``run_dir`` names: ``~`` expanded, a leading ``<cache>/`` (as stored configs
    and logs write the cache folder, :func:`_shown`) replaced by :func:`fasolfa.config.cache_dir`."""
    text = str(run_dir)
    if text == CACHE_MARK or text.startswith(CACHE_MARK + "/"):
        return config.cache_dir() / text[len(CACHE_MARK):].lstrip("/")
    return Path(text).expanduser()


def _shown(path: Path) -> str:
    """A run folder as printed: under the cache folder, relative to it (no machine paths in logs);
    :func:`resolve_run_dir` reads it back."""
    try:
        return f"{CACHE_MARK}/{Path(path).resolve().relative_to(config.cache_dir().resolve())}"
    except ValueError:
        return str(path)


def train(cfg: TrainConfig, *, progress: bool = True, stop_after_s: float | None = None,
          training_data=None, validation_items=None) -> Path:
    """Train (or resume) the run in ``cfg.run_dir``; returns the path of ``best.pt``.

    Stops at ``cfg.steps``, after ``cfg.patience`` validations without a better selection score
    (mean note-onset F1 over the validation groups), or after ``stop_after_s`` seconds of this
    call (the state is saved first, so the next call resumes). ``training_data`` /
    ``validation_items`` replace the corpus-built ones (tests, notebooks).

    Under ``torchrun`` (``WORLD_SIZE`` > 1): DistributedDataParallel, each rank given its share
    of every step's ``batch_size`` windows (:class:`ShareSampler`), batch norm over the global
    batch (:class:`fasolfa.distributed.SyncBatchNorm`), so the steps are those of one process
    (up to float rounding). Rank 0 alone validates, logs and writes the run folder; it reads
    ``state.pt`` and sends it to the others, and its decision to stop reaches every rank.
    Explained in notebooks/06_training.ipynb and the README's "Scaling" section.
    """
    from tqdm.auto import tqdm

    from fasolfa import distributed
    device = pick_device(cfg.device)
    group = distributed.start(device.type)
    try:
        best_path = _train(cfg, group, device, progress=progress, stop_after_s=stop_after_s,
                           training_data=training_data, validation_items=validation_items, tqdm=tqdm)
    except BaseException:
        distributed.stop(group, wait=False)       # torchrun ends the other ranks
        raise
    distributed.stop(group)
    return best_path


def _open_run(cfg: TrainConfig, run_dir: Path) -> dict | None:
    """Rank 0's part of starting a run: refuse changed settings, write ``config.json``, read
    ``state.pt`` (None when there is none)."""
    config_path, state_path = run_dir / "config.json", run_dir / "state.pt"
    run_dir.mkdir(parents=True, exist_ok=True)
    if state_path.is_file() and config_path.is_file():
        changed = _same_run(json.loads(config_path.read_text()), cfg.to_dict())
        if changed:
            raise FasolfaError(f"{config_path}: this run was started with other settings ({', '.join(changed)}); "
                               f"use another run_dir or delete it")
    atomic_write(config_path, lambda temporary: temporary.write_text(json.dumps(cfg.to_dict(), indent=1)))
    if not state_path.is_file():
        return None
    try:
        return torch.load(state_path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise FasolfaError(f"{state_path}: unreadable training state ({type(error).__name__}); "
                           f"delete it to start over") from None


def _train(cfg: TrainConfig, group, device: torch.device, *, progress, stop_after_s, training_data,
           validation_items, tqdm) -> Path:
    run_dir = resolve_run_dir(cfg.run_dir)
    state_path, best_path = run_dir / "state.pt", run_dir / "best.pt"
    if cfg.batch_size % group.world_size:
        raise FasolfaError(f"batch_size {cfg.batch_size} is not divisible by the {group.world_size} "
                           f"processes; choose a multiple of {group.world_size}")
    opened = None
    if group.is_main:                      # the others learn rank 0's outcome, error included
        try:
            opened = ("state", _open_run(cfg, run_dir))
        except FasolfaError as error:
            opened = ("error", str(error))
    kind, state = group.from_main(opened)
    if kind == "error":
        raise FasolfaError(state)

    if group.distributed and device.type == "cuda":
        device = torch.device("cuda", group.local_rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.draw_seed)
    model = FasolfaNet(ModelConfig.from_dict(cfg.model))
    if group.distributed:
        from fasolfa.distributed import convert_batch_norm
        convert_batch_norm(model)
    model = model.to(device)
    hcqt = HCQT().to(device)
    check_selection_metric(cfg.selection_metric)       # before any step, not at the first validation
    trained = freeze_all_but(model, cfg.train_only)
    optimiser = torch.optim.AdamW(trained, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    step, best, stale, elapsed_s = 0, -1.0, 0, 0.0
    if state is None and cfg.init_weights:
        initial, _ = load_weights(cfg.init_weights)
        wanted, have = model.model_config, initial.model_config
        if wanted != have and can_widen(have, wanted):
            initial = widen(initial.train(), wanted.key_channels, wanted.onset_channels, wanted.subharmonic_keys,
                            wanted.time_dilations, wanted.velocity_frames, wanted.velocity_level_frames)
            if group.is_main:
                print(f"{_shown(Path(cfg.init_weights))}: widened to {wanted.key_channels} key and "
                      f"{wanted.onset_channels} onset channels, subharmonics {list(wanted.subharmonic_keys)}, "
                      f"time dilations {list(wanted.time_dilations)}, velocity over {wanted.velocity_frames} frames"
                      + (f" and the level at frames {list(wanted.velocity_level_frames)}"
                         if wanted.velocity_level_frames else "") + " ("
                      + ("same function to start" if wanted.time_dilations == have.time_dilations else
                         "the same function to start but for the added time blocks, which start near zero")
                      + ")", flush=True)
        elif wanted != have:
            raise FasolfaError(f"{cfg.init_weights}: weights of another model shape than the run's "
                               f"({have} against {wanted})")
        model.load_state_dict(initial.state_dict())
    if state is not None:
        model.load_state_dict(state["model"])
    average = None                          # the weights validated and saved when ema_decay > 0
    if cfg.ema_decay > 0:
        average = copy.deepcopy(model)          # starts at the starting (or init_weights) weights
        if state is not None:
            average.load_state_dict(state["average"])   # a run cannot switch ema_decay (_same_run)
    judged = average if average is not None else model
    if state is not None:
        optimiser.load_state_dict(state["optimiser"])
        step, best, stale, elapsed_s = state["step"], state["best"], state["stale"], state["elapsed_s"]
        _set_rng_state(state["rng"])
    network = model
    if group.distributed:
        network = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if group.is_main:
        train_log = CsvLog(run_dir / "log.csv", step)
        validation_log = CsvLog(run_dir / "validation.csv", step)

    def save_state():
        payload = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                   "best": best, "stale": stale, "elapsed_s": elapsed_s, "rng": _rng_state()}
        if average is not None:
            payload["average"] = average.state_dict()
        atomic_write(state_path, lambda temporary: torch.save(payload, temporary))

    # the first rank of each machine renders what is missing; the others then read its cache
    dataset = training_data
    for first in (True, False):
        if dataset is None and (group.local_rank == 0) == first:
            dataset = build_training_data(cfg, progress and group.is_main)
        group.barrier()
    items = []
    if group.is_main:
        items = validation_items if validation_items is not None else build_validation(cfg, progress)
        print(f"fasolfa train: {count_parameters(model)} parameters"
              f"{f' trained (only {list(cfg.train_only)})' if cfg.train_only else ''} on {device}"
              f"{f' x {group.world_size} processes' if group.distributed else ''}; step {step} of "
              f"{cfg.steps}; {len(items)} validation excerpts; run folder {_shown(run_dir)}")
    windows_per_epoch = cfg.validate_every * cfg.batch_size

    started = time.perf_counter()
    last_save = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step",
               disable=not (progress and group.is_main))
    timers = {"data_s": 0.0, "hcqt_s": 0.0, "forward_s": 0.0, "backward_s": 0.0}
    n_timed = 0
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    finished = False
    set_training_modes(model)
    while step < cfg.steps and not finished:
        epoch, offset = divmod(step, cfg.validate_every)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=cfg.batch_size // group.world_size, num_workers=cfg.workers,
            sampler=ShareSampler(offset, cfg.validate_every, cfg.batch_size, group.rank, group.world_size),
            pin_memory=device.type == "cuda", prefetch_factor=4 if cfg.workers else None)
        tick = time.perf_counter()
        for batch in loader:
            batch = {name: value.to(device, non_blocking=True) for name, value in batch.items()}
            factor = (learning_rate_factor(step, cfg.warmup_steps, cfg.steps) if cfg.time_budget_s <= 0 else
                      time_budget_factor(step, cfg.warmup_steps, elapsed_s, cfg.time_budget_s))
            for parameter_group in optimiser.param_groups:
                parameter_group["lr"] = cfg.learning_rate * factor
            sync(); t0 = time.perf_counter()
            with torch.no_grad():
                features = hcqt.with_context(batch["audio"], config.CONTEXT_N_SAMPLES)   # (B, 8, 264, T)
            sync(); t1 = time.perf_counter()
            parts = losses(network(features), batch, cfg, group)
            loss = total_loss(parts, cfg.loss_weights)
            sync(); t2 = time.perf_counter()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if average is not None:
                update_average(average, model, cfg.ema_decay, step)
            sync(); t3 = time.perf_counter()
            timers["data_s"] += t0 - tick
            timers["hcqt_s"] += t1 - t0
            timers["forward_s"] += t2 - t1
            timers["backward_s"] += t3 - t2
            n_timed += 1
            step += 1
            elapsed_s += t3 - tick
            tick = time.perf_counter()
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                # each rank's parts average to the global batch's (see losses)
                logged = group.total(torch.stack([loss.detach(), *[v.detach() for v in parts.values()]]))
                logged = (logged / group.world_size).tolist()
                if group.is_main:
                    per_step = sum(timers.values()) / max(n_timed, 1)
                    row = {"step": step, "epoch": epoch, "elapsed_s": elapsed_s,
                           "lr": optimiser.param_groups[0]["lr"], "loss": logged[0],
                           **{f"loss_{k}": v for k, v in zip(parts, logged[1:])},
                           "windows_per_s": cfg.batch_size / per_step if per_step else 0.0,
                           **{k: v / max(n_timed, 1) for k, v in timers.items()}}
                    train_log.write(row)
                    bar.set_postfix(loss=f"{logged[0]:.3f}", best=f"{best:.3f}")
                timers = dict.fromkeys(timers, 0.0)
                n_timed = 0
            out_of_time = 0 < cfg.time_budget_s <= elapsed_s
            validating = step % cfg.validate_every == 0 or step == cfg.steps or out_of_time
            if group.is_main:
                if validating and cfg.keep_snapshots:
                    save_weights(run_dir / "snapshots" / f"step-{step:06d}.pt", judged,
                                 {"step": step, "train_config": cfg.to_dict(), "elapsed_s": elapsed_s})
                if validating and not items:
                    tqdm.write(f"step {step}: no validation excerpts" +
                               (", snapshot saved" if cfg.keep_snapshots else ""))
                elif validating:
                    scores = validate(judged, hcqt, items, device, metric=cfg.selection_metric)
                    set_training_modes(model)           # validate() put every module back in train mode
                    improved = scores["selection"] > best
                    if improved:
                        best, stale = scores["selection"], 0
                        save_weights(best_path, judged, {"step": step, "scores": scores,
                                                        "train_config": cfg.to_dict(), "elapsed_s": elapsed_s})
                    else:
                        stale += 1
                    validation_log.write({"step": step, "elapsed_s": elapsed_s, **scores, "best": best})
                    tqdm.write(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()
                                                            if k.endswith(("onset_f1", "frame_f1")) or k == "selection")
                               + f" at thresholds ({scores['onset_threshold']}, {scores['frame_threshold']})"
                               + (" (best)" if improved else ""))
                    if stale >= cfg.patience:
                        tqdm.write(f"no better validation score in {stale} validations: stopping early")
                        finished = True
                if validating or time.perf_counter() - last_save > cfg.checkpoint_every_s:
                    save_state()
                    last_save = time.perf_counter()
                if stop_after_s is not None and time.perf_counter() - started > stop_after_s:
                    save_state()
                    finished = True
                if out_of_time:
                    tqdm.write(f"time budget of {cfg.time_budget_s:g} s of training spent at step {step}")
                    finished = True
            if group.distributed and (validating or stop_after_s is not None):
                finished = group.from_main(finished)       # every rank stops with rank 0
            if finished or step >= cfg.steps:
                break
    bar.close()
    if group.is_main:
        save_state()
        draw_curves(run_dir)
    return best_path


def draw_curves(run_dir: str | Path) -> Path | None:
    """``curves.png`` in the run folder: training losses and validation F1 against steps."""
    run_dir = Path(run_dir)
    if not (run_dir / "log.csv").is_file():
        return None
    # no matplotlib.use("Agg") here: in a notebook that would switch off the inline figures of
    # every later cell; pyplot picks Agg by itself where there is no display
    from fasolfa.plots import plot_training_curves
    figure = plot_training_curves(read_log(run_dir / "log.csv"),
                                  read_log(run_dir / "validation.csv") if (run_dir / "validation.csv").is_file() else [])
    path = atomic_write(run_dir / "curves.png", lambda temporary: figure.savefig(temporary, dpi=90))
    import matplotlib.pyplot as plt
    plt.close(figure)
    return path


ONSET_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
FRAME_THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
STRONG_ONSETS = (None, 0.7, 0.8, 0.9)      # NoteThresholds.strong_onset (None: every note must be held)
PEDAL_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
PEDAL_RELEASES = (None, 0.3, 0.4)           # NoteThresholds.pedal_release (None: the pedal threshold)
MIN_PEDAL_MS = (50.0, 100.0, 200.0)         # NoteThresholds.min_pedal_ms
OFFSET_THRESHOLDS = (None, 0.5, 0.6, 0.7)  # NoteThresholds.offset (None: notes end at the frame threshold)


def validation_posteriorgrams(model: FasolfaNet, items: list[ValidationItem], device="cpu") -> list[dict]:
    """The posteriorgrams of every validation excerpt (the network runs once per excerpt)."""
    return _posteriorgrams(model.eval(), HCQT(), items, device)


def sweep_thresholds(model: FasolfaNet, items: list[ValidationItem], device="cpu",
                     onset_thresholds=ONSET_THRESHOLDS, frame_thresholds=FRAME_THRESHOLDS,
                     posteriors: list[dict] | None = None, pedal_knobs: dict | None = None,
                     strong_onsets=STRONG_ONSETS) -> list[dict]:
    """Validation scores for every (onset, frame, strong_onset) triple (``strong_onset`` values
    below ``onset`` are skipped): the network runs once per excerpt, note creation once per
    triple, with the sustain pedal made with ``pedal_knobs`` (``NoteThresholds`` fields such as
    ``pedal``; None: the defaults), scored as a transcription is: the estimate extended by its
    own pedal where the excerpt has pedal labels. Rows ``{"onset",
    "frame", "strong_onset", "<group>/<metric>_f1", ..., "selection"}`` (selection: the mean over
    groups of note-onset F1, as in :func:`train`)."""
    from fasolfa.notes import NoteThresholds
    posteriors = posteriors if posteriors is not None else validation_posteriorgrams(model, items, device)
    rows = []
    grid = [(onset, frame, strong) for onset in onset_thresholds for frame in frame_thresholds
            for strong in strong_onsets if strong is None or strong >= onset]
    for onset, frame, strong in grid:
        thresholds = NoteThresholds(onset=onset, frame=frame, strong_onset=strong, **(pedal_knobs or {}))
        rows.append({"onset": onset, "frame": frame, "strong_onset": strong,
                     **_validation_scores(items, posteriors, thresholds)})
    return rows


def _mean_frame_f1(row: dict) -> float:
    """The mean over groups of frame F1 in a :func:`sweep_thresholds` row."""
    return float(np.mean([value for key, value in row.items() if key.endswith("/frame_f1")]))


def choose_note_thresholds(rows: list[dict], tolerance: float = 0.0) -> dict:
    """The :func:`sweep_thresholds` row :func:`finalize` keeps. The onset and strong-onset
    thresholds are the best selection's (note onsets: what they decide). The frame threshold
    hardly moves onsets, so the selection alone picks it by differences far below the noise of
    one validation (±0.003); among that pair's rows whose selection is within ``tolerance`` of
    the best, it is the one with the highest mean frame F1 over groups (frames: what it decides).
    ``tolerance`` 0 (the default, how the shipped weights were finalized) keeps the best
    selection's row, ties going to frames."""
    return max(near_ties(rows, tolerance), key=lambda row: (_mean_frame_f1(row), row["selection"]))


def near_ties(rows: list[dict], tolerance: float) -> list[dict]:
    """The :func:`sweep_thresholds` rows with the best selection's onset and strong-onset
    thresholds whose selection is within ``tolerance`` of the best: the frame thresholds the
    selection cannot tell apart."""
    best = max(rows, key=lambda row: row["selection"])
    return [row for row in rows if row["onset"] == best["onset"] and row["strong_onset"] == best["strong_onset"]
            and row["selection"] >= best["selection"] - tolerance]


def _mean_velocity_f1(row: dict) -> float:
    """The mean over groups, and over the own-level and regained readings, of onset+offset+velocity
    F1 in a :func:`sweep_input_levels` row."""
    return float(np.mean([value for reading in ("own_level", "regained") for key, value in row[reading].items()
                          if key.endswith("/onset_offset_velocity_f1")]))


def choose_input_level(rows: list[dict], tolerance: float = 0.0) -> dict:
    """The :func:`sweep_input_levels` row :func:`finalize` keeps: among the bands whose selection
    (note onsets) is within ``tolerance`` of the best, the one of highest +velocity F1 (velocity:
    what the level moves most, as the velocity head reads it); 0 (the default) keeps the best
    selection's band."""
    return _best_among_near_ties(rows, "selection", tolerance, _mean_velocity_f1)


def _best_among_near_ties(rows: list[dict], score: str, tolerance: float, by) -> dict:
    """Among ``rows`` whose ``score`` is within ``tolerance`` of the best, the one highest ``by``
    (ties, and ``tolerance`` 0: by ``score``; the first of exact ties)."""
    best = max(row[score] for row in rows)
    alike = [row for row in rows if row[score] >= best - tolerance]
    return max(alike, key=lambda row: (by(row) if tolerance > 0 else 0.0, row[score]))


def choose_offset_threshold(rows: list[dict], tolerance: float = 0.0) -> dict:
    """The :func:`sweep_offset_thresholds` row :func:`finalize` keeps: among the offsets whose
    selection (mean onset+offset F1 over groups) is within ``tolerance`` of the best, the one of
    highest mean frame F1 (an offset threshold moves where notes end, which frames measure too);
    0 (the default) keeps the best selection's, None first on exact ties."""
    return _best_among_near_ties(rows, "offset_selection", tolerance, _mean_frame_f1)


def sweep_pedal_thresholds(items: list[ValidationItem], posteriors: list[dict],
                           pedal_thresholds=PEDAL_THRESHOLDS, releases=PEDAL_RELEASES,
                           min_pedal_ms=MIN_PEDAL_MS) -> list[dict]:
    """Mean sustain-pedal F1 (presses within 50 ms, and pedal-down frames) over the excerpts
    with pedal labels, for each (pedal threshold, release threshold, shortest press) of the grid
    (a release above the threshold is skipped). Rows ``{"pedal", "pedal_release",
    "min_pedal_ms", "pedal_f1", "pedal_frame_f1"}``."""
    from fasolfa.evaluate import score
    from fasolfa.midi import Notes
    from fasolfa.notes import NoteThresholds, posteriorgrams_to_notes
    labelled = [(item, post) for item, post in zip(items, posteriors) if item.has_pedal]
    rows = []
    grid = [(threshold, release, shortest) for threshold in pedal_thresholds for release in releases
            for shortest in min_pedal_ms if release is None or release <= threshold]
    for threshold, release, shortest in grid:
        knobs = NoteThresholds(pedal=threshold, pedal_release=release, min_pedal_ms=shortest)
        presses, frames = [], []
        for item, post in labelled:
            _, pedal = posteriorgrams_to_notes(post, knobs, velocity=False)
            scores = score(Notes.empty(), item.pedal, Notes.empty(), pedal)
            presses.append(scores["pedal"]["f1"])
            frames.append(scores["pedal_frame"]["f1"])
        rows.append({"pedal": threshold, "pedal_release": release, "min_pedal_ms": shortest,
                     "pedal_f1": float(np.mean(presses)) if presses else 0.0,
                     "pedal_frame_f1": float(np.mean(frames)) if frames else 0.0})
    return rows


def sweep_offset_thresholds(items: list[ValidationItem], posteriors: list[dict], thresholds,
                            offset_thresholds=OFFSET_THRESHOLDS) -> list[dict]:
    """Validation scores (as :func:`sweep_thresholds`' rows, plus ``"offset"`` and
    ``"offset_selection"``: the mean over groups of onset+offset F1) for each offset threshold
    above ``thresholds.frame`` (and None), the other knobs as in ``thresholds``."""
    rows = []
    for offset in offset_thresholds:
        if offset is not None and offset <= thresholds.frame:
            continue
        summary = _validation_scores(items, posteriors, replace(thresholds, offset=offset))
        groups = sorted({key.split("/")[0] for key in summary if key.endswith("/onset_offset_f1")})
        rows.append({"offset": offset, **summary,
                     "offset_selection": float(np.mean([summary[f"{g}/onset_offset_f1"] for g in groups]))})
    return rows


INPUT_LEVELS_DB = tuple((centre - half, centre + half) for centre in (-25.0, -23.0, -21.0)
                        for half in (0.0, 3.0, 6.0))   # finalize's candidate bands (low, high), dBFS
REGAIN_DB = (-30.0, 18.0)    # the validation excerpts also played at a gain from this range (clipped at full scale)


def leveled(items: list[ValidationItem], reference_db) -> list[ValidationItem]:
    """The excerpts, each brought into ``reference_db`` (a band ``(low, high)`` or one level) as
    :func:`fasolfa.transcribe` brings a recording (:func:`fasolfa.level.scaled_to`)."""
    from fasolfa.level import scaled_to
    return [replace(item, audio=scaled_to(item.audio, reference_db)[0]) for item in items]


def regained(items: list[ValidationItem], seed: int = 0) -> list[ValidationItem]:
    """The excerpts played at a gain drawn uniformly from :data:`REGAIN_DB` (item ``i`` from
    ``np.random.default_rng([seed, i])``) and clipped at full scale, as a recorder would: the
    levels recordings come at, which the excerpts' own renderings do not show."""
    out = []
    for i, item in enumerate(items):
        gain = 10.0 ** (np.random.default_rng([seed, i]).uniform(*REGAIN_DB) / 20.0)
        out.append(replace(item, audio=np.clip(item.audio * np.float32(gain), -1.0, 1.0).astype(np.float32)))
    return out


def sweep_input_levels(model: FasolfaNet, items: list[ValidationItem], device="cpu",
                       levels=INPUT_LEVELS_DB) -> list[dict]:
    """:func:`validate` (its threshold grid, note onsets) of the excerpts brought into each
    candidate band, read at their own levels and at random gains (:func:`regained`): rows
    ``{"input_level_db": [low, high], "selection": mean of the two, "own_level": scores,
    "regained": scores}``."""
    from fasolfa.level import level_range
    hcqt = HCQT().to(device)
    played = regained(items)
    rows = []
    for band in levels:
        band = list(level_range(band))
        own = validate(model, hcqt, leveled(items, band), device)
        other = validate(model, hcqt, leveled(played, band), device)
        rows.append({"input_level_db": band, "selection": (own["selection"] + other["selection"]) / 2,
                     "own_level": own, "regained": other})
    return rows


def choose_thresholds(items: list[ValidationItem], posteriors: list[dict], frame_tolerance: float = 0.0,
                      tie_tolerance: float = 0.0) -> dict:
    """Note creation's knobs for the excerpts' ``posteriorgrams`` (one dict per item, read as
    :func:`finalize` reads them), chosen as :func:`finalize` chooses them (its docstring): the
    pedal's (down, up, shortest press) by press F1, then onset, frame and strong onset
    (:func:`choose_note_thresholds`), then the offset (:func:`choose_offset_threshold`). Any
    posteriorgrams will do, a network's or several readings averaged (``tests/bench/readings.py``).
    Returns ``{"thresholds": NoteThresholds, "rows", "pedal_rows", "offset_rows", "best",
    "best_pedal", "best_offset"}`` (the sweeps and their chosen rows; ``best_offset`` holds the
    scores at the chosen knobs)."""
    from fasolfa.notes import NoteThresholds
    pedal_rows = sweep_pedal_thresholds(items, posteriors)
    best_pedal = max(pedal_rows, key=lambda row: (row["pedal_f1"], row["pedal_frame_f1"]))
    pedal_knobs = {name: best_pedal[name] for name in ("pedal", "pedal_release", "min_pedal_ms")}
    rows = sweep_thresholds(None, items, posteriors=posteriors, pedal_knobs=pedal_knobs)
    best = choose_note_thresholds(rows, max(frame_tolerance, tie_tolerance))
    chosen = NoteThresholds(onset=best["onset"], frame=best["frame"], strong_onset=best["strong_onset"],
                            **pedal_knobs)
    offset_rows = sweep_offset_thresholds(items, posteriors, chosen)
    best_offset = choose_offset_threshold(offset_rows, tie_tolerance)
    return {"thresholds": replace(chosen, offset=best_offset["offset"]), "rows": rows, "pedal_rows": pedal_rows,
            "offset_rows": offset_rows, "best": best, "best_pedal": best_pedal, "best_offset": best_offset}


def finalize(weights_path: str | Path, out_path: str | Path, items: list[ValidationItem], device="cpu",
             levels=INPUT_LEVELS_DB, tuning: bool = True, frame_tolerance: float = 0.0,
             tie_tolerance: float = 0.0) -> dict:
    """Choose the input level and the note-creation thresholds on the validation excerpts and
    write the weights with them (``metadata["input_level_db"]`` and ``["thresholds"]``, read by
    :func:`fasolfa.transcribe`) to ``out_path``. First the band of levels every recording is
    brought into (:mod:`fasolfa.level`), among ``levels`` by :func:`sweep_input_levels`: the
    mean selection of the excerpts at their own renderings' levels and at the random gains real
    recordings come at (``levels=()`` stores none, and the excerpts are read as they are); with
    ``tuning``, every excerpt is read with the HCQT following its own tuning
    (:func:`tuned`), as ``fasolfa transcribe`` reads a recording; then, on the excerpts brought into that band
    (at their own levels), onset and
    frame thresholds by the selection score (:func:`choose_note_thresholds`: with
    ``frame_tolerance``, the frame threshold by frame F1 among the selections that close to the
    best), the pedal's thresholds (down, up, shortest press)
    by the pedal-press F1 of the excerpts with pedal labels, then the offset threshold (which
    moves offsets only, never onsets) by the mean over groups of onset+offset F1. With
    ``tie_tolerance``, each of the three choices made for another metric than its own goes, among
    those within that of the best, to the one best on what the knob moves: the level by +velocity
    F1 (:func:`choose_input_level`), the frame threshold (as ``frame_tolerance``) and the offset
    threshold (:func:`choose_offset_threshold`) by frame F1. Returns the chosen row of
    :func:`sweep_offset_thresholds` (with the pedal's knobs and scores). Explained in
    notebooks/06_training.ipynb. The choices after the level are :func:`choose_thresholds`'."""
    model, metadata = load_weights(weights_path, device)
    if tuning:
        items = tuned(items)
    level_rows, level = [], None
    if levels:
        level_rows = sweep_input_levels(model, items, device, levels)
        level = choose_input_level(level_rows, tie_tolerance)["input_level_db"]
        items = leveled(items, level)
    posteriors = validation_posteriorgrams(model, items, device)
    choice = choose_thresholds(items, posteriors, frame_tolerance, tie_tolerance)
    chosen, rows, pedal_rows, offset_rows = (choice[name] for name in ("thresholds", "rows", "pedal_rows",
                                                                       "offset_rows"))
    best, best_offset, best_pedal = choice["best"], choice["best_offset"], choice["best_pedal"]
    metadata = {key: value for key, value in metadata.items() if key not in ("input_level_db", "level_sweep")}
    if level is not None:
        metadata.update(input_level_db=level, level_sweep=level_rows)
    metadata = {**metadata, "thresholds": asdict(chosen), "frame_tolerance": frame_tolerance,
                "tie_tolerance": tie_tolerance,
                "threshold_sweep": rows, "pedal_sweep": pedal_rows,
                "offset_sweep": offset_rows, "validation": sorted({item.name for item in items}),
                "validation_tuning_cents": {item.name: round(item.tuning_cents, 2) for item in items}}
    save_weights(out_path, model.cpu(), metadata)
    return {**best, **best_offset, **best_pedal, **({"input_level_db": level} if level is not None else {})}


def as_finalized(weights_path: str | Path, items: list[ValidationItem],
                 thresholds_from: str | Path | None = None):
    """A ``--finalize``d checkpoint's network, its metadata, the excerpts (already :func:`tuned`)
    brought into the level it stores, and its :class:`~fasolfa.notes.NoteThresholds`: the
    validation read as :func:`finalize` read it for the thresholds it chose. With
    ``thresholds_from`` (another finalized checkpoint), that one's thresholds and level instead,
    so that networks, finalized or not, are compared at one and the same note creation.
    ``FasolfaError`` when the checkpoint that should store the thresholds stores none."""
    from fasolfa.notes import NoteThresholds
    model, metadata = load_weights(weights_path)
    stored = metadata if thresholds_from is None else load_weights(thresholds_from)[1]
    if "thresholds" not in stored:
        raise FasolfaError(f"{thresholds_from or weights_path}: not finalized "
                           f"(python -m fasolfa.train CONFIG --finalize ...)")
    if thresholds_from is not None:
        metadata = {**metadata, "thresholds": stored["thresholds"], "thresholds_from": str(thresholds_from)}
        metadata.pop("input_level_db", None)
        if "input_level_db" in stored:
            metadata["input_level_db"] = stored["input_level_db"]
    read = leveled(items, metadata["input_level_db"]) if "input_level_db" in metadata else items
    return model.eval(), metadata, read, NoteThresholds(**metadata["thresholds"])


def main(argv=None) -> int:
    """``python -m fasolfa.train CONFIG.json [--stop-after-s S]``: train (or resume) that run.
    ``python -m fasolfa.train CONFIG.json --finalize BEST.pt OUT.pt``: choose thresholds on the
    run's validation excerpts and write the weights with them (the shipped checkpoint)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m fasolfa.train", description=main.__doc__)
    parser.add_argument("config", help="a TrainConfig as JSON (a run's config.json)")
    parser.add_argument("--stop-after-s", type=float, default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--finalize", nargs=2, metavar=("WEIGHTS", "OUT"))
    parser.add_argument("--no-level", action="store_true",
                        help="with --finalize: store no input level (recordings read at their own level)")
    parser.add_argument("--frame-tolerance", type=float, default=0.0,
                        help="with --finalize: choose the frame threshold by frame F1 among the choices whose "
                             "selection is within this of the best (default 0: the selection alone)")
    parser.add_argument("--tie-tolerance", type=float, default=0.0,
                        help="with --finalize: among the choices whose selection is within this of the best, the "
                             "input level by +velocity F1, the frame and offset thresholds by frame F1 (default 0)")
    parser.add_argument("--no-tuning", action="store_true",
                        help="with --finalize: read the excerpts against A = 440 Hz (fasolfa transcribe --no-tuning)")
    args = parser.parse_args(argv)
    try:
        cfg = TrainConfig.read(args.config)
    except FasolfaError as error:
        print(f"fasolfa train: error: {error}", file=sys.stderr)
        return 1
    for flag, value in (("--frame-tolerance", args.frame_tolerance), ("--tie-tolerance", args.tie_tolerance)):
        if value < 0:
            print(f"fasolfa train: error: {flag} {value:g}: must be 0 or more", file=sys.stderr)
            return 1
    if args.finalize:
        items = build_validation(cfg, progress=not args.no_progress)
        best = finalize(args.finalize[0], args.finalize[1], items, pick_device(cfg.device),
                        levels=() if args.no_level else INPUT_LEVELS_DB, tuning=not args.no_tuning,
                        frame_tolerance=args.frame_tolerance, tie_tolerance=args.tie_tolerance)
        print("chosen thresholds:", {k: round(v, 3) if isinstance(v, float) else v for k, v in best.items()})
        return 0
    try:
        train(cfg, progress=not args.no_progress, stop_after_s=args.stop_after_s)
    except FasolfaError as error:
        print(f"fasolfa train: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
