"""What a resumed run reports while it continues: the events an adapter yields.

The Slack layer streams them into the approval's thread; the engine acts on ``NestedPause``,
``Done`` and ``Failed``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slack_hitl.requirements import Requirement


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class Status(_Event):
    """A short status under the thread, e.g. "is thinking..."; it clears when text arrives."""

    type: Literal["status"] = "status"
    text: str


class TextDelta(_Event):
    """A piece of the run's output text, streamed as it comes."""

    type: Literal["text"] = "text"
    text: str


ToolState = Literal["started", "finished", "failed", "skipped"]


class ToolProgress(_Event):
    """A tool call (or task) of the continuing run started, finished or failed."""

    type: Literal["tool"] = "tool"
    name: str
    state: ToolState = "started"
    detail: str = ""


class NestedPause(_Event):
    """The continuing run paused again: a new approval in the same thread, resumed by the same adapter."""

    type: Literal["nested_pause"] = "nested_pause"
    title: str
    requirements: tuple[Requirement, ...]
    resume_state: dict[str, Any] = Field(default_factory=dict)


class Done(_Event):
    """The continuation ended; ``output`` is what the run returned, for the trace."""

    type: Literal["done"] = "done"
    summary: str = ""
    output: Any = None


class Failed(_Event):
    """The continuation failed in a way the adapter could report; the approval becomes retryable."""

    type: Literal["failed"] = "failed"
    error: str


ContinuationEvent = Status | TextDelta | ToolProgress | NestedPause | Done | Failed
