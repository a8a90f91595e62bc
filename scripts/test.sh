#!/usr/bin/env bash
# The whole test suite: the type checker first, then unit, integration against real PostgreSQL
# and Chromium, the Slack emulator end to end, the agent frameworks, and a real Airflow.
set -euo pipefail
cd "$(dirname "$0")/.."
# mypy, configured in pyproject.toml (slack_hitl/ and adapters/): a type error fails the run.
.venv/bin/mypy
export SLACK_HITL_TEST_POSTGRES_URL="${SLACK_HITL_TEST_POSTGRES_URL:-postgresql://postgres:postgres@127.0.0.1:5432/test}"
# Every Airflow version with a constraints file (3.1.8 and 3.3.2), each in its own venv under
# ~/.cache/slack-hitl/airflow-VERSION: the Airflow end-to-end tests run against each of them.
export SLACK_HITL_AIRFLOW_VERSIONS="${SLACK_HITL_AIRFLOW_VERSIONS:-$(ls adapters/airflow/constraints/airflow-*.in | sed 's/.*airflow-//; s/\.in$//' | sort -V | paste -sd' ')}"
scripts/services.sh
export OPENAI_AGENTS_DISABLE_TRACING=1
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
