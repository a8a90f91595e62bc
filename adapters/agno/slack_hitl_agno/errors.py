"""Errors of the Agno adapter, each naming what to fix."""

from __future__ import annotations

from slack_hitl import SlackHitlError


class NotPaused(SlackHitlError, ValueError):
    """The run given to ``pause_to_approval`` is not paused on anything a person can decide."""


class AgnoResumeError(SlackHitlError, RuntimeError):
    """The paused Agno run could not be continued; the approval stays retryable."""
