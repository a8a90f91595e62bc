"""Fixtures for the emulator's own tests: anyio on asyncio, the shipped pytest plugin, SDK clients."""

import pytest
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator
from slack_hitl.testing.pytest_plugin import slack_emulator, slack_user_factory

__all__ = ["slack_emulator", "slack_user_factory"]


@pytest.fixture
def anyio_backend() -> str:
    # slack_sdk's AsyncWebClient runs on aiohttp, which needs asyncio.
    return "asyncio"


@pytest.fixture
def client(slack_emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack_emulator.base_url)


@pytest.fixture
def sync_client(slack_emulator: SlackEmulator) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack_emulator.base_url)
