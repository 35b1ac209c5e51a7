"""The shipped example MIDI is exactly what fasolfa/examples.py composes."""
import numpy as np

from fasolfa.examples import EXAMPLE_MIDI, example_phrase, write_example
from fasolfa.midi import read_midi


def test_shipped_phrase_matches_the_code_that_composes_it(tmp_path):
    shipped = read_midi(EXAMPLE_MIDI)
    regenerated = read_midi(write_example(tmp_path / "phrase.mid"))
    np.testing.assert_array_equal(shipped.notes.pitch, regenerated.notes.pitch)
    np.testing.assert_array_equal(shipped.notes.velocity, regenerated.notes.velocity)
    np.testing.assert_allclose(shipped.notes.onset_s, regenerated.notes.onset_s)
    np.testing.assert_allclose(shipped.pedal.offset_s, regenerated.pedal.offset_s)


def test_phrase_has_velocity_dynamics_and_pedal():
    notes, pedal = example_phrase()
    assert len(set(notes.velocity.tolist())) >= 10
    assert len(pedal) == 5
    assert notes.pitch.min() >= 21 and notes.pitch.max() <= 108
