#!/usr/bin/env bash
# The main job, offline: set up, then tour the registry, stepping and composition.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
seqzoo list models
python examples/tour.py
