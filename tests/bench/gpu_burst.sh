#!/usr/bin/env bash
# A training burst on a lent GPU machine (nothing depends on one; see the model card's
# training story): the machine has PyTorch but no FluidSynth, soundfonts, ../shared or
# fasolfa's other needs, so the data travel as a window pack (python -m fasolfa.pack) and
# the missing packages as wheels.
#
#   tests/bench/gpu_burst.sh CONFIG.json...    (from the repository root)
#
# Installs the wheels in .whl/ (unless FASOLFA_BURST_NO_INSTALL=1), runs one training step
# on the run's device before spending minutes, then trains every CONFIG side by side (each a
# TrainConfig with "data": "pack" and a time_budget_s; "keep_snapshots" saves the weights as
# it goes), printing their progress each minute, and finally packs the run folders into
# $OUT/runs.tgz (default OUT: .burst/out). A run killed at BURST_LIMIT_S (default 540 s)
# keeps the snapshots it saved.
set -u
OUT=${OUT:-.burst/out}
mkdir -p "$OUT"
if [ "${FASOLFA_BURST_NO_INSTALL:-0}" != 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "gpu_burst: installing the wheels failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PYTHON" - "$1" <<'EOF' || { echo "gpu_burst: the first step failed; nothing trained"; exit 1; }
import json, sys, time
import torch
from fasolfa import config, train
from fasolfa.hcqt import HCQT
from fasolfa.model import FasolfaNet, ModelConfig
cfg = train.TrainConfig.from_dict(json.load(open(sys.argv[1])))
device = train.pick_device(cfg.device)
print(f"torch {torch.__version__} on {device}"
      + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""), flush=True)
data = train.build_training_data(cfg, progress=False)
batch = torch.utils.data.default_collate([data[i] for i in range(4)])
batch = {k: v.to(device) for k, v in batch.items()}
model, hcqt = FasolfaNet(ModelConfig.from_dict(cfg.model)).to(device), HCQT().to(device)
t0 = time.perf_counter()
features = hcqt.with_context(batch["audio"], config.CONTEXT_N_SAMPLES)     # (4, 8, 264, T)
loss = train.total_loss(train.losses(model(features), batch, cfg), cfg.loss_weights)
loss.backward()
print(f"one step on 4 windows of {len(data.pieces)} pack clips: loss {loss.item():.3f}, "
      f"features {tuple(features.shape)}, {time.perf_counter() - t0:.2f} s", flush=True)
EOF
pids=()
for cfg in "$@"; do
    name=$(basename "$cfg" .json)
    timeout "${BURST_LIMIT_S:-540}" "$PYTHON" -m fasolfa.train "$cfg" --no-progress > "$OUT/$name.log" 2>&1 &
    pids+=($!)
done
while true; do
    sleep "${BURST_REPORT_S:-60}"
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    for cfg in "$@"; do
        run=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['run_dir'])" "$cfg")
        echo "$(date +%T) $(basename "$cfg" .json): $(tail -n 1 "$run/log.csv" 2>/dev/null | cut -d, -f1-5,13,14)"
    done
    [ $alive = 1 ] || break
done
for pid in "${pids[@]}"; do wait "$pid"; echo "run $pid exited with $?"; done
for cfg in "$@"; do tail -n 5 "$OUT/$(basename "$cfg" .json).log"; done
runs=()
for cfg in "$@"; do runs+=("$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['run_dir'])" "$cfg")"); done
tar czf "$OUT/runs.tgz" "${runs[@]}" && ls -la "$OUT"
