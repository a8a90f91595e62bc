"""Fixtures for the emulator's own tests: anyio on asyncio, and the shipped pytest plugin."""

import pytest

from slack_hitl.testing.pytest_plugin import slack_emulator, slack_user_factory

__all__ = ["slack_emulator", "slack_user_factory"]


@pytest.fixture
def anyio_backend() -> str:
    # slack_sdk's AsyncWebClient runs on aiohttp, which needs asyncio.
    return "asyncio"
