"""Render notes or a MIDI file to piano audio with FluidSynth and a soundfont.

Explained in ``notebooks/04_rendering_a_dataset.ipynb``.

FluidSynth is a software synthesizer: it plays MIDI events with the recorded instrument samples
of a *soundfont* (``.sf2``, or ``.sf3`` with compressed samples). :func:`render` drives it event
by event: it sorts every note-on, note-off and sustain-pedal (CC64) event, asks FluidSynth for
exactly the samples up to the next event (as float32, ``fluid_synth_write_float``), sends the
event, and so on. FluidSynth applies events at the start of its 64-sample blocks, so each event
is sent at the block boundary nearest its time: a note sounds within 32 samples (1.5 ms at
22050 Hz) of its onset, and the same input always gives the same samples (no dither, no
wall-clock timing).

Each soundfont is loaded once per process and its synthesizer reused (:func:`clear_synth_cache`
frees them); every render starts from a reset synth (all sounds off, controllers reset, silence
pulled until the block clock is where a fresh synth's would be), so nothing leaks between renders.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fasolfa import config
from fasolfa.errors import FasolfaError
from fasolfa.midi import Notes, Pedal, Performance, read_midi

APT_SOUNDFONTS = "fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small"
INSTALL_SOUNDFONTS = (f"install soundfonts with `apt-get install {APT_SOUNDFONTS}` (Debian/Ubuntu, "
                      "Colab) or `conda install -c conda-forge fluid-soundfont` (conda), or point "
                      "$FASOLFA_SOUNDFONTS at a folder of .sf2/.sf3 files")
INSTALL_FLUIDSYNTH = ("install it with `apt-get install fluidsynth` (Debian/Ubuntu, Colab) or "
                      "`conda install -c conda-forge fluidsynth` (conda)")
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
DEFAULT_GAIN = 0.8          # FluidSynth's master gain ("synth.gain"; its default 0.2 is quiet):
                            # real performances then peak around 0.2..0.5
DEFAULT_TAIL_S = 1.0        # silence rendered after the last note-off / pedal release
POLYPHONY = 256             # FluidSynth's default. A pedalled passage can ask for more; the
                            # quietest releasing voices are dropped (about -43 dB of the signal
                            # against 1024 voices on MuseScore's piano) and rendering stays fast
BLOCK_SIZE = 64             # FluidSynth renders (and applies events) in blocks of 64 samples
SUSTAIN_CONTROLLER = 64
REVERB_SEND_CONTROLLER = 91
CHORUS_SEND_CONTROLLER = 93
RESET_CHUNK = 16 * BLOCK_SIZE   # silence pulled per step while a reset synth falls silent
RESET_MAX_CHUNKS = 64


# --- soundfonts ------------------------------------------------------------------------

@dataclass(frozen=True)
class Soundfont:
    """An installed soundfont file.

    ``path`` is the resolved file (symlinks followed); ``name`` a short stable id (the file's
    stem, e.g. ``"FluidR3_GM"``), used in cache keys; ``aliases`` are the stems of symlinks
    that point to it (e.g. ``"MuseScore_General"``), also accepted by :func:`get_soundfont`.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """

    path: Path
    name: str
    aliases: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


def soundfont_dirs(extra_dirs=()) -> list[Path]:
    """Where :func:`find_soundfonts` looks, in order (folders or files; missing ones included).

    ``extra_dirs`` first, then ``$FASOLFA_SOUNDFONTS`` (``os.pathsep``-separated), the Debian /
    Colab folders ``/usr/share/sounds/sf2``, ``/usr/share/sounds/sf3``,
    ``/usr/share/soundfonts``, and conda's ``$CONDA_PREFIX/share/soundfonts``.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    places = [Path(p).expanduser() for p in extra_dirs]
    places += [Path(p).expanduser() for p in os.environ.get("FASOLFA_SOUNDFONTS", "").split(os.pathsep) if p]
    places += [Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"),
               Path("/usr/share/soundfonts"), Path("/usr/local/share/soundfonts")]
    if os.environ.get("CONDA_PREFIX"):
        places.append(Path(os.environ["CONDA_PREFIX"]) / "share" / "soundfonts")
    return places


