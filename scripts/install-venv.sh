#!/usr/bin/env bash
# Create/refresh .venv and install the project into it; $1 is what to install ('.' or '.[test]').
# The README's two commands (scripts/quickstart.sh, scripts/test.sh) both start here.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-.}
python3 -m venv .venv
# uv installs the same pinned packages as pip, in about a third of the time (torch's CUDA build alone is about
# 5.5 GB); bytecode is compiled at install because this machine sets PYTHONDONTWRITEBYTECODE=1, so anything
# compiled on import would be compiled again by every process. uv reads PyPI, not pip's configuration: whatever
# uv cannot do (not installable, no index it can reach) falls back to pip with pip's own settings.
if ! { .venv/bin/pip install -q 'uv>=0.9' \
        && .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -e "$spec"; }; then
    echo "warning: uv could not install the project; installing with pip (slower)" >&2
    .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e "$spec"
fi
