"""Durable state behind the engine: SQLite (the embedded default) or PostgreSQL, by URL.

``Store`` is the one entry point (``await Store.open(url)``); the modules of this package are
its parts. See ``core`` for the store itself.
"""

from slack_hitl.store.core import DecideCommand, DecideResult, Store, database_url

__all__ = ["DecideCommand", "DecideResult", "Store", "database_url"]
