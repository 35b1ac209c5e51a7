"""Posteriorgrams -> notes, sustain pedal and MIDI: the last step of transcription.

Explained step by step in ``notebooks/07_posteriorgrams_to_notes.ipynb``.

The network turns audio into *posteriorgrams*, one probability per key (or pedal) and frame;
this module turns them into note events. The two are kept apart on purpose: the network is
run once, and the thresholds here can be moved (and evaluated, see :mod:`fasolfa.evaluate`)
without running it again. The rules are those of Basic Pitch's note creation (Bittner et al.,
2022), re-derived for a piano, whose keys have a fixed pitch:

1. **Onsets** — per key, the local maxima in time of ``onset`` that reach
   :attr:`NoteThresholds.onset` (a plateau counts once, at its first frame).
2. **Tracking** — from an onset frame the note sounds while ``note`` stays at or above
   :attr:`NoteThresholds.frame`; a dip of at most :attr:`NoteThresholds.max_gap_frames`
   frames that comes back above the threshold is bridged. The onset frame itself always
   counts as sounding. The note ends (exclusive) at the first frame of a longer dip, or at the
   end of the input. With an :attr:`NoteThresholds.offset` above ``frame``, it ends earlier,
   at the first such dip below ``offset`` once ``min_note_ms`` have passed.
3. **Re-strikes** — a later onset of the same key inside a sounding note ends that note and
   starts a new one (a re-struck key makes two notes), unless either note would then be
   shorter than :attr:`NoteThresholds.min_note_ms`: such an onset is taken for a double
   detection of the same strike and absorbed.
4. **Minimum length** — notes shorter than ``min_note_ms`` are dropped, except those whose
   onset peak reaches :attr:`NoteThresholds.strong_onset`: a clear strike is a note even where
   the note posteriorgram fades at once (high keys, whose sound dies fast), so it is kept with
   the length ``min_note_ms``.
5. **Velocity** — ``round(127 * velocity[key, onset_frame])``, clipped to 1..127.
6. **Partials** (off unless :attr:`NoteThresholds.partial_onset` is set) — a note whose onset
   peak is below ``partial_onset`` is dropped when, within :data:`PARTIAL_FRAMES` frames of it,
   the onset posteriorgram of a key :data:`PARTIAL_KEYS` keys lower (where that key's 2nd to 6th
   partials sound: an octave, a twelfth, two octaves, two octaves and a major third, two octaves
   and a fifth) reaches at least its own peak: a strike at least as clear below, of which it may
   be a partial. A low bass note with a weak fundamental otherwise brings notes at its partials;
   a real octave struck with it has, most of the time, the clearer onset.

Rules 3, 4 and 6 are written so that raising the onset threshold never adds a note.
Unlike Basic Pitch, no note is created without an onset, and ``contour`` is not used (a piano
key has no pitch bend); it is accepted and shape-checked only.

Times follow :func:`fasolfa.midi.notes_to_targets`, whose inverse this is: frame ``i`` is
centred at ``start_s + i / FRAMES_PER_SECOND``; a note tracked over frames ``a .. b - 1`` gets
``onset_s = start_s + a / fps`` and ``offset_s = start_s + b / fps``.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from fasolfa import config
from fasolfa.midi import Notes, Pedal, SUSTAIN_CONTROLLER

DEFAULT_VELOCITY = 80           # MIDI velocity of every note when velocity is not estimated
NOTE_KEYS = ("onset", "note", "velocity")
KEY_BLOCK = 8                   # keys decoded at a time (bounds memory for hours of posteriorgrams)
PARTIAL_KEYS = (12, 19, 24, 28, 31)   # keys above a note where its 2nd..6th partials sound (rule 6)
PARTIAL_FRAMES = 2              # onsets this many frames apart (23 ms) count as struck together
PEDAL_KEYS = ("pedal", "pedal_onset", "pedal_offset")


@dataclass(frozen=True)
class NoteThresholds:
    """Every knob of note creation, with its meaning (probabilities are in ``[0, 1]``).

    * ``onset`` — an onset-posteriorgram peak must reach this to start a note; raising it
      never adds notes.
    * ``frame`` — a started note keeps sounding while the note posteriorgram is at or above it.
    * ``offset`` — ... but ends, once ``min_note_ms`` have passed, at the first dip below this
      (``None``: ``frame``; only a value above ``frame`` changes anything). Which notes exist
      is decided with ``frame`` alone, so raising ``offset`` shortens notes, never drops one:
      the note posteriorgram falls slowly after a key is released (dampers, room), so one
      threshold low enough to keep the short notes of fast passages ends notes late.
    * ``min_note_ms`` — shortest note kept, in milliseconds (also the shortest interval between
      two strikes of one key). 50 ms is 5 frames at 86.13 frames per second.
    * ``strong_onset`` — an onset peak at least this high makes a note even when the note
      posteriorgram does not hold it for ``min_note_ms`` (it then lasts ``min_note_ms``);
      ``None``: never (every note must be held). Must not be below ``onset``.
    * ``partial_onset`` — a note struck with a lower note whose partial it may be (rule 6) is
      kept only if its onset peak reaches this; ``None``: every note is kept (rule 6 off).
    * ``max_gap_frames`` — a dip of the note posteriorgram below ``frame`` lasting at most this
      many frames, followed by a frame above it, does not end the note.
    * ``refine_onsets`` — place each onset between frames, at the vertex of the parabola through
      the onset peak and its two neighbours (at most half a frame from the peak's centre).
      Off by default: one-hot onset targets give the network no reason to encode sub-frame
      timing, and a frame (11.6 ms) is well inside the 50 ms onset tolerance.
    * ``pedal`` — the sustain pedal goes down where the pedal posteriorgram reaches it...
    * ``pedal_release`` — ... and comes up where it falls below this (hysteresis; ``None``:
      the same as ``pedal``). Must not exceed ``pedal``.
    * ``pedal_edge`` and ``pedal_edge_frames`` — a press (release) is moved to the highest
      ``pedal_onset`` (``pedal_offset``) frame within ``pedal_edge_frames`` frames of it when that
      frame reaches ``pedal_edge``; ``pedal_edge_frames=0`` turns this off.
    * ``min_pedal_ms`` — shortest pedal-down interval kept, in milliseconds.
    """

    onset: float = 0.5
    frame: float = 0.3
    offset: float | None = None
    min_note_ms: float = 50.0
    strong_onset: float | None = None
    partial_onset: float | None = None
    max_gap_frames: int = 2
    refine_onsets: bool = False
    pedal: float = 0.5
    pedal_release: float | None = None
    pedal_edge: float = 0.5
    pedal_edge_frames: int = 2
    min_pedal_ms: float = 50.0

    def __post_init__(self):
        for name in ("onset", "frame", "pedal", "pedal_edge"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"NoteThresholds.{name} must lie in [0, 1], got {value}")
        if self.offset is not None and not 0.0 <= self.offset <= 1.0:
            raise ValueError(f"NoteThresholds.offset must lie in [0, 1] (or be None), got {self.offset}")
        if self.strong_onset is not None and not self.onset <= self.strong_onset <= 1.0:
            raise ValueError("NoteThresholds.strong_onset must lie in [onset, 1] (or be None)")
        if self.partial_onset is not None and not 0.0 <= self.partial_onset <= 1.0:
            raise ValueError(f"NoteThresholds.partial_onset must lie in [0, 1] (or be None), got {self.partial_onset}")
        if self.pedal_release is not None and not 0.0 <= self.pedal_release <= self.pedal:
            raise ValueError("NoteThresholds.pedal_release must lie in [0, pedal]")
        if self.min_note_ms < 0 or self.min_pedal_ms < 0:
            raise ValueError("NoteThresholds.min_note_ms and min_pedal_ms must be >= 0")
        for name in ("max_gap_frames", "pedal_edge_frames"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ValueError(f"NoteThresholds.{name} must be an integer >= 0, got {value}")

    def min_frames(self, milliseconds: float, frames_per_second: float) -> int:
        """Fewest whole frames lasting at least ``milliseconds`` (at least one frame)."""
        # the small slack keeps e.g. exactly 5 frames' worth of milliseconds at 5 frames
        return max(1, math.ceil(milliseconds * frames_per_second / 1000.0 - 1e-9))


# --- checking the input ------------------------------------------------------------------

def _check_posteriorgrams(posteriorgrams: Mapping[str, np.ndarray], velocity: bool,
                          pedal: bool) -> tuple[dict[str, np.ndarray], int]:
    """The arrays used (not copied: float16 and float32 are read as they are), and ``n_frames``;
    ``ValueError`` on a bad input. Checked in blocks of keys, so that a long recording's
    posteriorgrams are never copied whole."""
    if not isinstance(posteriorgrams, Mapping):
        raise ValueError("posteriorgrams must be a dict of numpy arrays")
    required = ["onset", "note"] + (["velocity"] if velocity else []) + (["pedal"] if pedal else [])
    missing = [name for name in required if name not in posteriorgrams]
    if missing:
        raise ValueError(f"posteriorgrams lack {missing} (have {sorted(posteriorgrams)})")
    arrays = {}
    n_frames = np.shape(posteriorgrams["note"])[-1] if np.ndim(posteriorgrams["note"]) else -1
    for name in ("onset", "note", "velocity", "contour") + PEDAL_KEYS:
        if name not in posteriorgrams:
            continue
        array = np.asarray(posteriorgrams[name])
        if name in PEDAL_KEYS:
            expected = (n_frames,)
        elif name == "contour":
            expected = (config.N_CONTOUR_BINS, n_frames)
        else:
            expected = (config.N_KEYS, n_frames)
        if array.shape != expected:
            raise ValueError(f"posteriorgram {name!r} has shape {array.shape}, expected "
                             f"{expected} (frequency first, time last)")
        if name == "contour":                # shape-checked only, never read
            continue
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
            raise ValueError(f"posteriorgram {name!r} must hold real numbers, got {array.dtype}")
        rows = array.reshape(-1, n_frames) if n_frames > 0 else array.reshape(1, -1)
        for row in range(0, len(rows), KEY_BLOCK):
            if not np.all(np.isfinite(rows[row:row + KEY_BLOCK])):
                raise ValueError(f"posteriorgram {name!r} holds NaN or infinite values")
        arrays[name] = array if name not in PEDAL_KEYS else array.astype(np.float64)
    return arrays, n_frames


# --- onsets and tracking -----------------------------------------------------------------

def _next_index(mask: np.ndarray, none: int) -> np.ndarray:
    """``out[..., t]`` = first ``u >= t`` with ``mask[..., u]``, else ``none`` (last axis)."""
    n = mask.shape[-1]
    index = np.where(mask, np.arange(n), none)
    return np.minimum.accumulate(index[..., ::-1], axis=-1)[..., ::-1]


def onset_peaks(onset: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean ``(n_keys, n_frames)``: local maxima in time of ``onset`` that reach ``threshold``.

    Frame ``t`` is a peak when it rises from frame ``t - 1`` (everything rises from before the
    input) and the next change after it is a fall (everything falls after the input), so a
    plateau counts once, at its first frame.
    """
    n_keys, n_frames = onset.shape
    padded = np.concatenate([np.full((n_keys, 1), -np.inf), onset,
                             np.full((n_keys, 1), -np.inf)], axis=1)
    step = np.sign(np.diff(padded, axis=1))          # step[:, t]: from frame t-1 to t; (.., T+1)
    first_change = _next_index(step != 0, n_frames)   # step[:, T] is always -1
    next_change = np.take_along_axis(step, first_change, axis=1)
    rises_into = step[:, :n_frames] > 0
    falls_after = next_change[:, 1:] < 0
    return rises_into & falls_after & (onset >= threshold)


def _dip_ends(note: np.ndarray, threshold: float, max_gap_frames: int) -> np.ndarray:
    """``(n_keys, n_frames + 1)``: first frame ``u >= t`` where a note ends (``n_frames`` if none).

    A note ends at a frame below ``threshold`` that starts a dip longer than
    ``max_gap_frames``, or one that runs to the end of the input.
    """
    n_keys, n_frames = note.shape
    sounding = note >= threshold
    never = n_frames + max_gap_frames + 1
    next_sounding = _next_index(sounding, never)
    ends = ~sounding & (next_sounding - np.arange(n_frames) > max_gap_frames)
    return np.concatenate([_next_index(ends, n_frames),
                           np.full((n_keys, 1), n_frames)], axis=1)


def _parabola_offsets(onset: np.ndarray, keys: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Sub-frame position of each peak, in ``[-0.5, 0.5]`` frames (0 at the input's edges)."""
    n_frames = onset.shape[1]
    inside = (frames > 0) & (frames < n_frames - 1)
    left = onset[keys, np.maximum(frames - 1, 0)]
    centre = onset[keys, frames]
    right = onset[keys, np.minimum(frames + 1, n_frames - 1)]
    curvature = left - 2 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(inside & (curvature < 0), 0.5 * (left - right) / curvature, 0.0)
    return np.clip(vertex, -0.5, 0.5)


def _track_key(peaks: np.ndarray, dip_end: np.ndarray, min_frames: int,
               strong: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Notes ``(first_frame, end_frame)`` of one key from its sorted peak frames (rules 2-4);
    ``strong[i]``: peak ``i`` makes a note of at least ``min_frames`` even when not held."""
    n_frames = len(dip_end) - 1
    tracked = []
    start = end = -1                 # the note being tracked; end is where its sound stops
    for i, peak in enumerate(peaks):
        if start >= 0 and peak < end:
            # a re-strike inside the sounding note: split only if both halves stay long enough
            if peak - start >= min_frames and end - peak >= min_frames:
                tracked.append((start, peak))
                start = peak
            continue
        if start >= 0:
            tracked.append((start, end))
            start = -1
        peak_end = int(dip_end[peak + 1])
        if peak_end - peak < min_frames and strong is not None and strong[i]:
            peak_end = min(int(peak) + min_frames, n_frames)
        if peak_end - peak >= min_frames or (strong is not None and strong[i]):
            start, end = int(peak), peak_end
    if start >= 0:
        tracked.append((start, end))
    return tracked


def _notes_from_arrays(arrays: dict[str, np.ndarray], thresholds: NoteThresholds, start_s: float,
                       velocity: bool, frames_per_second: float) -> Notes:
    """Rules 1-5 over every key, :data:`KEY_BLOCK` keys at a time (each key is independent), so
    that only a block of keys is ever held in float64."""
    min_frames = thresholds.min_frames(thresholds.min_note_ms, frames_per_second)
    parts = []
    for key0 in range(0, config.N_KEYS, KEY_BLOCK):
        block = slice(key0, key0 + KEY_BLOCK)
        onset = np.asarray(arrays["onset"][block], np.float64)
        peaks = onset_peaks(onset, thresholds.onset)
        if not peaks.any():
            continue
        note = np.asarray(arrays["note"][block], np.float64)
        dip_end = _dip_ends(note, thresholds.frame, thresholds.max_gap_frames)
        release_end = (_dip_ends(note, thresholds.offset, thresholds.max_gap_frames)
                       if thresholds.offset is not None and thresholds.offset > thresholds.frame else None)
        keys, firsts, ends = [], [], []
        for key in np.flatnonzero(peaks.any(axis=1)):
            key_peaks = np.flatnonzero(peaks[key])
            strong = (None if thresholds.strong_onset is None
                      else onset[key, key_peaks] >= thresholds.strong_onset)
            for first, end in _track_key(key_peaks, dip_end[key], min_frames, strong):
                if release_end is not None:          # the offset threshold's earlier end
                    end = min(end, max(int(release_end[key, first + 1]), first + min_frames))
                keys.append(key); firsts.append(first); ends.append(end)
        keys = np.asarray(keys, np.int64)
        firsts = np.asarray(firsts, np.int64)
        ends = np.asarray(ends, np.int64)
        onset_frame = firsts.astype(np.float64)
        offset_frame = ends.astype(np.float64)
        if thresholds.refine_onsets and len(keys):
            onset_frame = onset_frame + _parabola_offsets(onset, keys, firsts)
            # a note ended by a re-strike of its key ends where the re-strike begins
            restruck = {(k, f): o for k, f, o in zip(keys.tolist(), firsts.tolist(), onset_frame)}
            offset_frame = np.array([restruck.get((k, e), float(e))
                                     for k, e in zip(keys.tolist(), ends.tolist())], np.float64)
        if velocity and len(keys):
            key_velocity = np.asarray(arrays["velocity"][block], np.float64)[keys, firsts]
            midi_velocity = np.clip(np.rint(127.0 * key_velocity), 1, 127)
        else:
            midi_velocity = np.full(len(keys), DEFAULT_VELOCITY)
        parts.append((onset_frame, offset_frame, keys + key0, midi_velocity, firsts, onset[keys, firsts]))
    if not parts:
        return Notes.empty()
    onset_frame, offset_frame, keys, midi_velocity, firsts, peaks = (np.concatenate(column) for column in zip(*parts))
    if thresholds.partial_onset is not None:
        keep = ~partial_notes(arrays["onset"], keys, firsts, peaks, thresholds.partial_onset)
        onset_frame, offset_frame, keys, midi_velocity = (column[keep] for column in
                                                          (onset_frame, offset_frame, keys, midi_velocity))
    return Notes.from_arrays(start_s + onset_frame / frames_per_second,
                             start_s + offset_frame / frames_per_second,
                             keys + config.MIDI_PITCH_MIN, midi_velocity)


def partial_notes(onset: np.ndarray, keys: np.ndarray, onset_frames: np.ndarray, peaks: np.ndarray,
                  threshold: float) -> np.ndarray:
    """Rule 6: boolean ``(n_notes,)``, True for the notes dropped as partials — those whose onset
    peak (``peaks``) is below ``threshold`` while ``onset`` ``(N_KEYS, n_frames)`` reaches at least
    that peak at a key :data:`PARTIAL_KEYS` keys lower within :data:`PARTIAL_FRAMES` frames.
    ``keys`` (0-based), ``onset_frames``, ``peaks``: one entry per note. The onset threshold plays
    no part, so raising it never brings a dropped note back."""
    n_frames = onset.shape[-1]
    dropped = np.zeros(len(keys), bool)
    for i in np.flatnonzero(peaks < threshold):
        first, last = max(int(onset_frames[i]) - PARTIAL_FRAMES, 0), min(int(onset_frames[i]) + PARTIAL_FRAMES + 1, n_frames)
        lower = [int(keys[i]) - interval for interval in PARTIAL_KEYS if keys[i] - interval >= 0]
        if lower and np.max(np.asarray(onset[lower, first:last], np.float64)) >= peaks[i]:
            dropped[i] = True
    return dropped


# --- pedal -------------------------------------------------------------------------------

def _hysteresis(values: np.ndarray, down: float, up: float) -> np.ndarray:
    """Boolean pedal-down per frame: goes down at ``values >= down``, up at ``values < up``."""
    state = np.where(values >= down, 1, np.where(values < up, 0, -1))
    decided = np.where(state >= 0, np.arange(len(values)), -1)
    last = np.maximum.accumulate(decided) if len(values) else decided
    return np.where(last >= 0, state[np.maximum(last, 0)], 0).astype(bool)


def _snap(frame: int, edge: np.ndarray | None, threshold: float, radius: int) -> int:
    if edge is None or radius == 0:
        return frame
    low, high = max(frame - radius, 0), min(frame + radius + 1, len(edge))
    if high <= low:
        return frame
    best = low + int(np.argmax(edge[low:high]))
    return best if edge[best] >= threshold else frame


def _pedal_from_arrays(arrays: dict[str, np.ndarray], thresholds: NoteThresholds, start_s: float,
                       frames_per_second: float) -> Pedal:
    values = arrays["pedal"]
    release = thresholds.pedal if thresholds.pedal_release is None else thresholds.pedal_release
    down = np.concatenate([[False], _hysteresis(values, thresholds.pedal, release), [False]])
    change = np.flatnonzero(np.diff(down.astype(np.int8)))
    presses, releases = change[0::2], change[1::2]       # frames a (first down), b (first up)
    min_frames = thresholds.min_frames(thresholds.min_pedal_ms, frames_per_second)
    onset_frames, offset_frames = [], []
    previous_release = 0
    radius = thresholds.pedal_edge_frames
    for press, lift in zip(presses.tolist(), releases.tolist()):
        press = max(_snap(press, arrays.get("pedal_onset"), thresholds.pedal_edge, radius),
                    previous_release)
        if lift < len(values):   # a pedal still down at the end of the input is not released
            lift = _snap(lift, arrays.get("pedal_offset"), thresholds.pedal_edge, radius)
        if lift - press >= min_frames:
            onset_frames.append(press); offset_frames.append(lift)
            previous_release = lift
    onset_frames = np.asarray(onset_frames, np.float64)
    offset_frames = np.asarray(offset_frames, np.float64)
    return Pedal.from_arrays(start_s + onset_frames / frames_per_second,
                             start_s + offset_frames / frames_per_second)


# --- public API --------------------------------------------------------------------------

def posteriorgrams_to_notes(posteriorgrams: Mapping[str, np.ndarray],
                            thresholds: NoteThresholds = NoteThresholds(), start_s: float = 0.0,
                            *, velocity: bool = True, pedal: bool = True,
                            frames_per_second: float = config.FRAMES_PER_SECOND,
                            ) -> tuple[Notes, Pedal]:
    """Notes and sustain pedal from one recording's posteriorgrams (rules in the module doc).

    ``posteriorgrams`` maps names to arrays of probabilities, frequency first, time last:
    ``onset``, ``note``, ``velocity`` ``(N_KEYS, n_frames)``; ``contour``
    ``(N_CONTOUR_BINS, n_frames)`` (optional, unused); ``pedal``, ``pedal_onset``,
    ``pedal_offset`` ``(n_frames,)`` (the last two optional: they only sharpen pedal edges).
    ``start_s`` is the time of frame 0's centre. With ``velocity=False`` every note gets
    :data:`DEFAULT_VELOCITY` and the ``velocity`` array is not needed; with ``pedal=False`` the
    pedal is empty and the pedal arrays are not needed. Notes and pedal are on channel 0.

    Raises ``ValueError`` for a missing array, a wrong shape, or NaN/infinite values.
    """
    arrays, _ = _check_posteriorgrams(posteriorgrams, velocity, pedal)
    notes = _notes_from_arrays(arrays, thresholds, float(start_s), velocity, frames_per_second)
    pedal_intervals = (_pedal_from_arrays(arrays, thresholds, float(start_s), frames_per_second)
                       if pedal else Pedal.empty())
    return notes, pedal_intervals


def notes_to_midi(notes: Notes, pedal: Pedal | None = None, *,
                  program: int = 0) -> "pretty_midi.PrettyMIDI":
    """One-instrument :class:`pretty_midi.PrettyMIDI` (program 0, acoustic grand piano).

    Every note goes to that instrument whatever its channel; the pedal becomes controller 64,
    127 at each press and 0 at each release. Times are in seconds on pretty_midi's default
    clock (120 bpm, 220 ticks per beat), so ``.write(path)`` rounds them to 2.3 ms. Notes with
    ``offset_s <= onset_s`` are left out.
    """
    import pretty_midi                     # here: the command line writes its files without it
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=program, name="Acoustic Grand Piano")
    notes, _ = notes.drop_invalid()
    for onset_s, offset_s, pitch, velocity in zip(notes.onset_s.tolist(), notes.offset_s.tolist(),
                                                  notes.pitch.tolist(), notes.velocity.tolist()):
        piano.notes.append(pretty_midi.Note(velocity=int(velocity), pitch=int(pitch),
                                            start=onset_s, end=offset_s))
    if pedal is not None:
        for onset_s, offset_s in zip(pedal.onset_s.tolist(), pedal.offset_s.tolist()):
            piano.control_changes.append(pretty_midi.ControlChange(SUSTAIN_CONTROLLER, 127, onset_s))
            piano.control_changes.append(pretty_midi.ControlChange(SUSTAIN_CONTROLLER, 0, offset_s))
    midi.instruments.append(piano)
    return midi


def posteriorgrams_to_midi(posteriorgrams: Mapping[str, np.ndarray],
                           thresholds: NoteThresholds = NoteThresholds(), start_s: float = 0.0,
                           *, velocity: bool = True, pedal: bool = True,
                           frames_per_second: float = config.FRAMES_PER_SECOND,
                           ) -> "pretty_midi.PrettyMIDI":
    """:func:`posteriorgrams_to_notes` then :func:`notes_to_midi` (same arguments)."""
    notes, pedal_intervals = posteriorgrams_to_notes(
        posteriorgrams, thresholds, start_s, velocity=velocity, pedal=pedal,
        frames_per_second=frames_per_second)
    return notes_to_midi(notes, pedal_intervals if pedal else None)


def notes_table(notes: Notes) -> str:
    """CSV text, one row per note in time order: ``onset_s,offset_s,pitch,velocity``.

    Times are written with 6 decimals (microseconds); read it back with
    ``pandas.read_csv(io.StringIO(text))`` or :mod:`csv`.
    """
    out = io.StringIO()
    out.write("onset_s,offset_s,pitch,velocity\n")
    for onset_s, offset_s, pitch, velocity in zip(notes.onset_s.tolist(), notes.offset_s.tolist(),
                                                  notes.pitch.tolist(), notes.velocity.tolist()):
        out.write(f"{onset_s:.6f},{offset_s:.6f},{pitch},{velocity}\n")
    return out.getvalue()
