"""Tests for fasolfa.atomic: a file is written whole or not at all, with its suffix kept."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

from fasolfa.atomic import atomic_write, remove_stale_partials, temporary_path


def test_success_renames_the_temporary_which_keeps_the_suffix(tmp_path):
    target = tmp_path / "deep" / "er" / "take.flac"          # parents are created
    seen = []

    def write(temporary):
        seen.append(temporary)
        soundfile.write(temporary, np.zeros(100, np.float32), 22050)   # format from the suffix

    assert atomic_write(target, write) == target
    assert seen[0].parent == target.parent and seen[0].suffix == ".flac"
    assert seen[0].name.startswith(".take.flac.") and str(os.getpid()) in seen[0].name
    assert soundfile.info(target).format == "FLAC"
    assert sorted(p.name for p in target.parent.iterdir()) == ["take.flac"]


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_leaves_no_file_and_no_temporary(tmp_path, failure):
    target = tmp_path / "out.mid"

    def half_then_fail(temporary):
        temporary.write_bytes(b"half a file")
        raise failure

    with pytest.raises(type(failure)):
        atomic_write(target, half_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "notes.npz"
    target.write_bytes(b"old")

    def fail(temporary):
        temporary.write_bytes(b"new but broken")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_stale_partials_of_dead_processes_are_removed(tmp_path):
    final = tmp_path / "a" / "x.flac"
    final.parent.mkdir()
    dead = temporary_path(final, pid=2 ** 22 + 17)          # above Linux's pid_max: not running
    alive = temporary_path(tmp_path / "y.wav", pid=os.getpid())
    unrelated = tmp_path / ".notes.partial.txt.bak"
    for path in (dead, alive, unrelated, final):
        path.write_bytes(b"x")
    assert remove_stale_partials(tmp_path) == 1
    assert not dead.exists() and alive.exists() and unrelated.exists() and final.exists()
    assert remove_stale_partials(tmp_path / "missing") == 0
