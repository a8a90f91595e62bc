"""Slack's error answers, raised by method handlers and turned into response bodies by the dispatcher."""

from __future__ import annotations

from typing import Any

from slack_hitl.testing.emulator.records import JSONDict


class InvalidViewAckError(ValueError):
    """The app acknowledged a view submission with a body Slack would refuse."""


class ApiError(Exception):
    """A Web API call Slack answers with ``{"ok": false, "error": ...}`` (and any extra fields)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> JSONDict:
        return {"ok": False, "error": self.error, **self.extra}


class RateLimited(Exception):
    """A call Slack answers with HTTP 429 and ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


def invalid_arguments(*messages: str) -> ApiError:
    """``invalid_arguments`` with Slack's ``[ERROR]`` lines in ``response_metadata.messages``."""
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


def invalid_blocks(problems: list[str]) -> ApiError:
    """``invalid_blocks`` with each problem (and its JSON pointer) in ``errors`` and in the messages."""
    return ApiError(
        "invalid_blocks",
        errors=problems,
        response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
    )
