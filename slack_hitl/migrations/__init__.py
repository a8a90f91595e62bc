"""The schema's history as Alembic migrations, driven from the package: no alembic.ini needed.

``upgrade`` brings a database to the newest revision and ``check`` says whether it is there.
Both take a synchronous SQLAlchemy connection inside a transaction, so the async store runs
them with ``run_sync``. A database created before migrations existed (the tables, but no
``alembic_version``) is adopted: it is stamped at the first revision, whose schema it has,
then upgraded.

To write a new revision after changing ``slack_hitl/store/schema.py``::

    from alembic import command
    from slack_hitl.migrations import alembic_config
    command.revision(alembic_config(), message="what changed", rev_id="0002")

then write its ``upgrade()`` (autogenerate needs a live connection in ``config.attributes``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect, text

from slack_hitl.errors import SlackHitlError

INITIAL_REVISION = "0001"
UPGRADE_COMMAND = "slack-hitl db upgrade"
_ADVISORY_LOCK = 0x51AC_4171
"""PostgreSQL advisory lock key: processes upgrading one database at once take turns."""


class SchemaMismatch(SlackHitlError):
    """The database's schema revision is not the one this version of slack_hitl needs."""

    def __init__(self, current: str | None, head: str, message: str) -> None:
        self.current = current
        self.head = head
        super().__init__(message)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for slack_hitl's migrations; ``connection`` is what env.py migrates."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision: the schema this version of slack_hitl reads and writes."""
    head = _scripts().get_current_head()
    assert head is not None, "slack_hitl ships at least one migration"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; ``None`` when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _too_new(current: str, head: str) -> SchemaMismatch:
    return SchemaMismatch(
        current,
        head,
        f"the database is at schema revision {current}, which this slack-hitl does not know "
        f"(it needs {head}); it was upgraded by a newer slack-hitl: run that version",
    )


def check(connection: Connection) -> None:
    """Return if the database is at the head revision; raise ``SchemaMismatch`` naming what to run if not."""
    current, head = current_revision(connection), head_revision()
    if current == head:
        return
    if current is not None and not _known(current):
        raise _too_new(current, head)
    shown = current or "none (no slack_hitl tables)"
    raise SchemaMismatch(
        current,
        head,
        f"the database schema is at revision {shown} but this slack-hitl needs {head}: run `{UPGRADE_COMMAND}`",
    )


def upgrade(connection: Connection) -> str:
    """Bring the database to the head revision (a no-op when it is there); returns the head."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    current, head = current_revision(connection), head_revision()
    if current == head:
        return head
    if current is not None and not _known(current):
        raise _too_new(current, head)
    config = alembic_config(connection)
    if current is None and inspect(connection).has_table("approvals"):
        command.stamp(config, INITIAL_REVISION)  # tables from before migrations: they are revision 0001
    command.upgrade(config, "head")
    return head


__all__ = [
    "INITIAL_REVISION",
    "UPGRADE_COMMAND",
    "SchemaMismatch",
    "alembic_config",
    "check",
    "current_revision",
    "head_revision",
    "upgrade",
]
