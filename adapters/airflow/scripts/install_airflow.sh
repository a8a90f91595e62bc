#!/usr/bin/env bash
# Installs a real Apache Airflow into its own virtual environment for the
# end-to-end tests. Airflow pins its own SQLAlchemy and friends, so it cannot
# share the project's venv; the adapter only talks to it over HTTP.
#
# Usage: install_airflow.sh            (venv at $SLACK_HITL_AIRFLOW_VENV or
#                                       $HOME/.cache/slack-hitl/airflow-3.1)
# Idempotent: does nothing when the venv already holds the pinned versions.
set -euo pipefail

AIRFLOW_VERSION="${SLACK_HITL_AIRFLOW_VERSION:-3.1.8}"
PROVIDER_STANDARD_VERSION="${SLACK_HITL_AIRFLOW_PROVIDER_STANDARD_VERSION:-1.21.0}"
VENV="${SLACK_HITL_AIRFLOW_VENV:-$HOME/.cache/slack-hitl/airflow-3.1}"
PYTHON="${SLACK_HITL_AIRFLOW_PYTHON:-python3}"

installed_version() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

if [[ -x "$VENV/bin/airflow" ]] \
    && [[ "$(installed_version apache-airflow)" == "$AIRFLOW_VERSION" ]] \
    && [[ "$(installed_version apache-airflow-providers-standard)" == "$PROVIDER_STANDARD_VERSION" ]]; then
    echo "Airflow $AIRFLOW_VERSION already installed in $VENV"
    exit 0
fi

started=$(date +%s)
mkdir -p "$(dirname "$VENV")"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# No constraints file: it lives on GitHub, and CI only reaches the package index.
"$VENV/bin/python" -m pip install --quiet \
    "apache-airflow==$AIRFLOW_VERSION" \
    "apache-airflow-providers-standard==$PROVIDER_STANDARD_VERSION"
"$VENV/bin/airflow" version >/dev/null
echo "Installed Airflow $AIRFLOW_VERSION into $VENV in $(( $(date +%s) - started )) s"
