"""Figures for the notebooks, the README and the CLI (matplotlib only; nothing here computes
results that a test or the CLI relies on).

Each section belongs to the notebook that uses it; every function takes an optional ``ax`` and
returns the matplotlib objects it drew on, so notebooks can compose figures.
"""
from __future__ import annotations

import numpy as np

from fasolfa import config


def _axes(ax=None, figsize=(9, 3)):
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def midi_to_hz(pitch) -> np.ndarray:
    """Equal-tempered frequency (A4 = 440 Hz) of MIDI pitch numbers."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69) / 12)


# --- MIDI and targets (notebook 01) -------------------------------------------------------

def plot_piano_roll(notes, pedal=None, ax=None, *, frequency_axis=False, color="tab:blue",
                    outline=False):
    """Draw notes as bars (time in s against MIDI pitch, or against Hz if ``frequency_axis``).

    Bar opacity follows velocity (1..127); pedal-down intervals are shaded along the bottom.
    """
    from matplotlib.patches import Rectangle
    ax = _axes(ax)
    for onset_s, offset_s, pitch, velocity in zip(notes.onset_s, notes.offset_s, notes.pitch,
                                                  notes.velocity):
        if frequency_axis:
            low, high = midi_to_hz(pitch - 0.4), midi_to_hz(pitch + 0.4)
        else:
            low, high = pitch - 0.4, pitch + 0.4
        style = (dict(fill=False, edgecolor=color, linewidth=1.0) if outline
                 else dict(color=color, alpha=0.25 + 0.75 * velocity / 127, linewidth=0))
        ax.add_patch(Rectangle((onset_s, low), offset_s - onset_s, high - low, **style))
    if pedal is not None:
        for onset_s, offset_s in zip(pedal.onset_s, pedal.offset_s):
            ax.axvspan(onset_s, offset_s, ymin=0, ymax=0.03, color="tab:orange", alpha=0.8)
    if len(notes):
        end_s = max(notes.end_s, pedal.offset_s.max() if pedal is not None and len(pedal) else 0)
        ax.set_xlim(0, end_s)
        if not frequency_axis:
            ax.set_ylim(notes.pitch.min() - 5, notes.pitch.max() + 2)   # room for the pedal
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)" if frequency_axis else "MIDI pitch")
    return ax


def plot_spectrogram_with_notes(audio, notes, pedal=None, sample_rate=config.SAMPLE_RATE,
                                ax=None, *, n_fft=4096, fmax_hz=4200.0):
    """Log-frequency STFT magnitude (dB) of ``audio`` (shape ``(n_samples,)``), with the notes
    outlined at their fundamental frequencies and the pedal marked below.
    """
    import librosa
    ax = _axes(ax, figsize=(10, 4))
    spectrum_db = librosa.amplitude_to_db(
        np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=config.HOP_LENGTH)), ref=np.max,
        top_db=80)
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    times_s = np.arange(spectrum_db.shape[1]) * config.HOP_LENGTH / sample_rate
    keep = (freqs_hz >= 20) & (freqs_hz <= fmax_hz)
    mesh = ax.pcolormesh(times_s, freqs_hz[keep], spectrum_db[keep], shading="nearest",
                         cmap="magma", rasterized=True)
    ax.set_yscale("log")
    plot_piano_roll(notes, pedal, ax=ax, frequency_axis=True, color="cyan", outline=True)
    ax.set_xlim(0, times_s[-1])
    ax.set_ylim(20, fmax_hz)
    ax.figure.colorbar(mesh, ax=ax, label="magnitude (dB)")
    return ax


def plot_targets(targets, frames_per_second=config.FRAMES_PER_SECOND, pitch_range=None,
                 axes=None):
    """Show every frame target of a :class:`fasolfa.midi.Targets` as images over time.

    ``pitch_range`` (low, high) MIDI pitches crops the key axis for readability.
    """
    import matplotlib.pyplot as plt
    names = ("onset", "note", "velocity", "contour")
    if axes is None:
        _, axes = plt.subplots(len(names) + 1, 1, figsize=(9, 10), sharex=True,
                               constrained_layout=True,
                               gridspec_kw=dict(height_ratios=[3, 3, 3, 3, 1]))
    n_frames = targets.n_frames
    extent_s = n_frames / frames_per_second
    low, high = pitch_range or (config.MIDI_PITCH_MIN, config.MIDI_PITCH_MAX)
    for ax, name in zip(axes, names):
        image = getattr(targets, name)
        per_key = config.BINS_PER_SEMITONE if name == "contour" else 1
        first = (low - config.MIDI_PITCH_MIN) * per_key
        last = (high - config.MIDI_PITCH_MIN + 1) * per_key
        if name in ("onset", "velocity"):     # one frame wide: draw as dots, coloured by value
            key, frame = np.nonzero(image[first:last])
            dots = ax.scatter(frame / frames_per_second, low + key, c=image[first:last][key, frame],
                              s=12, marker="s", cmap="viridis" if name == "velocity" else "Greys",
                              vmin=0, vmax=1)
            if name == "velocity":
                ax.figure.colorbar(dots, ax=list(axes), label="velocity / 127", pad=0.01,
                                   shrink=0.3)
            ax.set_ylim(low - 0.5, high + 0.5)
        else:
            ax.imshow(image[first:last], aspect="auto", origin="lower", interpolation="antialiased",
                      cmap="Greys", vmin=0, vmax=1, extent=(0, extent_s, low - 0.5, high + 0.5))
        unit = f"{per_key} bins/semitone" if per_key > 1 else "one row per key"
        ax.set_ylabel(f"{name}\nMIDI pitch")
        ax.set_title(f"{name} target ({unit})", fontsize=9, loc="left")
    axes[0].set_xlim(0, extent_s)
    pedal_ax = axes[len(names)]
    times_s = np.arange(n_frames) / frames_per_second
    pedal_ax.fill_between(times_s, targets.pedal, step="mid", color="tab:orange", alpha=0.5,
                          label="pedal down")
    pedal_ax.vlines(times_s[targets.pedal_onset > 0], 0, 1, color="green", label="press")
    pedal_ax.vlines(times_s[targets.pedal_offset > 0], 0, 1, color="red", label="release")
    pedal_ax.set_yticks([])
    pedal_ax.set_xlabel("time (s)")
    pedal_ax.legend(loc="upper right", fontsize=7, ncol=3)
    return axes


# --- rendering and data figures (notebook 04) ---------------------------------------------

def _stft_db(audio, sample_rate, n_fft):
    import librosa
    magnitude = np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft,
                                    hop_length=config.HOP_LENGTH))
    return librosa.amplitude_to_db(magnitude, ref=1.0, top_db=None)


def plot_average_spectra(audios: dict, sample_rate=config.SAMPLE_RATE, ax=None, *, n_fft=4096,
                         fmin_hz=25.0):
    """Long-term average spectrum (dB, mean power over time) of each named audio array
    (``{name: audio of shape (n_samples,)}``), on a log-frequency axis."""
    ax = _axes(ax, figsize=(6, 3.5))
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    keep = freqs_hz >= fmin_hz
    for name, audio in audios.items():
        import librosa
        power = np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft,
                                    hop_length=config.HOP_LENGTH)) ** 2
        ax.plot(freqs_hz[keep], 10 * np.log10(power.mean(axis=1)[keep] + 1e-12), label=name,
                linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(fmin_hz, sample_rate / 2)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("mean power (dB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_velocity_response(velocities, rms_db: dict, ax=None):
    """Loudness (RMS in dB) of one rendered note against its MIDI velocity, per soundfont
    (``rms_db``: ``{name: values of shape (len(velocities),)}``)."""
    ax = _axes(ax, figsize=(5, 3.5))
    for name, values in rms_db.items():
        ax.plot(velocities, values, marker="o", markersize=3, label=name)
    ax.set_xlabel("MIDI velocity")
    ax.set_ylabel("RMS of the note (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_window(window, ax=None, *, n_fft=2048, fmax_hz=4200.0, sample_rate=config.SAMPLE_RATE,
                title=None):
    """A training window (:class:`fasolfa.data.Window`): the spectrogram of its audio (dB, log
    frequency) with its ``note`` target outlined at each key's fundamental (cyan), onsets as
    white ticks and the pedal target as an orange band along the bottom. Time axis: seconds
    into the piece, so frame ``i`` sits at ``start_s + i * HOP_LENGTH / sample_rate``."""
    from matplotlib.patches import Rectangle
    ax = _axes(ax, figsize=(7, 3.5))
    spectrum_db = _stft_db(window.audio, sample_rate, n_fft)
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    frame_s = config.HOP_LENGTH / sample_rate
    times_s = window.start_s + np.arange(spectrum_db.shape[1]) * frame_s
    keep = (freqs_hz >= 25) & (freqs_hz <= fmax_hz)
    peak_db = spectrum_db.max() if spectrum_db.size else 0.0
    ax.pcolormesh(times_s, freqs_hz[keep], spectrum_db[keep], shading="nearest", cmap="magma",
                  vmin=peak_db - 80, vmax=peak_db, rasterized=True)
    targets = window.targets
    target_times_s = window.start_s + np.arange(targets.n_frames) * frame_s
    for key in np.flatnonzero(targets.note.any(axis=1)):
        pitch = key + config.MIDI_PITCH_MIN
        low, high = midi_to_hz(pitch - 0.4), midi_to_hz(pitch + 0.4)
        active = np.concatenate([[0], targets.note[key] > 0, [0]]).astype(int)
        starts, stops = np.flatnonzero(np.diff(active) == 1), np.flatnonzero(np.diff(active) == -1)
        for first, last in zip(starts, stops):
            ax.add_patch(Rectangle((target_times_s[first] - frame_s / 2, low),
                                   (last - first) * frame_s, high - low, fill=False,
                                   edgecolor="cyan", linewidth=0.8))
        for frame in np.flatnonzero(targets.onset[key]):
            ax.plot([target_times_s[frame]] * 2, [low, high], color="white", linewidth=1.5)
    pedal = targets.pedal > 0
    if pedal.any():
        ax.fill_between(target_times_s, 25, 25 * 1.25, where=pedal, color="tab:orange",
                        step="mid", alpha=0.9)
    ax.set_yscale("log")
    ax.set_ylim(25, fmax_hz)
    ax.set_xlim(target_times_s[0] - frame_s / 2, target_times_s[-1] + frame_s / 2)
    ax.set_xlabel("time in the piece (s)")
    ax.set_ylabel("frequency (Hz)")
    if title is not None:
        ax.set_title(title, fontsize=9, loc="left")
    return ax


def plot_augmentation(clean, augmented, params: dict, axes=None, *, n_fft=2048, fmax_hz=8000.0,
                      sample_rate=config.SAMPLE_RATE):
    """A window before and after augmentation (spectrograms in dB on one colour scale), and
    the EQ curve that was drawn (flat when none). ``params`` as from
    :meth:`fasolfa.data.Augmentation.draw`."""
    import matplotlib.pyplot as plt
    from fasolfa.data import eq_gain_db
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(12, 3.5), constrained_layout=True,
                               gridspec_kw=dict(width_ratios=[2, 2, 1.4]))
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    keep = (freqs_hz >= 25) & (freqs_hz <= fmax_hz)
    spectra = [_stft_db(x, sample_rate, n_fft) for x in (clean, augmented)]
    top_db = max(s.max() for s in spectra)
    times_s = np.arange(spectra[0].shape[1]) * config.HOP_LENGTH / sample_rate
    for ax, spectrum_db, name in zip(axes[:2], spectra, ("before", "after")):
        mesh = ax.pcolormesh(times_s, freqs_hz[keep], spectrum_db[keep], shading="nearest",
                             cmap="magma", vmin=top_db - 90, vmax=top_db, rasterized=True)
        ax.set_yscale("log")
        ax.set_xlabel("time in the window (s)")
        ax.set_ylabel("frequency (Hz)")
        ax.set_title(f"{name} augmentation", fontsize=9, loc="left")
    axes[1].figure.colorbar(mesh, ax=axes[1], label="magnitude (dB)")
    curve_hz = np.geomspace(25, sample_rate / 2, 400)
    eq = params.get("eq")
    gain_db = params.get("gain_db") or 0.0
    curve_db = (eq_gain_db(curve_hz, **eq) if eq else np.zeros_like(curve_hz)) + gain_db
    axes[2].plot(curve_hz, curve_db, color="tab:green")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("frequency (Hz)")
    axes[2].set_ylabel("gain (dB)")
    axes[2].set_title("EQ + gain drawn", fontsize=9, loc="left")
    axes[2].grid(True, which="both", alpha=0.3)
    return axes


def audio_player(audio, sample_rate=config.SAMPLE_RATE, *, normalize=True):
    """An ``IPython.display.Audio`` player that embeds the audio as MP3 (about a sixth of the
    WAV that ``Audio(array)`` embeds, so notebooks stay small). ``normalize`` scales the peak
    to 0.9 as ``Audio`` does; otherwise samples are clipped to [-1, 1] (so levels compare)."""
    import io

    import soundfile
    from IPython.display import Audio
    samples = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    samples = samples * np.float32(0.9 / peak) if normalize and peak > 0 else np.clip(samples, -1, 1)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, int(sample_rate), format="MP3", subtype="MPEG_LAYER_III",
                    compression_level=0.2)
    player = Audio(data=buffer.getvalue())
    player.mimetype = "audio/mpeg"
    return player
