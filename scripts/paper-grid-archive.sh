#!/usr/bin/env bash
# Keep the finished runs of the paper-size grid in the repository, compactly, so that the next session (or
# machine) resumes the grid instead of redoing them: results, config, labels and per-image verdicts, no images
# or weights (about 0.1 MB a run). Restore before re-running scripts/paper-grid.sh:
#   mkdir -p runs/paper-grid && cp -rn docs/results/paper-grid/runs/. runs/paper-grid/
# The grid on today's default model (Dec 2026) is archived with
#   bash scripts/paper-grid-archive.sh runs/paper-grid-v3 docs/results/paper-grid-v3/runs
# Its runs carry model.json (the weights' fingerprint), so a restored run is reused only on the same weights; the
# older archive's runs (the previous default, before model.json) are never taken for today's default.
set -euo pipefail
SRC=${1:-runs/paper-grid}
DST=${2:-docs/results/paper-grid/runs}
find "$SRC" -name done.json | while read -r done; do
  run=$(dirname "$done"); rel=${run#"$SRC"/}
  mkdir -p "$DST/$rel"
  cp "$run"/{config.json,task.json,model.json,done.json,results.csv,feedback.jsonl} "$DST/$rel/" 2>/dev/null || true
  for ev in "$run"/eval "$run"/eval_std_noise; do
    [ -d "$ev" ] || continue
    for e in "$ev"/epoch_*; do
      mkdir -p "$DST/$rel/$(basename "$ev")/$(basename "$e")"
      cp "$e"/verdicts.json "$DST/$rel/$(basename "$ev")/$(basename "$e")/" 2>/dev/null || true
    done
  done
done
echo "archived $(find "$DST" -name done.json | wc -l) finished runs under $DST"
