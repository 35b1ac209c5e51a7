"""Write files so that no reader ever sees a half-written one.

Every file fasolfa writes (audio, MIDI, figures, cached renderings and notes) goes through
:func:`atomic_write`: the content is written to a temporary file in the same folder, then renamed
over the final name (``os.replace``, atomic on one file system). If writing fails or is
interrupted, the temporary file is removed and the final name is left as it was.

The temporary name is ``.<name>.<pid>.partial<suffix>``: hidden, unique per process, and it
keeps the final suffix, because soundfile, matplotlib and pretty_midi choose the file format by
suffix. A process killed with SIGKILL cannot clean up; :func:`remove_stale_partials` deletes the
leftovers of processes that no longer run.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

PARTIAL_MARK = ".partial"


def temporary_path(path: str | Path, pid: int | None = None) -> Path:
    """The temporary file :func:`atomic_write` uses for ``path``: ``.<name>.<pid>.partial<suffix>``."""
    path = Path(path)
    pid = os.getpid() if pid is None else int(pid)
    return path.with_name(f".{path.name}.{pid}{PARTIAL_MARK}{path.suffix}")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` with a temporary path beside ``path`` (same suffix), then rename
    it to ``path``. Creates the parent folders. On any failure (exception or interrupt) the
    temporary file is removed, ``path`` is untouched, and the error propagates. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _writer_pid(partial: Path) -> int | None:
    """The pid inside ``.<name>.<pid>.partial<suffix>``, or None if the name is not one of ours."""
    head, mark, _ = partial.name.rpartition(PARTIAL_MARK)
    if not mark or not partial.name.startswith("."):
        return None
    pid = head.rsplit(".", 1)[-1]
    return int(pid) if pid.isdigit() else None


def remove_stale_partials(folder: str | Path) -> int:
    """Delete the temporary files of :func:`atomic_write` under ``folder`` (recursively) whose
    writing process no longer runs; files of running processes are kept. Returns how many were
    deleted (0 when ``folder`` does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for partial in folder.rglob(f".*{PARTIAL_MARK}*"):
        pid = _writer_pid(partial)
        if pid is None or not partial.is_file():
            continue
        try:
            os.kill(pid, 0)
            continue                          # that process is alive: maybe still writing
        except (ProcessLookupError, OverflowError):
            pass                              # no such process
        except PermissionError:
            continue                          # alive, under another user
        partial.unlink(missing_ok=True)
        removed += 1
    return removed
