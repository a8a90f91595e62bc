"""The service's configuration: ``Settings`` read from the environment, ``ServiceConfig`` built from them.

Every setting is an environment variable (a ``.env`` file in the working directory works too);
the README's configuration table lists them. ``load_settings`` turns whatever is missing or
invalid into one ``SettingsInvalid`` whose message names each offending variable, so
``slack-hitl serve`` can stop with one clear line.

``ServiceConfig`` is what the composition root (``slack_hitl.service.app.SlackHitl``) builds a
running slack_hitl from: plain values, read from nowhere. ``serve`` and the worker make it from
the settings; the test harness and the Airflow bridge make their own.

Importing this module loads neither the command line, the web stack nor the demo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from slack_hitl.errors import SlackHitlError
from slack_hitl.service.callback_hosts import CallbackHosts
from slack_hitl.slack.client import SLACK_API_URL

if TYPE_CHECKING:
    from slack_hitl.slack.streaming import StreamLimits

MIN_API_TOKEN_LENGTH = 16
DATABASE_URL_VARIABLE = "SLACK_HITL_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///slack_hitl.db"
SAFETY_SWEEP_SECONDS = 10.0
"""The default pace of the safety sweep: workers are woken when there is work, so it only catches lost wake-ups."""


def database_url_from_env() -> str:
    """The database the environment names (``SLACK_HITL_DATABASE_URL``), else the SQLite default."""
    return os.environ.get(DATABASE_URL_VARIABLE, DEFAULT_DATABASE_URL)


def shown_database_url(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def is_sqlite_url(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@dataclass(frozen=True)
class ServiceConfig:
    """What a running slack_hitl is built from; the defaults are ``serve``'s.

    ``api_token`` None serves no ``/v1`` API. ``channel`` is where approvals opened without one
    are posted. The secrets stay out of its ``repr``. With ``upgrade_postgres``, a PostgreSQL database is brought to the newest schema
    at start, as a SQLite file always is; ``serve`` leaves that to ``slack-hitl db upgrade``
    because several processes share it, while a process that owns its database (the test
    harness, the Airflow bridge) upgrades it itself.
    """

    slack_bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    slack_api_url: str = SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    api_token: str | None = field(default=None, repr=False)
    channel: str | None = None
    max_attempts: int = 3
    retry_backoff_seconds: float = 5.0
    max_concurrent_resumes: int = 32
    webhook_timeout_seconds: float = 30.0
    callback_allowed_hosts: str = ""
    """Internal hosts callbacks may reach: comma-separated names, addresses or networks (CIDR)."""
    lease_seconds: float = 60.0
    sweep_interval_seconds: float = SAFETY_SWEEP_SECONDS
    """Seconds between the safety sweeps (expiry, retries, take-over, and in a worker out-of-date messages):
    they catch what a lost wake-up did not announce. Timed work (an expiry, a retry) is done when due."""
    stale_sweep_interval_seconds: float = 30.0
    """Seconds between looks for out-of-date messages other processes left, in a process without workers."""
    shutdown_grace_seconds: float = 10.0
    update_window_seconds: float = 0.4
    """How long the publisher gathers changes before re-rendering a message."""
    render_retry_seconds: float = 2.0
    """The publisher's first pause after a failed render (it doubles)."""
    stream_limits: StreamLimits | None = None
    upgrade_postgres: bool = False
    slack_app_token: str | None = field(default=None, repr=False)
    """The app-level token (``xapp-``, scope ``connections:write``): with it, the web process holds a
    Socket Mode connection and Slack needs no public URL."""
    socket_ping_interval_seconds: float = 5.0
    """slack_sdk's Socket Mode ping interval: also how soon a dropped socket is noticed and replaced."""

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite_url(self.database_url)


class SettingsInvalid(SlackHitlError, ValueError):
    """Some settings are missing or invalid; the message names each environment variable."""


