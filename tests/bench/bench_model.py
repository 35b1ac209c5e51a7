"""Model size and cost: fasolfa's shipped network beside Basic Pitch's.

    python tests/bench/bench_model.py        (run by `make bench`)

fasolfa: parameters, checkpoint bytes and forward MFLOP per second of audio, counted with
``torch.utils.flop_counter`` (:func:`fasolfa.model.layer_table`). Basic Pitch: its network
rebuilt from its convolutions' shapes (spotify/basic-pitch ``models.py``: a 3×39 convolution of
8 → 8 channels over the HCQT, the contour, note and onset convolutions; notebook 05 explains it)
and counted the same way, plus the size of the ONNX model it ships, read from ``.venv-peer``
when ``make peer`` has built it. Writes ``figures/model_bench.json``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import busy_warning, machine_info, write_report  # noqa: E402

from fasolfa import config  # noqa: E402
from fasolfa.model import layer_table  # noqa: E402
from fasolfa.train import load_weights  # noqa: E402


class BasicPitchShapes(torch.nn.Module):
    """Basic Pitch's convolutions, (batch, channels, frequency, time): the cost, not the weights."""

    def __init__(self):
        super().__init__()
        conv = torch.nn.Conv2d
        self.contour_3x39 = conv(8, 8, (39, 3), padding=(19, 1))          # 39 bins × 3 frames
        self.contour_out = conv(8, 1, 5, padding=2)
        self.note_conv = conv(1, 32, 7, stride=(3, 1), padding=(2, 3))    # 264 -> 88 rows
        self.note_out = conv(32, 1, (3, 7), padding=(1, 3))
        self.onset_conv = conv(8, 32, 5, stride=(3, 1), padding=(1, 2))
        self.onset_out = conv(33, 1, 3, padding=1)

    def forward(self, hcqt):
        contour = self.contour_out(torch.relu(self.contour_3x39(hcqt)))
        note = self.note_out(torch.relu(self.note_conv(contour)))
        return self.onset_out(torch.cat([note, torch.relu(self.onset_conv(hcqt))], 1))


def mflops_per_second(module: torch.nn.Module, seconds: float = 10.0) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    hcqt = torch.zeros(1, 8, config.N_CONTOUR_BINS, int(round(seconds * config.FRAMES_PER_SECOND)))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(hcqt)
    return counter.get_total_flops() / 1e6 / seconds


def main() -> int:
    load = busy_warning()
    checkpoint = config.CHECKPOINT_DIR / "fasolfa.pt"
    model, _ = load_weights(checkpoint)
    total = layer_table(model)[-1]
    basic_pitch = BasicPitchShapes()
    onnx = sorted((ROOT / ".venv-peer").glob("lib/python*/site-packages/basic_pitch/saved_models/icassp_2022/nmp.onnx"))
    report = {
        "fasolfa": {"parameters": total["parameters"], "checkpoint_bytes": checkpoint.stat().st_size,
                    "mflops_per_s": round(total["mflops_per_s"], 1)},
        "basic_pitch": {"parameters_rebuilt": sum(p.numel() for p in basic_pitch.parameters()),
                        "onnx_bytes": onnx[0].stat().st_size if onnx else None,
                        "mflops_per_s": round(mflops_per_second(basic_pitch), 1)},
        "machine": machine_info(load),
    }
    ratio = report["basic_pitch"]["mflops_per_s"] / report["fasolfa"]["mflops_per_s"]
    report["fasolfa_cheaper_by"] = round(ratio, 2)
    print(f"fasolfa {report['fasolfa']['mflops_per_s']} MFLOP/s, {report['fasolfa']['parameters']} parameters; "
          f"Basic Pitch {report['basic_pitch']['mflops_per_s']} MFLOP/s ({ratio:.1f}x more)")
    write_report(ROOT / "figures" / "model_bench.json", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
