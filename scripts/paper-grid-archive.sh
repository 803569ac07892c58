#!/usr/bin/env bash
# Keep the finished runs of the paper-size grid in the repository, compactly, so that the next session (or
# machine) resumes the grid instead of redoing them: results, config, labels, per-image verdicts, the secondary
# metrics a report stored per epoch (metrics.json) and the code, libraries and machine of each start
# (environment.jsonl: runs replay bit for bit only on the same CPU), no images or weights (about 0.1 MB a run). Build
# the report on SRC first (`hero-bench report SRC ...`): the images' CLIP scores are kept only if it scored them.
# Restore before re-running scripts/paper-grid.sh:
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
  cp "$run"/{config.json,task.json,model.json,environment.jsonl,done.json,results.csv,feedback.jsonl} "$DST/$rel/" \
      2>/dev/null || true
  for ev in "$run"/eval "$run"/eval_std_noise; do
    [ -d "$ev" ] || continue
    for e in "$ev"/epoch_*; do
      mkdir -p "$DST/$rel/$(basename "$ev")/$(basename "$e")"
      cp "$e"/verdicts.json "$DST/$rel/$(basename "$ev")/$(basename "$e")/" 2>/dev/null || true
      cp "$e"/metrics.json "$DST/$rel/$(basename "$ev")/$(basename "$e")/" 2>/dev/null || true
    done
  done
done
echo "archived $(find "$DST" -name done.json | wc -l) finished runs under $DST"
unscored=$(find "$SRC" -path '*/epoch_*/0000.png' | while read -r png; do
  [ -e "$(dirname "$png")/metrics.json" ] || echo x; done | wc -l)
if [ "$unscored" -gt 0 ]; then
  echo "note: $unscored evaluation folders had images but no stored metrics; their CLIP scores are not archived" \
       "(run hero-bench report $SRC first, then archive again)" >&2
fi
