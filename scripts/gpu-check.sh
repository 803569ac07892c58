#!/usr/bin/env bash
# The GPU check (`hero-bench gpu-check`): one HERO and one d3po-style epoch on an SD v1.5-shaped pipeline with
# random weights (configs shipped in hero_bench/data/arch/), timed per stage, with peak GPU memory and the
# sampler/pipeline ratio. On CUDA: paper size (64 images, 50 steps, 512x512, K=5) in bf16 and fp16. Without
# CUDA: the same code at toy size (a dry run). Extra arguments go to `hero-bench gpu-check` (see --help).
#
# A lent GPU machine has no network and its own python3 with torch, transformers, peft and accelerate but
# (as of 2026-11) without diffusers, pydantic and open_clip's BPE file. Fetch those as wheels here first:
#   pip download --dest .wheels --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 diffusers==0.42.1 pydantic==2.14.4 pydantic-core==2.50.5 \
#       annotated-types==0.8.0 typing-inspection==0.4.5 open_clip_torch==3.3.0
# then carry `.wheels` with the call and run `WHEELS=.wheels bash scripts/gpu-check.sh --out $OUT/gpu-check.json`.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if [ -n "${WHEELS:-}" ]; then
    "$PY" -m pip install -q --no-index --no-deps --find-links "$WHEELS" "$WHEELS"/*.whl
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'no CUDA: dry run')"
exec "$PY" -m hero_bench.cli gpu-check "$@"
