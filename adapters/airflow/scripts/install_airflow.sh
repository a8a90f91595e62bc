#!/usr/bin/env bash
# Installs a real Apache Airflow into its own virtual environment for the end-to-end tests,
# benchmarks and cookbook. Airflow pins its own SQLAlchemy and friends, so it cannot share the
# project's venv; the adapter only talks to it over HTTP.
#
# Usage: install_airflow.sh [VERSION]       (default 3.1.8; one of adapters/airflow/constraints/)
#
# The venv is $SLACK_HITL_AIRFLOW_VENV, or ~/.cache/slack-hitl/airflow-VERSION. What is
# installed is exactly the committed constraints file of that version for this Python
# (constraints/airflow-VERSION-pyX.Y.txt, the whole resolved set): a release uploaded after
# the tested one can never slip in. The venv is stamped with the hash of the files it was built
# from; a venv with another stamp (or none) is removed and built again, so a run after the
# constraints changed rebuilds, and a second run with the same files does nothing.
set -euo pipefail

version="${1:-${SLACK_HITL_AIRFLOW_VERSION:-3.1.8}}"
here="$(cd "$(dirname "$0")/.." && pwd)"
requirements="$here/constraints/airflow-$version.in"
venv="${SLACK_HITL_AIRFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/slack-hitl/airflow-$version}"

[[ -f "$requirements" ]] || {
    echo "no constraints for Airflow $version: see adapters/airflow/README.md, 'Adding an Airflow version'" >&2
    exit 1
}

python_version() { "$1" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null; }

# The first Python (SLACK_HITL_AIRFLOW_PYTHON, python3, then python3.X for every X that has a
# constraints file) whose version has a constraints file.
python="" constraints=""
candidates=("${SLACK_HITL_AIRFLOW_PYTHON:-python3}")
for file in "$here/constraints/airflow-$version-py"*.txt; do
    tag="${file##*-py}"
    candidates+=("python${tag%.txt}")
done
for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    file="$here/constraints/airflow-$version-py$(python_version "$candidate").txt"
    if [[ -f "$file" ]]; then
        python="$candidate" constraints="$file"
        break
    fi
done
[[ -n "$python" ]] || {
    echo "Airflow $version is pinned for Python $(ls "$here/constraints/airflow-$version-py"*.txt | sed 's/.*-py//; s/\.txt$//' | paste -sd,)" \
        "and none of those is on PATH (or set SLACK_HITL_AIRFLOW_PYTHON)" >&2
    exit 1
}

stamp="$venv/.slack-hitl-constraints"
wanted="$(cat "$requirements" "$constraints" | sha256sum | cut -d' ' -f1) $(basename "$constraints")"
if [[ -x "$venv/bin/airflow" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "Airflow $version already installed in $venv from $(basename "$constraints")"
    exit 0
fi

started=$(date +%s)
if [[ -e "$venv" ]]; then
    echo "rebuilding $venv: it was not built from $(basename "$constraints") as committed"
    rm -rf "$venv"
fi
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" -c "$constraints"
check=$("$venv/bin/airflow" version 2>&1) || { echo "$check" >&2; exit 1; }
echo "$wanted" >"$stamp"
echo "Installed Airflow $version into $venv from $(basename "$constraints") in $(($(date +%s) - started)) s"
