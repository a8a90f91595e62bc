"""What the service tests share: the service as a real process or in the test's loop, and a callback receiver.

``ServeProcess`` runs ``slack-hitl serve`` (the console script) as a subprocess configured by
environment variables; ``served`` runs an ASGI app under uvicorn in the test's event loop;
``CallbackReceiver`` is a small HTTP server in a thread that records every POST and answers
as scripted (status, content type, chunks with delays).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from slack_hitl import Confirmation, InputField, Question
from slack_hitl.service.serving import AppServer
from slack_hitl.service.settings import Settings, load_settings
from slack_hitl.testing.emulator import BackgroundServer, EmulatedMessage, SlackEmulator, listening_socket
from slack_hitl.testing.harness import LOOPBACK_CALLBACKS
from slack_hitl.testing.slack_user import block_text

SLACK_HITL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "slack-hitl"
SIGNING_SECRET = "service-test-signing-secret"
API_TOKEN = "service-test-api-token-0123456789"
CALLBACK_SECRET = "callback-secret-of-the-receiver"
CHANNEL = "C0APPROVALS"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def auth(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_env(slack_api_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``slack-hitl serve`` against the Slack at ``slack_api_url``: quick retries and sweeps."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "SLACK_HITL_"))
    }  # nothing of the runner's own Slack settings leaks in
    env.update(
        SLACK_BOT_TOKEN="xoxb-service-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        SLACK_HITL_DATABASE_URL=database_url,
        SLACK_HITL_API_TOKEN=API_TOKEN,
        SLACK_HITL_SWEEP_INTERVAL_SECONDS="0.3",
        SLACK_HITL_RETRY_BACKOFF_SECONDS="0.3",
        SLACK_HITL_LOG_LEVEL="info",
        SLACK_HITL_CALLBACK_ALLOWED_HOSTS=LOOPBACK_CALLBACKS,  # the receivers listen on loopback
    )
    env.update(extra)
    return env


def settings_for(emulator: SlackEmulator, database_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process ``SlackHitl`` against ``emulator`` (field names, not variable names)."""
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-service-test",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": emulator.base_url,
        "database_url": database_url,
        "api_token": API_TOKEN,
        "sweep_interval_seconds": 0.3,
        "retry_backoff_seconds": 0.3,
        "callback_allowed_hosts": LOOPBACK_CALLBACKS,
    }
    values.update(overrides)
    return load_settings(**values)


async def db_upgrade(database_url: str) -> subprocess.CompletedProcess[str]:
    """``slack-hitl db upgrade`` of ``database_url``, as an operator runs it before ``serve``."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(SLACK_HITL), "db", "upgrade", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


class ServeProcess:
    """``slack-hitl serve`` as a subprocess; its log goes to a file shown when a test fails."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, cwd: Path | None = None, args: Sequence[str] = ()
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.interactions_url = f"{self.url}/slack/interactions"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(SLACK_HITL), "serve", "--port", str(self.port), *args],
            env=env,
            cwd=cwd or log_path.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"serve did not answer /healthz within {timeout} s:\n{self.log()}")

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a deploy stops it; the exit status once it has stopped."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self.process.wait, timeout)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], log_path: Path, *, args: Sequence[str] = ()) -> AsyncIterator[ServeProcess]:
    server = ServeProcess(env, log_path, args=args)
    try:
        await server.wait_ready()
        yield server
    except BaseException:
        print(server.log())  # pytest shows it with the failure
        raise
    finally:
        server.kill()


@contextlib.asynccontextmanager
async def served(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in the test's event loop (so it shares the test's store and engine); yields its URL."""
    sock = listening_socket("127.0.0.1", 0)
    server = AppServer(uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan))
    try:
        await server.start(sockets=[sock])
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await server.stop()
        sock.close()


# -- the callback receiver --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one POST: status, content type, body chunks and a pause before each."""

    status: int = 200
    content_type: str = "text/plain"
    chunks: Sequence[str] = ()
    delay: float = 0.0


@dataclass
class ReceivedCall:
    body: bytes
    headers: dict[str, str]


@dataclass
class CallbackReceiver:
    """A local HTTP server that records each POST and answers with the next scripted ``Answer`` (the last repeats)."""

    answers: list[Answer] = field(default_factory=lambda: [Answer()])
    calls: list[ReceivedCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = BackgroundServer(Starlette(routes=[Route("/hook", self._receive, methods=["POST"])]))

    @property
    def url(self) -> str:
        return f"{self._server.url}/hook"

    def __enter__(self) -> CallbackReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def received(self) -> list[ReceivedCall]:
        with self._lock:
            return list(self.calls)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.calls.append(ReceivedCall(body, {k.lower(): v for k, v in request.headers.items()}))
            answer = self.answers[min(len(self.calls), len(self.answers)) - 1]

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in answer.chunks:
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                yield chunk.encode()

        if answer.status >= 300 or not answer.chunks:
            if answer.delay:
                await asyncio.sleep(answer.delay)
            return Response("".join(answer.chunks), status_code=answer.status, media_type=answer.content_type)
        return StreamingResponse(chunks(), status_code=answer.status, media_type=answer.content_type)


# -- what approvals look like ----------------------------------------------------------------


def release_rows() -> list[dict[str, Any]]:
    """Four rows as API JSON, kinds given three ways: explicit, by flag, by fields/questions."""
    return [
        {"id": "deploy", "title": "deploy billing to prod", "requires_confirmation": True},
        {
            "id": "size",
            "title": "choose the size",
            "fields": [InputField(name="replicas", type="integer", min_value=1, max_value=10).model_dump(mode="json")],
        },
        {
            "id": "tone",
            "kind": "user_feedback",
            "title": "release notes",
            "questions": [
                Question(name="tone", question="Which tone?", options=("formal", "casual")).model_dump(mode="json")
            ],
        },
        {
            "id": "purge",
            "title": "purge the CDN",
            "confirmation": Confirmation(reason="required_on_reject").model_dump(mode="json"),
            "kind": "confirmation",
        },
    ]


async def open_over_api(url: str, receiver: CallbackReceiver, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Open an approval of ``rows`` through the service at ``url``, its decisions called back to ``receiver``."""
    async with httpx.AsyncClient(base_url=url, headers=auth()) as api:
        answer = await api.post(
            "/v1/approvals",
            json={
                "channel": CHANNEL,
                "title": "Release billing 2.3",
                "requirements": rows,
                "callback": {"url": receiver.url, "secret": CALLBACK_SECRET},
                "metadata": {"run_id": "run-7"},
            },
        )
    assert answer.status_code == 201, answer.text
    return answer.json()


def thread_texts(emulator: SlackEmulator, channel: str, ts: str) -> list[str]:
    """What each reply in a thread says (its text, or its blocks' text)."""
    return [reply.text or message_text(reply) for reply in emulator.thread(channel, ts)]


def message_text(message: EmulatedMessage) -> str:
    return "\n".join(block_text(block) for block in message.blocks)


async def eventually(check: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        await asyncio.sleep(interval)


# -- a PostgreSQL cluster of the test's own ----------------------------------------------------

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class OwnPostgres:
    """A PostgreSQL 15 cluster of the test's own, on a free port, that the test may stop and start
    (the shared cluster is never stopped). Runs as the ``postgres`` user when the tests run as root,
    since PostgreSQL refuses to run as root."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="slack-hitl-pg-"))
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(POSTGRES_BIN / tool), *args]
        if os.geteuid() == 0:
            # runuser lives in /usr/sbin or /sbin, which a PATH like CI's (/usr/bin:/bin) leaves out.
            runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or "runuser"
            command = [runuser, "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
