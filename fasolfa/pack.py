"""A window pack: a small, self-contained sample of a run's training data (audio clips and
their notes), for training where the render cache cannot go — a lent GPU machine with no
FluidSynth, soundfonts or ``../shared``, a Colab session.

Explained in ``notebooks/06_training.ipynb``.

:func:`make_pack` draws ``hours`` of clips from the training data of a
:class:`fasolfa.train.TrainConfig` — rendered, transposed and MAPS windows in the run's own
shares — and writes each clip (audio, plus ``margin_s`` of real audio on both sides for the
window context) with its notes, untouched (sustain is applied when windows are drawn, as for
the whole pieces):

    <pack>/pack.json            what was drawn, from which config, how encoded
    <pack>/clips/00042.ogg      clip audio (Ogg Vorbis, or FLAC with ``audio_format="flac"``)
    <pack>/clips/00042.npz      its notes and pedal, times relative to the clip's first sample

:func:`pack_windows` turns a pack back into a :class:`fasolfa.data.WindowDataset` whose windows
start at least ``margin_s`` inside each clip. ``fasolfa.train`` uses it for ``"data": "pack"``
(``TrainConfig.pack``). A pack is a sample: fewer distinct seconds than the run it was drawn
from (windows repeat sooner), and Vorbis adds coding noise (about 30 dB below the signal at the
default quality), so weights trained on one are judged on the normal validation excerpts, never
on the pack.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile

from fasolfa import config
from fasolfa.atomic import atomic_write
from fasolfa.errors import FasolfaError

PACK_VERSION = 1
AUDIO_FORMATS = ("flac", "ogg")


def parts(dataset, share: float = 1.0):
    """The :class:`~fasolfa.data.WindowDataset` parts of a training dataset with the share of
    windows each gives (:class:`fasolfa.train.MixedWindows` nest them)."""
    from fasolfa.train import MixedWindows
    if isinstance(dataset, MixedWindows):
        yield from parts(dataset.first, share * (1.0 - dataset.share))
        yield from parts(dataset.second, share * dataset.share)
    else:
        yield dataset, share


def write_clip(folder: str | Path, stem: str, audio: np.ndarray, notes, pedal, *, audio_format: str = "flac",
               vorbis_quality: float = 0.0) -> dict:
    """Write ``<folder>/<stem>.flac`` (16 bit) or ``.ogg`` (Vorbis at ``vorbis_quality``:
    soundfile's ``compression_level``, 0 the best, 1 the smallest) and ``<stem>.npz`` (the
    notes and pedal in the render cache's format, duration the clip's), each atomically.
    Returns ``{"audio": name, "notes": name, "n_samples": len(audio)}``, names relative to
    ``folder``. Also :mod:`tests/bench/ablations.py <ablations>`' excerpts."""
    from fasolfa.data import RenderCache, _write_flac
    from fasolfa.midi import Performance
    if audio_format not in AUDIO_FORMATS:
        raise FasolfaError(f"audio format {audio_format!r}: choose one of {sorted(AUDIO_FORMATS)}")
    folder = Path(folder)
    audio_path, notes_path = folder / f"{stem}.{audio_format}", folder / f"{stem}.npz"
    if audio_format == "flac":
        _write_flac(audio_path, audio, config.SAMPLE_RATE)
    else:
        atomic_write(audio_path, lambda temporary: soundfile.write(
            temporary, np.clip(audio, -1.0, 1.0), config.SAMPLE_RATE, format="OGG", subtype="VORBIS",
            compression_level=vorbis_quality))
    RenderCache._write_notes(notes_path, Performance(notes, pedal, len(audio) / config.SAMPLE_RATE))
    return {"audio": audio_path.name, "notes": notes_path.name, "n_samples": len(audio)}


def clip_notes(raw_notes, pedal, has_pedal: bool, start_s: float, end_s: float):
    """The raw notes whose sound (sustain-extended, where the piece has pedal) reaches into
    ``[start_s, end_s)`` and the pedal presses that do, shifted to start at ``start_s`` (times
    before the clip are negative): sustaining them again inside the clip gives the same notes
    as in the whole piece. Returns ``(notes, pedal)``."""
    from fasolfa.midi import Notes, Pedal, apply_sustain
    sounding = apply_sustain(raw_notes, pedal) if has_pedal else raw_notes
    keep = (sounding.offset_s > start_s) & (sounding.onset_s < end_s)
    notes = Notes(raw_notes.onset_s[keep] - start_s, raw_notes.offset_s[keep] - start_s,
                  raw_notes.pitch[keep], raw_notes.velocity[keep], raw_notes.channel[keep])
    down = (pedal.offset_s > start_s) & (pedal.onset_s < end_s)
    return notes, Pedal(pedal.onset_s[down] - start_s, pedal.offset_s[down] - start_s, pedal.channel[down])


