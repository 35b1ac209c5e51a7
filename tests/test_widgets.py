"""Tests for fasolfa.widgets: the threshold explorer builds, and every slider position gives
valid thresholds (the strong-onset slider never drops below the onset threshold)."""
from __future__ import annotations

import numpy as np
import pytest

from fasolfa import config
from fasolfa.midi import Notes
from fasolfa.notes import NoteThresholds
from fasolfa.widgets import explorer_strong_onset, threshold_explorer


def test_strong_onset_slider_is_off_at_its_end_and_never_below_the_onset_threshold():
    assert explorer_strong_onset(1.0, 0.5) is None
    assert explorer_strong_onset(0.8, 0.5) == 0.8
    assert explorer_strong_onset(0.3, 0.6) == 0.6
    for slider in np.linspace(0.05, 1.0, 20):
        for onset in np.linspace(0.05, 0.95, 19):
            NoteThresholds(onset=onset, strong_onset=explorer_strong_onset(slider, onset))   # valid


def test_explorer_has_four_sliders_and_survives_every_onset_position():
    pytest.importorskip("ipywidgets")
    n_frames = 60
    grams = {name: np.zeros((config.N_KEYS, n_frames), np.float32) for name in ("onset", "note", "velocity")}
    grams["onset"][39, 10], grams["note"][39, 10:30] = 0.9, 0.8
    grams["pedal"] = np.zeros(n_frames, np.float32)
    reference = Notes.from_arrays([10 / config.FRAMES_PER_SECOND], [30 / config.FRAMES_PER_SECOND], [60])
    box = threshold_explorer(grams, reference, initial=NoteThresholds(onset=0.5, strong_onset=0.8))
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["onset threshold", "frame threshold", "min note (ms)",
                                                "strong onset"]
    sliders[0].value = 0.95                       # above the strong onset: still valid thresholds
    sliders[3].value = 1.0                        # off
