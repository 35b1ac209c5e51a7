"""fasolfa and Basic Pitch side by side: transcribe the same audio with both, time, score.

Explained in ``notebooks/08_evaluation.ipynb`` (section "Side by side with Basic Pitch");
``fasolfa evaluate --compare-basic-pitch AUDIO_DIR REF_DIR`` and ``tests/bench/bench_accuracy.py``
call :func:`compare`.

Each audio file ``<stem>.wav|.flac|.ogg`` in ``AUDIO_DIR`` is transcribed by

* **fasolfa**: :func:`fasolfa.transcribe.transcribe` in this process, one file after the other;
  its MIDI goes to ``MIDI_DIR/fasolfa/<stem>.mid``;
* **Basic Pitch**: :func:`fasolfa.peer.run_basic_pitch`, all files in one process of the peer
  environment; its MIDI goes to ``MIDI_DIR/basic_pitch/<stem>_basic_pitch.mid``;

then both folders are scored against the references of ``REF_DIR`` by stem
(:mod:`fasolfa.scorecard`: a reference whose audio is missing scores as an empty prediction,
for both tools). Timings are wall seconds: ``wall_s`` is the whole run (fasolfa: its import
and every call, the model's loading included; Basic Pitch: its whole process, interpreter start
and model loading included), ``per_file_s`` the sum of the files' own times; ``times_real_time``
is seconds of audio per wall second of the whole run.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from fasolfa.errors import FasolfaError
from fasolfa import scorecard

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
TOOLS = ("fasolfa", "basic_pitch")
TOOL_LABELS = {"fasolfa": "fasolfa", "basic_pitch": "Basic Pitch"}


def audio_files(folder: str | Path) -> dict[str, Path]:
    """``{stem: path}`` of the audio files in ``folder`` (recursively). Raises
    :class:`FasolfaError` when the folder is missing or two files share a stem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FasolfaError(f"{folder}: no such folder")
    return scorecard.files_by_stem(folder, AUDIO_SUFFIXES, lambda path: path.stem)


def audio_seconds(path: str | Path) -> float:
    """Duration of an audio file in seconds (from its header when libsndfile reads it)."""
    import soundfile
    try:
        return float(soundfile.info(str(path)).duration)
    except Exception:
        from fasolfa import audio, config
        return len(audio.load_audio(path)) / config.SAMPLE_RATE


def fasolfa_transcriber() -> Callable:
    """:func:`fasolfa.transcription.transcribe`, imported only when needed (it imports torch)."""
    from fasolfa.transcription import transcribe
    return transcribe


def run_fasolfa(audio_paths: list[Path], midi_dir: Path, checkpoint: str | Path | None = None,
                progress: Callable[[str], None] | None = None) -> dict:
    """Transcribe each file with fasolfa into ``midi_dir/<stem>.mid``; returns the timing
    ``{"wall_s", "per_file_s"}`` (the whole loop, import included; the sum of the calls)."""
    started = time.perf_counter()
    transcribe = fasolfa_transcriber()
    options = {} if checkpoint is None else {"checkpoint": checkpoint}
    per_file = []
    for number, path in enumerate(audio_paths, start=1):
        file_started = time.perf_counter()
        transcribe(path, **options).save(midi_dir / f"{path.stem}.mid")
        per_file.append(time.perf_counter() - file_started)
        if progress:
            progress(f"fasolfa {number}/{len(audio_paths)}: {path.name} ({per_file[-1]:.1f} s)")
    return {"wall_s": time.perf_counter() - started, "per_file_s": float(sum(per_file))}


def run_peer(audio_paths: list[Path], midi_dir: Path,
             progress: Callable[[str], None] | None = None) -> dict:
    """Basic Pitch on all files in one process (:func:`fasolfa.peer.run_basic_pitch`)."""
    from fasolfa import peer
    if progress:
        progress(f"Basic Pitch: {len(audio_paths)} files in one process")
    run = peer.run_basic_pitch(audio_paths, midi_dir)
    return {"wall_s": run.process_s, "per_file_s": float(sum(run.per_file_s)),
            "load_s": run.load_s, "backend": run.backend, "versions": run.versions}


