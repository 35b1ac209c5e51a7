"""Honest transcription scores: note, frame and sustain-pedal precision / recall / F1.

Explained step by step in ``notebooks/08_evaluation.ipynb``.

:func:`score` compares an estimate with a reference performance the way the piano-
transcription papers do (Hawthorne et al. 2018, *Onsets and Frames*; 2019, *MAESTRO*):

* ``onset`` — a note is found when an estimated note of the same pitch (within 50 cents) starts
  within ``onset_tolerance_s`` of it; notes are matched one to one (maximum bipartite matching,
  ``mir_eval.transcription`` with ``offset_ratio=None``);
* ``onset_offset`` — the same, and the offsets are within ``max(0.2 * reference duration,
  50 ms)`` of each other;
* ``onset_offset_velocity`` — the same, and the velocities agree within 0.1 after the estimated
  velocities are mapped onto the reference's by a least-squares line (so only relative loudness
  counts; ``mir_eval.transcription_velocity``);
* ``frame`` — both performances drawn as boolean piano rolls (128 pitches) at
  :data:`~fasolfa.config.FRAMES_PER_SECOND`; a note covers frames ``round(onset * fps) ..
  max(round(offset * fps), round(onset * fps) + 1) - 1``, the convention of
  :func:`fasolfa.midi.notes_to_targets`. True positives are cells on in both rolls. This direct
  comparison gives the same precision and recall as ``mir_eval.multipitch`` on those frames
  (tested), without building per-frame frequency lists;
* ``pedal`` — each estimated pedal press matches at most one reference press within
  ``pedal_tolerance_s`` (50 ms), one to one (``mir_eval.util.match_events``);
* ``pedal_frame`` — pedal-down frames, as the ``frame`` metric with one row.

Before matching, reference offsets are extended by the reference's sustain pedal
(:func:`fasolfa.midi.apply_sustain`, the MAESTRO convention), and an estimate's by its own pedal.
The pedal of every channel is pooled for the pedal metrics (a piano has one sustain pedal).

Every metric is computed from counts of true positives (``tp``), false positives (``fp``) and
false negatives (``fn``): ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``,
``f1 = 2 tp / (2 tp + fp + fn)`` (the harmonic mean of the two). A ratio ``0 / 0`` is **1.0**:
no error of that kind was possible and none was made. So an empty estimate of an empty
reference scores 1.0 everywhere; an empty estimate of a non-empty reference has precision 1.0,
recall 0 and F1 0; a non-empty estimate of an empty reference has precision 0, recall 1.0 and
F1 0. (``mir_eval`` itself returns 0 for all three whenever either side is empty.) The counts
come back with the scores, so :func:`pooled_scores` can sum them over pieces.

How sure a difference between two transcribers' mean scores is (notebook 08, section 8): a
validation or test set is a handful of pieces, and pieces differ far more from one another than two
networks do. :func:`paired_differences` gathers, excerpt by excerpt, B's score minus A's, grouped by
piece (a rendered piece's excerpts, one per soundfont, together); :func:`piece_bootstrap` draws as
many pieces again with replacement and reports where the mean difference falls.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import mido
import numpy as np
import pretty_midi
from mir_eval import transcription, transcription_velocity, util

from fasolfa import config
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, apply_sustain, read_midi

NOTE_METRICS = ("onset", "onset_offset", "onset_offset_velocity", "frame")
PEDAL_METRICS = ("pedal", "pedal_frame")
METRICS = NOTE_METRICS + PEDAL_METRICS
SCORE_NAMES = ("precision", "recall", "f1")
OFFSET_RATIO = 0.2               # offset tolerance: this fraction of the reference duration...
OFFSET_MIN_TOLERANCE_S = 0.05    # ... but never less than this
VELOCITY_TOLERANCE = 0.1         # on the reference's velocity range mapped to [0, 1]
PITCH_TOLERANCE_CENTS = 50.0
PEDAL_TOLERANCE_S = 0.05        # a press matches one within this (the ``pedal`` metric)
DISTANCE_DECIMALS = 4            # times compared after rounding to 0.1 ms, as mir_eval does


def _ratio(numerator: int, denominator: int) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def scores_from_counts(tp: int, fp: int, fn: int) -> dict:
    """``{"precision", "recall", "f1", "counts": {"tp", "fp", "fn"}}``; ``0 / 0`` is 1.0."""
    tp, fp, fn = int(tp), int(fp), int(fn)
    if min(tp, fp, fn) < 0:
        raise ValueError("counts must be >= 0")
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn), "counts": {"tp": tp, "fp": fp, "fn": fn}}


def _note_arrays(notes: Notes, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, 2)`` intervals in seconds, ``(n,)`` frequencies in Hz, ``(n,)`` velocities."""
    if not isinstance(notes, Notes):
        raise ValueError(f"{what} must be fasolfa.midi.Notes, got {type(notes).__name__}")
    if len(notes) and np.any(notes.offset_s <= notes.onset_s):
        raise ValueError(f"{what} hold notes with offset_s <= onset_s; drop them first "
                         "(Notes.drop_invalid)")
    intervals = np.stack([notes.onset_s, notes.offset_s], axis=1).reshape(-1, 2)
    freq_hz = pretty_midi.note_number_to_hz(notes.pitch.astype(np.float64))
    return intervals, np.asarray(freq_hz, np.float64).reshape(-1), notes.velocity.astype(np.float64)


