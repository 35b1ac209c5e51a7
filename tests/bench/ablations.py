"""Ablations: what each source of data and each augmentation buys, measured on recorded pianos.

Short training runs that differ in one thing each, validated on the MAPS validation recordings
(sampled grand pianos in their own rooms, never trained on) and on rendered validation pieces:

    full            soundfont renders + MAPS train recordings, every augmentation
    no_maps         soundfont renders only
    one_soundfont   renders of one soundfont (TimGM6mb) + MAPS
    no_augment      no augmentation at all
    no_reverb       every augmentation but reverb
    no_detune       every augmentation but detuning and band limiting

Two steps, so the runs can go to a machine without FluidSynth or the corpus (a GPU box):

    python tests/bench/ablations.py prepare DATA_DIR      # here: cut excerpts, write a manifest
    python tests/bench/ablations.py run DATA_DIR OUT_DIR --seconds 360 --device cuda

Arms trained one after another with ``python -m fasolfa.train`` (make train's own data) are
gathered into the same ``ablations.json`` format by ``collect OUT_DIR RUN_DIR...``;
``score CONFIG OUT.json --checkpoint NAME PATH ...`` reads finalized checkpoints on the validation
excerpts at the level and thresholds each stores (a head refitted after ``--finalize``).

``prepare`` cuts ``--excerpt-s`` second excerpts from the render cache (rendering what is
missing) of train-split pieces, one (soundfont, program) each in turn, and of MAPS train
recordings, plus validation excerpts, as FLAC + notes ``.npz`` with a ``manifest.json``.
``run`` trains every variant at once (one process each, sharing the device) for ``--seconds``
(resuming a variant whose run folder is already in OUT_DIR: more data is another ``prepare --seed``),
then writes ``OUT_DIR/ablations.json``: per variant the steps done and the best validation
scores (mean note-onset and frame F1 per group). The model card quotes that table.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fasolfa import config  # noqa: E402

VARIANTS = ("full", "no_maps", "one_soundfont", "no_augment", "no_reverb", "no_detune")
SOUNDFONTS = ("FluidR3_GM", "TimGM6mb", "MuseScore_General_Lite")
PROGRAMS = (0, 1, 2, 3)


def _cut(notes, pedal, start_s: float, length_s: float):
    """Notes and pedal sounding in ``[start_s, start_s + length_s)``, times from the excerpt start
    (:func:`fasolfa.pack.clip_notes`; excerpts prepared before it landed kept only notes whose
    own offset fell inside, with onset -1 for those struck before)."""
    from fasolfa.pack import clip_notes
    return clip_notes(notes, pedal, True, start_s, start_s + length_s)


def _write_excerpt(folder: Path, name: str, audio: np.ndarray, notes, pedal, duration_s: float,
                   vorbis_quality: float | None = None) -> dict:
    """FLAC (16 bit), or Ogg Vorbis at ``vorbis_quality`` (soundfile's ``compression_level``, 0..1,
    higher is smaller): about 7 kB per second at 0.4 against 23 for FLAC, so three times more
    music fits the device's 64 MiB; the codec's artefacts are those of compressed recordings
    (:func:`fasolfa.pack.write_clip`; ``duration_s`` is the excerpt's length)."""
    from fasolfa.pack import write_clip
    return write_clip(folder, name, audio[:int(round(duration_s * config.SAMPLE_RATE))], notes, pedal,
                      audio_format="flac" if vorbis_quality is None else "ogg",
                      vorbis_quality=vorbis_quality or 0.0)


PREROLL_S = 5.0          # a transposed excerpt is rendered from this long before it (notes ringing in)


def _transposed_excerpt(notes, pedal, start_s: float, excerpt_s: float, semitones: int, soundfont: str,
                        program: int):
    """The excerpt ``[start_s, start_s + excerpt_s)`` played ``semitones`` higher (notes leaving the
    88 keys dropped), rendered afresh from :data:`PREROLL_S` before it: ``(audio, notes, pedal)``,
    the labels cut from exactly the notes rendered."""
    from fasolfa import synth
    from fasolfa.midi import Notes, Pedal
    first_s = max(start_s - PREROLL_S, 0.0)
    moved = notes.transposed(semitones)
    moved = moved.select((moved.onset_s >= first_s) & (moved.onset_s < start_s + excerpt_s))
    shifted = Notes(moved.onset_s - first_s, moved.offset_s - first_s, moved.pitch, moved.velocity, moved.channel)
    down = (pedal.offset_s > first_s) & (pedal.onset_s < start_s + excerpt_s)
    shifted_pedal = Pedal(np.maximum(pedal.onset_s[down] - first_s, 0.0), pedal.offset_s[down] - first_s,
                          pedal.channel[down])
    audio = synth.render((shifted, shifted_pedal), soundfont, program)
    offset = int(round((start_s - first_s) * config.SAMPLE_RATE))
    length = int(round(excerpt_s * config.SAMPLE_RATE))
    excerpt = np.zeros(length, np.float32)
    piece = audio[offset:offset + length]
    excerpt[:len(piece)] = piece
    cut_notes, cut_pedal = _cut(shifted, shifted_pedal, start_s - first_s, excerpt_s)
    return excerpt, cut_notes, cut_pedal


def prepare(data_dir: Path, n_renders: int, n_maps: int, excerpt_s: float, validation_s: float,
            validation_pieces: int, seed: int = 0, vorbis_quality: float | None = None,
            transpose: int = 0) -> None:
    from fasolfa import corpus, data, train
    from fasolfa.midi import Pedal
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cache = data.RenderCache()
    manifest = {"renders": [], "maps": [], "validation": [], "excerpt_s": excerpt_s}
    # the same pieces for every seed (those `make train` renders first); the seed moves the
    # excerpts and the (soundfont, program) each piece is heard with
    entries = train.sample_entries(corpus.MidiCorpus.from_split_csv().split("train").entries, 1000.0, 0)
    combos = [(sf, p) for p in PROGRAMS for sf in SOUNDFONTS]
    for i, entry in enumerate(entries[:n_renders]):
        soundfont, program = combos[(i + 5 * seed) % len(combos)]
        audio = cache.load(entry, soundfont, program)
        notes, pedal, _ = cache.load_notes(entry)
        length = int(excerpt_s * config.SAMPLE_RATE)
        start = int(rng.integers(0, max(len(audio) - length, 1)))
        start -= start % config.HOP_LENGTH
        semitones = int(rng.integers(-transpose, transpose + 1)) if transpose else 0
        if semitones:
            excerpt, cut_notes, cut_pedal = _transposed_excerpt(notes, pedal, start / config.SAMPLE_RATE, excerpt_s,
                                                                semitones, soundfont, program)
        else:
            excerpt = audio[start:start + length]
            cut_notes, cut_pedal = _cut(notes, pedal, start / config.SAMPLE_RATE, excerpt_s)
        row = _write_excerpt(data_dir, f"render-{i:03d}", excerpt, cut_notes, cut_pedal, excerpt_s, vorbis_quality)
        manifest["renders"].append({**row, "soundfont": soundfont, "program": program, "piece": entry.path.stem,
                                    "semitones": semitones})
    maps_train = corpus.MapsCorpus.from_csv().split("train")
    pieces = data.maps_pieces(maps_train, cache, progress=False)
    order = rng.permutation(len(pieces))[:n_maps]
    for j, index in enumerate(order):
        piece = pieces[int(index)]
        audio = data.read_flac(piece.renditions[0].audio_path)
        notes, pedal, _ = data.read_notes(piece.notes_path)
        length = int(excerpt_s * config.SAMPLE_RATE)
        start = int(rng.integers(0, max(len(audio) - length, 1)))
        start -= start % config.HOP_LENGTH
        cut_notes, _ = _cut(notes, pedal, start / config.SAMPLE_RATE, excerpt_s)
        row = _write_excerpt(data_dir, f"maps-{j:03d}", audio[start:start + length], cut_notes, Pedal.empty(), excerpt_s,
                             vorbis_quality)
        manifest["maps"].append({**row, "piece": piece.name})
    cfg = train.TrainConfig(validation_pieces=validation_pieces, validation_seconds=validation_s,
                            soundfonts=SOUNDFONTS)
    for k, item in enumerate(train.build_validation(cfg, progress=False)):
        row = _write_excerpt(data_dir, f"validation-{k:03d}", item.audio, item.notes, item.pedal, validation_s)
        manifest["validation"].append({**row, "name": item.name, "group": item.group, "has_pedal": item.has_pedal})
    (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    size_mb = sum(p.stat().st_size for p in data_dir.iterdir()) / 1e6
    print(f"prepared {len(manifest['renders'])} render and {len(manifest['maps'])} MAPS excerpts of {excerpt_s:g} s, "
          f"{len(manifest['validation'])} validation excerpts: {size_mb:.1f} MB in {data_dir}")


def merge(out_dir: Path, sources: list[Path], n_renders: int) -> None:
    """One data folder from several ``prepare`` folders (other seeds: other excerpts of the same
    pieces): the first ``n_renders`` render excerpts and every MAPS excerpt of each, and the
    validation excerpts of the first (they are the same in every folder). Files are copied, so
    the folder can travel to the device machine on its own."""
    import shutil
    out_dir.mkdir(parents=True, exist_ok=True)
    merged = {"renders": [], "maps": [], "validation": [], "sources": [str(s) for s in sources]}
    for k, source in enumerate(sources):
        manifest = json.loads((source / "manifest.json").read_text())
        merged["excerpt_s"] = manifest["excerpt_s"]
        kinds = [("renders", manifest["renders"][:n_renders]), ("maps", manifest["maps"])]
        if k == 0:
            kinds.append(("validation", manifest["validation"]))
        for kind, rows in kinds:
            for row in rows:
                names = {"audio": f"s{k}-{row['audio']}", "notes": f"s{k}-{row['notes']}"}
                for field_name, name in names.items():
                    shutil.copyfile(source / row[field_name], out_dir / name)
                merged[kind].append({**row, **names})
    (out_dir / "manifest.json").write_text(json.dumps(merged, indent=1))
    size_mb = sum(p.stat().st_size for p in out_dir.iterdir()) / 1e6
    print(f"merged {len(merged['renders'])} render and {len(merged['maps'])} MAPS excerpts, "
          f"{len(merged['validation'])} validation excerpts: {size_mb:.1f} MB in {out_dir}")


def _pieces(data_dir: Path, rows: list[dict], has_pedal: bool):
    from fasolfa.data import Piece, Rendition
    return [Piece(data_dir / row["notes"], row["n_samples"],
                  (Rendition(data_dir / row["audio"], row.get("soundfont", "MAPS"), int(row.get("program", 0))),),
                  row["audio"], has_pedal=has_pedal) for row in rows]


def run_variant(variant: str, data_dir: Path, out_dir: Path, seconds: float, device: str, batch_size: int,
                workers: int, validate_every: int, steps: int = 1_000_000, overrides: dict | None = None) -> None:
    """Train one variant (a name of :data:`VARIANTS`, or an arm: the ``full`` data with
    ``overrides`` of :class:`fasolfa.train.TrainConfig`, e.g. another model size or
    ``init_weights``) for ``seconds``."""
    import torch

    from fasolfa import data, train
    from fasolfa.augment import Augmentation
    from fasolfa.midi import Pedal, Notes
    torch.set_num_threads(1)
    manifest = json.loads((data_dir / "manifest.json").read_text())
    renders = manifest["renders"]
    if variant == "one_soundfont":
        renders = [row for row in renders if row["soundfont"] == "TimGM6mb"]
    augmentation = {"no_augment": Augmentation.none(),
                    "no_reverb": Augmentation(reverb_probability=0.0),
                    "no_detune": Augmentation(detune_probability=0.0, band_limit_probability=0.0)
                    }.get(variant, Augmentation())
    cfg = train.TrainConfig(run_dir=str(out_dir / variant), steps=steps, batch_size=batch_size, device=device,
                            workers=workers, validate_every=validate_every, checkpoint_every_s=120.0,
                            patience=1000, warmup_steps=300, log_every=50, use_maps=variant != "no_maps",
                            augment=variant != "no_augment")
    if overrides:
        model = {**cfg.model, **overrides.get("model", {})}
        cfg = train.TrainConfig.from_dict({**cfg.to_dict(), **overrides, "model": model})
    windows = validate_every * batch_size
    augmentation = train.training_augmentation(cfg, augmentation)
    common = dict(augmentation=augmentation, context_n_samples=config.CONTEXT_N_SAMPLES)
    dataset = data.WindowDataset(_pieces(data_dir, renders, True), windows, cfg.seed, **common)
    if cfg.use_maps:
        recorded = data.WindowDataset(_pieces(data_dir, manifest["maps"], False), windows, cfg.seed + 1, **common)
        dataset = train.MixedWindows(dataset, recorded, cfg.maps_share, cfg.seed)
    items = []
    for row in manifest["validation"]:
        notes, pedal, _ = data.read_notes(data_dir / row["notes"])
        items.append(train.ValidationItem(row["name"], row["group"], data.read_flac(data_dir / row["audio"]),
                                          notes, pedal if row["has_pedal"] else Pedal.empty(), row["has_pedal"]))
    train.train(cfg, progress=False, stop_after_s=seconds, training_data=dataset, validation_items=items)


def run(data_dir: Path, out_dir: Path, variants, seconds: float, device: str, batch_size: int, workers: int,
        validate_every: int, steps: int = 1_000_000, arms: dict | None = None) -> None:
    """Every variant and every arm (name -> TrainConfig overrides) at once, one process each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = arms or {}
    variants = list(variants) + list(arms)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=run_variant, args=(v, data_dir, out_dir, seconds, device, batch_size,
                                                           workers, validate_every, steps, arms.get(v)))
                 for v in variants]
    started = time.time()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    summary = {"seconds": seconds, "device": device, "batch_size": batch_size, "wall_s": time.time() - started,
               "arms": arms, "variants": {}}
    from fasolfa.train import read_log
    for variant in variants:
        folder = out_dir / variant
        if not (folder / "validation.csv").is_file():
            summary["variants"][variant] = {"error": "no validation row"}
            continue
        rows = read_log(folder / "validation.csv")
        best = max(rows, key=lambda row: row["selection"])
        log = read_log(folder / "log.csv") if (folder / "log.csv").is_file() else []
        steps = max(row["step"] for row in rows)
        rate = float(np.mean([row["windows_per_s"] for row in log[len(log) // 2:]])) if log else 0.0
        summary["variants"][variant] = {"steps": steps, "windows": steps * batch_size, "windows_per_s": rate,
                                        "best": best}
    (out_dir / "ablations.json").write_text(json.dumps(summary, indent=1))
    for variant, row in summary["variants"].items():
        best = row.get("best", {})
        print(variant, row.get("steps"), {k: round(v, 3) for k, v in best.items()
                                          if k in ("step", "selection") or k.endswith(("onset_f1", "frame_f1"))})


def finalized_scores(checkpoint: Path) -> dict:
    """The validation scores of a ``--finalize``d checkpoint at the thresholds it stores: the row
    of its offset sweep that was chosen, with the step and the thresholds."""
    from fasolfa.train import load_weights
    _, metadata = load_weights(checkpoint)
    if "offset_sweep" not in metadata:
        raise SystemExit(f"{checkpoint}: not finalized (python -m fasolfa.train CONFIG --finalize ...)")
    chosen = metadata["thresholds"]
    row = next(row for row in metadata["offset_sweep"] if row["offset"] == chosen["offset"])
    return {"checkpoint": checkpoint.name, "step": metadata.get("step"), "thresholds": chosen,
            "input_level_db": metadata.get("input_level_db"),
            **{k: v for k, v in row.items() if "/" in k or k == "selection"}}


def score_stored(config_path: Path, checkpoints: list[tuple[str, Path]], out_path: Path,
                 thresholds_from: Path | None = None) -> dict:
    """Validation scores of finalized checkpoints at the level and thresholds each stores, read as
    :func:`fasolfa.train.finalize` reads the excerpts (tuned, brought into the stored level): for
    weights whose head changed after ``--finalize`` (``velocity_fit`` keeps the metadata), so that
    only what changed moves. With ``thresholds_from`` (a finalized checkpoint), every network,
    finalized or a training snapshot, at that one's level and thresholds instead. Written to
    ``out_path`` as ``{name: row}`` (rows as :func:`finalized_scores`')."""
    import torch

    from fasolfa.atomic import atomic_write
    from fasolfa.hcqt import HCQT
    from fasolfa.train import TrainConfig, as_finalized, build_validation, tuned, validate
    cfg = TrainConfig.read(config_path)
    items = tuned(build_validation(cfg, progress=False))
    rows = {}
    for name, path in checkpoints:
        model, metadata, read, thresholds = as_finalized(path, items, thresholds_from)
        with torch.no_grad():
            scores = validate(model, HCQT(), read, "cpu", thresholds)
        rows[name] = {"checkpoint": Path(path).name, "velocity_fit_seed": metadata.get("velocity_fit", {}).get("seed"),
                      "thresholds": metadata["thresholds"],
                      "input_level_db": metadata.get("input_level_db"),
                      **({"thresholds_from": str(thresholds_from)} if thresholds_from is not None else {}),
                      **{k: v for k, v in scores.items() if "/" in k or k == "selection"}}
        print(name, {k: round(v, 4) for k, v in rows[name].items() if k.endswith("velocity_f1")}, flush=True)
    atomic_write(out_path, lambda temporary: temporary.write_text(json.dumps(rows, indent=1) + "\n"))
    return rows


def collect(out_dir: Path, runs: list[Path], until_step: int | None = None,
            finalized: list[tuple[str, Path]] = ()) -> dict:
    """An ``ablations.json`` (and ``<arm>-validation.csv`` / ``-log.csv`` / ``-config.json`` copies)
    in ``out_dir`` from ``python -m fasolfa.train`` run folders, each arm named after its folder:
    arms run one after another with ``make train``'s own data instead of ``run``'s excerpts. With
    ``until_step``, only the rows up to that step count (arms compared at the same point of one
    schedule); the arms must share a batch size. ``finalized``: ``(arm, checkpoint)`` pairs whose
    ``--finalize``d validation scores (:func:`finalized_scores`) are stored under ``finalized``."""
    import shutil

    from fasolfa.train import read_log
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"source": "python -m fasolfa.train (make train's data)", "until_step": until_step,
               "arms": {}, "variants": {}}
    for run_dir in runs:
        name, cfg = run_dir.name, json.loads((run_dir / "config.json").read_text())
        validated = (run_dir / "validation.csv").is_file()
        rows = [row for row in read_log(run_dir / "validation.csv") if until_step is None or row["step"] <= until_step] \
            if validated else []
        log = [row for row in read_log(run_dir / "log.csv") if until_step is None or row["step"] <= until_step]
        snapshots_only = not validated and (run_dir / "snapshots").is_dir() and log   # a burst without validation
        if not rows and not snapshots_only:
            raise SystemExit(f"{run_dir}: no validation row" + (f" up to step {until_step}" if until_step else ""))
        summary.setdefault("batch_size", cfg["batch_size"])
        if cfg["batch_size"] != summary["batch_size"]:
            raise SystemExit(f"{run_dir}: batch {cfg['batch_size']}, not {summary['batch_size']} like the others")
        summary["device"] = cfg["device"]
        summary["arms"][name] = {"model": cfg["model"], "init_weights": Path(cfg["init_weights"]).name,
                                 "learning_rate": cfg["learning_rate"], "steps": cfg["steps"]}
        steps = max(row["step"] for row in (rows or log))
        rate = float(np.mean([row["windows_per_s"] for row in log[len(log) // 2:]])) if log else 0.0
        best = max(rows, key=lambda row: row["selection"]) if rows else {"step": steps, "elapsed_s": log[-1]["elapsed_s"]}
        summary["variants"][name] = {"steps": steps, "windows": steps * cfg["batch_size"], "windows_per_s": rate,
                                     "best": best, "validated": bool(rows)}
        for kind, kept in (("validation", rows), ("log", log)):
            if kept:
                columns = list(kept[0])
                lines = [",".join(columns)] + [",".join(f"{row[c]:g}" for c in columns) for row in kept]
                (out_dir / f"{name}-{kind}.csv").write_text("\n".join(lines) + "\n")
        shutil.copyfile(run_dir / "config.json", out_dir / f"{name}-config.json")
    summary["seconds"] = max(v["best"]["elapsed_s"] for v in summary["variants"].values())
    if finalized:
        summary["finalized"] = {name: finalized_scores(Path(path)) for name, path in finalized}
    (out_dir / "ablations.json").write_text(json.dumps(summary, indent=1))
    return summary


def figure(folder: Path, out_path: Path, metric: str = "selection", loss: str = "loss") -> Path:
    """Each arm's validation ``metric`` (a ``validation.csv`` column: the selection unless told)
    and training ``loss`` (a ``log.csv`` column: all heads unless told) against the windows it
    saw, from the ``<arm>-validation.csv`` / ``<arm>-log.csv`` copies in ``folder``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fasolfa.atomic import atomic_write
    from fasolfa.train import read_log
    summary = json.loads((folder / "ablations.json").read_text())
    batch = summary["batch_size"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for name in summary["variants"]:
        validation = read_log(folder / f"{name}-validation.csv")
        left.plot([r["step"] * batch / 1e3 for r in validation], [r[metric] for r in validation],
                  marker="o", ms=3, label=name)
        if (folder / f"{name}-log.csv").is_file():
            log = read_log(folder / f"{name}-log.csv")
            right.plot([r["step"] * batch / 1e3 for r in log], [r[loss] for r in log], lw=1, label=name)
    left.set(xlabel="thousand windows seen",
             ylabel="selection (mean onset F1)" if metric == "selection" else metric,
             title="validation: " + ("rendered + MAPS excerpts" if metric == "selection" else metric.split("/")[0]))
    right.set(xlabel="thousand windows seen", ylabel="training loss" if loss == "loss" else loss,
              title="training loss (all heads)" if loss == "loss" else f"training {loss}")
    if loss == "loss":
        right.set_ylim(0.9, 1.6)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    atomic_write(out_path, lambda temporary: fig.savefig(temporary, dpi=90, format="png"))
    plt.close(fig)
    return out_path


def pack_summary(pack_dir: Path, out_path: Path, device: str) -> dict:
    """What a window pack holds (``python -m fasolfa.pack``), for the model card: hours, clips,
    megabytes, the parts' shares and the clips of each rendition."""
    from collections import Counter

    from fasolfa.atomic import atomic_write
    from fasolfa.pack import read_manifest
    manifest = read_manifest(pack_dir)
    renditions = Counter(clip["soundfont"] for clip in manifest["clips"])
    size = sum(f.stat().st_size for f in (pack_dir / "clips").iterdir() if f.is_file())
    summary = {"command": f"python -m fasolfa.pack CONFIG {pack_dir} --hours {manifest['hours']:.2f}"
                          + (f" --vorbis-quality {manifest['vorbis_quality']:g}" if manifest.get("vorbis_quality") else ""),
               "device": device, "hours": round(manifest["hours"], 3), "clips": len(manifest["clips"]),
               "clip_s": round(manifest["clip_s"], 3),
               "margin_s": round(manifest["margin_n_samples"] / manifest["sample_rate"], 3),
               "audio_format": manifest["audio_format"], "vorbis_quality": manifest.get("vorbis_quality"),
               "megabytes": round(size / 1e6, 1), "seed": manifest["seed"],
               "parts": manifest["parts"], "clips_by_rendition": dict(renditions)}
    atomic_write(out_path, lambda temporary: temporary.write_text(json.dumps(summary, indent=1)))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--renders", type=int, default=30)
    p.add_argument("--maps", type=int, default=12)
    p.add_argument("--excerpt-s", type=float, default=45.0)
    p.add_argument("--validation-s", type=float, default=20.0)
    p.add_argument("--validation-pieces", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="another seed: other excerpts and presets, same pieces")
    p.add_argument("--transpose", type=int, default=0, metavar="SEMITONES",
                   help="play each render excerpt a random whole number of semitones in -N..N higher "
                        "(rendered afresh; the labels move with it): more notes in the rare registers")
    p.add_argument("--vorbis", type=float, default=None, metavar="QUALITY",
                   help="write the training excerpts as Ogg Vorbis at this compression level (0..1; "
                        "0.4: about 7 kB/s, a third of FLAC); validation excerpts stay FLAC")
    m = commands.add_parser("merge", help="one data folder from several prepared ones")
    m.add_argument("out_dir", type=Path)
    m.add_argument("sources", type=Path, nargs="+")
    m.add_argument("--renders", type=int, default=1_000_000, help="render excerpts taken from each source")
    r = commands.add_parser("run")
    r.add_argument("data_dir", type=Path)
    r.add_argument("out_dir", type=Path)
    r.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    r.add_argument("--arm", nargs=2, action="append", default=[], metavar=("NAME", "JSON"),
                   help='an arm on the full data with TrainConfig overrides, e.g. '
                        '--arm k16 \'{"model": {"key_channels": 16}}\' (repeatable)')
    r.add_argument("--seconds", type=float, default=300.0)
    r.add_argument("--device", default="auto")
    r.add_argument("--batch-size", type=int, default=32)
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--validate-every", type=int, default=250)
    r.add_argument("--steps", type=int, default=1_000_000, help="the schedule's last step (a cosine decay ends there)")
    c = commands.add_parser("collect", help="an ablations.json from python -m fasolfa.train run folders")
    c.add_argument("out_dir", type=Path)
    c.add_argument("runs", type=Path, nargs="+")
    c.add_argument("--until-step", type=int, default=None, help="count only the rows up to this step")
    c.add_argument("--finalized", nargs=2, action="append", default=[], metavar=("ARM", "CHECKPOINT"),
                   help="store this --finalized checkpoint's validation scores under the arm's name")
    v = commands.add_parser("score", help="finalized checkpoints' validation scores at the level and thresholds they store")
    v.add_argument("config", type=Path, help="the TrainConfig whose validation excerpts are read")
    v.add_argument("out", type=Path, help="JSON written here")
    v.add_argument("--checkpoint", nargs=2, action="append", required=True, metavar=("NAME", "PATH"))
    v.add_argument("--thresholds-from", type=Path, default=None, metavar="FINALIZED.pt",
                   help="score every checkpoint (training snapshots too) at this finalized one's level and thresholds")
    f = commands.add_parser("figure", help="draw the arms' validation and loss curves")
    f.add_argument("folder", type=Path, help="holds ablations.json and <arm>-validation.csv / <arm>-log.csv")
    f.add_argument("png", type=Path)
    f.add_argument("--metric", default="selection", help="the validation.csv column drawn (default: selection)")
    f.add_argument("--loss", default="loss", help="the log.csv column drawn (default: loss, all heads)")
    s = commands.add_parser("pack-summary", help="what a window pack holds, as JSON (for the model card)")
    s.add_argument("pack_dir", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--device", default="", help="the machine it was trained on, in words")
    args = parser.parse_args()
    if args.command == "pack-summary":
        print(json.dumps({k: v for k, v in pack_summary(args.pack_dir, args.out, args.device).items()
                          if k != "parts"}))
    elif args.command == "collect":
        summary = collect(args.out_dir, args.runs, args.until_step, [(name, Path(path)) for name, path in args.finalized])
        for name, row in summary["variants"].items():
            print(name, {k: round(v, 3) for k, v in row["best"].items()
                         if k in ("step", "selection") or k.endswith(("onset_f1", "frame_f1"))})
    elif args.command == "score":
        score_stored(args.config, [(name, Path(path)) for name, path in args.checkpoint], args.out,
                     args.thresholds_from)
    elif args.command == "figure":
        print(figure(args.folder, args.png, args.metric, args.loss))
    elif args.command == "merge":
        merge(args.out_dir, args.sources, args.renders)
    elif args.command == "prepare":
        prepare(args.data_dir, args.renders, args.maps, args.excerpt_s, args.validation_s, args.validation_pieces,
                args.seed, args.vorbis, args.transpose)
    else:
        run(args.data_dir, args.out_dir, args.variants, args.seconds, args.device, args.batch_size, args.workers,
            args.validate_every, args.steps, {name: json.loads(value) for name, value in args.arm})


if __name__ == "__main__":
    main()
