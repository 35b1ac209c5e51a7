"""What every benchmark script shares: the machine it ran on, and writing its JSON report."""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[2] / "figures"


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256 (hex): which weights were measured, whatever the working tree holds now."""
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def busy_warning() -> float:
    """The 1-minute load average now; warns when other work would slow the timings."""
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: the machine is busy (load average {load:.1f}); timings will be lower")
    return load


def machine_info(load_at_start: float, **extra) -> dict:
    """Processor, core count, Python and the load average when the benchmark started."""
    return {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "load_average_1min_at_start": round(load_at_start, 2),
            **extra}


def write_report(path: str | Path, report: dict) -> None:
    """Write ``report`` as indented JSON (for tests/bench/report.py and the notebooks)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {os.path.relpath(path)}")


def checkpoint_parser(description: str) -> argparse.ArgumentParser:
    """The command line of a script that measures a checkpoint: ``--checkpoint`` (default: the
    shipped one) and ``--out`` (default: ``figures/``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped checkpoint")
    parser.add_argument("--out", type=Path, default=FIGURES)
    return parser


def named_checkpoints(texts) -> list[tuple[str, str]]:
    """``["NAME=PATH", ...]`` -> ``[(NAME, PATH), ...]``; exits with one line naming a malformed one."""
    named = []
    for text in texts:
        name, sep, path = text.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"{text}: give each checkpoint as NAME=PATH")
        named.append((name, path))
    return named


def save_png(fig, path: str | Path, dpi: int = 80) -> None:
    """Write a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    from fasolfa.atomic import atomic_write
    atomic_write(Path(path), lambda temporary: fig.savefig(temporary, dpi=dpi, format="png"))
    plt.close(fig)