def _matched_notes(reference: Notes, estimate: Notes, onset_tolerance_s: float,
                   offsets: bool, velocity: bool) -> int:
    """Number of one-to-one matched notes under ``mir_eval``'s rules."""
    if not len(reference) or not len(estimate):
        return 0
    ref_intervals, ref_hz, ref_velocity = _note_arrays(reference, "reference notes")
    est_intervals, est_hz, est_velocity = _note_arrays(estimate, "estimated notes")
    offset_ratio = OFFSET_RATIO if offsets else None
    if velocity:
        matching = transcription_velocity.match_notes(
            ref_intervals, ref_hz, ref_velocity, est_intervals, est_hz, est_velocity,
            onset_tolerance=onset_tolerance_s, pitch_tolerance=PITCH_TOLERANCE_CENTS,
            offset_ratio=offset_ratio, offset_min_tolerance=OFFSET_MIN_TOLERANCE_S,
            strict=False, velocity_tolerance=VELOCITY_TOLERANCE)
        return len(matching)
    # Notes a semitone apart (100 cents) never match within 50 cents, so the maximum matching
    # falls apart into one per pitch: same count, far smaller distance matrices.
    n_matched = 0
    for pitch in np.intersect1d(reference.pitch, estimate.pitch):
        ref_mask, est_mask = reference.pitch == pitch, estimate.pitch == pitch
        n_matched += len(transcription.match_notes(
            ref_intervals[ref_mask], ref_hz[ref_mask], est_intervals[est_mask], est_hz[est_mask],
            onset_tolerance=onset_tolerance_s, pitch_tolerance=PITCH_TOLERANCE_CENTS,
            offset_ratio=offset_ratio, offset_min_tolerance=OFFSET_MIN_TOLERANCE_S, strict=False))
    return n_matched


def velocity_agreement(reference: Notes, estimate: Notes, onset_tolerance_s: float = 0.05) -> dict:
    """How well the estimated velocities follow the reference's, on the notes whose onsets match
    (same pitch, onset within ``onset_tolerance_s``, one to one; offsets ignored): ``{"matched":
    n, "pearson_r": r, "register_tilt": t}``, ``r`` the correlation of the two velocity lists
    (``nan`` below 3 matched notes or when either list is constant). Like the
    ``onset_offset_velocity`` metric it is blind to any linear recalibration of the estimate, but
    it reads every matched note rather than a pass/fail at 0.1, and no offset decides which notes
    count: fewer matched notes are needed to tell two velocity estimators apart.

    ``t``: after the estimate is recalibrated as that metric does (the least-squares line from
    estimated to reference velocity), how many velocity units per octave up it still reads too
    loud (the slope of its error over pitch / 12; negative: the bass too loud). A piano, room or
    microphone brighter or darker than the training sound shows here (``nan`` where ``r`` is, or
    with one pitch only)."""
    nan = float("nan")
    if not len(reference) or not len(estimate):
        return {"matched": 0, "pearson_r": nan, "register_tilt": nan}
    ref_intervals, ref_hz, ref_velocity = _note_arrays(reference, "reference notes")
    est_intervals, est_hz, est_velocity = _note_arrays(estimate, "estimated notes")
    pairs = []
    for pitch in np.intersect1d(reference.pitch, estimate.pitch):    # one matching per key, as above
        ref_at, est_at = np.flatnonzero(reference.pitch == pitch), np.flatnonzero(estimate.pitch == pitch)
        pairs += [(ref_at[i], est_at[j]) for i, j in transcription.match_notes(
            ref_intervals[ref_at], ref_hz[ref_at], est_intervals[est_at], est_hz[est_at],
            onset_tolerance=onset_tolerance_s, pitch_tolerance=PITCH_TOLERANCE_CENTS, offset_ratio=None)]
    if len(pairs) < 3:
        return {"matched": len(pairs), "pearson_r": nan, "register_tilt": nan}
    ref_at, est_at = [i for i, _ in pairs], [j for _, j in pairs]
    ref_v, est_v = ref_velocity[ref_at], est_velocity[est_at]
    if np.ptp(ref_v) == 0 or np.ptp(est_v) == 0:
        return {"matched": len(pairs), "pearson_r": nan, "register_tilt": nan}
    octave = reference.pitch[ref_at] / 12.0
    slope, intercept = np.polyfit(est_v, ref_v, 1)                     # the metric's recalibration
    error = slope * est_v + intercept - ref_v                          # too loud > 0
    tilt = float(np.polyfit(octave, error, 1)[0]) if np.ptp(octave) > 0 else nan
    return {"matched": len(pairs), "pearson_r": float(np.corrcoef(ref_v, est_v)[0, 1]), "register_tilt": tilt}


