#!/usr/bin/env bash
# The project's virtual environment, exactly as uv.lock pins it (the core, every adapter, the test tools).
#
# uv is taken from PATH when it is there. Otherwise it is installed into a private virtual
# environment of its own (never into the system Python's site-packages, which Debian's and
# Ubuntu's Python refuse: PEP 668), so this works on any Python 3.11+ with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
uv_home="${XDG_CACHE_HOME:-$HOME/.cache}/slack-hitl/uv-$UV_VERSION"

uv_bin=$(command -v uv || true)
if [ -z "$uv_bin" ]; then
    uv_bin="$uv_home/bin/uv"
    if [ ! -x "$uv_bin" ]; then
        echo "installing uv $UV_VERSION (the project's package manager) into $uv_home"
        python3 -m venv --clear "$uv_home" || {
            echo "python3 -m venv failed: install your Python's venv module (Debian, Ubuntu: apt install python3-venv)" >&2
            exit 1
        }
        "$uv_home/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
fi
# Trust the certificates the machine trusts (a proxy's own CA included), as curl and pip do,
# not only the set built into uv.
UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" "$uv_bin" sync --frozen --quiet
