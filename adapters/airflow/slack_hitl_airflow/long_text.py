"""Texts too long for a row: the row shows their start and says the rest is in the thread.

Slack shows at most 3,000 characters in a section, and a row shares them with its title and a
line of context. A longer body (an LLM's output, a list of tool calls) is cut at a line break
here, the cut is said in the row itself, and the whole text goes to the approval's thread
(``Publisher.post_note``), so nothing is cut silently.
"""

from __future__ import annotations

from dataclasses import dataclass

ROW_TEXT_CHARS = 2_400
"""Characters of a body a row shows before the rest goes to the thread."""
SLACK_TEXT_BOX = 3_000
"""The most a Slack text box (plain_text_input) holds: a longer value cannot be edited in a modal."""
IN_THREAD = "_…the rest is cut here; the whole text is in this message's thread._"
_FENCE = "```"


@dataclass(frozen=True)
class RowText:
    shown: str
    """What the row shows (Markdown)."""
    whole: str | None = None
    """The whole text, when ``shown`` is only its start: it belongs in the thread."""


def row_text(markdown: str, limit: int = ROW_TEXT_CHARS) -> RowText:
    """``markdown`` as a row shows it: whole when it fits, else its start (ending at a line break)."""
    text = markdown.strip()
    if len(text) <= limit:
        return RowText(shown=text)
    head = text[:limit]
    if "\n" in head:
        head = head[: head.rindex("\n")]
    if head.count(_FENCE) % 2:  # do not leave a code block open in the row
        head += f"\n{_FENCE}"
    return RowText(shown=f"{head}\n{IN_THREAD}", whole=text)
