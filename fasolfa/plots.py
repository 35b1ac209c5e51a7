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
    into the piece, so frame ``i`` sits at ``start_s + i * HOP_LENGTH / sample_rate`` (audio
    context around the window, if any, is drawn on both sides)."""
    from matplotlib.patches import Rectangle
    ax = _axes(ax, figsize=(7, 3.5))
    spectrum_db = _stft_db(window.audio, sample_rate, n_fft)
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    frame_s = config.HOP_LENGTH / sample_rate
    audio_start_s = window.start_s - getattr(window, "context_n_samples", 0) / sample_rate
    times_s = audio_start_s + np.arange(spectrum_db.shape[1]) * frame_s
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
    :meth:`fasolfa.augment.Augmentation.draw`."""
    import matplotlib.pyplot as plt
    from fasolfa.augment import eq_gain_db
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


# --- CQT and HCQT figures (notebooks 02 and 03) -------------------------------------------

def _note_ticks(ax, freqs_hz, axis="y", every_octave_from="A"):
    """Label a bin axis with the A (or C) of every octave (``freqs_hz``: centre of each bin)."""
    import librosa
    names = librosa.hz_to_note(np.asarray(freqs_hz), unicode=False)
    ticks = [i for i, name in enumerate(names) if name[0] == every_octave_from and name[1].isdigit()
             and np.isclose(np.asarray(freqs_hz)[i], midi_to_hz(librosa.note_to_midi(name)), rtol=1e-3)]
    labels = [f"{names[i]}\n{freqs_hz[i]:.0f} Hz" if axis == "x" else f"{names[i]} {freqs_hz[i]:.0f} Hz"
              for i in ticks]
    (ax.set_yticks if axis == "y" else ax.set_xticks)(ticks)
    (ax.set_yticklabels if axis == "y" else ax.set_xticklabels)(labels, fontsize=7)


def _bins_over_time(ax, image, freqs_hz, hop_length, sample_rate, title, **imshow_kwargs):
    """Draw ``image`` ``(n_bins, n_frames)`` against time (s) and CQT bin, with note ticks."""
    seconds = image.shape[1] * hop_length / sample_rate
    drawn = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest",
                      extent=(0, seconds, -0.5, len(freqs_hz) - 0.5), **imshow_kwargs)
    _note_ticks(ax, freqs_hz)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("CQT bin (note, Hz)")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return drawn


def plot_cqt_db(values, freqs_hz, ax=None, *, hop_length=config.HOP_LENGTH,
                sample_rate=config.SAMPLE_RATE, range_db=80.0, title=None, colorbar=True):
    """A CQT ``(n_bins, n_frames)`` (complex or magnitude) as dB against time (s) and bin
    (labelled with notes), the top ``range_db`` dB shown."""
    ax = _axes(ax, figsize=(9, 3.5))
    level_db = 20 * np.log10(np.maximum(np.abs(values), 1e-10))
    top = level_db.max()
    image = _bins_over_time(ax, level_db, freqs_hz, hop_length, sample_rate, title,
                            cmap="magma", vmin=top - range_db, vmax=top)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="|X| (dB)", pad=0.01)
    return image


def plot_stft_vs_cqt(audio, cqt_values, freqs_hz, axes=None, *, sample_rate=config.SAMPLE_RATE,
                     n_fft=2048, fmax_hz=5000.0, range_db=80.0):
    """The same audio as an STFT (linear frequency axis, ``n_fft`` samples per frame) and as a
    CQT (one row per bin, log-spaced): the piano's notes are evenly spaced only in the second."""
    import matplotlib.pyplot as plt
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    stft_db = _stft_db(audio, sample_rate, n_fft)
    freqs_stft = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    keep = freqs_stft <= fmax_hz
    seconds = len(audio) / sample_rate
    top = stft_db.max()
    axes[0].imshow(stft_db[keep], origin="lower", aspect="auto", cmap="magma", vmin=top - range_db, vmax=top,
                   extent=(0, seconds, 0, freqs_stft[keep][-1]), interpolation="nearest")
    axes[0].set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    axes[0].set_title(f"STFT ({n_fft} samples, {sample_rate / n_fft:.1f} Hz per bin)", fontsize=9, loc="left")
    plot_cqt_db(cqt_values, freqs_hz, axes[1], sample_rate=sample_rate, range_db=range_db,
                title="CQT (36 bins per octave)", colorbar=False)
    return axes


