"""Test Slack apps without Slack: a local Web API emulator and a person who clicks.

Point the real slack_sdk clients at `SlackEmulator.base_url`, let a `SlackTestUser`
click the buttons and fill the modals your app rendered, then inspect what Slack
would show. `HitlHarness` runs all of slack_hitl against the emulator for end-to-end
tests. Pytest fixtures live in ``slack_hitl.testing.pytest_plugin``.
"""

from slack_hitl.testing.emulator import (
    STREAMING_DISABLED_ERROR,
    BackgroundServer,
    CallRecord,
    EmulatedMessage,
    EmulatedUser,
    EmulatedUserGroup,
    EmulatedView,
    EphemeralMessage,
    InvalidViewAckError,
    SlackEmulator,
    ThreadStatus,
    listening_socket,
)
from slack_hitl.testing.harness import HitlHarness
from slack_hitl.testing.recording import RecordingPublisher
from slack_hitl.testing.slack_user import (
    AckDeadlineExceededError,
    AmbiguousElementError,
    ClientValidationError,
    ElementNotFoundError,
    RenderedButton,
    SlackTestUser,
    SlackTestUserError,
)

__all__ = [
    "STREAMING_DISABLED_ERROR",
    "AckDeadlineExceededError",
    "AmbiguousElementError",
    "BackgroundServer",
    "CallRecord",
    "ClientValidationError",
    "ElementNotFoundError",
    "EmulatedMessage",
    "EmulatedUser",
    "EmulatedUserGroup",
    "EmulatedView",
    "EphemeralMessage",
    "HitlHarness",
    "InvalidViewAckError",
    "RecordingPublisher",
    "RenderedButton",
    "SlackEmulator",
    "SlackTestUser",
    "SlackTestUserError",
    "ThreadStatus",
    "listening_socket",
]
