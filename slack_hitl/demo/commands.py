"""``slack-hitl demo``: the console on embedded defaults, or ``--script`` for a headless scripted session."""

from __future__ import annotations

import argparse
import asyncio
import sys

from slack_hitl.demo.defaults import DEFAULT_DEMO_DATABASE_URL, DEFAULT_PORT

DESCRIPTION = (
    "Start a local console that looks like a Slack channel, on embedded defaults: a SQLite file, "
    "an emulated Slack and the real slack_hitl service. A sample agent pauses on rows of all four "
    "kinds; clicking sends the signed requests Slack would send."
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to the ``slack-hitl`` command."""
    demo = subparsers.add_parser("demo", help="a local Slack-like console with a sample agent", description=DESCRIPTION)
    demo.add_argument("--host", default="127.0.0.1", help="where the console listens (default: 127.0.0.1)")
    demo.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"the console's port (default: {DEFAULT_PORT}, or a free one when it is taken; 0 for any free port)",
    )
    demo.add_argument(
        "--database-url",
        default=DEFAULT_DEMO_DATABASE_URL,
        help=f"where decisions are stored (default: {DEFAULT_DEMO_DATABASE_URL}, a file in this directory)",
    )
    demo.add_argument(
        "--script",
        action="store_true",
        help="instead of the console, decide every row of a sample headless and print the decision trace",
    )
    demo.set_defaults(run=run_demo)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def run_demo(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from slack_hitl.demo.script import run_script
    from slack_hitl.demo.serve import PortUnavailable, serve_console
    from slack_hitl.demo.session import DemoDatabaseInUse

    try:
        if args.script:
            return asyncio.run(run_script(args.database_url, sys.stdout))
        asyncio.run(serve_console(args.host, args.port, args.database_url, sys.stdout))
    except (DemoDatabaseInUse, PortUnavailable) as refused:
        print(f"slack-hitl demo: {refused}", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"slack-hitl demo: cannot use the database {args.database_url}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    print("slack-hitl demo: stopped", file=sys.stderr)
    return 0
