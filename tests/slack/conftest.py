"""The Slack tests' app: the service under uvicorn against the emulator, resuming with ``ScriptedAdapter``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import ScriptedAdapter


@pytest.fixture
async def hitl() -> AsyncIterator[HitlHarness]:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as harness:
        yield harness
