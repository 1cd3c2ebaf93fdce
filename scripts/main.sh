#!/usr/bin/env bash
# The main job, offline: set up, forecast held-out real series zero-shot, train and evaluate
# an LSTM on the bundled sunspot series, forecast with it and with the bundled zoo model,
# generate text, and tour the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export HF_HUB_OFFLINE=1  # everything below is local: built-in data and the bundled zoo
run_dir="runs/lstm-sunspots"
rm -rf "$run_dir"
set -x
# zero-shot: forecast held-out real series (yearly to hourly) with no training
seqzoo forecast benchmarks/data/series.csv.gz --horizon 12 --output runs/zero-shot.csv --plot runs/zero-shot.png
python -c "import seqzoo; print(seqzoo.forecast([112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118], horizon=6).median.round(1))"
seqzoo list models
seqzoo train --model lstm --dataset sunspots --epochs 30 --run-dir "$run_dir"
seqzoo evaluate "$run_dir"
seqzoo predict "$run_dir" --steps 10 --output runs/forecast.csv --plot runs/forecast.png
seqzoo zoo list
seqzoo predict lstm-sunspots --steps 10
seqzoo generate charlstm-pydoc --prompt "def " --length 200 --seed 0
python examples/tour.py
