"""``serve``'s worker processes as real processes: they do the resumes and re-renders, are restarted
when they die, stop when serve is gone, and ``SLACK_HITL_WORKERS=0`` does everything in serve."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from slack_hitl.service.settings import SettingsInvalid, load_settings
from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import (
    CHANNEL,
    SIGNING_SECRET,
    Answer,
    CallbackReceiver,
    ServeProcess,
    eventually,
    message_text,
    open_over_api,
    service_env,
    serving,
)
from tests.service.test_serve import user

pytestmark = pytest.mark.anyio

ROW = [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def worker_pids(server: ServeProcess) -> list[int]:
    """The pids of the workers serve says it started, in order."""
    return [int(pid) for pid in re.findall(r"worker_started\s+pid=(\d+)", _ANSI.sub("", server.log()))]


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child serve has not reaped yet is a zombie: gone, as far as work goes.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


async def approve_and_wait_for_the_resume(
    emulator: SlackEmulator, server: ServeProcess, receiver: CallbackReceiver, calls_before: int
) -> str:
    created = await open_over_api(server.url, receiver, ROW)
    ts = str(created["message_ts"])
    assert (
        await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve")
    ).status_code == 200
    await eventually(lambda: len(receiver.received()) == calls_before + 1, timeout=20)
    # The message was brought up to date by whoever resumed it: it shows the decision and the outcome.
    await eventually(lambda: "Approved." in message_text(emulator.message(CHANNEL, ts)), timeout=20)
    return str(created["id"])


async def test_the_worker_resumes_and_re_renders_and_is_restarted_when_it_dies(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    receiver.answers = [Answer(chunks=["done"]), Answer(chunks=["done again"])]
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        await eventually(lambda: len(worker_pids(server)) == 1)
        (first,) = worker_pids(server)
        approval_id = await approve_and_wait_for_the_resume(emulator, server, receiver, 0)
        store = await Store.open(env["SLACK_HITL_DATABASE_URL"], create=False)
        try:
            log = await store.decision_log(approval_id)
        finally:
            await store.close()
        # Claimed by a worker's sweep, not by the click that decided the last row.
        (claim,) = [entry for entry in log if entry["event"] == "resuming"]
        assert claim["at"] > next(entry["at"] for entry in log if entry["event"] == "decided")

        os.kill(first, signal.SIGKILL)
        await eventually(lambda: len(worker_pids(server)) == 2, timeout=20)
        assert "worker_exited" in server.log()
        second = worker_pids(server)[1]
        assert second != first and running(second)
        await approve_and_wait_for_the_resume(emulator, server, receiver, 1)

        assert await server.stop() == 0
        assert not running(second)
    assert len(receiver.received()) == 2


async def test_workers_stop_by_themselves_when_serve_is_killed(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}", SLACK_HITL_WORKERS="2")
    async with serving(env, tmp_path / "serve.log") as server:
        await eventually(lambda: len(worker_pids(server)) == 2)
        pids = worker_pids(server)
        assert all(running(pid) for pid in pids)
        server.kill()  # SIGKILL: serve cannot stop them
        await eventually(lambda: not any(running(pid) for pid in pids), timeout=15)


async def test_without_workers_serve_resumes_and_re_renders_itself(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    receiver.answers = [Answer(chunks=["done"])]
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}", SLACK_HITL_WORKERS="0")
    async with serving(env, tmp_path / "serve.log") as server:
        await approve_and_wait_for_the_resume(emulator, server, receiver, 0)
        assert worker_pids(server) == []
        assert await server.stop() == 0


def test_workers_cannot_share_an_in_memory_database() -> None:
    in_memory = {
        "slack_bot_token": "xoxb-1",
        "slack_signing_secret": SIGNING_SECRET,
        "api_token": "x" * 16,
        "database_url": "sqlite://",
    }
    with pytest.raises(SettingsInvalid, match="SLACK_HITL_WORKERS must be 0 with an in-memory SQLite database"):
        load_settings(**in_memory, workers=1)
    assert load_settings(**in_memory, workers=0).workers == 0
