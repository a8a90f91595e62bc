"""The ``slack-hitl`` command. Each surface adds its subcommands here."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from slack_hitl.demo.commands import add_commands as add_demo_commands
from slack_hitl.service.commands import add_commands
from slack_hitl.service.settings import database_url_from_env


def _traces(args: argparse.Namespace) -> int:
    from slack_hitl.errors import UnknownApproval
    from slack_hitl.store import Store
    from slack_hitl.traces import export_traces

    async def collect() -> str:
        store = await Store.open(args.database_url, create=False)
        try:
            return "".join(
                [
                    chunk
                    async for chunk in export_traces(
                        store, fmt=args.format, status=args.status, approval_id=args.approval
                    )
                ]
            )
        finally:
            await store.close()

    try:
        text = asyncio.run(collect())
    except UnknownApproval as error:
        print(f"slack-hitl traces: {error}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slack-hitl", description="Human-in-the-loop approvals in Slack.")
    commands = parser.add_subparsers(dest="command", required=True)
    traces = commands.add_parser("traces", help="export every approval and its decisions (the decision trace)")
    traces.add_argument("--database-url", default=database_url_from_env(), help="default: $SLACK_HITL_DATABASE_URL")
    traces.add_argument("--format", choices=["jsonl", "markdown"], default="jsonl")
    traces.add_argument("--status", help="only approvals with this status")
    traces.add_argument("--approval", help="only this approval id")
    traces.add_argument("--output", "-o", help="write to this file instead of standard output")
    traces.set_defaults(run=_traces)
    add_commands(commands)
    add_demo_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30), logger_factory=structlog.PrintLoggerFactory(sys.stderr)
    )
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
