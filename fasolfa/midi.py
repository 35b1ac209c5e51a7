"""MIDI files <-> note events and sustain pedal <-> frame-level training targets.

Explained step by step in ``notebooks/01_midi_encoding.ipynb``.

A performance is two lists of intervals on one time axis in seconds:

* :class:`Notes` — ``onset_s, offset_s, pitch, velocity, channel`` (one entry per key press);
* :class:`Pedal` — sustain-pedal intervals (controller 64 at or above
  :data:`~fasolfa.config.SUSTAIN_THRESHOLD`), per MIDI channel.

Files are parsed with ``mido`` and every event is merged over all tracks before notes and pedal
are matched, so a pedal kept on a track of its own (common in real Disklavier files) still
applies to the notes of its channel. Frame targets follow the conventions of
:mod:`fasolfa.config` (frequency first, time last; frame ``i`` centred on ``i * HOP_LENGTH``).
"""
from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fasolfa import config
from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError

DRUM_CHANNEL = 9          # General MIDI channel 10 (0-based 9) holds percussion
SUSTAIN_CONTROLLER = 64


@dataclass(frozen=True)
class Notes:
    """Note events, sorted by onset then pitch.

    Attributes (all shape ``(n_notes,)``): ``onset_s``, ``offset_s`` (float64 seconds),
    ``pitch`` (MIDI number 0..127), ``velocity`` (1..127), ``channel`` (0..15).
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    channel: np.ndarray

    @classmethod
    def from_arrays(cls, onset_s, offset_s, pitch, velocity=None, channel=None) -> "Notes":
        """Build sorted notes from array-likes; ``velocity`` defaults to 100, ``channel`` to 0.

        Raises :class:`ValueError` on mismatched lengths or out-of-range values. Zero-length and
        reversed notes are *kept* here; :meth:`drop_invalid` removes them.
        """
        onset_s = np.asarray(onset_s, dtype=np.float64).reshape(-1)
        offset_s = np.asarray(offset_s, dtype=np.float64).reshape(-1)
        pitch = np.asarray(pitch, dtype=np.int64).reshape(-1)
        n_notes = len(onset_s)
        velocity = (np.full(n_notes, 100, np.int64) if velocity is None
                    else np.asarray(velocity, dtype=np.int64).reshape(-1))
        channel = (np.zeros(n_notes, np.int64) if channel is None
                   else np.asarray(channel, dtype=np.int64).reshape(-1))
        if not (len(offset_s) == len(pitch) == len(velocity) == len(channel) == n_notes):
            raise ValueError("onset_s, offset_s, pitch, velocity and channel must have equal lengths")
        if n_notes and (pitch.min() < 0 or pitch.max() > 127):
            raise ValueError("MIDI pitch must lie in 0..127")
        if n_notes and (velocity.min() < 1 or velocity.max() > 127):
            raise ValueError("MIDI velocity must lie in 1..127")
        order = np.lexsort((pitch, onset_s))
        return cls(onset_s[order], offset_s[order], pitch[order], velocity[order], channel[order])

    @classmethod
    def empty(cls) -> "Notes":
        return cls.from_arrays([], [], [])

    def __len__(self) -> int:
        return len(self.onset_s)

    @property
    def duration_s(self) -> np.ndarray:
        """Length of each note in seconds, shape ``(n_notes,)``."""
        return self.offset_s - self.onset_s

    @property
    def end_s(self) -> float:
        """Time of the last offset (0.0 when there are no notes)."""
        return float(self.offset_s.max()) if len(self) else 0.0

    def select(self, mask: np.ndarray) -> "Notes":
        """The notes where the boolean ``mask`` (shape ``(n_notes,)``) is true."""
        return Notes(self.onset_s[mask], self.offset_s[mask], self.pitch[mask],
                     self.velocity[mask], self.channel[mask])

    def transposed(self, semitones: int) -> "Notes":
        """The notes played ``semitones`` higher (lower when negative); notes that would leave
        the piano's 88 keys (``config.MIDI_PITCH_MIN`` ..) are dropped. Order is kept (a shift
        changes no onset and keeps pitches in the same order)."""
        pitch = self.pitch + int(semitones)
        keep = (pitch >= config.MIDI_PITCH_MIN) & (pitch < config.MIDI_PITCH_MIN + config.N_KEYS)
        return Notes(self.onset_s[keep], self.offset_s[keep], pitch[keep], self.velocity[keep],
                     self.channel[keep])

    def drop_invalid(self) -> tuple["Notes", int]:
        """Drop zero-length and reversed notes (``offset_s <= onset_s``); return them counted."""
        keep = self.offset_s > self.onset_s
        return self.select(keep), int((~keep).sum())


@dataclass(frozen=True)
class Pedal:
    """Sustain-pedal-down intervals, sorted by onset.

    Attributes (shape ``(n_intervals,)``): ``onset_s`` (pedal pressed), ``offset_s`` (released),
    ``channel`` (the MIDI channel whose notes it sustains).
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    channel: np.ndarray

    @classmethod
    def from_arrays(cls, onset_s, offset_s, channel=None) -> "Pedal":
        onset_s = np.asarray(onset_s, dtype=np.float64).reshape(-1)
        offset_s = np.asarray(offset_s, dtype=np.float64).reshape(-1)
        channel = (np.zeros(len(onset_s), np.int64) if channel is None
                   else np.asarray(channel, dtype=np.int64).reshape(-1))
        if not len(onset_s) == len(offset_s) == len(channel):
            raise ValueError("onset_s, offset_s and channel must have equal lengths")
        order = np.argsort(onset_s, kind="stable")
        return cls(onset_s[order], offset_s[order], channel[order])

    @classmethod
    def empty(cls) -> "Pedal":
        return cls.from_arrays([], [])

    def __len__(self) -> int:
        return len(self.onset_s)


