"""Interactive explorers for the notebooks (ipywidgets; imported only by the notebooks).

Explained in ``notebooks/07_posteriorgrams_to_notes.ipynb``.

The network is run once; its posteriorgrams are kept, and every slider move re-runs only
:func:`fasolfa.notes.posteriorgrams_to_notes` (milliseconds) and :func:`fasolfa.evaluate.score`,
then redraws the figure. :func:`draw_thresholds` draws the same figure without widgets, for a
notebook run headless (papermill, nbval) where sliders cannot move.
"""
from __future__ import annotations

from dataclasses import replace

from fasolfa import plots
from fasolfa.evaluate import score
from fasolfa.midi import Notes, Pedal
from fasolfa.notes import NoteThresholds, posteriorgrams_to_notes


def transcribe_and_score(posteriorgrams: dict, reference_notes: Notes, reference_pedal: Pedal | None,
                         thresholds: NoteThresholds, *, start_s: float = 0.0) -> tuple[Notes, Pedal, dict]:
    """Notes and pedal from stored posteriorgrams under ``thresholds``, and their scores
    (:func:`fasolfa.evaluate.score`) against the reference. ``reference_pedal=None``: the
    reference has no pedal annotation (MAPS), so the estimate's pedal is not used either."""
    notes, pedal = posteriorgrams_to_notes(posteriorgrams, thresholds, start_s)
    scores = score(reference_notes, reference_pedal, notes,
                   pedal if reference_pedal is not None else None)
    return notes, pedal, scores


def scores_title(thresholds: NoteThresholds, scores: dict) -> str:
    """Two lines: the three knobs; the onset, onset+offset and frame F1."""
    return (f"onset {thresholds.onset:.2f}, frame {thresholds.frame:.2f}, "
            f"min {thresholds.min_note_ms:.0f} ms\nF1: onset {scores['onset']['f1']:.3f}, "
            f"onset+offset {scores['onset_offset']['f1']:.3f}, frame {scores['frame']['f1']:.3f}")


def draw_thresholds(ax, posteriorgrams: dict, reference_notes: Notes, reference_pedal: Pedal | None,
                    thresholds: NoteThresholds, *, start_s: float = 0.0, pitch_range=None,
                    time_range=None) -> dict:
    """On ``ax``: the note posteriorgram, the notes detected under ``thresholds`` and the
    reference notes, titled with the F1 scores; returns the scores."""
    notes, _, scores = transcribe_and_score(posteriorgrams, reference_notes, reference_pedal,
                                            thresholds, start_s=start_s)
    plots.plot_notes_over_posteriorgram(posteriorgrams["note"], notes, reference_notes, ax=ax,
                                        start_s=start_s, pitch_range=pitch_range,
                                        time_range=time_range)
    ax.set_title(scores_title(thresholds, scores), fontsize=8, loc="left")
    return scores


def draw_threshold_grid(posteriorgrams: dict, reference_notes: Notes, reference_pedal: Pedal | None,
                        settings: list[NoteThresholds], *, start_s: float = 0.0, pitch_range=None,
                        time_range=None, width: float = 5.0, height: float = 3.4):
    """The explorer's figure for each of ``settings``, side by side (the static fallback).
    Returns ``(figure, [scores per setting])``."""
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, len(settings), figsize=(width * len(settings), height),
                                sharey=True, constrained_layout=True, squeeze=False)
    all_scores = [draw_thresholds(ax, posteriorgrams, reference_notes, reference_pedal, setting,
                                  start_s=start_s, pitch_range=pitch_range, time_range=time_range)
                  for ax, setting in zip(axes[0], settings)]
    return figure, all_scores


def threshold_explorer(posteriorgrams: dict, reference_notes: Notes, reference_pedal: Pedal | None = None,
                       *, initial: NoteThresholds = NoteThresholds(), start_s: float = 0.0,
                       pitch_range=None, time_range=None, figsize=(10, 4)):
    """An ``ipywidgets.VBox``: sliders for the onset threshold, the frame threshold, the
    minimum note length (ms) and the strong-onset threshold (1.0: off; never below the onset
    threshold) above a figure that each change redraws from the stored
    ``posteriorgrams`` (never the network): the note posteriorgram, detected and reference notes,
    and the onset / onset+offset / frame F1 in the title. Other knobs stay as in ``initial``.
    Display it as a cell's last expression; the sliders move only in a live kernel (JupyterLab,
    Colab)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    style = dict(continuous_update=False, style={"description_width": "initial"},
                 layout=widgets.Layout(width="24%"))
    onset = widgets.FloatSlider(value=initial.onset, min=0.05, max=0.95, step=0.05,
                                description="onset threshold", **style)
    frame = widgets.FloatSlider(value=initial.frame, min=0.05, max=0.95, step=0.05,
                                description="frame threshold", **style)
    min_ms = widgets.FloatSlider(value=initial.min_note_ms, min=0, max=200, step=10,
                                 description="min note (ms)", readout_format=".0f", **style)
    strong = widgets.FloatSlider(value=1.0 if initial.strong_onset is None else initial.strong_onset, min=0.05,
                                 max=1.0, step=0.05, description="strong onset", **style)
    output = widgets.Output()

    def redraw(*_):
        thresholds = replace(initial, onset=onset.value, frame=frame.value, min_note_ms=min_ms.value,
                             strong_onset=explorer_strong_onset(strong.value, onset.value))
        with output:
            output.clear_output(wait=True)
            figure, ax = plt.subplots(figsize=figsize, constrained_layout=True)
            draw_thresholds(ax, posteriorgrams, reference_notes, reference_pedal, thresholds,
                            start_s=start_s, pitch_range=pitch_range, time_range=time_range)
            display(figure)
            plt.close(figure)

    for slider in (onset, frame, min_ms, strong):
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([onset, frame, min_ms, strong]), output])


def explorer_strong_onset(slider: float, onset: float) -> float | None:
    """The strong-onset slider's meaning: 1.0 (its right end) is off (``None``); below the onset
    threshold it acts as the onset threshold (every onset peak that makes it is strong)."""
    return None if slider >= 1.0 else max(float(slider), float(onset))
