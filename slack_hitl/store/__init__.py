"""Durable state behind the engine: SQLite (the embedded default) or PostgreSQL, by URL.

``Store`` is the entry point (``await Store.open(url)``); ``SlackMessages`` keeps the Slack
publisher's records in the same database. The modules, one concept each:

- ``core``: the ``Store`` (approvals, rows, resumes and leases, expiry, the log);
- ``decide``: decisions by group commit, the resume CAS the last one wins;
- ``changes``: change of mind, a decision (or vote) withdrawn while the approval is open;
- ``votes``: a quorum row's votes, each person counted once, the vote that reaches a count deciding;
- ``statements``: every SQL statement of the core, written once as SQLAlchemy Core;
- ``transactions``: an operation as one transaction (a generator of statements), and the
  ``Database`` interface that runs it;
- ``database``: choosing the database from the URL; SQLAlchemy's (PostgreSQL, SQLite in memory);
- ``sqlite_file``: a SQLite file, each transaction one hop to a thread of its own;
- ``sqlite``: SQLite's connection settings and write lock; ``writers``: urgent writers first;
- ``cache``: requirements and adapters, which never change; ``records``: records to ``Approval``;
- ``schema``: the core's tables; ``slack_messages``: where approvals are shown in Slack;
- ``wakeups``: how a process tells the workers there is work (NOTIFY, a FIFO, or in-process).
"""

from slack_hitl.store.changes import ChangeResult
from slack_hitl.store.core import RowTarget, Store
from slack_hitl.store.database import database_url
from slack_hitl.store.decide import DecideCommand, DecideResult, RowState
from slack_hitl.store.slack_messages import PostedPart, SlackMessages
from slack_hitl.store.votes import VoteResult

__all__ = [
    "ChangeResult",
    "DecideCommand",
    "DecideResult",
    "PostedPart",
    "RowState",
    "RowTarget",
    "SlackMessages",
    "Store",
    "VoteResult",
    "database_url",
]