@dataclass(frozen=True)
class Performance:
    """What :func:`read_midi` finds in a file.

    ``n_dropped_notes`` counts zero-length notes (and note-offs without a note-on are ignored);
    ``n_drum_notes`` counts notes on the drum channel, which are ignored; ``n_overlaps`` counts
    re-struck notes of one pitch that were still sounding (the earlier one ends at the re-strike).
    """

    notes: Notes
    pedal: Pedal
    duration_s: float
    path: str = ""
    n_dropped_notes: int = 0
    n_drum_notes: int = 0
    n_overlaps: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def read_midi(path: str | Path) -> Performance:
    """Read a MIDI file into notes and sustain-pedal intervals.

    Every track's events are merged on one clock (tempo changes honoured) before matching:

    * a note starts at ``note_on`` with velocity > 0 and ends at the next ``note_off`` (or
      ``note_on`` with velocity 0) of the same channel and pitch;
    * a re-strike of a pitch that is still sounding ends the earlier note at the re-strike; a
      note-off of that pitch at the same instant releases the earlier note, not the new one
      (as pretty_midi reads it: a note-off ends the notes that started before it);
    * zero-length notes are dropped and counted; notes still sounding at the end of the file
      end at the file's last event;
    * the drum channel (10) is ignored with a warning;
    * CC64 >= 64 presses the sustain pedal of that channel, < 64 releases it, whichever track
      the controller event sits on.

    Raises :class:`FasolfaError` (one line naming the file) for a missing or unreadable file, a
    file with no notes, or one whose notes are all drums.
    """
    path = Path(path)
    if not path.is_file():
        raise FasolfaError(f"{path}: no such MIDI file")
    try:
        import mido
        midi_file = mido.MidiFile(path, clip=True)
        messages = list(midi_file)  # merged over tracks; msg.time is a delta in seconds
    except Exception as error:  # mido raises OSError, EOFError, ValueError, KeyError...
        raise FasolfaError(f"{path}: not a MIDI file ({type(error).__name__}: {error})") from None

    onsets, offsets, pitches, velocities, channels = [], [], [], [], []
    sounding: dict[tuple[int, int], tuple[float, int]] = {}   # (channel, pitch) -> (onset, vel)
    restruck: dict[tuple[int, int], float] = {}               # key -> time of its last re-strike
    pedal_down: dict[int, float] = {}                          # channel -> press time
    pedal_on, pedal_off, pedal_channel = [], [], []
    n_drum_notes = n_dropped = n_overlaps = 0
    time_s = 0.0

    def close_note(key, end_s):
        nonlocal n_dropped
        onset_s, velocity = sounding.pop(key)
        if end_s > onset_s:
            onsets.append(onset_s); offsets.append(end_s); pitches.append(key[1])
            velocities.append(velocity); channels.append(key[0])
        else:
            n_dropped += 1

    for message in messages:
        time_s += message.time
        kind = message.type
        if kind in ("note_on", "note_off"):
            if message.channel == DRUM_CHANNEL:
                n_drum_notes += kind == "note_on" and message.velocity > 0
                continue
            key = (message.channel, message.note)
            if kind == "note_on" and message.velocity > 0:
                if key in sounding:
                    n_overlaps += 1
                    close_note(key, time_s)
                    restruck[key] = time_s
                sounding[key] = (time_s, message.velocity)
            elif key in sounding:
                if restruck.pop(key, None) == time_s == sounding[key][0]:
                    continue    # the release of the note the re-strike just ended, not of the new one
                close_note(key, time_s)
        elif kind == "control_change" and message.control == SUSTAIN_CONTROLLER:
            channel = message.channel
            if message.value >= config.SUSTAIN_THRESHOLD:
                pedal_down.setdefault(channel, time_s)
            elif channel in pedal_down:
                start_s = pedal_down.pop(channel)
                if time_s > start_s:
                    pedal_on.append(start_s); pedal_off.append(time_s); pedal_channel.append(channel)

    for key in list(sounding):
        close_note(key, time_s)
    for channel, start_s in pedal_down.items():
        if time_s > start_s:
            pedal_on.append(start_s); pedal_off.append(time_s); pedal_channel.append(channel)

    notes = Notes.from_arrays(onsets, offsets, pitches, velocities, channels)
    pedal = Pedal.from_arrays(pedal_on, pedal_off, pedal_channel)
    messages_to_user = []
    if n_drum_notes:
        if not len(notes):
            raise FasolfaError(f"{path}: only drum notes (channel 10), nothing for a piano")
        messages_to_user.append(f"{path}: ignored {n_drum_notes} drum notes on channel 10")
    if not len(notes):
        raise FasolfaError(f"{path}: no notes in this MIDI file")
    if n_dropped:
        messages_to_user.append(f"{path}: dropped {n_dropped} zero-length notes")
    for text in messages_to_user:
        warnings.warn(text, stacklevel=2)
    return Performance(notes=notes, pedal=pedal, duration_s=max(time_s, notes.end_s),
                       path=str(path), n_dropped_notes=n_dropped, n_drum_notes=n_drum_notes,
                       n_overlaps=n_overlaps, warnings=tuple(messages_to_user))


