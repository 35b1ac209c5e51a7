"""Structure every fasolfa notebook shares (nbval checks their outputs; this checks their shape).

A notebook must: set up Colab in its first code cell (the same cell in every notebook, checked
by hand with ``tests/colab_check.py``), have a papermill ``parameters`` cell with ``QUICK``, carry
no papermill-injected parameters (they would override ``FASOLFA_QUICK`` under nbval), write in
``figures/`` only when ``FASOLFA_WRITE_FIGURES=1`` (``make notebooks``, ``make figures``), contain
no absolute paths of the machine it ran on, keep the figures it draws (committed executed), and
stay small.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]*_*.ipynb"))  # 02b_… too
MAX_BYTES = 1_500_000


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_structure(path):
    notebook = json.loads(path.read_text())
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    sources = ["".join(cell["source"]) for cell in code_cells]
    assert "google.colab" in sources[0], "first code cell sets up Colab"
    tagged = [source for cell, source in zip(code_cells, sources)
              if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "QUICK" in tagged[0], "one parameters cell defining QUICK"
    injected = [cell for cell in code_cells
                if "injected-parameters" in cell.get("metadata", {}).get("tags", [])]
    assert not injected, "re-run with `make notebooks`: an injected cell overrides FASOLFA_QUICK"
    text = path.read_text()
    assert not re.search(r"(?<![\w.])/(work|root|tmp|home)/", text), "absolute machine path"
    assert path.stat().st_size < MAX_BYTES
    assert any("NBVAL_CHECK_OUTPUT" in source for source in sources), "checks some stable facts"
    assert all(cell.get("execution_count") for cell in code_cells), "committed executed"
    shown = [cell for cell, source in zip(code_cells, sources) if "plt.show()" in source]
    images = [cell for cell in shown
              if any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))]
    assert len(images) >= len(shown) / 2, ("committed without its figures (executed with a non-inline "
                                           "matplotlib backend, e.g. MPLBACKEND=Agg?): `make notebooks`")
    assert 'os.environ.get("FASOLFA_WRITE_FIGURES") == "1"' in tagged[0], "WRITE_FIGURES from the environment"
    for source in sources:
        if "FIGURES_DIR" in source and "savefig" in source:
            assert "if WRITE_FIGURES" in source, "writes figures/ only when asked"


def test_first_cell_is_the_same_colab_setup_everywhere():
    first = {path.stem: "".join(next(cell for cell in json.loads(path.read_text())["cells"]
                                     if cell["cell_type"] == "code")["source"]) for path in NOTEBOOKS}
    assert len(set(first.values())) == 1, "one Colab cell, copied into every notebook"
    cell = next(iter(first.values()))
    assert '"apt-get", "update"' in cell and "FASOLFA_REPO" in cell
    assert "-e" not in cell.split() and "torch" in cell, "non-editable, and Colab's torch is kept"


def test_every_numbered_notebook_is_tested():
    names = {path.name for path in NOTEBOOKS}
    assert names == {path.name for path in NOTEBOOKS[0].parent.glob("[0-9]*.ipynb")}
