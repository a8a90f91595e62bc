"""Start a throwaway ``airflow standalone`` for tests, benchmarks and trying the cookbook.

Airflow lives in its own virtual environment (``scripts/install_airflow.sh``); this module runs
in the project's and only starts processes and reads files, so it imports nothing of Airflow.
Everything is local: AIRFLOW_HOME in a temporary directory, SQLite, free ports on 127.0.0.1,
the simple auth manager with the generated admin password.

    python -m slack_hitl_airflow.standalone --dags cookbook/airflow/dags
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from slack_hitl import SlackHitlError

DEFAULT_VERSION = "3.1.8"
"""The Airflow version ``install_airflow.sh`` installs when given none."""
VENV_VARIABLE = "SLACK_HITL_AIRFLOW_VENV"


class AirflowNotInstalled(SlackHitlError, RuntimeError):
    """No Airflow in the expected virtual environment."""


class AirflowDidNotStart(SlackHitlError, RuntimeError):
    """``airflow standalone`` did not become healthy in time; the message holds its last output."""


def default_venv(version: str = DEFAULT_VERSION) -> Path:
    """Where ``install_airflow.sh VERSION`` puts Airflow when ``$SLACK_HITL_AIRFLOW_VENV`` is not set."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "slack-hitl" / f"airflow-{version}"


def airflow_venv(version: str | None = None) -> Path:
    """The Airflow virtual environment of ``version`` (where ``install_airflow.sh VERSION`` puts it), or,
    when no version is asked for, ``$SLACK_HITL_AIRFLOW_VENV`` or the default version's."""
    venv = default_venv(version) if version else Path(os.environ.get(VENV_VARIABLE) or default_venv())
    if not (venv / "bin" / "airflow").exists():
        script = f"adapters/airflow/scripts/install_airflow.sh {version or ''}".strip()
        hint = f"run {script}" if version else f"set {VENV_VARIABLE} or run {script}"
        raise AirflowNotInstalled(f"no Airflow in {venv} ({hint})")
    return venv


def versions_under_test() -> list[str]:
    """The Airflow versions the end-to-end tests run against: ``$SLACK_HITL_AIRFLOW_VERSIONS`` (space
    separated), or every version with a constraints file."""
    chosen = os.environ.get("SLACK_HITL_AIRFLOW_VERSIONS", "").split()
    if chosen:
        return chosen
    constraints = Path(__file__).resolve().parents[1] / "constraints"
    found = {path.name.removeprefix("airflow-").removesuffix(".in") for path in constraints.glob("airflow-*.in")}
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AirflowStandalone:
    """One running ``airflow standalone``: its URL, admin credentials, home and log file."""

    dags_folder: Path
    plugins_folder: Path | None = None
    venv: Path = field(default_factory=airflow_venv)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    python_path: tuple[Path, ...] = ()
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="slack-hitl-airflow-")))
    port: int = field(default_factory=free_port)
    username: str = "admin"
    password: str = ""
    extra_users: tuple[str, ...] = ()
    """More simple-auth-manager users (admins); their passwords are in ``passwords`` once started."""
    passwords: dict[str, str] = field(default_factory=dict)
    started_in: float = 0.0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "standalone.log"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder or self.home / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                    f"{user}:admin" for user in (self.username, *self.extra_users)
                ),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in self.python_path)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180.0) -> AirflowStandalone:
        """Start and wait until the API answers, every component is healthy and a token can be had."""
        started = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # A session of its own, so that stop() ends every component and nothing else.
            self._process = subprocess.Popen(
                [str(self.venv / "bin" / "airflow"), "standalone"],
                cwd=self.home,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_healthy(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started
        return self

    def _wait_until_healthy(self, deadline: float) -> None:
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise AirflowDidNotStart(
                        f"airflow standalone exited with {self._process.returncode}\n{self.tail()}"
                    )
                if self._healthy(client) and self._read_password():
                    token = client.post("/auth/token", json={"username": self.username, "password": self.password})
                    if token.status_code == 201 or token.status_code == 200:
                        return
                time.sleep(0.5)
        raise AirflowDidNotStart(f"airflow standalone was not healthy in time\n{self.tail()}")

    @staticmethod
    def _healthy(client: httpx.Client) -> bool:
        try:
            health = client.get("/api/v2/monitor/health")
        except httpx.TransportError:
            return False
        if health.status_code != 200:
            return False
        components = health.json()
        wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((components.get(name) or {}).get("status") == "healthy" for name in wanted)

    def _read_password(self) -> bool:
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        try:
            passwords = json.loads(generated.read_text())
            self.passwords = {user: passwords[user] for user in (self.username, *self.extra_users)}
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return False
        self.password = self.passwords[self.username]
        return True

    def wait_for_dag(self, dag_id: str, timeout: float = 90.0) -> None:
        """Wait until the DAG processor has parsed ``dag_id`` (it is listed and has no import error)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=5.0, headers=self.auth_headers()) as client:
            while time.monotonic() < deadline:
                if client.get(f"/api/v2/dags/{dag_id}").status_code == 200:
                    return
                errors = client.get("/api/v2/importErrors").json().get("import_errors", [])
                if errors:
                    raise AirflowDidNotStart(f"the DAG files do not import: {errors}")
                time.sleep(1.0)
        raise AirflowDidNotStart(f"DAG {dag_id!r} was not parsed in {timeout:.0f} s\n{self.tail()}")

    def auth_headers(self) -> dict[str, str]:
        token = httpx.post(
            f"{self.base_url}/auth/token", json={"username": self.username, "password": self.password}, timeout=10.0
        )
        token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def tail(self, lines: int = 60) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, *, remove_home: bool = True) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process is not None:
            # `airflow standalone` exits on SIGTERM before its scheduler and the scheduler's
            # executor workers have: whatever of its session is still there is stopped for good.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if remove_home:
            shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def running_airflow(dags_folder: Path, **options: object) -> Iterator[AirflowStandalone]:
    """``airflow standalone`` for the length of a ``with`` block."""
    airflow = AirflowStandalone(dags_folder=dags_folder, **options)  # type: ignore[arg-type]
    airflow.start()
    try:
        yield airflow
    finally:
        airflow.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a throwaway airflow standalone on 127.0.0.1")
    parser.add_argument("--dags", type=Path, required=True, help="the DAGs folder")
    parser.add_argument("--plugins", type=Path, default=None, help="the plugins folder")
    parser.add_argument("--pythonpath", type=Path, action="append", default=[], help="added to Airflow's PYTHONPATH")
    parser.add_argument("--version", default=None, help="the Airflow version installed by install_airflow.sh VERSION")
    args = parser.parse_args(argv)
    airflow = AirflowStandalone(
        venv=airflow_venv(args.version),
        dags_folder=args.dags.resolve(),
        plugins_folder=args.plugins.resolve() if args.plugins else None,
        python_path=tuple(p.resolve() for p in args.pythonpath),
    )
    airflow.start()
    print(f"Airflow {airflow.base_url} user {airflow.username} password {airflow.password} home {airflow.home}")
    print(f"healthy after {airflow.started_in:.1f} s; Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        airflow.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