def _frame_spans(onset_s: np.ndarray, offset_s: np.ndarray,
                 frames_per_second: float) -> tuple[np.ndarray, np.ndarray]:
    first = np.rint(onset_s * frames_per_second).astype(np.int64)
    end = np.maximum(np.rint(offset_s * frames_per_second).astype(np.int64), first + 1)
    if len(first) and first.min() < 0:
        raise ValueError("times must be >= 0 for the frame metrics")
    return first, end


def piano_roll(notes: Notes, n_frames: int,
               frames_per_second: float = config.FRAMES_PER_SECOND) -> np.ndarray:
    """Boolean ``(128, n_frames)``: MIDI pitch ``p`` sounds in frame ``i`` (``frame`` metric)."""
    roll = np.zeros((128, n_frames + 1), np.int32)
    first, end = _frame_spans(notes.onset_s, notes.offset_s, frames_per_second)
    np.add.at(roll, (notes.pitch, np.minimum(first, n_frames)), 1)
    np.add.at(roll, (notes.pitch, np.minimum(end, n_frames)), -1)
    return np.cumsum(roll, axis=1)[:, :n_frames] > 0


def pedal_roll(pedal: Pedal, n_frames: int,
               frames_per_second: float = config.FRAMES_PER_SECOND) -> np.ndarray:
    """Boolean ``(n_frames,)``: the sustain pedal (of any channel) is down in frame ``i``."""
    change = np.zeros(n_frames + 1, np.int32)
    first, end = _frame_spans(pedal.onset_s, pedal.offset_s, frames_per_second)
    np.add.at(change, np.minimum(first, n_frames), 1)
    np.add.at(change, np.minimum(end, n_frames), -1)
    return np.cumsum(change)[:n_frames] > 0


def _n_frames(*spans: tuple[np.ndarray, np.ndarray]) -> int:
    return max([int(end.max()) for _, end in spans if len(end)], default=0)


def _roll_counts(reference: np.ndarray, estimate: np.ndarray) -> tuple[int, int, int]:
    return (int(np.sum(reference & estimate)), int(np.sum(~reference & estimate)),
            int(np.sum(reference & ~estimate)))


def _pedal_event_matches(reference: Pedal, estimate: Pedal, tolerance_s: float) -> int:
    if not len(reference) or not len(estimate):
        return 0

    def distance(ref_s, est_s):
        return np.around(np.abs(np.subtract.outer(ref_s, est_s)), DISTANCE_DECIMALS)

    return len(util.match_events(reference.onset_s, estimate.onset_s, tolerance_s, distance))