def plot_cqt_kernels(bins, freqs_hz, lengths, axes=None, *, sample_rate=config.SAMPLE_RATE, n_fft=1 << 17):
    """Kernels of a few bins: the real part over time (ms, the Hann envelope dashed) and the
    magnitude of their spectrum over frequency (log axis): longer in time, narrower in frequency."""
    import matplotlib.pyplot as plt
    from fasolfa.cqt import cqt_kernel
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    for k in bins:
        offsets, kernel = cqt_kernel(freqs_hz[k], lengths[k], sample_rate)
        t_ms = offsets / sample_rate * 1e3
        line, = axes[0].plot(t_ms, kernel.real, linewidth=0.6, label=f"bin {k}: {freqs_hz[k]:.0f} Hz")
        axes[0].plot(t_ms, np.abs(kernel), "--", color=line.get_color(), linewidth=0.8)
        spectrum = np.abs(np.fft.rfft(kernel.real, n_fft))
        f = np.fft.rfftfreq(n_fft, 1 / sample_rate)
        axes[1].plot(f[1:], 20 * np.log10(spectrum[1:] / spectrum.max() + 1e-12), color=line.get_color(), linewidth=0.8)
    axes[0].set_xlabel("time from the frame centre (ms)")
    axes[0].set_ylabel("kernel (real part)")
    axes[0].legend(fontsize=7)
    axes[1].set_xscale("log")
    axes[1].set_ylim(-80, 3)
    axes[1].set_xlim(20, sample_rate / 2)
    axes[1].set_xlabel("frequency (Hz)")
    axes[1].set_ylabel("|spectrum| (dB re peak)")
    axes[1].grid(True, which="both", alpha=0.3)
    return axes


def plot_cqt_error_map(values, reference, freqs_hz, ax=None, *, hop_length=config.HOP_LENGTH,
                       sample_rate=config.SAMPLE_RATE, range_db=60.0, vmax_db=None, title=None):
    """Where two CQTs differ: ``|20 log10|values| - 20 log10|reference||`` in dB, on the bins
    where the reference lies within ``range_db`` of its maximum (grey elsewhere)."""
    import matplotlib.pyplot as plt
    ax = _axes(ax, figsize=(9, 3.5))
    ours_db = 20 * np.log10(np.maximum(np.abs(values), 1e-12))
    ref_db = 20 * np.log10(np.maximum(np.abs(reference), 1e-12))
    diff = np.ma.masked_where(ref_db < ref_db.max() - range_db, np.abs(ours_db - ref_db))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("0.85")
    image = _bins_over_time(ax, diff, freqs_hz, hop_length, sample_rate, title, cmap=cmap, vmin=0,
                            vmax=vmax_db if vmax_db is not None else max(float(diff.max()), 1e-6))
    ax.figure.colorbar(image, ax=ax, label="|difference| (dB)", pad=0.01)
    return image