def make_pack(cfg, out_dir: str | Path, hours: float, *, clip_s: float = 12.0, margin_s: float = 1.0,
              audio_format: str = "ogg", vorbis_quality: float = 0.0, seed: int = 0, progress: bool = True,
              training_data=None) -> Path:
    """Draw ``hours`` of ``clip_s``-second clips from the training data of ``cfg`` (a
    :class:`fasolfa.train.TrainConfig`; or from ``training_data``, a dataset as
    :func:`fasolfa.train.build_training_data` returns) into ``out_dir`` (created; it must not
    hold a pack already). Each part of the data (rendered, transposed, MAPS) gives clips in
    its share of the run's windows; inside a part, clip ``k`` picks a piece (weighted by
    duration), a rendition and a start from ``np.random.default_rng([seed, part, k])``.
    ``vorbis_quality``: soundfile's compression level for Ogg Vorbis, 0 (the best, about 11 kB
    per second) .. 1 (the smallest); at 0.5, about 5 kB/s, so twice the music per megabyte, the
    shipped network transcribes coded excerpts as well as the originals
    (``tests/bench/check_robustness.py``). Returns the path of ``pack.json``. Explained in notebooks/06_training.ipynb."""
    from tqdm.auto import tqdm

    from fasolfa.data import read_notes, read_span
    if audio_format not in AUDIO_FORMATS:
        raise FasolfaError(f"audio format {audio_format!r}: choose one of {sorted(AUDIO_FORMATS)}")
    if hours <= 0 or clip_s <= 0 or margin_s < 0:
        raise FasolfaError(f"hours ({hours}) and clip_s ({clip_s}) must be positive, margin_s ({margin_s}) "
                           f"not negative")
    sample_rate = config.SAMPLE_RATE
    margin_n = int(np.ceil(margin_s * sample_rate / config.HOP_LENGTH)) * config.HOP_LENGTH
    clip_n = int(round(clip_s * sample_rate / config.HOP_LENGTH)) * config.HOP_LENGTH
    if clip_n < 2 * margin_n + config.WINDOW_N_SAMPLES:
        raise FasolfaError(f"clip_s {clip_s} leaves no room for a {config.WINDOW_N_SAMPLES / sample_rate:.2f} s "
                           f"window inside margins of {margin_s} s")
    out_dir = Path(out_dir)
    manifest_path = out_dir / "pack.json"
    if manifest_path.exists():
        raise FasolfaError(f"{manifest_path}: a pack is there already; choose another folder")
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    if training_data is None:
        from fasolfa.train import build_training_data
        training_data = build_training_data(cfg, progress)
    drawn = list(parts(training_data))
    n_clips = max(1, int(round(hours * 3600 / clip_s)))
    counts = [int(round(n_clips * share)) for _, share in drawn]
    clips = []
    bar = tqdm(total=sum(counts), desc="packing clips", unit="clip", disable=not progress)
    for part_index, ((dataset, share), count) in enumerate(zip(drawn, counts)):
        for k in range(count):
            rng = np.random.default_rng([int(seed), part_index, k])
            piece_index = int(rng.choice(len(dataset.pieces), p=dataset.weights))
            piece = dataset.pieces[piece_index]
            rendition = piece.renditions[int(rng.integers(len(piece.renditions)))]
            last_start = max(0, (piece.n_samples - clip_n) // config.HOP_LENGTH)
            start = int(rng.integers(last_start + 1)) * config.HOP_LENGTH
            audio = read_span(rendition.audio_path, start, clip_n)
            raw_notes, pedal, _ = read_notes(piece.notes_path)
            start_s = start / sample_rate
            notes, clip_pedal = clip_notes(raw_notes, pedal, piece.has_pedal, start_s, start_s + clip_n / sample_rate)
            written = write_clip(out_dir / "clips", f"{len(clips):05d}", audio, notes, clip_pedal,
                                 audio_format=audio_format, vorbis_quality=vorbis_quality)
            clips.append({"audio": f"clips/{written['audio']}", "notes": f"clips/{written['notes']}",
                          "n_samples": clip_n, "part": part_index, "source": piece.name,
                          "soundfont": rendition.soundfont, "program": rendition.program,
                          "start_sample": start, "has_pedal": piece.has_pedal})
            bar.update(1)
    bar.close()
    manifest = {"version": PACK_VERSION, "sample_rate": sample_rate, "clip_s": clip_n / sample_rate,
                "margin_n_samples": margin_n, "audio_format": audio_format, "seed": int(seed),
                "vorbis_quality": float(vorbis_quality) if audio_format == "ogg" else None,
                "hours": len(clips) * clip_n / sample_rate / 3600,
                "parts": [{"share": share, "clips": count} for (_, share), count in zip(drawn, counts)],
                "train_config": cfg.to_dict() if cfg is not None else None, "clips": clips}
    atomic_write(manifest_path, lambda temporary: temporary.write_text(json.dumps(manifest, indent=1)))
    return manifest_path


def read_manifest(pack_dir: str | Path) -> dict:
    """The ``pack.json`` of a pack; :class:`FasolfaError` naming it if missing or unreadable."""
    path = Path(pack_dir) / "pack.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FasolfaError(f"{path}: no window pack there (make one with python -m fasolfa.pack)") from None
    except (OSError, ValueError) as error:
        raise FasolfaError(f"{path}: unreadable window pack ({error})") from None
    if manifest.get("version") != PACK_VERSION or manifest.get("sample_rate") != config.SAMPLE_RATE:
        raise FasolfaError(f"{path}: a pack of version {manifest.get('version')} at "
                           f"{manifest.get('sample_rate')} Hz; this fasolfa reads version {PACK_VERSION} "
                           f"at {config.SAMPLE_RATE} Hz")
    return manifest


def pack_pieces(pack_dir: str | Path) -> list:
    """The clips of a pack as :class:`fasolfa.data.Piece` objects (one rendition each, windows
    kept ``margin_n_samples`` inside). Raises :class:`FasolfaError` for a missing clip file."""
    from fasolfa.data import Piece, Rendition
    pack_dir = Path(pack_dir)
    manifest = read_manifest(pack_dir)
    pieces = []
    for clip in manifest["clips"]:
        for name in ("audio", "notes"):
            if not (pack_dir / clip[name]).is_file():
                raise FasolfaError(f"{pack_dir / clip[name]}: missing from the window pack")
        pieces.append(Piece(pack_dir / clip["notes"], int(clip["n_samples"]),
                            (Rendition(pack_dir / clip["audio"], clip["soundfont"], int(clip["program"])),),
                            f"{clip['source']}@{clip['start_sample']}", bool(clip["has_pedal"]),
                            margin_n_samples=int(manifest["margin_n_samples"])))
    return pieces


def pack_windows(pack_dir: str | Path, n_windows: int, seed: int = 0, **kwargs):
    """A :class:`fasolfa.data.WindowDataset` over the clips of a pack (``kwargs`` as its own:
    augmentation, window and context lengths). The parts keep their shares because every clip
    has the same length and clips are drawn in proportion to them."""
    from fasolfa.data import WindowDataset
    return WindowDataset(pack_pieces(pack_dir), n_windows, seed, **kwargs)


def main(argv=None) -> int:
    """``python -m fasolfa.pack CONFIG.json OUT_DIR --hours H``: draw a window pack from that
    run's training data (the render cache is filled first where needed)."""
    parser = argparse.ArgumentParser(prog="python -m fasolfa.pack", description=main.__doc__)
    parser.add_argument("config", help="a TrainConfig as JSON (a run's config.json)")
    parser.add_argument("out_dir", help="folder for pack.json and clips/ (created)")
    parser.add_argument("--hours", type=float, required=True, help="audio to draw, in hours")
    parser.add_argument("--clip-s", type=float, default=12.0, help="length of each clip (default 12)")
    parser.add_argument("--margin-s", type=float, default=1.0,
                        help="audio kept on both sides of the windows' starts and ends (default 1)")
    parser.add_argument("--format", choices=AUDIO_FORMATS, default="ogg")
    parser.add_argument("--vorbis-quality", type=float, default=0.0,
                        help="Ogg Vorbis compression level, 0 (best, ~11 kB/s) .. 1 (smallest); default 0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from fasolfa.train import TrainConfig
    try:
        cfg = TrainConfig.read(args.config)
        if not 0.0 <= args.vorbis_quality <= 1.0:
            raise FasolfaError(f"--vorbis-quality {args.vorbis_quality}: must lie in 0..1")
        path = make_pack(cfg, args.out_dir, args.hours, clip_s=args.clip_s, margin_s=args.margin_s,
                         audio_format=args.format, vorbis_quality=args.vorbis_quality, seed=args.seed,
                         progress=not args.no_progress)
    except FasolfaError as error:
        print(f"fasolfa pack: error: {error}", file=sys.stderr)
        return 1
    manifest = json.loads(path.read_text())
    size_mb = sum(f.stat().st_size for f in Path(args.out_dir).rglob("*") if f.is_file()) / 1e6
    print(f"{path}: {len(manifest['clips'])} clips, {manifest['hours']:.2f} h, {size_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