def compare(audio_dir: str | Path, reference_dir: str | Path, midi_dir: str | Path, *,
            tools=TOOLS, checkpoint: str | Path | None = None, stems=None,
            progress: Callable[[str], None] | None = None, **score_options) -> dict:
    """Transcribe ``audio_dir`` with each of ``tools`` and score against ``reference_dir``.

    ``stems``: only these pieces (default: every reference). Returns ``{"n_pieces",
    "audio_seconds", "missing_audio": [stems], "unmatched_audio": [stems], "tools": {tool:
    {"pieces", "mean", "micro", "timing": {"wall_s", "per_file_s", "times_real_time", ...}}}}``
    (reports as :func:`fasolfa.scorecard.summarise`). Everything that can be checked before
    transcribing is (folders, references, the peer environment, fasolfa's transcriber), so a
    bad input fails fast with :class:`FasolfaError`.
    """
    unknown = set(tools) - set(TOOLS)
    if unknown or not tools:
        raise ValueError(f"tools must be among {TOOLS}, got {tools}")
    audio = audio_files(audio_dir)
    midi_dir = Path(midi_dir)
    references = scorecard.reference_files(reference_dir)
    if stems is not None:
        references = {stem: path for stem, path in references.items() if stem in set(stems)}
        if not references:
            raise FasolfaError(f"{reference_dir}: none of the requested pieces has a reference")
    for path in references.values():
        scorecard.read_reference(path)                            # a bad reference fails now
    to_transcribe = [audio[stem] for stem in references if stem in audio]
    if not to_transcribe:
        raise FasolfaError(f"{audio_dir}: no audio file matches a reference of {reference_dir}")
    if "basic_pitch" in tools:
        from fasolfa import peer
        peer.peer_python()
    if "fasolfa" in tools:
        fasolfa_transcriber()
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise FasolfaError(f"{checkpoint}: no such checkpoint")
    total_s = float(sum(audio_seconds(path) for path in to_transcribe))

    result = {"n_pieces": len(references), "audio_seconds": total_s,
              "missing_audio": sorted(set(references) - set(audio)),
              "unmatched_audio": sorted(set(audio) - set(references)) if stems is None else [],
              "tools": {}}
    for tool in tools:
        tool_dir = midi_dir / tool
        tool_dir.mkdir(parents=True, exist_ok=True)
        timing = (run_fasolfa(to_transcribe, tool_dir, checkpoint, progress) if tool == "fasolfa"
                  else run_peer(to_transcribe, tool_dir, progress))
        timing["times_real_time"] = total_s / timing["wall_s"] if timing["wall_s"] else None
        timing["per_file_times_real_time"] = (total_s / timing["per_file_s"]
                                              if timing["per_file_s"] else None)
        predictions, _ = scorecard.pair_files(reference_dir, tool_dir)
        by_stem = {pair.stem: pair for pair in predictions}
        report = scorecard.summarise({stem: scorecard.score_pair(by_stem[stem], **score_options)
                                      for stem in sorted(references)})
        result["tools"][tool] = {**report, "timing": timing}
    return result


def format_comparison(result: dict) -> str:
    """One table: mean and micro F1 of every metric, then the timings, one column per tool."""
    tools = list(result["tools"])
    labels = [TOOL_LABELS[tool] for tool in tools]
    width = 32
    lines = [f"{result['n_pieces']} pieces, {result['audio_seconds']:.1f} s of audio",
             f"{'':<{width}}" + "".join(f"{label:>14}" for label in labels)]
    for kind in scorecard.SUMMARIES:
        for metric in scorecard.REPORT_METRICS:
            cells = [scorecard._cell(result["tools"][tool][kind][metric]) for tool in tools]
            lines.append(f"{f'{kind} F1 {metric}':<{width}}" + "".join(f"{cell:>14}" for cell in cells))
    timings = [result["tools"][tool]["timing"] for tool in tools]
    for label, key, unit in (("wall s (whole run)", "wall_s", ""), ("× real time (whole run)",
                             "times_real_time", "×"), ("wall s (files only)", "per_file_s", ""),
                             ("× real time (files only)", "per_file_times_real_time", "×")):
        cells = ["n/a" if timing.get(key) is None else f"{timing[key]:.2f}{unit}" for timing in timings]
        lines.append(f"{label:<{width}}" + "".join(f"{cell:>14}" for cell in cells))
    if result["missing_audio"]:
        lines.append(f"no audio for {len(result['missing_audio'])} references (scored as empty "
                     f"predictions): {', '.join(result['missing_audio'][:5])}")
    return "\n".join(lines)
