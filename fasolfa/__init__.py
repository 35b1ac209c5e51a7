"""fasolfa: an open, teachable piano transcriber (piano audio in, MIDI out).

The notebooks in ``notebooks/`` explain each module; ``DESIGN.md`` (shared) maps them.
"""
from fasolfa.errors import FasolfaError

__version__ = "0.1.0"
__all__ = ["FasolfaError", "__version__"]
