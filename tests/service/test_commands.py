"""The service's commands: a start that cannot succeed stops with one line naming what to fix;
``db upgrade`` and ``manifest`` print what they did. ``main`` runs in-process (it is what the
console script calls) except once, where the console script itself is run."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import yaml
from sqlalchemy import text

from slack_hitl.cli import main
from slack_hitl.service.settings import SettingsInvalid, load_settings
from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import SLACK_HITL, free_port, service_env


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """``main`` configures structlog to print to the stderr of the moment (pytest's capture of this
    test, closed afterwards): put back the configuration other tests log with."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("SLACK_"):
            monkeypatch.setenv(name, value)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_the_console_script_stops_at_once_naming_every_missing_setting(tmp_path: Path) -> None:
    started = subprocess.run(
        [str(SLACK_HITL), "serve"],
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert _one_line(started.stderr) == (
        "slack-hitl serve: SLACK_BOT_TOKEN is not set; SLACK_SIGNING_SECRET is not set; SLACK_HITL_API_TOKEN is not set"
    )
    assert list(tmp_path.iterdir()) == []  # not even the SQLite default was created


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN must be the app's bot token (it starts with xoxb-)"),
        ("SLACK_HITL_API_TOKEN", "short", "SLACK_HITL_API_TOKEN must be at least 16 characters"),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL must be an http(s) URL"),
        ("SLACK_HITL_DATABASE_URL", "mysql://db/hitl", "SLACK_HITL_DATABASE_URL names a mysql database"),
        ("SLACK_HITL_DATABASE_URL", "not a url", "SLACK_HITL_DATABASE_URL is not a database URL"),
        ("SLACK_HITL_MAX_ATTEMPTS", "0", "SLACK_HITL_MAX_ATTEMPTS is invalid: Input should be greater than or equal"),
        ("SLACK_HITL_LOG_LEVEL", "loud", "SLACK_HITL_LOG_LEVEL must be one of debug, info, warning, error"),
    ],
)
def test_an_invalid_setting_stops_the_start_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = service_env("http://127.0.0.1:9/api/", f"sqlite:///{tmp_path / 'hitl.db'}")
    _use_env(monkeypatch, {**env, name: value})
    assert main(["serve"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("slack-hitl serve: ") and named in line
    assert not (tmp_path / "hitl.db").exists()


def test_settings_come_from_a_dotenv_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_env(monkeypatch, {})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsInvalid, match="SLACK_BOT_TOKEN is not set"):
        load_settings()
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-dotenv\nSLACK_SIGNING_SECRET=s3cret\nSLACK_HITL_API_TOKEN=0123456789abcdef\n"
        "SLACK_HITL_MAX_ATTEMPTS=7\n"
    )
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-dotenv"
    assert settings.max_attempts == 7 and settings.database_url == "sqlite:///slack_hitl.db"
    assert "xoxb-from-dotenv" not in repr(settings)


def test_a_token_slack_refuses_or_an_unreachable_slack_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with SlackEmulator() as emulator:
        _use_env(monkeypatch, service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}"))
        emulator.inject_error("auth.test", "invalid_auth")
        assert main(["serve", "--port", str(free_port())]) == 2
        assert _one_line(capsys.readouterr().err) == (
            "slack-hitl serve: SLACK_BOT_TOKEN is not accepted by Slack (invalid_auth)"
        )
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    monkeypatch.setenv("SLACK_API_URL", nowhere)
    assert main(["serve", "--port", str(free_port())]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"slack-hitl serve: SLACK_API_URL {nowhere} cannot be reached: ")