def pedal_press_windows(notes: Notes, pedal: Pedal) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What audio rendered by a sampler such as FluidSynth can say about when each press happened.

    In such audio a press changes no sample, and a key released under the pedal sounds exactly
    as a key held until the pedal comes up (``tests/test_synth.py`` checks both on every
    training preset). What can be heard of the pedal are note *endings*: a note that stops
    when its key is released says the pedal was up then, and a lift that stops a note held by
    the pedal says it was down until then. So a press could have happened at any time after the
    last audible ending before it and before its own lift: the audio is the same. (A real piano
    differs a little: lifting the dampers lets every string ring in sympathy.)

    ``notes``, ``pedal``: one performance (channels pooled, as the pedal metrics pool them).
    Returns three arrays of shape ``(len(pedal),)``: ``after_s``, the last audible ending
    before each press (0.0 when none: the start); ``lift_s``, the press's release; ``heard``,
    whether any key is released under the press (``False``: the press changes no sample at
    all). Explained in notebooks/08_evaluation.ipynb (section 6).
    """
    press_s, lift_s = pedal.onset_s, pedal.offset_s
    release_s = notes.offset_s
    # the press each key release falls in (last press at or before it), as apply_sustain decides
    press = np.searchsorted(press_s, release_s, side="right") - 1
    held = (press >= 0) & (release_s < lift_s[np.maximum(press, 0)])
    heard = np.zeros(len(press_s), bool)
    heard[press[held]] = True
    endings = np.sort(np.concatenate([release_s[~held], lift_s[heard]]))
    start_and_endings = np.concatenate([[0.0], endings])        # 0.0: the start, before any ending
    after_s = start_and_endings[np.searchsorted(endings, press_s, side="left")]
    return after_s, lift_s.copy(), heard


def score(reference_notes: Notes, reference_pedal: Pedal | None, estimated_notes: Notes,
          estimated_pedal: Pedal | None = None, *, onset_tolerance_s: float = 0.05,
          pedal_tolerance_s: float = PEDAL_TOLERANCE_S,
          frames_per_second: float = config.FRAMES_PER_SECOND) -> dict:
    """Scores of one estimated performance against its reference (metrics in the module doc).

    Returns ``{metric: {"precision", "recall", "f1", "counts": {"tp", "fp", "fn"}}}`` for
    every metric in :data:`METRICS`. ``None`` for a pedal means no pedal (for the estimate:
    a transcriber that does not estimate the pedal; it then scores 0 recall on a reference
    that has pedal). Raises ``ValueError`` for notes with ``offset_s <= onset_s``, negative
    times or a non-positive tolerance.
    """
    if onset_tolerance_s <= 0 or pedal_tolerance_s <= 0:
        raise ValueError("tolerances must be > 0")
    reference_pedal = Pedal.empty() if reference_pedal is None else reference_pedal
    estimated_pedal = Pedal.empty() if estimated_pedal is None else estimated_pedal
    for name, value, kind in (("reference_notes", reference_notes, Notes),
                              ("estimated_notes", estimated_notes, Notes),
                              ("reference_pedal", reference_pedal, Pedal),
                              ("estimated_pedal", estimated_pedal, Pedal)):
        if not isinstance(value, kind):
            raise ValueError(f"{name} must be fasolfa.midi.{kind.__name__}, "
                             f"got {type(value).__name__}")
    _note_arrays(reference_notes, "reference notes")   # checks offsets before sustain hides them
    _note_arrays(estimated_notes, "estimated notes")
    reference = apply_sustain(reference_notes, reference_pedal)
    estimate = apply_sustain(estimated_notes, estimated_pedal)

    scores = {}
    n_ref, n_est = len(reference), len(estimate)
    for metric, offsets, velocity in (("onset", False, False), ("onset_offset", True, False),
                                      ("onset_offset_velocity", True, True)):
        tp = _matched_notes(reference, estimate, onset_tolerance_s, offsets, velocity)
        scores[metric] = scores_from_counts(tp, n_est - tp, n_ref - tp)

    n_frames = _n_frames(_frame_spans(reference.onset_s, reference.offset_s, frames_per_second),
                         _frame_spans(estimate.onset_s, estimate.offset_s, frames_per_second))
    scores["frame"] = scores_from_counts(*_roll_counts(
        piano_roll(reference, n_frames, frames_per_second),
        piano_roll(estimate, n_frames, frames_per_second)))

    tp = _pedal_event_matches(reference_pedal, estimated_pedal, pedal_tolerance_s)
    scores["pedal"] = scores_from_counts(tp, len(estimated_pedal) - tp, len(reference_pedal) - tp)
    n_frames = _n_frames(
        _frame_spans(reference_pedal.onset_s, reference_pedal.offset_s, frames_per_second),
        _frame_spans(estimated_pedal.onset_s, estimated_pedal.offset_s, frames_per_second))
    scores["pedal_frame"] = scores_from_counts(*_roll_counts(
        pedal_roll(reference_pedal, n_frames, frames_per_second),
        pedal_roll(estimated_pedal, n_frames, frames_per_second)))
    return scores


def read_midi_allowing_no_notes(path: str | Path) -> tuple[Notes, Pedal]:
    """Notes and pedal of a MIDI file; a readable file without notes (a transcription of
    silence) gives empty notes and empty pedal instead of :func:`read_midi`'s error."""
    try:
        performance = read_midi(path)
    except FasolfaError as error:
        try:
            midi_file = mido.MidiFile(path, clip=True)
        except Exception:
            raise error from None                # missing or unreadable: read_midi's error
        if any(message.type == "note_on" and message.velocity > 0 for message in midi_file):
            raise                                # notes, but only drums: read_midi's error
        return Notes.empty(), Pedal.empty()
    return performance.notes, performance.pedal