def _is_alias(path: Path) -> bool:
    return path.stem.lower().startswith("default")


def find_soundfonts(extra_dirs=()) -> list[Soundfont]:
    """Every soundfont installed where fasolfa looks (see :func:`soundfont_dirs`).

    Symlinks are resolved and each file is listed once, under the name of the real file;
    system aliases such as ``default-GM.sf2`` are skipped. Order: search order, then by name,
    so the first one (the default of :func:`render`) is stable on a machine.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    found: dict[Path, tuple[str, list[str]]] = {}
    for place in soundfont_dirs(extra_dirs):
        if place.is_file():
            candidates = [place]
        elif place.is_dir():
            candidates = sorted(p for p in place.iterdir() if p.suffix.lower() in SOUNDFONT_SUFFIXES)
        else:
            continue
        for candidate in candidates:
            if _is_alias(candidate) and candidate != place:
                continue
            try:
                real = candidate.resolve(strict=True)
            except OSError:
                continue                       # a dangling symlink
            if not real.is_file():
                continue
            name, aliases = found.setdefault(real, (real.stem, []))
            if candidate.stem != name and candidate.stem not in aliases:
                aliases.append(candidate.stem)
    return [Soundfont(path=real, name=name, aliases=tuple(aliases))
            for real, (name, aliases) in found.items()]


def get_soundfont(soundfont: "Soundfont | str | Path | None" = None) -> Soundfont:
    """Turn a :class:`Soundfont`, a path, a name (``"TimGM6mb"``) or ``None`` (the first one
    found) into a :class:`Soundfont` whose file exists.

    Raises :class:`FasolfaError` naming the path (or name) and how to install soundfonts.
    Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    if isinstance(soundfont, Soundfont):
        if not Path(soundfont.path).is_file():
            raise FasolfaError(f"{soundfont.path}: soundfont file not found; {INSTALL_SOUNDFONTS}")
        return soundfont
    if soundfont is None:
        installed = find_soundfonts()
        if not installed:
            raise FasolfaError(f"no soundfont found in {', '.join(map(str, soundfont_dirs()[:3]))}; "
                               f"{INSTALL_SOUNDFONTS}")
        return installed[0]
    text = str(soundfont)
    looks_like_path = (isinstance(soundfont, Path) or os.sep in text
                       or text.lower().endswith(SOUNDFONT_SUFFIXES))
    if not looks_like_path:
        installed = find_soundfonts()
        for candidate in installed:
            if text.lower() == candidate.name.lower() or text.lower() in map(str.lower, candidate.aliases):
                return candidate
        names = ", ".join(s.name for s in installed) or "none"
        raise FasolfaError(f"{text}: no installed soundfont of that name (installed: {names}); "
                           f"{INSTALL_SOUNDFONTS}")
    path = Path(text).expanduser()
    if not path.is_file():
        raise FasolfaError(f"{path}: soundfont file not found; {INSTALL_SOUNDFONTS}")
    real = path.resolve()
    aliases = (path.stem,) if path.stem != real.stem else ()
    return Soundfont(path=real, name=real.stem, aliases=aliases)


# --- effects settings (augmentation options) ------------------------------------------

@dataclass(frozen=True)
class Reverb:
    """FluidSynth's built-in reverb (``synth.reverb.*`` settings), off unless asked for.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""

    room_size: float = 0.6      # 0..1
    damping: float = 0.3        # 0..1
    width: float = 0.8          # 0..100
    level: float = 0.5          # 0..1
    send: int = 80              # reverb send (MIDI CC91) of every channel, 0..127


@dataclass(frozen=True)
class Chorus:
    """FluidSynth's built-in chorus (``synth.chorus.*`` settings), off unless asked for.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""

    n_voices: int = 3           # 0..99
    level: float = 1.0          # 0..10
    speed_hz: float = 0.3       # 0.1..5
    depth_ms: float = 4.0       # 0..21
    send: int = 80              # chorus send (MIDI CC93) of every channel, 0..127