class Settings(BaseSettings):
    """What ``slack-hitl serve`` (and ``SlackHitl.from_settings``) needs to run."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr = Field(validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(SLACK_API_URL, validation_alias="SLACK_API_URL")
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=DATABASE_URL_VARIABLE)
    api_token: SecretStr = Field(validation_alias="SLACK_HITL_API_TOKEN")
    max_attempts: int = Field(3, ge=1, le=100, validation_alias="SLACK_HITL_MAX_ATTEMPTS")
    retry_backoff_seconds: float = Field(5.0, gt=0, le=3600, validation_alias="SLACK_HITL_RETRY_BACKOFF_SECONDS")
    sweep_interval_seconds: float = Field(
        SAFETY_SWEEP_SECONDS, gt=0, le=600, validation_alias="SLACK_HITL_SWEEP_INTERVAL_SECONDS"
    )
    lease_seconds: float = Field(60.0, ge=1, le=3600, validation_alias="SLACK_HITL_LEASE_SECONDS")
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=600, validation_alias="SLACK_HITL_SHUTDOWN_GRACE_SECONDS")
    webhook_timeout_seconds: float = Field(30.0, gt=0, le=600, validation_alias="SLACK_HITL_WEBHOOK_TIMEOUT_SECONDS")
    callback_allowed_hosts: str = Field("", validation_alias="SLACK_HITL_CALLBACK_ALLOWED_HOSTS")
    log_level: str = Field("info", validation_alias="SLACK_HITL_LOG_LEVEL")
    max_concurrent_resumes: int = Field(32, ge=1, le=10_000, validation_alias="SLACK_HITL_MAX_CONCURRENT_RESUMES")
    workers: int = Field(1, ge=0, le=32, validation_alias="SLACK_HITL_WORKERS")
    """Worker processes ``serve`` runs beside its web process; 0 does everything in the web process."""
    socket_mode: bool = Field(False, validation_alias="SLACK_HITL_SOCKET_MODE")
    """Receive Slack's interactions and events over Socket Mode (``serve --socket-mode``)."""
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")

    @field_validator("slack_app_token")
    @classmethod
    def _is_an_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError(
                "must be an app-level token (it starts with xapp-; Basic Information > App-Level Tokens, "
                "scope connections:write)"
            )
        return value

    @model_validator(mode="after")
    def _socket_mode_has_its_token(self) -> Settings:
        if self.socket_mode and self.slack_app_token is None:
            raise ValueError(
                "SLACK_APP_TOKEN is not set: Socket Mode needs the app-level token (xapp-..., scope connections:write)"
            )
        return self

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _lists_hosts(cls, value: str) -> str:
        CallbackHosts.parse(value)  # ValueError names the entry
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _is_a_bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be the app's bot token (it starts with xoxb-)")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _is_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty (Basic Information > App Credentials > Signing Secret)")
        return value

    @field_validator("api_token")
    @classmethod
    def _is_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_API_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_API_TOKEN_LENGTH} characters (e.g. the output of `openssl rand -hex 32`)"
            )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _is_an_http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else f"{value}/"

    @field_validator("database_url")
    @classmethod
    def _is_a_known_database(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError("is not a database URL (sqlite:///path.db or postgresql://user@host/db)") from None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"names a {backend} database, but slack_hitl supports only sqlite and postgresql")
        path = make_url(value).database
        if backend == "sqlite" and path and path != ":memory:" and not Path(path).parent.is_dir():
            raise ValueError(f"names a SQLite file in {Path(path).parent}, a directory that does not exist")
        return value

    @field_validator("log_level")
    @classmethod
    def _is_a_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @model_validator(mode="after")
    def _workers_can_share_the_database(self) -> Settings:
        from slack_hitl.store.database import in_memory

        if self.workers and in_memory(self.database_url):
            raise ValueError(
                "SLACK_HITL_WORKERS must be 0 with an in-memory SQLite database: worker processes cannot share it"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite_url(self.database_url)

    def service_config(self) -> ServiceConfig:
        """What the composition root needs of these settings (``workers`` and ``log_level`` are the command's)."""
        return ServiceConfig(
            slack_bot_token=self.slack_bot_token.get_secret_value(),
            signing_secret=self.slack_signing_secret.get_secret_value(),
            slack_api_url=self.slack_api_url,
            database_url=self.database_url,
            api_token=self.api_token.get_secret_value(),
            max_attempts=self.max_attempts,
            retry_backoff_seconds=self.retry_backoff_seconds,
            max_concurrent_resumes=self.max_concurrent_resumes,
            webhook_timeout_seconds=self.webhook_timeout_seconds,
            callback_allowed_hosts=self.callback_allowed_hosts,
            lease_seconds=self.lease_seconds,
            sweep_interval_seconds=self.sweep_interval_seconds,
            shutdown_grace_seconds=self.shutdown_grace_seconds,
            slack_app_token=self.slack_app_token.get_secret_value()
            if self.socket_mode and self.slack_app_token is not None
            else None,
        )


LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (``overrides`` win, by field name); ``SettingsInvalid`` if any is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsInvalid(describe_problems(error)) from None


def describe_problems(error: ValidationError) -> str:
    """One line naming every offending environment variable and what is wrong with it."""
    problems = []
    for problem in error.errors():
        if not problem["loc"]:  # a rule across settings names its variables itself
            problems.append(str(problem["msg"]).removeprefix("Value error, "))
            continue
        name = str(problem["loc"][0])
        if problem["type"] == "missing":
            problems.append(f"{name} is not set")
        else:
            reason = str(problem["msg"]).removeprefix("Value error, ")
            problems.append(f"{name} {reason}" if problem["type"] == "value_error" else f"{name} is invalid: {reason}")
    return "; ".join(problems)
