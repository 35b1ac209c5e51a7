"""Check: how the shipped checkpoint holds up when the recording is worse than the one it is
scored on — compressed, band-limited, noisy, reverberant, dull, detuned, quiet.

Run: ``.venv/bin/python tests/bench/check_robustness.py [--checkpoint PATH]`` (part of
``make bench``; it needs the shared corpus, ``$FASOLFA_DATA`` or ``../shared/data``: without it
it prints a skip line and exits 0). The excerpts are the validation ones (``TrainConfig()``'s:
the first 30 s of 8 validation-split pieces × 3 soundfonts and of the 8 MAPS validation
recordings), so nothing here reads the test split; this is a measurement, nothing is chosen
by it.

Each condition changes the whole excerpt once, with the training augmentation's own functions
(:mod:`fasolfa.augment`), a codec (libsndfile's, through soundfile) or a room from another
generator than training's (pyroomacoustics' image-source shoebox, :func:`shoebox_response`:
the microphone hears the direct sound and every reflection), then the excerpt is
transcribed with the checkpoint's thresholds exactly as ``fasolfa transcribe`` does — brought
into the checkpoint's input level band (:mod:`fasolfa.level`) and read with the HCQT following
its own tuning (:mod:`fasolfa.tuning`) — and once more as it is (``--keep-level --no-tuning``),
to show what those two buy, and scored against its unchanged notes (detuned excerpts: times
scaled with the audio). Some conditions lie inside the ranges training drew its
augmentation from, some beyond them (``"trained": false``): those say what happens on a
recording unlike anything the network heard.

Results: ``figures/robustness.json`` and ``figures/robustness.png`` (note-onset and frame F1 per
condition and group). The model card quotes the table.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bench"))
sys.path.insert(0, str(ROOT))
from common import FIGURES, checkpoint_parser, machine_info, save_png, write_report  # noqa: E402

from fasolfa import augment, config  # noqa: E402

# name -> (what it does, whether training's augmentation covers it, parameters)
CONDITIONS = {
    "clean": ("the excerpt as it is", True, {}),
    "mp3": ("MP3 (LAME through libsndfile, compression level 0.5)", False, {"codec": ("MP3", "MPEG_LAYER_III", 0.5)}),
    "vorbis": ("Ogg Vorbis (compression level 0.5)", False, {"codec": ("OGG", "VORBIS", 0.5)}),
    "16 kHz": ("recorded at 16 kHz: nothing above 8 kHz", True, {"band_limit_hz": 8000.0}),
    "8 kHz": ("recorded at 8 kHz: nothing above 4 kHz", True, {"band_limit_hz": 4000.0}),
    "pink noise 20 dB": ("pink noise 20 dB below the excerpt", True, {"noise": {"snr_db": 20.0, "color": "pink"}}),
    "white noise 10 dB": ("white noise 10 dB below the excerpt", False, {"noise": {"snr_db": 10.0, "color": "white"}}),
    "hall": ("reverberation, RT60 1.2 s, 40 % wet", True, {"reverb": {"rt60_s": 1.2, "wet": 0.4}}),
    "cathedral": ("reverberation, RT60 3 s, 60 % wet", False, {"reverb": {"rt60_s": 3.0, "wet": 0.6}}),
    # rooms from another generator than training's: pyroomacoustics' image-source model of a
    # shoebox, the microphone hearing the piano's direct sound and every reflection
    "living room (ISM)": ("image-source shoebox 6 x 5 x 3 m, RT60 0.6 s, microphone 2.5 m away", False,
                          {"shoebox": {"room_m": [6.0, 5.0, 3.0], "rt60_s": 0.6, "source_m": [2.0, 3.0, 1.0],
                                       "mic_m": [4.2, 1.8, 1.5]}}),
    "hall (ISM)": ("image-source shoebox 25 x 18 x 12 m, RT60 1.8 s, microphone 10 m away", False,
                   {"shoebox": {"room_m": [25.0, 18.0, 12.0], "rt60_s": 1.8, "source_m": [6.0, 9.0, 1.2],
                                "mic_m": [16.0, 8.0, 2.5]}}),
    "dull microphone": ("EQ: -2 dB per octave, -9 dB above 2 kHz", True,
                        {"eq": {"tilt_db_per_octave": -2.0, "low_shelf_db": 0.0, "low_hz": 100.0,
                                "high_shelf_db": -9.0, "high_hz": 2000.0}}),
    "detuned +20 cents": ("the whole excerpt 20 cents sharp (A = 445 Hz)", True, {"detune_cents": 20.0}),
    "detuned +45 cents": ("45 cents sharp, nearly a quarter tone", False, {"detune_cents": 45.0}),
    "mastered": ("peak-normalised to -1 dBFS, as most audio files are (about 17 dB louder)", False,
                 {"peak_dbfs": -1.0}),
    "quiet": ("30 dB quieter (a distant phone)", False, {"gain_db": -30.0}),
}
SEED = 11


def shoebox_response(room_m, rt60_s: float, source_m, mic_m, sample_rate: int = config.SAMPLE_RATE) -> np.ndarray:
    """The impulse response from ``source_m`` to ``mic_m`` in a shoebox room of ``room_m`` metres
    whose walls absorb evenly for ``rt60_s`` (Sabine), by pyroomacoustics' image-source model;
    cut so that the direct sound arrives at sample 0 (onsets do not move), unit energy. Computed
    once per room (every excerpt of a condition goes through the same one)."""
    return _shoebox_response(tuple(room_m), float(rt60_s), tuple(source_m), tuple(mic_m), int(sample_rate))


@functools.lru_cache(maxsize=8)
def _shoebox_response(room_m: tuple, rt60_s: float, source_m: tuple, mic_m: tuple, sample_rate: int) -> np.ndarray:
    import pyroomacoustics as pra
    absorption, max_order = pra.inverse_sabine(rt60_s, room_m)
    room = pra.ShoeBox(list(room_m), fs=sample_rate, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(list(source_m))
    room.add_microphone(list(mic_m))
    room.compute_rir()
    response = np.asarray(room.rir[0][0], np.float64)
    direct = int(np.argmax(np.abs(response)))            # the direct path is the loudest arrival
    response = response[direct:]
    response = (response / np.sqrt(np.sum(response ** 2))).astype(np.float32)
    response.flags.writeable = False                       # shared by every caller of the cache
    return response


def _coded(audio: np.ndarray, codec) -> tuple[np.ndarray, float]:
    """``audio`` through a lossy codec and back, and the bit rate in kbit/s."""
    import soundfile
    fmt, subtype, level = codec
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), config.SAMPLE_RATE, format=fmt, subtype=subtype,
                    compression_level=level)
    kbit_per_s = len(buffer.getvalue()) * 8 / 1000 / (len(audio) / config.SAMPLE_RATE)
    buffer.seek(0)
    decoded = soundfile.read(buffer, dtype="float32", always_2d=False)[0]
    out = np.zeros_like(audio)          # codecs may pad or trim a few samples at the ends
    out[:min(len(out), len(decoded))] = decoded[:len(out)]
    return out, kbit_per_s


def degrade(item, params: dict):
    """``item`` (a :class:`fasolfa.train.ValidationItem`) changed by one condition's ``params``;
    returns ``(item, kbit_per_s or None)``."""
    from fasolfa.midi import Notes, Pedal
    from fasolfa.train import ValidationItem
    audio, notes, pedal, kbit = item.audio.astype(np.float32), item.notes, item.pedal, None
    if "codec" in params:
        audio, kbit = _coded(audio, params["codec"])
    if "detune_cents" in params:        # plays `ratio` times faster and higher: so do the notes
        import soxr
        ratio = 2.0 ** (params["detune_cents"] / 1200.0)
        audio = soxr.resample(audio, config.SAMPLE_RATE * ratio, config.SAMPLE_RATE, quality="HQ").astype(np.float32)
        notes = Notes(notes.onset_s / ratio, notes.offset_s / ratio, notes.pitch, notes.velocity, notes.channel)
        pedal = Pedal(pedal.onset_s / ratio, pedal.offset_s / ratio, pedal.channel)
    if "shoebox" in params:               # the whole sound through the room, at the excerpt's RMS
        import scipy.signal
        wet = scipy.signal.fftconvolve(audio, shoebox_response(**params["shoebox"]))[:len(audio)]
        audio = (wet * (np.sqrt(np.mean(audio ** 2)) / max(np.sqrt(np.mean(wet ** 2)), 1e-12))).astype(np.float32)
    if "peak_dbfs" in params:
        audio = audio * np.float32(10.0 ** (params["peak_dbfs"] / 20.0) / max(float(np.abs(audio).max()), 1e-9))
    effects = {k: v for k, v in params.items() if k in ("eq", "reverb", "noise", "band_limit_hz", "gain_db")}
    if effects:
        if "reverb" in effects:
            effects["reverb"] = {**effects["reverb"], "seed": SEED}
        if "noise" in effects:
            effects["noise"] = {**effects["noise"], "seed": SEED}
        audio = augment.augment(audio, effects, config.SAMPLE_RATE)
    return ValidationItem(item.name, item.group, audio, notes, pedal, item.has_pedal), kbit


KEYS = ("onset_f1", "onset_offset_f1", "onset_offset_velocity_f1", "frame_f1")


def draw(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["conditions"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, metric, title in zip(axes, ("onset_f1", "frame_f1"), ("note onset F1", "frame F1")):
        for offset, group, color in ((-0.2, "rendered", "tab:blue"), (0.2, "maps", "tab:orange")):
            values = [report["conditions"][n]["scores"].get(f"{group}/{metric}", np.nan) for n in names]
            own = [report["conditions"][n]["scores_as_is"].get(f"{group}/{metric}", np.nan) for n in names]
            ax.barh(np.arange(len(names)) + offset, values, height=0.4, color=color,
                    label="rendered (3 soundfonts)" if group == "rendered" else "MAPS pianos")
            ax.plot(own, np.arange(len(names)) + offset, "|", color="black", ms=7,
                    label="read as it is (--keep-level --no-tuning)" if group == "maps" else None)
            clean = report["conditions"]["clean"]["scores"].get(f"{group}/{metric}")
            if clean is not None:
                ax.axvline(clean, color=color, lw=0.8, ls=":")
        ax.set_title(title)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(np.arange(len(names)),
                       [n + ("" if report["conditions"][n]["trained"] else " *") for n in names])
    axes[0].invert_yaxis()
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Validation excerpts made worse (* beyond training's augmentation; dotted: clean)", fontsize=10)
    fig.text(0.01, 0.01, "tests/bench/check_robustness.py", fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    save_png(fig, path)


def main(argv=None) -> int:
    parser = checkpoint_parser(__doc__)
    parser.add_argument("--figure-only", action="store_true", help="redraw the figure from the last robustness.json")
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), metavar="NAME",
                        help="measure only these (written only with an --out other than figures/): "
                             + ", ".join(CONDITIONS))
    args = parser.parse_args(argv)
    if args.figure_only:
        draw(json.loads((args.out / "robustness.json").read_text()), args.out / "robustness.png")
        return 0
    from fasolfa import corpus, train
    from fasolfa.errors import FasolfaError
    from fasolfa.hcqt import HCQT
    from fasolfa.transcription import checkpoint_input_level, checkpoint_thresholds, resolve_checkpoint
    try:
        corpus.MidiCorpus.from_split_csv()
    except FasolfaError as error:
        print(f"skipped: {error}")
        return 0
    checkpoint = resolve_checkpoint(args.checkpoint)
    model, _ = train.load_weights(checkpoint)
    thresholds = checkpoint_thresholds(args.checkpoint)
    input_level_db = checkpoint_input_level(args.checkpoint)
    items = train.build_validation(train.TrainConfig(), progress=True)
    hcqt = HCQT()
    report = {"checkpoint": str(checkpoint.relative_to(ROOT)) if checkpoint.is_relative_to(ROOT) else str(checkpoint),
              "thresholds": dataclasses.asdict(thresholds), "input_level_db": list(input_level_db) if input_level_db else None, "excerpts": len(items),
              "machine": machine_info(0.0), "conditions": {}}
    for name, (description, trained, params) in CONDITIONS.items():
        if args.conditions and name not in args.conditions:
            continue
        started = time.perf_counter()
        changed = [degrade(item, params) for item in items]
        rates = [kbit for _, kbit in changed if kbit is not None]
        changed = [item for item, _ in changed]
        row = {"description": description, "trained": trained, "params": params}
        prepared = train.tuned(changed)
        if input_level_db is not None:
            prepared = train.leveled(prepared, input_level_db)
        row["tuning_cents"] = round(float(np.mean([abs(item.tuning_cents) for item in prepared])), 2)
        for key, excerpts in (("scores", prepared), ("scores_as_is", changed)):
            scores = train.validate(model, hcqt, excerpts, "cpu", thresholds=thresholds)
            row[key] = {k: round(float(v), 4) for k, v in scores.items() if k.endswith(KEYS)}
        if rates:
            row["kbit_per_s"] = round(float(np.mean(rates)), 1)
        report["conditions"][name] = row
        shown = " ".join(f"{k.replace('_f1', '')} {v:.3f} ({row['scores_as_is'][k]:.3f})"
                         for k, v in row["scores"].items() if k.endswith(("/onset_f1", "/frame_f1")))
        print(f"{name:20s} {shown}  ({time.perf_counter() - started:.0f} s)", flush=True)
    if not args.conditions or args.out.resolve() != FIGURES.resolve():
        args.out.mkdir(parents=True, exist_ok=True)
        write_report(args.out / "robustness.json", report)
        if not args.conditions:
            draw(report, args.out / "robustness.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
