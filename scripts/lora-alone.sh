#!/usr/bin/env bash
# The LoRA-alone comparison of issue 13 at the paper's size (64 images x 8 epochs, 64 evaluation images),
# seed by seed, one Ray task per run on every local core: hero-binary's LoRA trained on N(0, I) noise
# (scripts/lora-alone-binary.yaml, or CONFIG=another file) against sd-pretrained on the same evaluation noises.
# Re-running resumes; finished runs are skipped. TASKS= and SEEDS= narrow the grid.
# Then: hero-bench report runs/lora-alone --out docs/results/lora-alone --format md
set -euo pipefail
OUT=${OUT:-runs/lora-alone}
TASKS=${TASKS:-toy-mountain,toy-safety,toy-black-cat,toy-hand,toy-blue-circle,toy-narcissus}
CONFIG=${CONFIG:-scripts/lora-alone-binary.yaml}
COMMON=(--budget 512 --batch 64 --eval-n 64 --executor ray --run-cpus 1 --out "$OUT" "$@")
for seed in ${SEEDS:-0 1 2 3 4}; do
  hero-bench run --task "$TASKS" --method sd-pretrained --seed-start "$seed" --seeds 1 "${COMMON[@]}"
  hero-bench run --config "$CONFIG" --task "$TASKS" --seed-start "$seed" --seeds 1 "${COMMON[@]}"
done
