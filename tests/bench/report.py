"""Write the benchmark tables into README.md from the JSON files `make bench` leaves in figures/.

Run after the bench scripts (``make bench`` does): it replaces the text between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md, so the numbers a reader sees
are the ones the scripts measured, on the machine named in the table.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "figures"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ACCURACY_START, ACCURACY_END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"
ROBUSTNESS_START, ROBUSTNESS_END = "<!-- robustness:start -->", "<!-- robustness:end -->"
ACCURACY_METRICS = ("onset", "onset_offset", "onset_offset_velocity", "frame", "pedal")
TOOL_LABELS = {"fasolfa": "fasolfa", "basic_pitch": "Basic Pitch"}


def load(name: str) -> dict | None:
    path = FIGURES / name
    return json.loads(path.read_text()) if path.exists() else None


def machine_line(result: dict) -> str:
    machine = result.get("machine", {})
    return f"{machine.get('cpu_count', '?')} cores, {machine.get('processor', '?')}"


def cqt_table(result: dict) -> list[str]:
    lines = [f"**CQT** (`tests/bench/bench_cqt.py`): {result['audio']['seconds']:.0f} s of rendered "
             f"piano, hop {result['settings']['hop_length']}, {result['settings']['bins_per_octave']} "
             f"bins/octave from {result['settings']['fmin_hz']} Hz, "
             f"{result['machine'].get('torch_threads', '?')} threads, median of "
             f"{result['results'][0]['librosa']['runs']} runs, {machine_line(result)}.", "",
             "| bins | librosa.cqt (s) | fasolfa CQT (s) | speed-up | fasolfa vs librosa, median / p99 dB |",
             "|---|---|---|---|---|"]
    for row in result["results"]:
        agreement = row.get("agreement_with_librosa_db", {})
        lines.append(f"| {row['n_bins']} | {row['librosa']['median_s']:.3f} | "
                     f"{row['fasolfa_cpu']['median_s']:.4f} | {row['speedup']:.1f}× | "
                     f"{agreement.get('median_db', float('nan')):.1e} / {agreement.get('p99_db', float('nan')):.1e} |")
    for row in result["results"]:
        for key, label in (("fasolfa_clean_cpu", "fasolfa CQT, clean mode (model front end)"),
                           ("hcqt_cpu", "HCQT (8 harmonics × 264 bins)")):
            if key in row:
                ratio = row["librosa"]["median_s"] / row[key]["median_s"]
                lines.append(f"| {row['n_bins']} | | {row[key]['median_s']:.4f} | {ratio:.1f}× | {label} |")
    return lines


def render_table(result: dict) -> list[str]:
    piece = result["piece"]
    lines = [f"**Rendering** (`tests/bench/bench_render.py`): {piece['minutes']:.0f} min, "
             f"{piece['notes']} notes, {piece['pedal_presses']} pedal presses, one process, "
             f"{machine_line(result)}.", "",
             "| soundfont | × real time | `fluidsynth` program, × real time | ratio |", "|---|---|---|---|"]
    for row in result["results"]:
        lines.append(f"| {row['soundfont']} | {row['times_real_time']:.0f}× | "
                     f"{row['fluidsynth_cli_times_real_time']:.0f}× | {row['ratio_to_cli']:.2f} |")
    return lines


def windows_table(result: dict) -> list[str]:
    reference = result["references_one_process"]["raw_flac_window_reads_per_s"]
    lines = [f"**Training windows** (`tests/bench/bench_windows.py`): {result['window_n_samples']} samples "
             f"each, from a warm FLAC cache, batch {result['batch_size']}, {machine_line(result)}; "
             f"reference: raw FLAC window reads, {reference:.0f}/s in the same run.", "",
             "| augmentation | DataLoader workers | windows/s | ratio to raw reads |", "|---|---|---|---|"]
    for row in result["results"]:
        lines.append(f"| {row['augmentation']} | {row['workers']} | {row['windows_per_s']:.0f} | "
                     f"{row['ratio_to_raw_flac_reads']:.2f} |")
    return lines


def _f1(scores: dict | None) -> str:
    return "n/a" if scores is None else f"{scores['f1']:.3f}"


def accuracy_table(result: dict) -> list[str]:
    """Mean F1 per set and tool (micro onset F1 beside it), and speed as × real time and as a
    ratio to Basic Pitch measured in the same run."""
    subset = "" if result.get("limit") is None else f", first {result['limit']} pieces of each set"
    lines = [f"**Accuracy** (`tests/bench/bench_accuracy.py`): first {result['seconds']:g} s of each "
             f"piece{subset}; test split rendered with each training soundfont, and the MAPS "
             f"validation recordings; F1 as the mean over pieces (onset tolerance 50 ms, reference "
             f"offsets sustain-extended; MAPS has no pedal annotation: n/a). Made by "
             f"`{result['command']}` at commit `{result['commit'][:12]}`"
             + (f" (checkpoint SHA-256 `{result['checkpoint_sha256'][:12]}`)" if result.get("checkpoint_sha256") else "")
             + f", {machine_line(result)}. "
             f"× real time: seconds of audio per wall second, whole run (Basic Pitch: its process "
             f"start and model loading; fasolfa: its model loading, in the first set) / the "
             f"files alone; speed ratio: fasolfa's × real time over Basic Pitch's in the same run, "
             f"whole / files.", "",
             "| set | tool | pieces | onset | +offset | +velocity | frame | pedal | onset (micro) "
             "| × real time | speed ratio |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["sets"].items():
        tools = row["tools"]
        reference = tools.get("basic_pitch", {}).get("timing", {})
        for tool, scores in tools.items():
            timing = scores["timing"]
            speeds = (timing["times_real_time"], timing["per_file_times_real_time"])
            ratio = (f"{speeds[0] / reference['times_real_time']:.2f} / "
                     f"{speeds[1] / reference['per_file_times_real_time']:.2f}"
                     if reference and tool != "basic_pitch" else "")
            lines.append(f"| {name} | {TOOL_LABELS.get(tool, tool)} | {row['n_pieces']} | "
                         + " | ".join(_f1(scores["mean"][metric]) for metric in ACCURACY_METRICS)
                         + f" | {_f1(scores['micro']['onset'])} | {speeds[0]:.1f}× / {speeds[1]:.1f}× "
                         f"| {ratio} |")
    return lines


def robustness_table(result: dict) -> list[str]:
    """``figures/robustness.json`` (``check_robustness.py``): note-onset and frame F1 per
    condition as ``fasolfa transcribe`` reads it and (onset) read as it is."""
    keys = ("rendered/onset_f1", "rendered/frame_f1", "maps/onset_f1", "maps/frame_f1")
    band = result.get("input_level_db")
    lines = [f"**Robustness** (`tests/bench/check_robustness.py`): the {result.get('excerpts', '?')} validation "
             f"excerpts (30 s each) made worse, transcribed as `fasolfa transcribe` does (brought into the input "
             f"level band {band} dBFS, the HCQT following each excerpt's tuning); in brackets, note-onset F1 read "
             f"as it is (`--keep-level --no-tuning`); * beyond what training's augmentation drew. Checkpoint "
             f"`{result.get('checkpoint')}`.", "",
             "| condition | what | onset | frame | MAPS onset | MAPS frame |", "|---|---|---|---|---|---|"]
    for name, row in result["conditions"].items():
        scores, own = row["scores"], row.get("scores_as_is", {})
        cells = []
        for key in keys:
            cell = f"{scores.get(key, float('nan')):.3f}"
            if key.endswith("onset_f1") and key in own:
                cell += f" ({own[key]:.3f})"
            cells.append(cell)
        rate = f", {row['kbit_per_s']:.0f} kbit/s" if "kbit_per_s" in row else ""
        lines.append(f"| {name}{'' if row['trained'] else ' *'} | {row['description']}{rate} | {' | '.join(cells)} |")
    return lines


def replace_section(text: str, start: str, end: str, body: str) -> str:
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{body}\n{end}",
                  text, flags=re.S)


def transcribe_table(result: dict) -> list[str]:
    peer = result.get("basic_pitch", {})
    best_of = f", best of {peer['repeats']} runs each" if peer.get("repeats") else ""
    reference = (f"Basic Pitch 0.4.0 (ONNX, its own CLI) on the same file{best_of}: "
                 f"{peer['whole_process_s']:.1f} s, fasolfa {result['whole_process']['speedup_vs_basic_pitch']:.1f}× faster"
                 if "whole_process_s" in peer else f"Basic Pitch: skipped ({peer.get('skipped', '?')})")
    lines = [f"**Transcription** (`tests/bench/bench_transcribe.py`): {result['audio']['seconds']:.0f} s "
             f"of rendered piano (44.1 kHz FLAC), checkpoint `{result['checkpoint']['path']}` "
             f"({result['checkpoint']['parameters']:,} parameters once batch norm is folded into the convolutions, `FasolfaNet.fuse`), {machine_line(result)}, load average "
             f"{result['machine'].get('load_average_1min_at_start', '?')} at start; {reference}.", "",
             "| measure | value |", "|---|---|",
             f"| in process, model loaded | {result['in_process']['times_real_time']:.0f}× real time |"]
    kept = result.get("in_process_freed_memory_kept")
    if kept:
        lines.append(f"| in process, model loaded, freed memory kept as the command line keeps it "
                     f"(`cli.keep_freed_memory`) | {kept['times_real_time']:.0f}× real time |")
    lines.append(f"| whole `fasolfa transcribe` process | {result['whole_process']['seconds']:.1f} s "
                 f"({result['whole_process']['times_real_time']:.0f}× real time) |")
    for name, seconds in result["stages_s"].items():
        lines.append(f"| stage: {name.removesuffix('_s').replace('_', ' ')} | {seconds:.2f} s |")
    for row in result.get("peak_memory", []):
        lines.append(f"| peak memory, {row['minutes']:g} min of audio | {row['peak_rss_mb']:.0f} MB |")
    return lines


def model_table(result: dict) -> list[str]:
    ours, peer = result["fasolfa"], result["basic_pitch"]
    onnx = f"{peer['onnx_bytes'] / 1e3:.0f} kB ONNX" if peer.get("onnx_bytes") else "ONNX not measured (`make peer`)"
    return [f"**Model** (`tests/bench/bench_model.py`): forward MFLOP per second of audio counted with "
            f"`torch.utils.flop_counter`; Basic Pitch's network rebuilt from its layer shapes "
            f"(notebook 05).", "",
            "| | parameters | size | MFLOP per second of audio |", "|---|---|---|---|",
            f"| fasolfa | {ours['parameters']:,} | {ours['checkpoint_bytes'] / 1e3:.0f} kB checkpoint | {ours['mflops_per_s']:.1f} |",
            f"| Basic Pitch 0.4.0 | {peer['parameters_rebuilt']:,} | {onnx} | {peer['mflops_per_s']:.1f} "
            f"({result['fasolfa_cheaper_by']:.1f}× fasolfa's) |"]


def main() -> int:
    sections = []
    for name, table in (("cqt_bench.json", cqt_table), ("render_bench.json", render_table),
                        ("data_bench.json", windows_table), ("transcribe_bench.json", transcribe_table),
                        ("model_bench.json", model_table)):
        result = load(name)
        if result is not None:
            sections.append("\n".join(table(result)))
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} … {END} section", file=sys.stderr)
        return 1
    body = "\n\n".join(sections) if sections else "(run `make bench`)"
    text = replace_section(text, START, END, body)
    accuracy = load("accuracy_bench.json")
    if accuracy is not None and ACCURACY_START in text and ACCURACY_END in text:
        accuracy_body = "\n".join(accuracy_table(accuracy))
        text = replace_section(text, ACCURACY_START, ACCURACY_END, accuracy_body)
        print(accuracy_body)
    robustness = load("robustness.json")
    if robustness is not None and ROBUSTNESS_START in text and ROBUSTNESS_END in text:
        text = replace_section(text, ROBUSTNESS_START, ROBUSTNESS_END, "\n".join(robustness_table(robustness)))
    readme.write_text(text)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
