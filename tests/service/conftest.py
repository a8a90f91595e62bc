from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from slack_hitl.service.app import SlackHitl
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import CHANNEL, SIGNING_SECRET, CallbackReceiver, served, settings_for


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        running.add_channel(CHANNEL, "approvals")
        yield running


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as running:
        yield running


@dataclass
class Running:
    """An in-process service: the SlackHitl, its URL, and people who click through it."""

    hitl: SlackHitl
    url: str
    emulator: SlackEmulator

    def user(self, user_id: str, name: str) -> SlackTestUser:
        return SlackTestUser(self.emulator, f"{self.url}/slack/interactions", SIGNING_SECRET, user_id, name)


@pytest.fixture
async def service(emulator: SlackEmulator, sqlite_url: str) -> AsyncIterator[Running]:
    async with SlackHitl.from_settings(settings_for(emulator, sqlite_url)) as hitl, served(hitl.app) as url:
        yield Running(hitl, url, emulator)