def _fx(option, kind):
    if option is None or option is False:
        return None
    if option is True:
        return kind()
    if isinstance(option, kind):
        return option
    if isinstance(option, dict):
        return kind(**option)
    raise TypeError(f"expected bool, dict or {kind.__name__}, got {type(option).__name__}")


# --- FluidSynth ------------------------------------------------------------------------

_fluidsynth_module = None


def _fluidsynth():
    """Import pyfluidsynth quietly, with a one-line error when libfluidsynth is missing."""
    global _fluidsynth_module
    if _fluidsynth_module is not None:
        return _fluidsynth_module
    try:
        with contextlib.redirect_stdout(io.StringIO()):     # it prints where it found the lib under CI
            import fluidsynth
    except ModuleNotFoundError as error:
        if error.name == "fluidsynth":
            raise FasolfaError("the Python package pyfluidsynth is missing; install it with "
                               "`pip install pyfluidsynth`") from None
        raise FasolfaError(f"cannot load FluidSynth ({error}); {INSTALL_FLUIDSYNTH}") from None
    except (ImportError, OSError) as error:
        raise FasolfaError(f"the FluidSynth library (libfluidsynth) was not found ({error}); "
                           f"{INSTALL_FLUIDSYNTH}") from None
    library = fluidsynth._fl
    library.fluid_synth_write_float.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    library.fluid_synth_write_float.restype = ctypes.c_int
    if hasattr(library, "fluid_set_log_function"):          # silence FluidSynth's console chatter
        library.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        for level in range(5):                              # panic, error, warning, info, debug
            library.fluid_set_log_function(level, None, None)
    _fluidsynth_module = fluidsynth
    return fluidsynth


@contextlib.contextmanager
def _one_openmp_thread():
    """Run the enclosed code with one OpenMP thread. libfluidsynth loads soundfont samples in
    an OpenMP parallel region; in a process forked after OpenMP's thread pool started (a
    multiprocessing worker, say) that region waits forever for threads the fork did not copy.
    With one thread the region runs inline; loading is no slower (measured)."""
    runtime = None
    for name in ("libgomp.so.1", "libomp.so", "libomp.dylib", "libgomp.1.dylib"):
        try:   # only a runtime already in this process (the one libfluidsynth uses)
            runtime = ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL)
            break
        except OSError:
            continue
    if runtime is None or not hasattr(runtime, "omp_set_num_threads"):
        yield
        return
    previous = runtime.omp_get_max_threads()
    runtime.omp_set_num_threads(1)
    try:
        yield
    finally:
        runtime.omp_set_num_threads(previous)


