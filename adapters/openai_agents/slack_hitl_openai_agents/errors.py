"""Errors of the OpenAI Agents SDK adapter; each says what to do about it.

A pause that cannot become an approval raises ``slack_hitl.PauseNotUsable`` and a resume that
cannot go on ``slack_hitl.ResumeNotPossible``, as in every adapter.
"""

from __future__ import annotations

from slack_hitl import SlackHitlError


class HumanAnswerMissing(SlackHitlError, LookupError):
    """A tool answered by a person ran without that person's answer (it was approved outside slack_hitl)."""
