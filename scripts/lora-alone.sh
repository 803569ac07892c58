#!/usr/bin/env bash
# The LoRA-alone comparison of issue 13 at the paper's size (64 images x 8 epochs, 64 evaluation images),
# seed by seed, one Ray task per run on every local core: hero-binary's LoRA trained on N(0, I) noise
# (scripts/lora-alone-binary.yaml) against sd-pretrained on the same evaluation noises. Re-running resumes.
# Then: hero-bench report runs/lora-alone --out docs/results/lora-alone --format md
set -euo pipefail
OUT=${OUT:-runs/lora-alone}
TASKS=toy-mountain,toy-safety,toy-black-cat,toy-hand,toy-blue-circle,toy-narcissus
COMMON=(--budget 512 --batch 64 --eval-n 64 --executor ray --run-cpus 1 --out "$OUT" "$@")
for seed in ${SEEDS:-0 1 2 3 4}; do
  hero-bench run --task "$TASKS" --method sd-pretrained --seed-start "$seed" --seeds 1 "${COMMON[@]}"
  hero-bench run --config scripts/lora-alone-binary.yaml --task "$TASKS" --seed-start "$seed" --seeds 1 "${COMMON[@]}"
done
