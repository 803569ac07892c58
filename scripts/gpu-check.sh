#!/usr/bin/env bash
# The GPU check (`hero-bench gpu-check`): one HERO and one d3po-style epoch on an SD v1.5-shaped pipeline with
# random weights (configs shipped in hero_bench/data/arch/), timed per stage, with peak GPU memory and the
# sampler/pipeline ratio. On CUDA: paper size (64 images, 50 steps, 512x512, K=5) in bf16 and fp16, then every
# method's run loop on CUDA (a tiny toy grid). Without CUDA: the same code at toy size (a dry run). Extra
# arguments go to `hero-bench gpu-check` (see --help).
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
"$PY" -m hero_bench.cli gpu-check "$@"
# Then the run loop itself on CUDA: every method, a tiny toy grid, `--device cuda` in fp32 and fp16 (the toy
# model otherwise stays on the CPU). A device mix-up in any method's code fails its run here.
if "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    RUNS=$(mktemp -d)
    for DTYPE in fp32 fp16; do
        "$PY" -m hero_bench.cli run --task toy-mountain \
            --method hero,hero-binary,d3po-style,dreambooth,ddpo-reward,sd-enhanced,sd-pretrained \
            --budget 8 --batch 4 --eval-n 4 --steps 6 --k-steps 2 --device cuda --dtype "$DTYPE" --out "$RUNS/$DTYPE"
    done
    # Model oracles, judges and ddpo-reward's reward model follow the run onto the GPU.
    "$PY" -m hero_bench.cli run --task toy-mountain --method hero,ddpo-reward --oracle clip --judge clip \
        --budget 8 --batch 4 --eval-n 4 --steps 6 --k-steps 2 --device cuda --out "$RUNS/clip"
    # A run checkpointed on the GPU resumes on the CPU; the toy model trains on CUDA and its UNet stage resumes on
    # the CPU (both tests are skipped where torch sees no GPU).
    if "$PY" -c "import pytest" 2>/dev/null; then
        "$PY" -m pytest -q -p no:cacheprovider -o addopts="" tests/test_devices.py \
            tests/test_toy_model.py::test_toy_training_on_a_gpu_saves_a_pipeline_and_a_gpu_checkpoint_resumes_on_the_cpu
    else
        echo "pytest is not installed here: tests/test_devices.py and tests/test_toy_model.py (GPU checkpoints" \
            "resumed on the CPU, toy training on CUDA) not run"
    fi
fi
