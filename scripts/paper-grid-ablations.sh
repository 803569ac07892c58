#!/usr/bin/env bash
# HERO's four ablations at the paper's size (issue 13, item 6): 64 images x 8 epochs = 512 feedback, 64
# evaluation images per epoch, the paper preset, on the tasks where full HERO gains most, seed by seed, into the
# same folder as the main grid (scripts/paper-grid.sh), so that one report holds HERO, its ablations and the
# baselines on the same seeds and evaluation noises:
#   hero-binary        reward 1 for good/best, 0 otherwise (no embedding, no similarity)
#   hero-noembed       similarity to the mean of the good images on raw latents (no learned embedding)
#   hero-positives     similarity to the mean of the good images' embeddings (not to the best one)
#   hero-random-noise  N(0, I) initial noises: no feedback-guided generation (the LoRA alone)
# TASKS= and SEEDS= narrow the grid; re-running resumes every run where it stopped. Then:
#   hero-bench report runs/paper-grid --out docs/results/paper-grid/report --format md
set -euo pipefail
OUT=${OUT:-runs/paper-grid}
TASKS=${TASKS:-toy-mountain,toy-black-cat}
METHODS=hero-binary,hero-noembed,hero-positives,hero-random-noise
COMMON=(--budget 512 --batch 64 --eval-n 64 --executor ray --run-cpus 1 --out "$OUT" "$@")
for seed in ${SEEDS:-0 1 2 3 4}; do
  hero-bench run --task "$TASKS" --method "$METHODS" --seed-start "$seed" --seeds 1 "${COMMON[@]}"
done
