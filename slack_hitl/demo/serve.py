"""Serve the console: bind its port, start the demo session, open the first sample, print the URL, run until stopped."""

from __future__ import annotations

import asyncio
import socket
from typing import TextIO

import uvicorn

from slack_hitl.demo.console import build_console_app
from slack_hitl.demo.defaults import DEFAULT_PORT
from slack_hitl.demo.session import DemoSession
from slack_hitl.errors import SlackHitlError
from slack_hitl.service.serving import STOP_SIGNALS, AppServer
from slack_hitl.testing.emulator import listening_socket


class PortUnavailable(SlackHitlError, OSError):
    """The console cannot listen where it was asked to."""


def bind_console_socket(host: str, port: int | None) -> socket.socket:
    """A listening socket for the console: ``port``, or 8800 falling back to a free port when none is given."""
    if port is None:
        try:
            return _bind(host, DEFAULT_PORT)
        except OSError:
            return _bind_or_explain(host, 0)
    return _bind_or_explain(host, port)


def _bind_or_explain(host: str, port: int) -> socket.socket:
    try:
        return _bind(host, port)
    except OSError as error:
        raise PortUnavailable(
            f"cannot listen on {host}:{port} ({error.strerror or error}); choose another --port, or 0 for any free one"
        ) from None


def _bind(host: str, port: int) -> socket.socket:
    sock = listening_socket(host, port)
    try:
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def console_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = {"0.0.0.0": "127.0.0.1", "::": "localhost"}.get(host, host)
    if ":" in shown and shown != "localhost":
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


async def serve_console(host: str, port: int | None, database_url: str, out: TextIO) -> None:
    """Run the demo console until SIGINT or SIGTERM."""
    sock = bind_console_socket(host, port)
    try:
        async with DemoSession(database_url) as session:
            await session.open_sample("release")
            # The demo takes Ctrl-C itself: the console stops first, then the session in order.
            server = AppServer(uvicorn.Config(build_console_app(session), log_level="warning", lifespan="off"))
            await server.start(sockets=[sock])
            _announce(out, console_url(sock), database_url, session.retired)
            await _until_stopped(server)
            await server.stop()
    finally:
        sock.close()


async def _until_stopped(server: AppServer) -> None:
    """Until SIGINT or SIGTERM, or the console's server stops by itself."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        waits = {asyncio.create_task(stop.wait()), asyncio.create_task(server.stopped())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _announce(out: TextIO, url: str, database_url: str, retired: int) -> None:
    lines = [
        f"slack_hitl demo console: {url}",
        "  A release agent paused on 5 decisions in #approvals: open the URL and decide them.",
        "  Every click is a signed Slack request to the real slack_hitl service; Slack itself is emulated.",
        f"  Decisions are stored in {database_url}; see them with:",
        f"    slack-hitl traces --database-url {database_url} --format markdown",
    ]
    if retired:
        lines.append(f"  Cancelled {retired} approvals an earlier demo run left open (their messages are gone).")
    lines.append("  Press Ctrl-C to stop.")
    print("\n".join(lines), file=out, flush=True)
