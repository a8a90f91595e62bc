"""The shipped pytest plugin, enabled the way a user enables it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def test_the_plugin_is_enabled_with_pytest_plugins(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["slack_hitl.testing.pytest_plugin"]\n')
    (tmp_path / "test_with_plugin.py").write_text(
        textwrap.dedent(
            """
            from slack_sdk import WebClient

            def test_fixtures(slack_emulator, slack_user_factory):
                client = WebClient(token="xoxb-t", base_url=slack_emulator.base_url)
                ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
                assert slack_emulator.message("C1", ts).text == "hi"
                user = slack_user_factory("http://127.0.0.1:9/slack/interactions", "secret", user_id="U1")
                assert user.user_id == "U1"
            """
        )
    )

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        # Only the plugin under test: the venv's other plugins would just slow the run down.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
