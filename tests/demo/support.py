"""What the demo tests share: the ``slack-hitl demo`` command run as a user runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

SLACK_HITL = Path(sys.executable).with_name("slack-hitl")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    """Debian's Chromium; the test fails (never skips) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium`")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(CHROMIUM)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with no background networking, driven by Playwright."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class RunningDemo:
    """A ``slack-hitl demo`` process and the console URL it printed."""

    process: asyncio.subprocess.Process
    url: str
    banner: list[str]

    async def stop(self, timeout: float = 20.0) -> tuple[int, str]:
        """Ctrl-C, as a person stops it; returns its exit code and what it printed on stderr."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(self.process.communicate(), timeout)
        return self.process.returncode or 0, stderr.decode()


async def start_demo(*args: str, cwd: Path, timeout: float = 30.0) -> RunningDemo:
    """Start ``slack-hitl demo`` with ``args`` in ``cwd`` and wait for the console URL it prints first."""
    process = await asyncio.create_subprocess_exec(
        str(SLACK_HITL),
        "demo",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode()
    except TimeoutError:
        process.kill()
        _, stderr = await process.communicate()
        raise AssertionError(f"slack-hitl demo printed no URL within {timeout} s; stderr:\n{stderr.decode()}") from None
    if "http://" not in first:
        _, stderr = await process.communicate()
        raise AssertionError(f"slack-hitl demo did not start: {first!r}\n{stderr.decode()}")
    banner = [first.rstrip("\n")]
    while not banner[-1].strip().startswith("Press Ctrl-C"):
        banner.append((await asyncio.wait_for(process.stdout.readline(), 5)).decode().rstrip("\n"))
    return RunningDemo(process, first.split("console: ", 1)[1].strip(), banner)
