"""fasolfa: an open, teachable piano transcriber (piano audio in, MIDI out).

The notebooks in ``notebooks/`` explain each module; the README's "Layout" section maps the
modules and the data flow between them. ``fasolfa.transcribe`` and ``fasolfa.Transcription``
are imported on first use, so ``import fasolfa`` stays cheap (no torch).
"""
from fasolfa.errors import FasolfaError

__version__ = "0.1.0"
__all__ = ["FasolfaError", "Transcription", "__version__", "transcribe"]


def __getattr__(name: str):
    if name in ("transcribe", "Transcription"):
        # the module is fasolfa.transcription, so that fasolfa.transcribe stays the function
        from fasolfa import transcription
        return getattr(transcription, name)
    raise AttributeError(f"module 'fasolfa' has no attribute {name!r}")
