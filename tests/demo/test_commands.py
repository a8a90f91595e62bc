"""``slack-hitl demo`` as a person types it: the scripted session, the console's port and database, bad input."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slack_hitl import Engine, Requirement, Store
from tests.demo.support import SLACK_HITL, start_demo

SCRIPT_BUDGET_SECONDS = 30.0


def demo(*args: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SLACK_HITL), "demo", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextlib.contextmanager
def port_taken(port: int) -> Iterator[None]:
    """Keep ``port`` busy (if someone else already holds it, it is busy all the same)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        yield
    finally:
        sock.close()


def test_the_scripted_session_exits_0_and_prints_every_rows_decision(tmp_path: Path) -> None:
    started = time.monotonic()
    done = demo("--script", "--database-url", f"sqlite:///{tmp_path / 'script.db'}", cwd=tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    trace = done.stdout.split("## Release agent: ship billing-api v2.4", 1)[1]
    assert "**completed**" in trace
    for line in (
        "| Run database migration 0042_add_invoices | confirmation | rejected: reject | alice |",
        "| Post the release note to #releases | confirmation | approved: approve | bob |",
        '| Deployment settings for billing-api v2.4 | user_input | answered: {"checks": ["Health endpoint", "Error budget"]',
        '| How should the release notes read? | user_feedback | answered: {"highlights": {"selected": ["The invoices API"]',
        '| Run the smoke tests on staging | external_execution | answered: {"passed": 42, "failed": 0} | bob |',
    ):
        assert line in trace, f"missing from the trace: {line}\n{done.stdout}"
    assert "Wait for tonight's backup to finish." in trace
    assert "Outcome: completed." in done.stdout
    assert took < SCRIPT_BUDGET_SECONDS, f"--script took {took:.1f} s"


@pytest.mark.anyio
async def test_the_console_falls_back_to_a_free_port_keeps_its_database_here_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    with port_taken(8800):
        running = await start_demo(cwd=tmp_path)
    try:
        assert running.url.startswith("http://127.0.0.1:") and not running.url.endswith(":8800/")
        assert "sqlite:///slack_hitl_demo.db" in "\n".join(running.banner)
        async with httpx.AsyncClient() as client:
            page = await client.get(running.url)
            assert page.status_code == 200 and "slack_hitl demo" in page.text
            state = (await client.get(f"{running.url}console/state", params={"user": "U0ALICE"})).json()
            assert state["messages"][0]["blocks"][0]["text"]["text"] == "Release agent: ship billing-api v2.4"
    finally:
        running.process.send_signal(signal.SIGTERM)
        code, stderr = await running.stop()
    assert code == 0 and "slack-hitl demo: stopped" in stderr
    assert (tmp_path / "slack_hitl_demo.db").exists()


def test_a_port_that_is_taken_is_refused_clearly_and_nothing_is_written(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = demo("--port", str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "choose another --port" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_and_databases_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    port = demo("--port", "70000", cwd=tmp_path)
    assert port.returncode == 2 and "70000 is not a port number (0-65535)" in port.stderr
    nowhere = demo("--script", "--database-url", "nonsense://x", cwd=tmp_path)
    assert nowhere.returncode == 2 and "slack-hitl demo: cannot use the database nonsense://x" in nowhere.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_a_database_holding_other_adapters_open_approvals_is_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'real.db'}"
    store = await Store.open(url)
    try:
        theirs = await Engine(store).open_approval(
            title="Real work", requirements=[Requirement(id="r", kind="confirmation", title="Ship")], adapter="airflow"
        )
    finally:
        await store.close()
    done = demo("--script", "--database-url", url, cwd=tmp_path)
    assert done.returncode == 2
    assert "holds open approvals of airflow" in done.stderr and "--database-url" in done.stderr
    store = await Store.open(url, create=False)
    try:
        assert [a.id for a in await store.list_approvals()] == [theirs.id]
    finally:
        await store.close()
