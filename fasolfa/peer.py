"""The peer transcriber, Spotify's Basic Pitch, run from its own environment for comparison.

Explained in ``notebooks/08_evaluation.ipynb`` (section "Side by side with Basic Pitch").

Basic Pitch pins TensorFlow on Linux, which fasolfa does not install; its wheel ships its
model as ONNX too, so ``make peer`` builds a separate virtual environment ``.venv-peer`` with
``basic-pitch`` (installed without its dependencies) plus ``onnxruntime`` and the libraries its
import needs. Nothing is downloaded at run time. :func:`run_basic_pitch` transcribes a list of
audio files in **one** process of that environment (:mod:`fasolfa.basic_pitch_driver`), so the
model is loaded once, and returns its whole-process and per-file wall times.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fasolfa import config
from fasolfa.errors import FasolfaError

PEER_VENV = config.REPO_ROOT / ".venv-peer"
DRIVER = Path(__file__).resolve().parent / "basic_pitch_driver.py"
MIDI_SUFFIX = "_basic_pitch.mid"           # Basic Pitch names its output <stem>_basic_pitch.mid
NOT_SET_UP = "Basic Pitch is not set up: run `make peer` (it builds .venv-peer)"


def peer_python() -> Path:
    """The Python of the peer environment: ``$FASOLFA_PEER_VENV/bin/python`` or
    ``.venv-peer/bin/python`` in the repository. Raises :class:`FasolfaError` when it is absent."""
    venv = Path(os.environ.get("FASOLFA_PEER_VENV", PEER_VENV)).expanduser()
    python = venv / "bin" / "python"
    if not python.is_file():
        raise FasolfaError(f"{venv}: {NOT_SET_UP}")
    return python


def is_available() -> bool:
    """True when :func:`peer_python` finds the peer environment."""
    try:
        peer_python()
    except FasolfaError:
        return False
    return True


@dataclass
class BasicPitchRun:
    """What one batch run of Basic Pitch gave: MIDI paths in the order of the audio files,
    wall seconds per file (prediction + write), the model's load time (imports included), the
    whole process's wall time (interpreter start to exit), and the backend it used."""

    midi_paths: list[Path]
    per_file_s: list[float]
    load_s: float
    process_s: float
    backend: str
    versions: dict = field(default_factory=dict)


def run_basic_pitch(audio_paths, output_dir: str | Path) -> BasicPitchRun:
    """Transcribe ``audio_paths`` with Basic Pitch in one process; MIDI goes to
    ``output_dir/<stem>_basic_pitch.mid``. Raises :class:`FasolfaError` when the peer
    environment is missing or broken, or naming the first file Basic Pitch could not read."""
    audio_paths = [Path(path) for path in audio_paths]
    if not audio_paths:
        raise ValueError("no audio files to transcribe")
    stems = [path.stem for path in audio_paths]
    if len(set(stems)) != len(stems):
        raise ValueError("audio files must have distinct stems (outputs are named by stem)")
    command = [str(peer_python()), str(DRIVER), str(output_dir), *map(str, audio_paths)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    process_s = time.perf_counter() - started
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise FasolfaError(f"Basic Pitch failed in {peer_python().parent.parent} (exit "
                           f"{result.returncode}: {last[:200]}); rebuild it with `make peer`")
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise FasolfaError("Basic Pitch gave no report; rebuild it with `make peer`") from None
    for entry in report["files"]:
        if "error" in entry:
            raise FasolfaError(f"{entry['audio']}: Basic Pitch cannot read it ({entry['error']})")
    return BasicPitchRun([Path(entry["midi"]) for entry in report["files"]],
                         [float(entry["seconds"]) for entry in report["files"]],
                         float(report["load_s"]), process_s, report["backend"],
                         report.get("versions", {}))


if __name__ == "__main__":                    # python -m fasolfa.peer OUT AUDIO...: a quick check
    run = run_basic_pitch(sys.argv[2:], sys.argv[1])
    print(f"backend {run.backend}, load {run.load_s:.2f} s, process {run.process_s:.2f} s, "
          f"per file {', '.join(f'{s:.2f}' for s in run.per_file_s)} s")
