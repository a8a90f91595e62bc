"""The service's subcommands of ``slack-hitl``: ``serve``, ``db upgrade`` and ``manifest``.

A start that cannot succeed (a setting missing or invalid, a database at an older schema,
a token Slack refuses) stops with one line on stderr naming what to fix, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from slack_hitl.errors import SlackHitlError
from slack_hitl.service.settings import (
    LOG_LEVELS,
    Settings,
    database_url_from_env,
    load_settings,
    shown_database_url,
)

EXIT_MISCONFIGURED = 2


def _fail(command: str, message: str) -> int:
    print(f"slack-hitl {command}: {message}", file=sys.stderr)
    return EXIT_MISCONFIGURED


def _configure_logging(level: int) -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,  # else every log call binds a new logger
    )


# -- serve ------------------------------------------------------------------------------------


async def _serve_until_stopped(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from slack_hitl.service.app import SlackHitl
    from slack_hitl.service.serving import AppServer, freeze_startup_objects
    from slack_hitl.service.workers import WorkerProcesses

    hitl = await SlackHitl.connect(settings, role="web" if settings.workers else "all")
    freeze_startup_objects()
    # Started once the store is open: a SQLite file has been brought to the newest schema.
    workers = WorkerProcesses(settings.workers, stop_grace_seconds=settings.shutdown_grace_seconds)
    try:
        await workers.start()
        config = uvicorn.Config(
            hitl.app,
            host=host,
            port=port,
            lifespan="on",
            log_level=settings.log_level,
            access_log=False,
            proxy_headers=False,  # slack_hitl never reads the client's address
            timeout_graceful_shutdown=max(int(settings.shutdown_grace_seconds), 1),
        )
        server = AppServer(config, stops_on_signals=True)
        await server.serve()
    finally:
        await workers.stop()
        await hitl.close()
    return 0 if server.started else 1


@contextlib.contextmanager
def _metrics_directory() -> Iterator[None]:
    """Where serve's processes write their figures for /metrics: PROMETHEUS_MULTIPROC_DIR when the
    operator set it (emptied at start), else a directory of this run's own, removed at exit."""
    from slack_hitl.metrics import MULTIPROCESS_DIR, share_between_processes

    given = os.environ.get(MULTIPROCESS_DIR)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="slack-hitl-metrics-"))
    share_between_processes(directory)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)


def _serve(args: argparse.Namespace) -> int:
    try:
        overrides = {"socket_mode": True} if args.socket_mode else {}
        settings = load_settings(**overrides)  # before the heavy imports: a misconfigured start fails at once
        _configure_logging(LOG_LEVELS[settings.log_level])
        with _metrics_directory():
            return asyncio.run(_serve_until_stopped(settings, args.host, args.port))
    except SlackHitlError as error:  # settings, schema, Slack token: each says what to fix
        return _fail("serve", str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail("serve", _database_problem(error))


# -- worker -----------------------------------------------------------------------------------


async def _work_until_stopped(settings: Settings, parent_pid: int | None) -> int:
    from slack_hitl.service.app import SlackHitl
    from slack_hitl.service.serving import freeze_startup_objects
    from slack_hitl.service.workers import until_orphaned

    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    async with SlackHitl.from_settings(settings, role="worker"):
        freeze_startup_objects()
        waits: list[asyncio.Task[Any]] = [asyncio.create_task(stopped.wait())]
        if parent_pid is not None:
            waits.append(asyncio.create_task(until_orphaned(parent_pid)))
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
    return 0


def _worker(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        _configure_logging(LOG_LEVELS[settings.log_level])
        return asyncio.run(_work_until_stopped(settings, args.parent_pid))
    except SlackHitlError as error:
        return _fail("worker", str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail("worker", _database_problem(error))


def _database_problem(error: Exception) -> str:
    first_line = f"{type(error).__name__}: {error}".splitlines()[0]
    return f"cannot open the database {shown_database_url(database_url_from_env())}: {first_line}"


# -- db upgrade -------------------------------------------------------------------------------


async def _upgrade(url: str) -> tuple[str | None, str]:
    from slack_hitl import migrations
    from slack_hitl.store import Store

    store = await Store.open(url, create=False)
    try:
        async with store.engine.connect() as conn:
            before = await conn.run_sync(migrations.current_revision)
        await store.create_schema()
        return before, migrations.head_revision()
    finally:
        await store.close()


def _db_upgrade(args: argparse.Namespace) -> int:
    shown = shown_database_url(args.database_url)
    try:
        before, head = asyncio.run(_upgrade(args.database_url))
    except SlackHitlError as error:
        return _fail("db upgrade", str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail("db upgrade", f"cannot upgrade {shown}: {type(error).__name__}: {error}".splitlines()[0])
    if before == head:
        print(f"{shown} is at schema revision {head}, the newest; nothing to do")
    else:
        print(f"{shown} upgraded from schema revision {before or 'none'} to {head}")
    return 0


# -- manifest ---------------------------------------------------------------------------------


def _manifest(args: argparse.Namespace) -> int:
    from slack_hitl.service.manifest import app_manifest, render_manifest, socket_mode_manifest

    if args.socket_mode == (args.request_url is not None):
        return _fail("manifest", "give either --request-url (Slack posts to it) or --socket-mode (no URL)")
    try:
        if args.socket_mode:
            manifest = socket_mode_manifest(name=args.name)
        else:
            manifest = app_manifest(args.request_url, name=args.name)
    except ValueError as error:
        return _fail("manifest", str(error))
    sys.stdout.write(render_manifest(manifest, args.format))
    return 0


# -- the parser -------------------------------------------------------------------------------


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve``, ``db upgrade`` and ``manifest`` to the ``slack-hitl`` command."""
    serve = commands.add_parser(
        "serve",
        help="run the service: Slack interactions, the HTTP API /v1, /healthz and the background sweeper",
        description="Configuration comes from the environment (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, "
        "SLACK_HITL_API_TOKEN, SLACK_HITL_DATABASE_URL, ...); see the README.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument(
        "--socket-mode",
        action="store_true",
        help="receive Slack's clicks and events over Socket Mode (needs SLACK_APP_TOKEN, xapp-...): "
        "no public URL; the same as SLACK_HITL_SOCKET_MODE=true",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker",
        help="re-render Slack messages and resume runs that the store says are due (serve starts these itself)",
        description="Configured like serve, from the environment. Run more of them, on any host that reaches "
        "the same PostgreSQL database, to share the work; see SLACK_HITL_WORKERS in the README.",
    )
    worker.add_argument("--parent-pid", type=int, help="stop when this process (serve, which sets it) is gone")
    worker.set_defaults(run=_worker)

    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="bring the schema to the newest revision (run before serve)")
    upgrade.add_argument(
        "--database-url",
        default=database_url_from_env(),
        help="default: $SLACK_HITL_DATABASE_URL, else the SQLite file slack_hitl.db",
    )
    upgrade.set_defaults(run=_db_upgrade)

    manifest = commands.add_parser("manifest", help="print the Slack app manifest to create the app with")
    manifest.add_argument(
        "--request-url",
        help="https URL Slack posts interactions to (…/slack/interactions; events go to …/slack/events)",
    )
    manifest.add_argument(
        "--socket-mode",
        action="store_true",
        help="no request URLs: slack_hitl connects to Slack (serve --socket-mode, with an app-level token)",
    )
    manifest.add_argument("--name", default="Approvals", help="the app's name in Slack (default: Approvals)")
    manifest.add_argument("--format", choices=["yaml", "json"], default="yaml")
    manifest.set_defaults(run=_manifest)
