"""Block Kit violations, collected and worded as Slack words them, each with its JSON pointer."""

from __future__ import annotations

from collections.abc import Iterable

from slack_hitl.slack.documented_limits import TEXT_OBJECT, slack_length


class Problems:
    """The problems found in one message's blocks or one view, in the order they were found."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.messages.append(f"{message} [json-pointer:{pointer}]")

    def max_length(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and slack_length(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def max_items(self, items: object, limit: int, pointer: str) -> None:
        if isinstance(items, list) and len(items) > limit:
            self.add(f"no more than {limit} items allowed", pointer)

    def text_object(
        self,
        obj: object,
        pointer: str,
        *,
        limit: int = TEXT_OBJECT,
        types: Iterable[str] = ("plain_text", "mrkdwn"),
    ) -> None:
        """A text object of one of ``types`` whose text is 1 to ``limit`` characters."""
        if not isinstance(obj, dict):
            self.add("must provide an object", pointer)
            return
        allowed = tuple(types)
        if obj.get("type") not in allowed:
            self.add(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add("missing required field: text", pointer)
        elif not text:
            self.add("must be more than 0 characters", f"{pointer}/text")
        else:
            self.max_length(text, limit, f"{pointer}/text")


PLAIN = ("plain_text",)
"""The text object types of fields that take plain text only (labels, titles, buttons...)."""
