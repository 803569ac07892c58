#!/usr/bin/env bash
# The README's first command: install into .venv, then show the embedded toy world end to end:
# generated images with the simulated oracle's verdicts, then HERO against every baseline on one toy task
# (same seed, budget and judge; a CPU-sized budget), and the comparison report built from those runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-venv.sh .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
OUT=${OUT:-out/quickstart}
.venv/bin/hero-bench generate --task toy-black-cat --n 16 --seed 0 --out "$OUT/generated"
.venv/bin/hero-bench run --task toy-black-cat \
    --method hero,d3po-style,dreambooth,ddpo-reward,sd-enhanced,sd-pretrained \
    --seeds 1 --budget 64 --batch 32 --eval-n 32 --out "$OUT/runs"
.venv/bin/hero-bench report "$OUT/runs" --out "$OUT/report"
echo "generated images and verdicts: $OUT/generated (contact_sheet.png, verdicts.csv)"
echo "run folders and results table: $OUT/runs (results.csv)"
echo "comparison report:             $OUT/report/report.html (tables/, plots/, samples/ beside it)"