def test_a_database_that_cannot_be_opened_stops_the_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    _use_env(monkeypatch, service_env("http://127.0.0.1:9/api/", f"sqlite:///{tmp_path / 'missing' / 'hitl.db'}"))
    assert main(["serve"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"slack-hitl serve: SLACK_HITL_DATABASE_URL names a SQLite file in {tmp_path / 'missing'}, "
        "a directory that does not exist"
    )
    url = f"postgresql://hitl:hunter2@127.0.0.1:{free_port()}/hitl"
    _use_env(monkeypatch, service_env("http://127.0.0.1:9/api/", url))
    assert main(["serve", "--port", str(free_port())]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("slack-hitl serve: cannot open the database postgresql://hitl:***@127.0.0.1:"), line
    assert "hunter2" not in line


@pytest.mark.postgres
def test_serve_refuses_a_postgres_database_at_an_older_schema_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with SlackEmulator() as emulator:
        _use_env(monkeypatch, service_env(emulator.base_url, postgres_url))
        assert main(["serve", "--port", str(free_port())]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "slack-hitl serve: the database schema is at revision none (no slack_hitl tables) but this "
        "slack-hitl needs 0005: run `slack-hitl db upgrade`"
    )
    assert emulator.calls_to("auth.test") == []  # stopped before talking to Slack

    async def tables() -> list[str]:
        store = await Store.open(postgres_url, create=False)
        try:
            async with store.engine.connect() as conn:
                found = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                return list(found.scalars())
        finally:
            await store.close()

    import asyncio

    assert asyncio.run(tables()) == []


def test_db_upgrade_says_what_it_did_and_refuses_a_schema_from_a_newer_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert capsys.readouterr().out.strip() == f"{url} upgraded from schema revision none to 0005"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert capsys.readouterr().out.strip() == f"{url} is at schema revision 0005, the newest; nothing to do"

    import sqlite3

    with sqlite3.connect(tmp_path / "hitl.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    assert main(["db", "upgrade", "--database-url", url]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "slack-hitl db upgrade: the database is at schema revision 0099, which this slack-hitl does not know "
        "(it needs 0005); it was upgraded by a newer slack-hitl: run that version"
    )


def test_db_upgrade_of_an_unreachable_database_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://hitl:hunter2@127.0.0.1:{free_port()}/hitl"
    assert main(["db", "upgrade", "--database-url", url]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("slack-hitl db upgrade: cannot upgrade postgresql://hitl:***@127.0.0.1:")
    assert "hunter2" not in line


def test_manifest_has_the_interactivity_url_and_only_the_scopes_slack_hitl_uses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["manifest", "--request-url", "https://hitl.example.com"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["settings"]["interactivity"] == {
        "is_enabled": True,
        "request_url": "https://hitl.example.com/slack/interactions",
    }
    assert manifest["oauth_config"]["scopes"]["bot"] == ["chat:write", "chat:write.public", "usergroups:read"]
    assert manifest["display_information"]["name"] == "Approvals"
    assert manifest["features"]["bot_user"]["display_name"] == "approvals"

    assert main(["manifest", "--request-url", "https://hitl.example.com/hooks/slack", "--format", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["settings"]["interactivity"]["request_url"] == "https://hitl.example.com/hooks/slack"

    assert main(["manifest", "--request-url", "http://localhost:8000"]) == 2
    assert "must be an https:// URL" in _one_line(capsys.readouterr().err)


def test_manifest_for_socket_mode_has_no_request_urls_and_subscribes_to_the_app_home(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["manifest", "--socket-mode"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}
    assert settings["event_subscriptions"] == {"bot_events": ["app_home_opened"]}
    assert "request_url" not in json.dumps(manifest)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["oauth_config"]["scopes"]["bot"] == ["chat:write", "chat:write.public", "usergroups:read"]

    # Over HTTP, the events go beside the interactions.
    assert main(["manifest", "--request-url", "https://hitl.example.com/hooks/slack/interactions"]) == 0
    http = yaml.safe_load(capsys.readouterr().out)["settings"]
    assert http["socket_mode_enabled"] is False
    assert http["event_subscriptions"]["request_url"] == "https://hitl.example.com/hooks/slack/events"

    # One or the other, and a clear line when neither or both.
    assert main(["manifest"]) == 2
    assert "either --request-url" in _one_line(capsys.readouterr().err)
    assert main(["manifest", "--socket-mode", "--request-url", "https://hitl.example.com"]) == 2
    assert "either --request-url" in _one_line(capsys.readouterr().err)


def test_serve_in_socket_mode_without_a_usable_app_token_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with SlackEmulator() as emulator:
        _use_env(monkeypatch, service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}"))
        assert main(["serve", "--socket-mode", "--port", str(free_port())]) == 2
        assert "SLACK_APP_TOKEN is not set" in _one_line(capsys.readouterr().err)

        monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-not-an-app-token")
        assert main(["serve", "--socket-mode", "--port", str(free_port())]) == 2
        assert "SLACK_APP_TOKEN must be an app-level token (it starts with xapp-" in _one_line(capsys.readouterr().err)
    assert emulator.calls_to("apps.connections.open") == []  # stopped before talking to Slack
    with SlackEmulator() as emulator:
        _use_env(monkeypatch, service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}"))
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-but-slack-says-no")
        emulator.inject_error("apps.connections.open", "invalid_auth")
        assert main(["serve", "--socket-mode", "--port", str(free_port())]) == 2
        assert _one_line(capsys.readouterr().err) == (
            "slack-hitl serve: SLACK_APP_TOKEN is not accepted by Slack (invalid_auth)"
        )