def write_midi(path: str | Path, notes: Notes, pedal: Pedal | None = None, *,
               ticks_per_beat: int = 480, tempo_bpm: float = 120.0, program: int = 0) -> Path:
    """Write notes (and sustain pedal as CC64 127/0) to a single-track MIDI file.

    Times are rounded to the nearest tick (``60 / (tempo_bpm * ticks_per_beat)`` s, 1.04 ms by
    default), so reading the file back gives every note within one tick. At equal ticks,
    note-offs come before note-ons, so a re-struck key is not cut short. The file is written to
    a temporary name and renamed, so a failure never leaves a half-written file.
    """
    data = midi_file_bytes(notes, pedal, ticks_per_beat=ticks_per_beat, tempo_bpm=tempo_bpm, program=program)
    return atomic_write(Path(path), lambda temporary: Path(temporary).write_bytes(data))


def _variable_length(value: int) -> bytes:
    """A Standard MIDI File variable-length quantity: 7 bits per byte, high bit = more follow."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def midi_file_bytes(notes: Notes, pedal: Pedal | None = None, *, ticks_per_beat: int = 480,
                    tempo_bpm: float = 120.0, program: int = 0) -> bytes:
    """The bytes of :func:`write_midi`'s file: a Standard MIDI File of type 0, written out here
    (a ``MThd`` header chunk, then one ``MTrk`` chunk of events, each preceded by its delta time
    in ticks): the tempo, a program change per channel, then note-on / note-off (velocity 0)
    and controller-64 events in time order — note-offs, then pedal, then note-ons at equal
    ticks. A few milliseconds for thousands of notes (building ``mido`` messages took ten times
    longer, a tenth of a short transcription); ``mido`` reads the result back in the tests."""
    if not 1 <= ticks_per_beat < 2 ** 15:
        raise ValueError(f"ticks_per_beat must lie in 1..32767, got {ticks_per_beat}")
    seconds_per_tick = 60.0 / (tempo_bpm * ticks_per_beat)
    notes, _ = notes.drop_invalid()
    channels = np.concatenate([notes.channel, pedal.channel if pedal is not None else []]).astype(np.int64)
    for name, values, top in (("channel", channels, 15), ("pitch", notes.pitch, 127),
                              ("program", np.array([program]), 127)):
        if len(values) and (np.min(values) < 0 or np.max(values) > top):
            raise ValueError(f"MIDI {name} must lie in 0..{top}, got {np.min(values)}..{np.max(values)}")
    events = []  # (tick, order, status and data bytes); order: -1 program, 0 off, 1 pedal, 2 on
    for channel in sorted(set(notes.channel.tolist()) | ({0} if not len(notes) else set())):
        events.append((0, -1, bytes((0xC0 | int(channel), int(program)))))
    on_ticks = np.rint(notes.onset_s / seconds_per_tick).astype(np.int64)
    off_ticks = np.maximum(np.rint(notes.offset_s / seconds_per_tick).astype(np.int64), on_ticks + 1)
    velocities = np.clip(notes.velocity, 1, 127).astype(np.int64)
    for on_tick, off_tick, pitch, velocity, channel in zip(on_ticks.tolist(), off_ticks.tolist(),
                                                          notes.pitch.tolist(), velocities.tolist(),
                                                          notes.channel.tolist()):
        events.append((on_tick, 2, bytes((0x90 | int(channel), int(pitch), velocity))))
        events.append((off_tick, 0, bytes((0x80 | int(channel), int(pitch), 0))))
    if pedal is not None:
        for onset_s, offset_s, channel in zip(pedal.onset_s.tolist(), pedal.offset_s.tolist(),
                                              pedal.channel.tolist()):
            on_tick = int(round(onset_s / seconds_per_tick))
            off_tick = max(int(round(offset_s / seconds_per_tick)), on_tick + 1)
            for tick, value in ((on_tick, 127), (off_tick, 0)):
                events.append((tick, 1, bytes((0xB0 | int(channel), SUSTAIN_CONTROLLER, value))))
    events.sort(key=lambda event: (event[0], event[1]))
    tempo = int(round(60_000_000 / tempo_bpm))            # microseconds per beat
    track = [b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big")]
    previous_tick = 0
    for tick, _, message in events:
        track.append(_variable_length(tick - previous_tick) + message)
        previous_tick = tick
    track.append(b"\x00\xff\x2f\x00")                    # end of track
    body = b"".join(track)
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
            + b"MTrk" + struct.pack(">I", len(body)) + body)


def apply_sustain(notes: Notes, pedal: Pedal) -> Notes:
    """Extend each note held by the sustain pedal to the pedal's release (MAESTRO convention).

    A note whose key is released while the pedal of its channel is down keeps sounding until
    the pedal comes up, but never past the next onset of the same pitch and channel (the key is
    struck again). Notes released with the pedal up are unchanged.
    """
    if not len(notes) or not len(pedal):
        return notes
    offset_s = notes.offset_s.copy()
    for channel in np.unique(notes.channel):
        pedal_mask = pedal.channel == channel
        if not pedal_mask.any():
            continue
        pedal_on, pedal_off = pedal.onset_s[pedal_mask], pedal.offset_s[pedal_mask]
        note_index = np.flatnonzero(notes.channel == channel)
        release_s = offset_s[note_index]
        # the pedal interval containing each release: last press at or before it
        interval = np.searchsorted(pedal_on, release_s, side="right") - 1
        held = (interval >= 0) & (release_s < pedal_off[np.maximum(interval, 0)])
        extended = np.where(held, pedal_off[np.maximum(interval, 0)], release_s)
        offset_s[note_index] = extended
        # cut at the next onset of the same pitch (notes are sorted by onset)
        for pitch in np.unique(notes.pitch[note_index]):
            same = note_index[notes.pitch[note_index] == pitch]
            if len(same) > 1:
                next_onset = notes.onset_s[same[1:]]
                offset_s[same[:-1]] = np.minimum(offset_s[same[:-1]],
                                                 np.maximum(next_onset, notes.offset_s[same[:-1]]))
    return Notes(notes.onset_s, offset_s, notes.pitch, notes.velocity, notes.channel)


def release_tails(notes: Notes, tail_s: float) -> Notes:
    """What a note list without pedal cannot say: the ``tail_s`` seconds after each key's
    release, cut at the next onset of the same pitch (the key struck again).

    A recording whose notes were listed key by key (MAPS) may still ring there under a pedal
    nobody wrote down, or may be silent: :class:`fasolfa.data.WindowDataset` leaves those cells
    out of the note and contour losses (``release_unknown_s``) instead of teaching silence.
    Returns one "note" per input note, from its offset to the tail's end (possibly empty).
    """
    if tail_s < 0:
        raise ValueError(f"tail_s must be >= 0, got {tail_s}")
    end_s = notes.offset_s + tail_s
    for pitch in np.unique(notes.pitch):
        same = np.flatnonzero(notes.pitch == pitch)
        order = same[np.argsort(notes.onset_s[same], kind="stable")]
        if len(order) > 1:          # the next strike of the key ends the tail
            end_s[order[:-1]] = np.minimum(end_s[order[:-1]],
                                           np.maximum(notes.onset_s[order[1:]], notes.offset_s[order[:-1]]))
    return Notes(notes.offset_s.copy(), end_s, notes.pitch, notes.velocity, notes.channel)


@dataclass(frozen=True)
class Targets:
    """Frame-level training targets for one stretch of audio (float32, frequency first).

    * ``onset``, ``note``, ``velocity``: ``(N_KEYS, n_frames)`` — 1 at a note's onset frame,
      1 while it sounds, and ``velocity / 127`` at its onset frame;
    * ``contour``: ``(N_CONTOUR_BINS, n_frames)`` — a Gaussian (std ``CONTOUR_SIGMA_BINS``) around
      each sounding note's bin, as in Basic Pitch, at 3 bins per semitone;
    * ``pedal``, ``pedal_onset``, ``pedal_offset``: ``(n_frames,)`` — sustain down, pressed,
      released (any channel).
    """

    onset: np.ndarray
    note: np.ndarray
    velocity: np.ndarray
    contour: np.ndarray
    pedal: np.ndarray
    pedal_onset: np.ndarray
    pedal_offset: np.ndarray

    @property
    def n_frames(self) -> int:
        return self.note.shape[-1]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def time_to_frame(time_s, frames_per_second: float = config.FRAMES_PER_SECOND) -> np.ndarray:
    """Index of the frame whose centre is nearest to ``time_s`` (array or scalar)."""
    return np.rint(np.asarray(time_s, dtype=np.float64) * frames_per_second).astype(np.int64)


def _contour_profile(sigma_bins: float) -> tuple[np.ndarray, np.ndarray]:
    radius = int(np.ceil(2 * sigma_bins))
    offsets = np.arange(-radius, radius + 1)
    return offsets, np.exp(-0.5 * (offsets / sigma_bins) ** 2).astype(np.float32)


def notes_to_targets(notes: Notes, pedal: Pedal | None, n_frames: int, start_s: float = 0.0, *,
                     frames_per_second: float = config.FRAMES_PER_SECOND,
                     sigma_bins: float = config.CONTOUR_SIGMA_BINS) -> Targets:
    """Frame targets for the ``n_frames`` frames starting at ``start_s`` seconds.

    Frame ``i`` is centred at ``start_s + i / frames_per_second``. A note covers frames
    ``round(onset) .. max(round(offset), round(onset) + 1) - 1`` (so even a very short note
    fills one frame); its onset and velocity are marked only when its onset frame lies inside
    the window. Pitches outside the piano's 88 keys are ignored. Apply :func:`apply_sustain`
    first if the note targets should include pedal-sustained sound (MAESTRO convention).
    """
    onset = np.zeros((config.N_KEYS, n_frames), np.float32)
    note = np.zeros_like(onset)
    velocity = np.zeros_like(onset)
    contour = np.zeros((config.N_CONTOUR_BINS, n_frames), np.float32)
    start_frame = int(np.rint(start_s * frames_per_second))

    on_frame = time_to_frame(notes.onset_s, frames_per_second) - start_frame
    off_frame = np.maximum(time_to_frame(notes.offset_s, frames_per_second) - start_frame,
                           on_frame + 1)
    key = notes.pitch - config.MIDI_PITCH_MIN
    inside = (off_frame > 0) & (on_frame < n_frames) & (key >= 0) & (key < config.N_KEYS)
    first, last = on_frame[inside], off_frame[inside]
    k, vel = key[inside], notes.velocity[inside]
    # note: +1 where a note starts sounding, -1 where it stops, summed along time
    changes = np.zeros((config.N_KEYS, n_frames + 1), np.int32)
    np.add.at(changes, (k, np.maximum(first, 0)), 1)
    np.add.at(changes, (k, np.minimum(last, n_frames)), -1)
    note[:] = np.cumsum(changes[:, :n_frames], axis=1) > 0
    struck = first >= 0
    onset[k[struck], first[struck]] = 1.0
    np.maximum.at(velocity, (k[struck], first[struck]), vel[struck] / np.float32(127.0))
    # contour: key k's rows of the note target, spread over bins 3k + offset with the Gaussian
    bin_offsets, profile = _contour_profile(sigma_bins)
    key_bins = np.arange(config.N_KEYS) * config.BINS_PER_SEMITONE
    for offset, weight in zip(bin_offsets, profile):
        rows = key_bins + offset
        valid = (rows >= 0) & (rows < config.N_CONTOUR_BINS)
        contour[rows[valid]] = np.maximum(contour[rows[valid]], weight * note[valid])

    pedal_frame = np.zeros(n_frames, np.float32)
    pedal_onset = np.zeros_like(pedal_frame)
    pedal_offset = np.zeros_like(pedal_frame)
    if pedal is not None and len(pedal):
        down = time_to_frame(pedal.onset_s, frames_per_second) - start_frame
        up = np.maximum(time_to_frame(pedal.offset_s, frames_per_second) - start_frame, down + 1)
        for first, last in zip(down, up):
            if last < 0 or first >= n_frames:      # last == 0: released on the window's frame 0
                continue
            pedal_frame[max(first, 0):min(last, n_frames)] = 1.0
            if first >= 0:
                pedal_onset[first] = 1.0
            if last < n_frames:
                pedal_offset[last] = 1.0
    return Targets(onset, note, velocity, contour, pedal_frame, pedal_onset, pedal_offset)


def notes_in_window(notes: Notes, start_s: float, end_s: float) -> Notes:
    """The notes that sound somewhere in ``[start_s, end_s)``, times unchanged."""
    return notes.select((notes.offset_s > start_s) & (notes.onset_s < end_s))
