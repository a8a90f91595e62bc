"""Pytest fixtures for testing a Slack app against the emulator.

Enable them in your ``conftest.py``::

    pytest_plugins = ["slack_hitl.testing.pytest_plugin"]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser


class SlackUserFactory(Protocol):
    """Builds `SlackTestUser`s acting in the test's emulator."""

    def __call__(
        self,
        interactions_url: str,
        signing_secret: str,
        user_id: str = "U0TESTER",
        user_name: str = "tester",
        team_id: str | None = None,
    ) -> SlackTestUser: ...


@pytest.fixture
def slack_emulator() -> Iterator[SlackEmulator]:
    """A running `SlackEmulator`, fresh for each test and stopped after it."""
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def slack_user_factory(slack_emulator: SlackEmulator) -> SlackUserFactory:
    """Make people who interact with the app through `slack_emulator`."""

    def make_user(
        interactions_url: str,
        signing_secret: str,
        user_id: str = "U0TESTER",
        user_name: str = "tester",
        team_id: str | None = None,
    ) -> SlackTestUser:
        return SlackTestUser(slack_emulator, interactions_url, signing_secret, user_id, user_name, team_id)

    return make_user