def score_midi(reference_path: str | Path, estimated_path: str | Path, **options) -> dict:
    """:func:`score` of two MIDI files read with :func:`fasolfa.midi.read_midi`.

    Each file's own sustain pedal is used (the reference's extends the reference notes, the
    estimate's the estimated ones). A readable file with no notes counts as an empty
    performance; a missing or unreadable file raises :class:`~fasolfa.errors.FasolfaError`.
    ``options`` go to :func:`score` (``onset_tolerance_s``, ...).
    """
    reference_notes, reference_pedal = read_midi_allowing_no_notes(reference_path)
    estimated_notes, estimated_pedal = read_midi_allowing_no_notes(estimated_path)
    return score(reference_notes, reference_pedal, estimated_notes, estimated_pedal, **options)


def _check_pieces(pieces: Sequence[dict]) -> list[str]:
    if not pieces:
        raise ValueError("no scores to combine")
    metrics = [metric for metric in pieces[0]]
    for piece in pieces:
        if sorted(piece) != sorted(metrics):
            raise ValueError("every piece must have the same metrics")
    return metrics


def mean_scores(pieces: Iterable[dict]) -> dict:
    """Macro average: ``{metric: {"precision", "recall", "f1"}}``, each the mean over pieces.

    This is how the papers report a test set (every piece weighs the same). ``pieces`` are
    :func:`score` results.
    """
    pieces = list(pieces)
    metrics = _check_pieces(pieces)
    return {metric: {name: float(np.mean([piece[metric][name] for piece in pieces]))
                     for name in SCORE_NAMES} for metric in metrics}


def pooled_scores(pieces: Iterable[dict]) -> dict:
    """Micro average: scores of the counts summed over pieces (every note weighs the same).

    Same shape as :func:`score`'s result, ``counts`` holding the sums.
    """
    pieces = list(pieces)
    metrics = _check_pieces(pieces)
    return {metric: scores_from_counts(*(sum(piece[metric]["counts"][name] for piece in pieces)
                                         for name in ("tp", "fp", "fn")))
            for metric in metrics}


def piece_of(excerpt: str) -> tuple[str, str]:
    """``(group, piece)`` of a validation excerpt's name: ``"piece/soundfont"`` is a rendered
    excerpt of ``piece``; any other name (``MAPS_MUS-...``) is a recording, a piece of its own."""
    if "/" in excerpt:
        return "rendered", excerpt.split("/")[0]
    return "maps", excerpt


def paired_differences(a: dict, b: dict, metric: str) -> dict[str, dict[str, list[float]]]:
    """``{group: {piece: [b - a, one per excerpt]}}`` for ``metric``, from two ``{excerpt name:
    {metric: F1}}`` dicts of the same excerpts (an excerpt without ``metric`` on either side is left
    out). Groups and pieces as :func:`piece_of` names them."""
    out: dict[str, dict[str, list[float]]] = {}
    for excerpt, scores in a.items():
        if metric in scores and metric in b.get(excerpt, {}):
            group, piece = piece_of(excerpt)
            out.setdefault(group, {}).setdefault(piece, []).append(b[excerpt][metric] - scores[metric])
    return out


def piece_bootstrap(pieces: dict[str, list[float]], draws: int = 10000, level: float = 0.9,
                    seed: int = 0) -> dict:
    """The mean over excerpts of ``pieces``' differences (``{piece: [difference per excerpt]}``)
    and its ``level`` interval when as many pieces are drawn again with replacement, ``draws``
    times (a piece's excerpts always together). Returns ``{"mean", "low", "high", "pieces",
    "excerpts"}``."""
    if not pieces:
        raise ValueError("piece_bootstrap needs at least one piece")
    rng = np.random.default_rng(seed)
    groups = list(pieces.values())
    sums = np.array([sum(values) for values in groups])                 # (pieces,)
    counts = np.array([len(values) for values in groups])               # (pieces,)
    picks = rng.integers(0, len(groups), (draws, len(groups)))          # (draws, pieces)
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)         # (draws,)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(sums.sum() / counts.sum()), "low": float(low), "high": float(high),
            "pieces": len(groups), "excerpts": int(counts.sum())}
