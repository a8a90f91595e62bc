"""Slack's documented limits, and how Slack counts text against them: each number written once.

Numbers and pure counting functions only, no rendering logic. Both sides of the project's
tests import them: the product (``limits.py`` and the renderers that cut text to budgets)
and the emulator's Block Kit validator, the oracle the product is tested against. A number
cannot drift between them; and since the emulator's tests pin each limit with literal
boundary cases (3000 accepted, 3001 refused...), a wrong number here fails those tests
instead of agreeing with itself.

Lengths are counted in UTF-16 code units, as Slack's JavaScript clients count characters: a
character outside the Basic Multilingual Plane (most emoji) counts 2. Slack does not say
which unit its limits use, so counting UTF-16 is the conservative choice: a text within a
limit in UTF-16 units is within it in code points too. Where the sources are reports rather
than documentation, the line says so.
"""

from __future__ import annotations

import codecs

# -- messages ----------------------------------------------------------------------------------
MESSAGE_BLOCKS = 50
MESSAGE_TEXT = 4_000
"""A message's ``text``: chat.update refuses more (``msg_too_long``); keep every message under it."""
POSTED_TEXT = 40_000
"""chat.postMessage, chat.postEphemeral and response URLs cut a longer ``text`` to this and warn
(``message_truncated``) instead of refusing it (Slack changelog, "Truncating really long messages")."""
MESSAGE_BLOCKS_TEXT = 13_000
"""Total text of a message's blocks where ``msg_blocks_too_long`` starts (reported by users, not
documented; it varies with the blocks), even when each block is within its own limits."""
STREAM_TEXT = 12_000
"""``markdown_text`` of one message, streamed (chat.startStream / appendStream / stopStream) or posted."""
STREAM_SECONDS = 300.0
"""Slack closes a stream after about 5 minutes (undocumented; then ``message_not_in_streaming_state``)."""

# -- blocks ------------------------------------------------------------------------------------
TEXT_OBJECT = 3_000
"""Any text object's ``text`` (a context element's, say) unless its field has a smaller limit."""
SECTION_TEXT = 3_000
SECTION_FIELDS = 10
FIELD_TEXT = 2_000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BLOCK_ID = 255
"""Also unique within a message or view."""
INPUT_LABEL = 2_000
INPUT_HINT = 2_000

# -- elements ----------------------------------------------------------------------------------
ACTION_ID = 255
"""Also unique within its block."""
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
BUTTON_URL = 3_000
PLACEHOLDER = 150
TEXT_INPUT_LENGTH = 3_000
"""plain_text_input ``max_length`` at most (and ``min_length``); ``max_length`` at least 1."""
MAX_SELECTED_ITEMS_MIN = 1
"""A multi-select's ``max_selected_items`` at least."""

# -- options -----------------------------------------------------------------------------------
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
OPTION_GROUP_LABEL = 75
SELECT_OPTIONS = 100
"""Options of a static select (and of each of its option groups)."""
SELECT_OPTION_GROUPS = 100
CHOICE_LIST_OPTIONS = 10
"""Options of radio_buttons and checkboxes."""
OVERFLOW_OPTIONS = 5

# -- views -------------------------------------------------------------------------------------
MODAL_BLOCKS = 100
VIEW_TITLE = 24
VIEW_BUTTON = 24
"""A modal's submit and close labels."""
PRIVATE_METADATA = 3_000
CALLBACK_ID = 255
EXTERNAL_ID = 255
VIEW_BYTES = 250_000
"""The view as JSON (``view_too_large``)."""
VIEW_STACK = 3
"""Views stacked with views.push (``push_limit_reached``)."""

# -- interactivity -----------------------------------------------------------------------------
TRIGGER_SECONDS = 3.0
"""A trigger_id opens one view within this long after the interaction."""
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60


def slack_length(text: str) -> int:
    """``text``'s length as Slack's limits count it: UTF-16 code units (an emoji outside the BMP is 2)."""
    if text.isascii():  # the common case, answered without encoding
        return len(text)
    return len(_utf16(text, "surrogatepass")[0]) // 2


def slack_prefix(text: str, limit: int) -> str:
    """The longest start of ``text`` within ``limit`` UTF-16 code units, never half of a surrogate pair."""
    if limit <= 0:
        return ""
    if text.isascii():
        return text[:limit]
    units = _utf16(text[:limit], "surrogatepass")[0][: 2 * limit]
    if 0xD8 <= units[-1] <= 0xDB:  # the last unit opens a pair whose second half did not fit
        units = units[:-2]
    return _from_utf16(units, "surrogatepass")[0]


# The codec functions themselves: str.encode("utf-16-le") looks the codec up by name on every
# call, which costs more than the encoding of a short text (renders measure hundreds of them).
_utf16 = codecs.utf_16_le_encode
_from_utf16 = codecs.utf_16_le_decode


def blocks_text_length(value: object) -> int:
    """UTF-16 units of every ``text`` string inside ``value`` (what Slack's total-size check counts)."""
    if isinstance(value, list):
        return sum(blocks_text_length(item) for item in value)
    if isinstance(value, dict):
        return sum(
            slack_length(item) if key == "text" and isinstance(item, str) else blocks_text_length(item)
            for key, item in value.items()
        )
    return 0
