"""Markdown and plain user text turned into Slack mrkdwn that cannot inject mentions or links.

Slack reads ``<...>`` as a mention, a channel, a broadcast (``<!here>``) or a disguised link,
and ``&`` starts an entity. Escaping ``&``, ``<`` and ``>`` in everything a user wrote is what
keeps a title like ``<!channel> <https://evil|click>`` from pinging people or hiding a link;
the renderer also marks text objects ``verbatim`` so Slack does not auto-parse ``@here``.
"""

from __future__ import annotations

import re

from slack_hitl.slack.documented_limits import slack_length, slack_prefix

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

_FENCE = re.compile(r"```(?:[\w+-]*\n)?(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
_INLINE = re.compile(
    r"!?\[(?P<label>[^\]\n]*)\]\((?P<url>[^)\s]+)\)"  # [text](url) and ![alt](url)
    r"|\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|__(?P<bold2>[^_\n]+?)__"
    r"|~~(?P<strike>[^~\n]+?)~~"
    r"|(?<![*\w])\*(?P<italic>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![*\w])"
)
_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$", re.IGNORECASE)
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def escape(text: str) -> str:
    """``text`` with ``&``, ``<`` and ``>`` escaped, safe to put into mrkdwn as it is."""
    return text.translate(_ESCAPES)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) collapsed to one space, trimmed."""
    return " ".join(text.split())


def cut(text: str, limit: int, mark: str = "…") -> str:
    """``text`` unchanged if it fits in ``limit`` characters, else its start followed by ``mark``.

    Characters are counted as Slack counts them (UTF-16 code units, see ``slack_length``), and
    a character is never split: an emoji that would not fit whole is left out.
    """
    if limit < len(mark):
        raise ValueError(f"limit {limit} leaves no room for the mark {mark!r}")
    # The common case first, without a call: a render cuts hundreds of texts, mostly short
    # ASCII ones (benchmarks/bench_interactions.py measures the re-renders).
    if len(text) <= limit and (text.isascii() or slack_length(text) <= limit):
        return text
    room = limit - slack_length(mark)
    if room < 0:
        raise ValueError(f"limit {limit} leaves no room for the mark {mark!r}")
    return slack_prefix(text, room) + mark


def escape_cut(text: str, limit: int, mark: str = "…") -> str:
    """``escape(text)`` cut to ``limit`` characters like ``cut_mrkdwn``, escaping no more than can show."""
    # Escaping only lengthens text, so characters past limit + 1 can never be shown.
    return cut_mrkdwn(escape(text[: limit + 1]), limit, mark)


def escape_line(text: str, limit: int, mark: str = "…") -> str:
    """User text on one line, escaped for mrkdwn and cut to ``limit`` characters."""
    return escape_cut(one_line(clip_source(text, limit, mark)), limit, mark)


def plain_line(text: str, limit: int, mark: str = "…") -> str:
    """User text on one line for a plain_text object, cut to ``limit`` characters."""
    return cut(one_line(clip_source(text, limit, mark)), limit, mark)


def clip_source(text: str, limit: int, mark: str = "…") -> str:
    """The start of long source text, enough to fill ``limit`` characters after conversion, marked if clipped."""
    window = 2 * limit  # conversions shrink markup (``**x**`` -> ``*x*``) by less than half
    return text if len(text) <= window else text[:window] + mark


def cut_mrkdwn(text: str, limit: int, mark: str = "…") -> str:
    """Like ``cut``, but never leaves half an entity (``&am``) or half a ``<...>`` token behind."""
    if len(text) <= limit and (text.isascii() or slack_length(text) <= limit):  # as in cut
        return text
    head = cut(text, limit, mark)[: -len(mark) or None]
    opened = head.rfind("<")
    if opened > head.rfind(">"):
        head = head[:opened]
    head = _PARTIAL_ENTITY.sub("", head)
    return head + mark


_CODE_FENCE = "```"


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, none lost: split between lines where it can,
    never inside an entity or a ``<...>`` token, and a code block split across pieces is closed at
    the end of one and opened again at the start of the next."""
    room = limit - 2 * (len(_CODE_FENCE) + 1)  # a piece may close a code block and the next reopen it
    if room < 16:
        raise ValueError(f"limit {limit} is too small to split mrkdwn into")
    segments: list[str] = []
    for line in text.split("\n"):
        while len(line) > room:
            head = cut_mrkdwn(line, room, mark="") or line[:room]
            segments.append(head)
            line = line[len(head) :]
        segments.append(line)
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for segment in segments:
        if current and size + 1 + len(segment) > room:
            pieces.append("\n".join(current))
            current, size = [], 0
        size += len(segment) + (1 if current else 0)
        current.append(segment)
    pieces.append("\n".join(current))
    fenced: list[str] = []
    inside = False
    for piece in pieces:
        start = f"{_CODE_FENCE}\n{piece}" if inside else piece
        inside = start.count(_CODE_FENCE) % 2 == 1
        fenced.append(f"{start}\n{_CODE_FENCE}" if inside else start)
    return fenced


def to_mrkdwn(markdown: str) -> str:
    """Slack mrkdwn for (CommonMark-ish) ``markdown`` written by a user or an agent.

    Headings become bold lines, ``**bold**`` becomes ``*bold*``, ``*italic*`` becomes
    ``_italic_``, ``~~x~~`` becomes ``~x~``, bullets become ``•``, ``[text](url)`` becomes a
    Slack link only for http(s) URLs (others stay as written text), code is kept verbatim.
    Everything is escaped, so no mention, broadcast or link can be smuggled in.
    """
    pieces: list[str] = []
    position = 0
    for match in _FENCE.finditer(markdown):
        pieces.append(_convert_prose(markdown[position : match.start()]))
        pieces.append("```" + escape(match.group(1).strip("\n")) + "```")
        position = match.end()
    pieces.append(_convert_prose(markdown[position:]))
    return "".join(pieces)


def _convert_prose(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _INLINE_CODE.finditer(text):
        pieces.append(_convert_inline(text[position : match.start()]))
        pieces.append(escape(match.group(0)))
        position = match.end()
    pieces.append(_convert_inline(text[position:]))
    return "".join(pieces)


def _convert_inline(text: str) -> str:
    text = _HEADING.sub(lambda m: "**" + m.group(1).replace("*", "") + "**", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    pieces: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        pieces.append(escape(text[position : match.start()]))
        pieces.append(_inline_token(match))
        position = match.end()
    pieces.append(escape(text[position:]))
    return "".join(pieces)


def _inline_token(match: re.Match[str]) -> str:
    if match.group("url") is not None:
        label, url = match.group("label"), match.group("url")
        if not _SAFE_URL.match(url):
            return escape(match.group(0))
        shown = escape(label.replace("|", "¦")).strip() or escape(url)
        return f"<{escape(url)}|{shown}>"
    if match.group("bold") is not None:
        return f"*{escape(match.group('bold'))}*"
    if match.group("bold2") is not None:
        return f"*{escape(match.group('bold2'))}*"
    if match.group("strike") is not None:
        return f"~{escape(match.group('strike'))}~"
    return f"_{escape(match.group('italic'))}_"
