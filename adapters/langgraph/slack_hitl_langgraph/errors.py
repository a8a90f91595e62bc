"""Errors of the LangGraph adapter; each says what to change."""

from __future__ import annotations

from slack_hitl import SlackHitlError


class PauseNotUsable(SlackHitlError, ValueError):
    """A paused graph run cannot become an approval (no interrupts, no checkpointer, no thread id...)."""


class ResumeNotPossible(SlackHitlError, RuntimeError):
    """The decisions of an approval cannot be turned into answers for the graph."""
