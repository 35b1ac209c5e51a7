"""The short piano phrase that ships in ``data/examples/`` (composed here, so it is ours to ship).

``python -m fasolfa.examples`` rewrites ``data/examples/phrase.mid``; a test checks that the
committed file is exactly what this code composes. Explained in
``notebooks/01_midi_encoding.ipynb``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fasolfa import config
from fasolfa.midi import Notes, Pedal, write_midi

BEAT_S = 0.5                      # 120 beats per minute
# (bass root, chord pitches, melody pitches over the bar's 8 eighth notes) for four bars
PROGRESSION = (
    (48, (60, 64, 67), (76, 74, 72, 74, 76, 76, 76, 79)),   # C major
    (45, (57, 60, 64), (81, 79, 76, 79, 81, 84, 83, 81)),   # A minor
    (41, (57, 60, 65), (77, 76, 74, 72, 74, 77, 76, 74)),   # F major
    (43, (55, 59, 62), (79, 77, 74, 71, 74, 79, 77, 74)),   # G major
)


def example_phrase() -> tuple[Notes, Pedal]:
    """Four bars (8 s) of a two-hand phrase with a crescendo, a melody and sustain pedal.

    Bass notes are short (the pedal holds them), chords are broken into eighth notes, the
    melody swells from ``mp`` to ``f`` and back; the pedal is changed at each bar line, as a
    pianist would (released just after the new bass note, pressed again).
    """
    onset_s, offset_s, pitch, velocity = [], [], [], []
    pedal_on_s, pedal_off_s = [], []
    n_bars = len(PROGRESSION)
    for bar, (bass, chord, melody) in enumerate(PROGRESSION):
        bar_s = bar * 4 * BEAT_S
        swell = np.sin(np.pi * (bar + 0.5) / n_bars)             # 0.38 .. 0.92
        onset_s.append(bar_s); offset_s.append(bar_s + 0.4); pitch.append(bass)
        velocity.append(int(55 + 30 * swell))
        for eighth in range(8):
            time_s = bar_s + eighth * BEAT_S / 2
            chord_pitch = chord[eighth % len(chord)]
            onset_s.append(time_s + 0.01); offset_s.append(time_s + 0.22); pitch.append(chord_pitch)
            velocity.append(int(40 + 20 * swell))
            accent = 12 if eighth in (0, 4) else 0
            onset_s.append(time_s); offset_s.append(time_s + 0.24); pitch.append(melody[eighth])
            velocity.append(int(np.clip(60 + 40 * swell + accent, 1, 127)))
        pedal_on_s.append(bar_s + 0.05)
        pedal_off_s.append(bar_s + 4 * BEAT_S - 0.02)
    # a final sustained chord
    end_s = n_bars * 4 * BEAT_S
    for chord_pitch, chord_velocity in ((48, 70), (60, 60), (64, 60), (67, 62), (72, 75)):
        onset_s.append(end_s); offset_s.append(end_s + 0.3); pitch.append(chord_pitch)
        velocity.append(chord_velocity)
    pedal_on_s.append(end_s + 0.05); pedal_off_s.append(end_s + 2.0)
    return (Notes.from_arrays(onset_s, offset_s, pitch, velocity),
            Pedal.from_arrays(pedal_on_s, pedal_off_s))


EXAMPLE_MIDI = config.EXAMPLES_DIR / "phrase.mid"


def write_example(path: str | Path = EXAMPLE_MIDI) -> Path:
    """Write :func:`example_phrase` as a MIDI file (default ``data/examples/phrase.mid``)."""
    notes, pedal = example_phrase()
    return write_midi(path, notes, pedal)


if __name__ == "__main__":
    print(write_example())
