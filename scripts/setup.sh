#!/usr/bin/env bash
# The project's virtual environment, exactly as uv.lock pins it (the core, every adapter, the test tools).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
    echo "installing uv (the project's package manager) with pip"
    python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet
