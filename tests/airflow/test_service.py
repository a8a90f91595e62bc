"""The bridge service's command line: missing settings are named, not dumped as a traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_service_names_every_missing_environment_variable(tmp_path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK", "AIRFLOW"))}
    done = subprocess.run(
        [sys.executable, "-m", "slack_hitl_airflow.service"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "fix these environment variables" in done.stderr
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_HITL_AIRFLOW_CHANNEL",
        "AIRFLOW_URL",
        "AIRFLOW_PASSWORD",
    ):
        assert name in done.stderr
    assert "Traceback" not in done.stderr