class _SynthHandle:
    """One FluidSynth synthesizer with one soundfont loaded (per process, per settings)."""

    def __init__(self, soundfont: Soundfont, sample_rate: int, gain: float,
                 reverb: Reverb | None, chorus: Chorus | None):
        fluidsynth = _fluidsynth()
        settings = {"synth.polyphony": POLYPHONY, "synth.cpu-cores": 1,
                    "synth.reverb.active": int(reverb is not None),
                    "synth.chorus.active": int(chorus is not None)}
        if reverb is not None:
            settings.update({"synth.reverb.room-size": float(reverb.room_size),
                             "synth.reverb.damp": float(reverb.damping),
                             "synth.reverb.width": float(reverb.width),
                             "synth.reverb.level": float(reverb.level)})
        if chorus is not None:
            settings.update({"synth.chorus.nr": int(chorus.n_voices),
                             "synth.chorus.level": float(chorus.level),
                             "synth.chorus.speed": float(chorus.speed_hz),
                             "synth.chorus.depth": float(chorus.depth_ms)})
        self.synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate), channels=16,
                                      **settings)
        with _one_openmp_thread():
            self.soundfont_id = self.synth.sfload(str(soundfont.path))
        if self.soundfont_id < 0:
            self.synth.delete()
            raise FasolfaError(f"{soundfont.path}: FluidSynth cannot load this soundfont "
                               f"(not a .sf2/.sf3 file, or damaged)")
        self.soundfont = soundfont
        self.reverb, self.chorus = reverb, chorus
        self.samples_pulled = 0
        self._write = fluidsynth._fl.fluid_synth_write_float

    def pull(self, stereo: np.ndarray, start: int, stop: int) -> None:
        """Render samples ``start:stop`` into ``stereo`` (float32, shape ``(n, 2)``, C order)."""
        count = stop - start
        if count <= 0:
            return
        address = stereo.ctypes.data + start * 8            # 2 float32 per frame
        self._write(self.synth.synth, count, address, 0, 2, address, 1, 2)
        self.samples_pulled += count

    def reset(self) -> None:
        """All notes and sounds off, controllers and programs reset, effects cleared, and
        silence pulled until the 64-sample block clock is aligned as in a fresh synth."""
        scratch = np.zeros((RESET_CHUNK, 2), np.float32)
        self._silence(scratch)
        # A reused voice slot keeps a little state from its last note (its first block differs
        # by up to ~1e-3). Play every slot once with the same notes so every render starts from
        # the same state whatever was rendered before.
        for channel in range(16):
            self.synth.program_select(channel, self.soundfont_id, 0, 0)
        for index in range(16 * 128):
            if self.synth.get_active_voice_count() >= POLYPHONY:
                break
            self.synth.noteon(index % 16, index // 16, 64)
        self.pull(scratch, 0, 2 * BLOCK_SIZE)
        self._silence(scratch)

    def _silence(self, scratch: np.ndarray) -> None:
        for channel in range(16):
            self.synth.all_sounds_off(channel)
        self.synth.system_reset()
        # killed voices fade out over a few blocks: pull until a whole block is silent
        for _ in range(RESET_MAX_CHUNKS):
            self.pull(scratch, 0, RESET_CHUNK)
            if not scratch[-BLOCK_SIZE:].any() and self.synth.get_active_voice_count() == 0:
                break
        pad = (-self.samples_pulled) % BLOCK_SIZE
        self.pull(scratch, 0, pad)

    def delete(self) -> None:
        self.synth.delete()


_SYNTHS: dict[tuple, _SynthHandle] = {}


def _synth_for(soundfont: Soundfont, sample_rate: int, gain: float, reverb, chorus) -> _SynthHandle:
    key = (os.getpid(), str(soundfont.path), int(sample_rate), float(gain), reverb, chorus)
    handle = _SYNTHS.get(key)
    if handle is None:
        handle = _SYNTHS[key] = _SynthHandle(soundfont, sample_rate, gain, reverb, chorus)
    return handle


def clear_synth_cache() -> None:
    """Free every synthesizer (and loaded soundfont) this process keeps for reuse.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    for key, handle in list(_SYNTHS.items()):
        if key[0] == os.getpid():
            handle.delete()
        del _SYNTHS[key]


# --- rendering -------------------------------------------------------------------------

def _as_notes_and_pedal(notes_or_midi) -> tuple[Notes, Pedal, float]:
    """(notes, pedal, end_s) from a Performance, a (Notes, Pedal) pair, Notes, or a MIDI path."""
    if isinstance(notes_or_midi, (str, Path)):
        notes_or_midi = read_midi(notes_or_midi)
    if isinstance(notes_or_midi, Performance):
        return notes_or_midi.notes, notes_or_midi.pedal, float(notes_or_midi.duration_s)
    if isinstance(notes_or_midi, Notes):
        return notes_or_midi, Pedal.empty(), 0.0
    if isinstance(notes_or_midi, tuple) and len(notes_or_midi) == 2:
        notes, pedal = notes_or_midi
        if isinstance(notes, Notes) and (pedal is None or isinstance(pedal, Pedal)):
            return notes, pedal if pedal is not None else Pedal.empty(), 0.0
    raise TypeError("render() takes a Performance, a (Notes, Pedal) pair, Notes or a MIDI path, "
                    f"not {type(notes_or_midi).__name__}")


def render_length(notes: Notes, pedal: Pedal | None = None, *, end_s: float = 0.0,
                  sample_rate: int = config.SAMPLE_RATE, tail_s: float = DEFAULT_TAIL_S) -> int:
    """Number of samples :func:`render` returns: up to the last note-off, pedal release or
    ``end_s``, whichever is latest, plus ``tail_s`` seconds.
    Explained in notebooks/04_rendering_a_dataset.ipynb."""
    notes, _ = notes.drop_invalid()
    last_s = max(notes.end_s, float(pedal.offset_s.max()) if pedal is not None and len(pedal) else 0.0,
                 float(end_s))
    return int(round((last_s + tail_s) * sample_rate))


def _events(notes: Notes, pedal: Pedal, sample_rate: int):
    """Sorted events ``(sample, kind, channel, data1, data2)``: kind 0 note-off, 1 pedal,
    2 note-on (so at one instant a released key is released before it is struck again).

    Overlapping notes of one pitch and channel are cut at the re-strike, as in a MIDI file.
    """
    notes, _ = notes.drop_invalid()
    onset = np.rint(notes.onset_s * sample_rate).astype(np.int64)
    offset = np.rint(notes.offset_s * sample_rate).astype(np.int64)
    order = np.lexsort((onset, notes.pitch, notes.channel))     # by channel, pitch, onset
    same_key = ((notes.channel[order][1:] == notes.channel[order][:-1])
                & (notes.pitch[order][1:] == notes.pitch[order][:-1]))
    cut = order[:-1][same_key]
    offset[cut] = np.minimum(offset[cut], onset[order[1:][same_key]])
    offset = np.maximum(offset, onset)
    columns = [
        (offset, np.zeros_like(onset), notes.channel, notes.pitch, np.zeros_like(onset)),
        (onset, np.full_like(onset, 2), notes.channel, notes.pitch, notes.velocity),
    ]
    if pedal is not None and len(pedal):
        down = np.rint(pedal.onset_s * sample_rate).astype(np.int64)
        up = np.maximum(np.rint(pedal.offset_s * sample_rate).astype(np.int64), down)
        ones = np.ones_like(down)
        columns.append((down, ones, pedal.channel, np.full_like(down, SUSTAIN_CONTROLLER), 127 * ones))
        columns.append((up, ones, pedal.channel, np.full_like(down, SUSTAIN_CONTROLLER), 0 * ones))
    table = np.concatenate([np.stack([np.asarray(c, np.int64) for c in cols], axis=1)
                            for cols in columns])
    # note-off (0) before pedal (1) before note-on (2) at one sample; pedal up before down
    order = np.lexsort((table[:, 4], table[:, 1], table[:, 0]))
    return table[order]


def render(notes_or_midi, soundfont: "Soundfont | str | Path | None" = None, program: int = 0, *,
           sample_rate: int = config.SAMPLE_RATE, reverb: "bool | Reverb | dict" = False,
           chorus: "bool | Chorus | dict" = False, gain: float = DEFAULT_GAIN,
           tail_s: float = DEFAULT_TAIL_S) -> np.ndarray:
    """Render notes (with velocity and sustain pedal) to mono float32 audio.

    ``notes_or_midi``: a :class:`~fasolfa.midi.Performance`, a ``(Notes, Pedal)`` pair,
    :class:`~fasolfa.midi.Notes` (no pedal), or a MIDI file path. ``soundfont``: a path, a
    :class:`Soundfont` or a name (``"TimGM6mb"``); default the first of :func:`find_soundfonts`.
    ``program``: the General MIDI preset on every channel (0 acoustic grand, 1 bright grand,
    2 electric grand, bank 0). ``reverb`` / ``chorus``: FluidSynth's effects, off by default
    (``True`` for :class:`Reverb` / :class:`Chorus` defaults, or your own settings).
    ``gain``: FluidSynth's master gain (the output is not normalised or clipped).

    Returns shape ``(render_length(...),)`` at ``sample_rate``: to the last note-off or pedal
    release plus ``tail_s`` seconds. Sample ``n`` is time ``n / sample_rate``; the same input
    gives the same samples. Explained in notebooks/04_rendering_a_dataset.ipynb.
    """
    notes, pedal, end_s = _as_notes_and_pedal(notes_or_midi)
    soundfont = get_soundfont(soundfont)
    if not 0 <= int(program) <= 127:
        raise ValueError(f"program must lie in 0..127, got {program}")
    reverb, chorus = _fx(reverb, Reverb), _fx(chorus, Chorus)
    if reverb is None and chorus is None:
        handle = _synth_for(soundfont, int(sample_rate), float(gain), None, None)
    else:   # the effects keep internal state (LFO phases) no reset clears: use a fresh synth
        handle = _SynthHandle(soundfont, int(sample_rate), float(gain), reverb, chorus)
    n_samples = render_length(notes, pedal, end_s=end_s, sample_rate=sample_rate, tail_s=tail_s)
    events = _events(notes, pedal, int(sample_rate))
    channels = sorted(set(notes.channel.tolist()) | set(pedal.channel.tolist()) | {0})
    stereo = np.zeros((n_samples, 2), np.float32)
    synth = handle.synth
    handle.reset()
    try:
        for channel in channels:
            if synth.program_select(int(channel), handle.soundfont_id, 0, int(program)) != 0:
                raise FasolfaError(f"{soundfont.path}: no preset {program} in bank 0 of this soundfont")
            synth.cc(int(channel), REVERB_SEND_CONTROLLER, handle.reverb.send if handle.reverb else 0)
            synth.cc(int(channel), CHORUS_SEND_CONTROLLER, handle.chorus.send if handle.chorus else 0)
        position = 0
        for sample, kind, channel, data1, data2 in events.tolist():
            # FluidSynth applies an event at the start of its next block: send it at the
            # block boundary nearest to its time (within +-1.45 ms at 22050 Hz)
            sample = min((sample + BLOCK_SIZE // 2) // BLOCK_SIZE * BLOCK_SIZE, n_samples)
            if sample > position:
                handle.pull(stereo, position, sample)
                position = sample
            if kind == 2:
                synth.noteon(channel, data1, data2)
            elif kind == 0:
                synth.noteoff(channel, data1)
            else:
                synth.cc(channel, data1, data2)
        handle.pull(stereo, position, n_samples)
    finally:
        if reverb is None and chorus is None:
            handle.reset()
        else:
            handle.delete()
    return stereo.mean(axis=1, dtype=np.float32)


def preset_name(soundfont: "Soundfont | str | Path | None" = None, program: int = 0,
                bank: int = 0) -> str | None:
    """The name a soundfont gives its preset ``program`` in ``bank`` (e.g. ``"Yamaha Grand
    Piano"``), or ``None`` if it has none. Explained in notebooks/04_rendering_a_dataset.ipynb."""
    soundfont = get_soundfont(soundfont)
    handle = _synth_for(soundfont, config.SAMPLE_RATE, DEFAULT_GAIN, None, None)
    return handle.synth.sfpreset_name(handle.soundfont_id, int(bank), int(program))