def plot_decimation_response(taps, ax=None, *, bins_hz=None, sample_rate=config.SAMPLE_RATE / 2):
    """Gain (dB) of a decimation low-pass (``taps`` centred, at its input rate) near the new
    Nyquist frequency, with the centre frequencies ``bins_hz`` of the bins computed after it."""
    ax = _axes(ax, figsize=(6, 3.2))
    n_fft = 1 << 18
    gain_db = 20 * np.log10(np.abs(np.fft.rfft(taps, n_fft)) + 1e-12)
    f = np.fft.rfftfreq(n_fft, 1 / (2 * sample_rate))          # input rate = 2 x output rate
    nyquist = sample_rate / 2
    keep = (f > 0.8 * nyquist) & (f < 1.05 * nyquist)
    ax.plot(f[keep], gain_db[keep], color="tab:blue", label="decimation filter")
    if bins_hz is not None:
        for i, freq in enumerate(b for b in bins_hz if 0.8 * nyquist < b < 1.05 * nyquist):
            ax.axvline(freq, color="tab:red", alpha=0.4, linewidth=0.8, label="bin centres" if i == 0 else None)
    ax.axvline(nyquist, color="k", linestyle=":", linewidth=1, label="new Nyquist")
    ax.set_ylim(-60, 3)
    ax.set_xlabel("frequency (Hz, at the first decimation)")
    ax.set_ylabel("gain (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return ax


def plot_hcqt(stack, harmonics, freqs_hz, axes=None, *, hop_length=config.HOP_LENGTH,
              sample_rate=config.SAMPLE_RATE):
    """Each channel of a harmonic stack ``(n_harmonics, n_bins, n_frames)`` (values in [0, 1])
    against time (s) and bin (labelled with the fundamental's note)."""
    import matplotlib.pyplot as plt
    n = len(harmonics)
    if axes is None:
        _, axes = plt.subplots(2, (n + 1) // 2, figsize=(11, 5), sharex=True, sharey=True,
                               constrained_layout=True)
    axes = np.ravel(axes)
    seconds = stack.shape[-1] * hop_length / sample_rate
    for ax, h, channel in zip(axes, harmonics, stack):
        image = ax.imshow(channel, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1,
                          extent=(0, seconds, -0.5, len(freqs_hz) - 0.5), interpolation="nearest")
        ax.set_title(f"h = {h:g}", fontsize=9, loc="left")
    for ax in axes[len(harmonics):]:
        ax.axis("off")
    _note_ticks(axes[0], freqs_hz)
    _note_ticks(axes[(n + 1) // 2], freqs_hz)
    for ax in axes[(n + 1) // 2:]:
        ax.set_xlabel("time (s)")
    axes[0].figure.colorbar(image, ax=list(axes), label="log magnitude (0 silence .. 1 full scale)",
                            shrink=0.8, pad=0.01)
    return axes


def plot_harmonic_columns(stack, frame, harmonics, freqs_hz, ax=None, *, marks_hz=()):
    """One frame of a harmonic stack: each channel's values over the bins, offset vertically,
    with the fundamentals ``marks_hz`` marked: partials line up on them across channels."""
    ax = _axes(ax, figsize=(9, 4))
    for i, (h, channel) in enumerate(zip(harmonics, stack[:, :, frame])):
        ax.plot(np.arange(len(freqs_hz)), channel + i, linewidth=0.9)
        ax.text(len(freqs_hz) + 1, i + 0.1, f"h = {h:g}", fontsize=8, va="bottom")
    for freq in marks_hz:
        ax.axvline(np.argmin(np.abs(np.asarray(freqs_hz) - freq)), color="k", alpha=0.3, linewidth=0.8)
    _note_ticks(ax, freqs_hz, axis="x")
    ax.set_xlim(0, len(freqs_hz) + 12)
    ax.set_yticks([])
    ax.set_xlabel("output bin (fundamental's note, Hz)")
    ax.set_ylabel("channel (log magnitude, offset)")
    return ax


def plot_training_curves(train_rows: list[dict], validation_rows: list[dict], axes=None):
    """Training losses per head and validation F1 scores against the step (rows from a run's
    ``log.csv`` and ``validation.csv``, see :func:`fasolfa.train.read_log`). Returns the figure.
    Explained in notebooks/06_training.ipynb."""
    import matplotlib.pyplot as plt
    if axes is None:
        figure, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    else:
        figure = axes[0].figure
    steps = [row["step"] for row in train_rows]
    for name in sorted({k for row in train_rows for k in row if k.startswith("loss_")}):
        axes[0].plot(steps, [row.get(name, np.nan) for row in train_rows], label=name[5:], lw=1)
    axes[0].set(xlabel="step", ylabel="loss", yscale="log", title="training losses")
    axes[0].legend(fontsize=7, ncol=2)
    if validation_rows:
        v_steps = [row["step"] for row in validation_rows]
        for name in sorted({k for row in validation_rows for k in row if k.endswith(("onset_f1", "frame_f1"))}):
            axes[1].plot(v_steps, [row.get(name, np.nan) for row in validation_rows], marker=".", label=name)
        axes[1].legend(fontsize=7)
    axes[1].set(xlabel="step", ylabel="F1", ylim=(0, 1), title="validation (mean over excerpts)")
    figure.tight_layout()
    return figure


# --- the model (notebook 05) --------------------------------------------------------------

def plot_key_connectivity(offsets, ax=None, *, n_keys: int = config.N_KEYS):
    """Which keys each key reads in a harmonic convolution: a dot at (read key, key) for every
    ``read = key + offset`` inside the keyboard (offsets below 0: keys below). Explained in
    notebooks/05_the_model.ipynb."""
    ax = _axes(ax, figsize=(4, 4))
    reads = np.zeros((n_keys, n_keys))
    for offset in offsets:
        for key in range(max(0, -int(offset)), min(n_keys, n_keys - int(offset))):
            reads[key, key + int(offset)] = 1
    ax.imshow(reads, origin="lower", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
              extent=(config.MIDI_PITCH_MIN - 0.5, config.MIDI_PITCH_MAX + 0.5,
                      config.MIDI_PITCH_MIN - 0.5, config.MIDI_PITCH_MAX + 0.5))
    ax.set_xlabel("key read (MIDI pitch)")
    ax.set_ylabel("output key (MIDI pitch)")
    ax.set_title(f"offsets {list(offsets)} keys", fontsize=9, loc="left")
    return ax


def plot_layer_costs(rows: list[dict], ax=None, *, reference: dict | None = None):
    """Horizontal bars of forward MFLOPs per second of audio per layer (rows of
    :func:`fasolfa.model.layer_table`, the ``"total"`` row drawn last), each labelled with its
    parameters; ``reference``: ``{label: mflops_per_s}`` drawn as dashed vertical lines (another
    network's total). Explained in notebooks/05_the_model.ipynb."""
    ax = _axes(ax, figsize=(7, 4))
    names = [row["layer"] for row in rows]
    costs = [row["mflops_per_s"] for row in rows]
    colors = ["tab:gray" if name == "total" else "tab:blue" for name in names]
    y = np.arange(len(rows))[::-1]
    ax.barh(y, costs, color=colors)
    for position, row in zip(y, rows):
        ax.text(row["mflops_per_s"], position, f" {row['mflops_per_s']:.1f} ({row['parameters']:,} p.)",
                va="center", fontsize=7)
    for i, (label, value) in enumerate((reference or {}).items()):
        ax.axvline(value, color=f"C{i + 1}", linestyle="--", linewidth=1, label=f"{label}: {value:.0f}")
    if reference:
        ax.legend(fontsize=8, loc="center right")
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel("MFLOPs per second of audio (a multiply-add counts 2)")
    return ax


def plot_octave_agreement(octave_names, fractions: dict, ax=None):
    """Grouped bars: per octave, the share of loud HCQT cells that agree with the whole-recording
    transform (``fractions``: ``{label: per-octave values in [0, 1]}``). Explained in
    notebooks/05_the_model.ipynb."""
    ax = _axes(ax, figsize=(7, 3))
    width = 0.8 / max(len(fractions), 1)
    x = np.arange(len(octave_names))
    for i, (label, values) in enumerate(fractions.items()):
        bars = ax.bar(x + (i - (len(fractions) - 1) / 2) * width, 100 * np.asarray(values), width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(x, octave_names, fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of loud cells within 1 dB")
    ax.legend(fontsize=8, loc="lower right")
# --- transcription (notebook 00, `fasolfa transcribe --figure`) ---------------------------

def plot_posteriorgram_with_notes(note_posteriorgram, notes, pedal=None, ax=None, *,
                                  frames_per_second=config.FRAMES_PER_SECOND, reference=None):
    """The note posteriorgram ``(88, n_frames)`` as an image (time in s against MIDI pitch),
    the detected ``notes`` outlined over it (cyan), pedal-down intervals along the bottom
    (orange), and optionally ``reference`` notes (what was played) as faint white bars."""
    ax = _axes(ax, figsize=(10, 4.5))
    values = np.asarray(note_posteriorgram, dtype=np.float32)
    n_frames = values.shape[-1]
    extent = (-0.5 / frames_per_second, (n_frames - 0.5) / frames_per_second,
              config.MIDI_PITCH_MIN - 0.5, config.MIDI_PITCH_MAX + 0.5)
    image = ax.imshow(values, origin="lower", aspect="auto", extent=extent, cmap="magma",
                      vmin=0, vmax=1, interpolation="nearest")
    if reference is not None:
        plot_piano_roll(reference, ax=ax, color="white")
    plot_piano_roll(notes, pedal, ax=ax, color="cyan", outline=True)
    pitches = [p for p in (notes.pitch, getattr(reference, "pitch", None)) if p is not None and len(p)]
    if pitches:
        low, high = min(int(p.min()) for p in pitches), max(int(p.max()) for p in pitches)
        ax.set_ylim(max(config.MIDI_PITCH_MIN - 0.5, low - 6), min(config.MIDI_PITCH_MAX + 0.5, high + 3))
    ax.set_xlim(extent[0], extent[1])
    ax.figure.colorbar(image, ax=ax, label="note probability", pad=0.01)
    return ax


# --- note creation and evaluation (notebooks 07, 08) ---------------------------------------

def plot_posteriorgram(values, ax=None, *, start_s: float = 0.0, pitch_range=None, cmap="magma",
                       frames_per_second: float = config.FRAMES_PER_SECOND, title=None, colorbar=False):
    """One key posteriorgram ``(N_KEYS, n_frames)`` (onset, note, velocity) as an image: time in
    s against MIDI pitch, probabilities 0..1. ``pitch_range``: ``(low, high)`` MIDI pitches shown.
    Explained in notebooks/07_posteriorgrams_to_notes.ipynb."""
    ax = _axes(ax)
    values = np.asarray(values)
    n_frames = values.shape[-1]
    extent = (start_s - 0.5 / frames_per_second, start_s + (n_frames - 0.5) / frames_per_second,
              config.MIDI_PITCH_MIN - 0.5, config.MIDI_PITCH_MAX + 0.5)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, vmin=0, vmax=1,
                      interpolation="nearest", extent=extent)
    if pitch_range is not None:
        ax.set_ylim(pitch_range[0] - 0.5, pitch_range[1] + 0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
    return image


def _note_boxes(ax, notes, color, *, fill=False, linewidth=1.0, alpha=1.0, label=None, height=0.8):
    from matplotlib.patches import Rectangle
    for i, (onset_s, offset_s, pitch) in enumerate(zip(notes.onset_s, notes.offset_s, notes.pitch)):
        style = (dict(facecolor=color, edgecolor="none", alpha=alpha) if fill
                 else dict(fill=False, edgecolor=color, linewidth=linewidth, alpha=alpha))
        ax.add_patch(Rectangle((onset_s, pitch - height / 2), offset_s - onset_s, height,
                               label=label if i == 0 else None, **style))


def plot_notes_over_posteriorgram(note_posteriorgram, estimate, reference=None, ax=None, *,
                                  start_s: float = 0.0, pitch_range=None, time_range=None, title=None):
    """The note posteriorgram as an image, the ``reference`` notes as thick orange outlines and the
    detected ``estimate`` notes as cyan outlines (both :class:`fasolfa.midi.Notes`), with onset
    ticks. The figure of the threshold explorer (:mod:`fasolfa.widgets`). Explained in
    notebooks/07_posteriorgrams_to_notes.ipynb."""
    ax = _axes(ax)
    plot_posteriorgram(note_posteriorgram, ax=ax, start_s=start_s, cmap="Greys_r", title=title)
    if reference is not None:
        _note_boxes(ax, reference, "tab:orange", linewidth=2.0, alpha=0.9, label="reference", height=0.9)
    _note_boxes(ax, estimate, "tab:cyan", linewidth=1.1, label="detected", height=0.6)
    ax.plot(estimate.onset_s, estimate.pitch, "|", color="tab:cyan", markersize=6)
    if pitch_range is None:
        pitches = np.concatenate([estimate.pitch, [] if reference is None else reference.pitch])
        pitch_range = (pitches.min() - 2, pitches.max() + 2) if len(pitches) else None
    if pitch_range is not None:
        ax.set_ylim(pitch_range[0] - 0.5, pitch_range[1] + 0.5)
    if time_range is not None:
        ax.set_xlim(*time_range)
    ax.legend(loc="upper right", fontsize=7, facecolor="0.3", labelcolor="white", framealpha=0.8)
    return ax


def note_matching(reference, estimate, *, onset_tolerance_s: float = 0.05, offset_ratio=None,
                  offset_min_tolerance_s: float = 0.05):
    """``mir_eval.transcription.match_notes`` of two :class:`fasolfa.midi.Notes`: the list of
    matched ``(reference index, estimate index)`` pairs (onsets within the tolerance, same pitch
    within 50 cents, offsets too when ``offset_ratio`` is a number). For drawing; the scores
    are :func:`fasolfa.evaluate.score`'s."""
    from mir_eval import transcription
    if not len(reference) or not len(estimate):
        return []

    def arrays(notes):
        return (np.stack([notes.onset_s, notes.offset_s], axis=1),
                midi_to_hz(notes.pitch))

    ref_intervals, ref_hz = arrays(reference)
    est_intervals, est_hz = arrays(estimate)
    return transcription.match_notes(ref_intervals, ref_hz, est_intervals, est_hz,
                                     onset_tolerance=onset_tolerance_s, pitch_tolerance=50.0,
                                     offset_ratio=offset_ratio,
                                     offset_min_tolerance=offset_min_tolerance_s)


MATCH_COLORS = {"TP": "tab:green", "FP": "tab:red", "FN": "tab:orange"}


def plot_note_matches(reference, estimate, ax=None, *, onset_tolerance_s: float = 0.05,
                      offset_ratio=None, time_range=None, pitch_range=None, title=None,
                      legend=True):
    """A piano roll coloured by the outcome of note matching (:func:`note_matching`): estimated
    notes that match a reference note (true positives) in green, estimated notes that match none
    (false positives) in red, reference notes that nothing matched (false negatives) as orange
    outlines; matched reference notes as thin grey outlines. Returns ``(ax, counts)`` with
    ``counts = {"TP", "FP", "FN"}``. Explained in notebooks/08_evaluation.ipynb."""
    ax = _axes(ax)
    pairs = note_matching(reference, estimate, onset_tolerance_s=onset_tolerance_s,
                          offset_ratio=offset_ratio)
    ref_hit = np.zeros(len(reference), bool)
    est_hit = np.zeros(len(estimate), bool)
    for r, e in pairs:
        ref_hit[r] = est_hit[e] = True
    _note_boxes(ax, reference.select(ref_hit), "0.45", linewidth=0.8, label="reference (matched)")
    _note_boxes(ax, estimate.select(est_hit), MATCH_COLORS["TP"], fill=True, alpha=0.75,
                label="true positive", height=0.6)
    _note_boxes(ax, estimate.select(~est_hit), MATCH_COLORS["FP"], fill=True, alpha=0.75,
                label="false positive", height=0.6)
    _note_boxes(ax, reference.select(~ref_hit), MATCH_COLORS["FN"], linewidth=1.8,
                label="false negative (missed)")
    counts = {"TP": int(est_hit.sum()), "FP": int((~est_hit).sum()), "FN": int((~ref_hit).sum())}
    pitches = np.concatenate([reference.pitch, estimate.pitch])
    if pitch_range is None and len(pitches):
        pitch_range = (pitches.min() - 2, pitches.max() + 2)
    if pitch_range is not None:
        ax.set_ylim(pitch_range[0] - 0.5, pitch_range[1] + 0.5)
    ends = np.concatenate([reference.offset_s, estimate.offset_s])
    ax.set_xlim(*(time_range if time_range is not None else (0, ends.max() if len(ends) else 1)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    if title is not None:
        ax.set_title(f"{title}: TP {counts['TP']}, FP {counts['FP']}, FN {counts['FN']}",
                     fontsize=9, loc="left")
    if legend:
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    return ax, counts


def plot_precision_recall(thresholds, precision, recall, ax=None, *, label=None, mark=None,
                          color=None, annotate_every: int = 2):
    """Precision against recall along a threshold sweep, the points labelled with their
    threshold; ``mark``: a threshold to circle (the default). Iso-F1 curves in grey. Explained in
    notebooks/07_posteriorgrams_to_notes.ipynb and 08_evaluation.ipynb."""
    ax = _axes(ax, figsize=(4.5, 4))
    thresholds, precision, recall = map(np.asarray, (thresholds, precision, recall))
    if not ax.lines:
        r = np.linspace(0.01, 1, 200)
        for f1 in (0.5, 0.6, 0.7, 0.8, 0.9):
            p = f1 * r / (2 * r - f1)
            keep = (p > 0) & (p <= 1.0001) & (2 * r > f1)
            ax.plot(r[keep], p[keep], color="0.85", linewidth=0.8, zorder=0)
            if keep.any():
                ax.text(r[keep][-1], p[keep][-1], f"F1={f1:g}", fontsize=6, color="0.6",
                        va="bottom", ha="right")
    line, = ax.plot(recall, precision, marker=".", label=label, color=color)
    for i in range(0, len(thresholds), max(annotate_every, 1)):
        ax.annotate(f"{thresholds[i]:.2g}", (recall[i], precision[i]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points", color=line.get_color())
    if mark is not None:
        i = int(np.argmin(np.abs(thresholds - mark)))
        ax.plot(recall[i], precision[i], "o", markersize=9, markerfacecolor="none",
                color=line.get_color())
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    ax.set_aspect("equal")
    if label:
        ax.legend(fontsize=7, loc="lower left")
    return ax
