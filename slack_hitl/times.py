"""Moments in UTC: every time slack_hitl stores or shows is an aware UTC datetime."""

from __future__ import annotations

import datetime as dt
from typing import overload


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def aware(moment: dt.datetime) -> dt.datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """``moment`` with a time zone; a naive one is taken to be UTC already (as SQLite stores it)."""
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment
