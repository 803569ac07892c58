#!/usr/bin/env bash
# The README's test command: create/refresh .venv, install the project with its test extras, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Browser tests (human labelling page, HTML report) drive Debian's Chromium through Playwright.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
bash scripts/install-venv.sh '.[test]'
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
# One worker per core (pytest-xdist); the Ray tests share one worker (`xdist_group`). `-n 0` runs in one process.
.venv/bin/python -m pytest -q -n auto --dist loadgroup "$@"
