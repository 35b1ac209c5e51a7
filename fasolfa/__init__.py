"""fasolfa: an open, teachable piano transcriber (piano audio in, MIDI out).

The notebooks in ``notebooks/`` explain each module; the README's "Layout" section maps the
modules and the data flow between them.
"""
from fasolfa.errors import FasolfaError

__version__ = "0.1.0"
__all__ = ["FasolfaError", "__version__"]
