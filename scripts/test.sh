#!/usr/bin/env bash
# The README's test command: create/refresh .venv, install the project with its test extras, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Browser tests (human labelling page, HTML report) drive Debian's Chromium through Playwright.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
python3 -m venv .venv
# uv installs the same pinned packages as pip, in about a third of the time (torch's CUDA
# build alone is about 5.5 GB); bytecode is compiled at install because this machine sets
# PYTHONDONTWRITEBYTECODE=1, so anything compiled on import would be compiled again by every process.
# Whatever uv cannot do (not installable, no index it can reach) falls back to pip with pip's own settings.
if ! { .venv/bin/pip install -q 'uv>=0.9' \
        && .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -e '.[test]'; }; then
    echo "warning: uv could not install the project; installing with pip (slower)" >&2
    .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test]'
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
# One worker per core (pytest-xdist); the Ray tests share one worker (`xdist_group`). `-n 0` runs in one process.
.venv/bin/python -m pytest -q -n auto --dist loadgroup "$@"
