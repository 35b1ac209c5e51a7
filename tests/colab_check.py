"""Run the notebooks' Colab set-up cell headless in an environment that imitates Colab.

Run by hand (it builds a virtual environment, so ``make test`` does not):

    python3 tests/colab_check.py [--notebook notebooks/01_midi_encoding.ipynb] [--keep]

What it imitates, in a fresh temporary folder:

* a running Colab kernel: a new virtual environment (no fasolfa, no system site-packages) with a
  torch already installed (``--torch``, default the project's pin; on Colab it is Colab's own
  version), and ``google.colab`` present in ``sys.modules``;
* the repository on the web: ``FASOLFA_REPO`` is set to a ``file://`` URL of this checkout, so
  the cell clones its *committed* state (commit first);
* Colab's working directory ``/content``: the interpreter runs in the temporary folder.

Then, in ONE interpreter (no restart, as on Colab), it executes the first code cell's source with
``exec``, imports ``fasolfa.config``, ``fasolfa.midi`` and ``fasolfa.synth`` and renders a note, and
checks that torch was left alone: same ``torch.__version__`` and same modification time of
``torch/__init__.py`` before and after. apt-get runs for real (as root; quick where the packages
are already installed).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

INSIDE = textwrap.dedent('''
    import importlib.metadata, json, os, sys, types
    from pathlib import Path
    def torch_state():
        init = Path(importlib.metadata.distribution("torch").locate_file("torch/__init__.py"))
        return importlib.metadata.version("torch"), init.stat().st_mtime_ns
    before = torch_state()
    sys.modules["google.colab"] = types.ModuleType("google.colab")   # what Colab's kernel has
    cell = json.loads(Path(sys.argv[1]).read_text())
    source = next("".join(c["source"]) for c in cell["cells"] if c["cell_type"] == "code")
    exec(compile(source, "first cell", "exec"), {})
    import fasolfa.config, fasolfa.midi, fasolfa.synth
    import numpy as np
    audio = fasolfa.synth.render(fasolfa.midi.Notes.from_arrays([0.0], [0.3], [60], [90]))
    after = torch_state()
    print(f"torch before: {before[0]} (mtime {before[1]}); after: {after[0]} (mtime {after[1]})")
    print(f"fasolfa imported from {Path(fasolfa.config.__file__).parent}")
    print(f"one C4 rendered: {len(audio)} samples, peak {np.abs(audio).max():.3f}")
    print(f"data/examples present: {fasolfa.config.EXAMPLES_DIR.is_dir()}")
    assert before == after, "the set-up cell changed torch"
    assert "fasolfa-repo" in fasolfa.config.__file__
    print("COLAB CHECK OK")
''')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebook", default=str(REPO / "notebooks" / "01_midi_encoding.ipynb"))
    parser.add_argument("--torch", default="torch==2.13.0", help="the torch 'Colab' already has")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "pyproject.toml", "fasolfa"]).returncode:
        print("note: uncommitted changes in fasolfa/ or pyproject.toml are not in the clone", file=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="fasolfa-colab-"))
    try:
        venv = root / "venv"
        content = root / "content"
        content.mkdir()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        print(f"== a fresh venv with {args.torch} already installed (Colab's torch)", flush=True)
        subprocess.run([python, "-m", "pip", "install", "-q", args.torch], check=True)
        print("== the first cell, run with exec in one interpreter, FASOLFA_REPO = file:// this checkout", flush=True)
        env = dict(os.environ, FASOLFA_REPO=f"file://{REPO}")
        env.pop("PYTHONPATH", None)
        done = subprocess.run([python, "-c", INSIDE, str(Path(args.notebook).resolve())], cwd=content, env=env)
        return done.returncode
    finally:
        if args.keep:
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
