"""Errors of the OpenAI Agents SDK adapter; each says what to do about it."""

from __future__ import annotations

from slack_hitl import SlackHitlError


class UnsupportedInterruption(SlackHitlError, ValueError):
    """An interruption of the run cannot become a row (no call id, unreadable arguments...)."""


class RunStateMismatch(SlackHitlError):
    """The stored run state and the approval's rows do not name the same tool calls."""


class HumanAnswerMissing(SlackHitlError, LookupError):
    """A tool answered by a person ran without that person's answer (it was approved outside slack_hitl)."""
