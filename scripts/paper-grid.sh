#!/usr/bin/env bash
# The paper-size comparison on the embedded toy world (issue 13, item 6): 64 images x 8 epochs = 512 feedback,
# 64 evaluation images per epoch, seeds 0-4, one Ray task per run on every local core (or a cluster: pass
# --address). Seed by seed, so that an interrupted grid has complete seeds; re-running resumes every run where it
# stopped and reuses finished ones. Then: hero-bench report runs/paper-grid --out docs/results/paper-grid
#   main:      hero, d3po-style, sd-pretrained on the six toy tasks
#   K steps:   hero with every denoising step trained (ddpo.timestep_selection=all) at the paper's lr 3e-4,
#              and at the released code's lr 1e-3 (scripts/paper-grid-lora.yaml), the candidate LoRA settings;
#              the LoRA alone at that setting: hero-random-noise (trained and evaluated on N(0, I) noise)
# SEEDS="1 2" narrows the seeds; MAIN_ONLY=1 runs the main three methods only (what the 4x claim and the paired
# differences to pretrained and d3po-style need), leaving the K-step settings for later.
set -euo pipefail
OUT=${OUT:-runs/paper-grid}
TASKS=toy-hand,toy-blue-circle,toy-black-cat,toy-narcissus,toy-mountain,toy-safety
COMMON=(--budget 512 --batch 64 --eval-n 64 --executor ray --run-cpus 1 --out "$OUT" "$@")
for seed in ${SEEDS:-0 1 2 3 4}; do
  hero-bench run --task "$TASKS" --method hero,d3po-style,sd-pretrained --seed-start "$seed" --seeds 1 "${COMMON[@]}"
  [ -n "${MAIN_ONLY:-}" ] && continue
  hero-bench run --task "$TASKS" --method hero --sweep timestep_selection=all --seed-start "$seed" --seeds 1 "${COMMON[@]}"
  hero-bench run --config scripts/paper-grid-lora.yaml --task "$TASKS" --seed-start "$seed" --seeds 1 "${COMMON[@]}"
  hero-bench run --config scripts/paper-grid-lora.yaml --method hero-random-noise --task "$TASKS" \
      --seed-start "$seed" --seeds 1 "${COMMON[@]}"
done
