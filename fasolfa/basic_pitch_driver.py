"""Run Spotify's Basic Pitch on several audio files in one process; print timings as JSON.

This script runs **inside the peer environment** ``.venv-peer`` (``make peer``), not in
fasolfa's: it imports ``basic_pitch`` and nothing from fasolfa. :func:`fasolfa.peer.run_basic_pitch`
starts it; see ``notebooks/08_evaluation.ipynb`` for the comparison it serves.

Usage: ``.venv-peer/bin/python basic_pitch_driver.py OUTPUT_DIR AUDIO...``

The model is loaded once (``basic_pitch.inference.Model`` on the ICASSP 2022 model shipped in
the wheel, which picks the first backend it can import: TensorFlow, CoreML, TFLite, ONNX), then
each file goes through ``basic_pitch.inference.predict`` with its defaults (the same as the
``basic-pitch`` command's) and ``OUTPUT_DIR/<stem>_basic_pitch.mid`` is written under a
temporary name and renamed. Basic Pitch's own chatter goes to stderr; stdout carries one JSON
object: ``{"backend", "model_path", "versions", "load_s", "files": [{"audio", "midi",
"seconds"} or {"audio", "error"}]}`` (seconds: wall time of that file's prediction and write).
"""
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path


def main(argv):
    if len(argv) < 2:
        print("usage: basic_pitch_driver.py OUTPUT_DIR AUDIO...", file=sys.stderr)
        return 2
    output_dir, audio_paths = Path(argv[0]), [Path(name) for name in argv[1:]]
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        logging.disable(logging.WARNING)          # "tensorflow is not installed" and the like
        import basic_pitch
        from basic_pitch.inference import Model, predict
        import numpy
        import onnxruntime
        model = Model(basic_pitch.ICASSP_2022_MODEL_PATH)
    report = {"backend": model.model_type.name, "model_path": str(basic_pitch.ICASSP_2022_MODEL_PATH),
              "versions": {"basic_pitch": _version("basic-pitch"), "onnxruntime": onnxruntime.__version__,
                           "numpy": numpy.__version__},
              "load_s": time.perf_counter() - started, "files": []}
    for audio_path in audio_paths:
        file_started = time.perf_counter()
        midi_path = output_dir / f"{audio_path.stem}_basic_pitch.mid"
        temporary = midi_path.with_name(f".{midi_path.name}.{os.getpid()}.partial.mid")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                _, midi_data, _ = predict(audio_path, model)
            midi_data.write(str(temporary))
            os.replace(temporary, midi_path)
        except Exception as error:                  # one bad file does not stop the batch
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            report["files"].append({"audio": str(audio_path), "error": first_line[:200]})
            continue
        finally:
            if temporary.exists():
                temporary.unlink()
        report["files"].append({"audio": str(audio_path), "midi": str(midi_path),
                                "seconds": time.perf_counter() - file_started})
    print(json.dumps(report))
    return 0


def _version(name):
    from importlib.metadata import version
    try:
        return version(name)
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
