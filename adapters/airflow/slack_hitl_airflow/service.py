"""The bridge as a service: the Slack interactions endpoint, the notifier's endpoint and the poller in one app.

    slack-hitl-airflow            (or: python -m slack_hitl_airflow.service)

Settings are environment variables (a ``.env`` file in the working directory works too):

    SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET     the Slack app's bot token and signing secret
    SLACK_HITL_AIRFLOW_CHANNEL                where approvals are posted
    AIRFLOW_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD
                                              Airflow's API server and the API user that answers
    SLACK_HITL_DATABASE_URL                   sqlite:///... (default) or postgresql://...
    SLACK_HITL_AIRFLOW_USERS                  JSON: Airflow user id or name -> Slack user id
    SLACK_HITL_AIRFLOW_FOUR_EYES              true: whoever triggered a run may not decide its rows
    SLACK_HITL_NOTIFY_TOKEN                   shared with the notifier; unset: the endpoint is open
    SLACK_HITL_AIRFLOW_POLL_SECONDS, SLACK_HITL_AIRFLOW_WATCH_SECONDS, SLACK_HITL_AIRFLOW_WATCH_REVIEWS,
    SLACK_HITL_AIRFLOW_SETTLE_SECONDS, SLACK_HITL_AIRFLOW_MIN_AGE_SECONDS (3.1), SLACK_HITL_AIRFLOW_PARK_GRACE_SECONDS
    (3.3+), SLACK_HITL_AIRFLOW_FOLLOW_SECONDS, SLACK_HITL_AIRFLOW_DAG_ID_PATTERN, AIRFLOW_UI_URL, HOST, PORT
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.routing import Mount

from slack_hitl import SlackHitlError
from slack_hitl.background import BackgroundTasks
from slack_hitl.service.app import SlackHitl
from slack_hitl.service.serving import AppServer
from slack_hitl.service.settings import DATABASE_URL_VARIABLE, DEFAULT_DATABASE_URL, ServiceConfig
from slack_hitl.slack.client import SLACK_API_URL
from slack_hitl_airflow.adapter import AirflowAdapter
from slack_hitl_airflow.bridge import AirflowBridge, BridgeSettings
from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.mapping import MappingPolicy
from slack_hitl_airflow.notify import notify_route
from slack_hitl_airflow.users import UserMap


class AirflowServiceSettings(BaseSettings):
    """Everything the service reads from the environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr = Field(validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(SLACK_API_URL, validation_alias="SLACK_API_URL")
    channel: str = Field(validation_alias="SLACK_HITL_AIRFLOW_CHANNEL")
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=DATABASE_URL_VARIABLE)
    airflow_url: str = Field(validation_alias="AIRFLOW_URL")
    airflow_username: str = Field(validation_alias="AIRFLOW_USERNAME")
    airflow_password: SecretStr = Field(validation_alias="AIRFLOW_PASSWORD")
    airflow_ui_url: str | None = Field(None, validation_alias="AIRFLOW_UI_URL")
    users: dict[str, str] = Field(default_factory=dict, validation_alias="SLACK_HITL_AIRFLOW_USERS")
    notify_token: SecretStr | None = Field(None, validation_alias="SLACK_HITL_NOTIFY_TOKEN")
    poll_seconds: float = Field(10.0, gt=0, validation_alias="SLACK_HITL_AIRFLOW_POLL_SECONDS")
    watch_seconds: float = Field(1.0, gt=0, validation_alias="SLACK_HITL_AIRFLOW_WATCH_SECONDS")
    watch_reviews: bool = Field(True, validation_alias="SLACK_HITL_AIRFLOW_WATCH_REVIEWS")
    settle_seconds: float = Field(3.0, ge=0, validation_alias="SLACK_HITL_AIRFLOW_SETTLE_SECONDS")
    min_age_seconds: float = Field(5.0, ge=0, validation_alias="SLACK_HITL_AIRFLOW_MIN_AGE_SECONDS")
    park_grace_seconds: float = Field(10.0, ge=0, validation_alias="SLACK_HITL_AIRFLOW_PARK_GRACE_SECONDS")
    follow_seconds: float = Field(600.0, gt=0, validation_alias="SLACK_HITL_AIRFLOW_FOLLOW_SECONDS")
    dag_id_pattern: str | None = Field(None, validation_alias="SLACK_HITL_AIRFLOW_DAG_ID_PATTERN")
    four_eyes: bool = Field(False, validation_alias="SLACK_HITL_AIRFLOW_FOUR_EYES")
    """Whoever triggered a DAG run (mapped to Slack by SLACK_HITL_AIRFLOW_USERS) may not decide its rows."""
    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8000, validation_alias="PORT")

    def service_config(self) -> ServiceConfig:
        """slack_hitl as the bridge runs it: no ``/v1`` API, its one channel, and a database of its own
        (brought to the newest schema at start, PostgreSQL too)."""
        return ServiceConfig(
            slack_bot_token=self.slack_bot_token.get_secret_value(),
            signing_secret=self.slack_signing_secret.get_secret_value(),
            slack_api_url=self.slack_api_url,
            database_url=self.database_url,
            channel=self.channel,
            upgrade_postgres=True,
        )

    def bridge_settings(self) -> BridgeSettings:
        return BridgeSettings(
            channel=self.channel,
            settle_seconds=self.settle_seconds,
            poll_interval=self.poll_seconds,
            watch_interval=self.watch_seconds,
            watch_reviews=self.watch_reviews,
            dag_id_pattern=self.dag_id_pattern,
            ui_base_url=self.airflow_ui_url,
            policy=MappingPolicy(users=UserMap(self.users), forbid_requester=self.four_eyes),
        )


def service_app(bridge: AirflowBridge, hitl: SlackHitl, *, notify_token: str | None) -> Starlette:
    """One ASGI app: slack_hitl's (``/slack/interactions``, ``/healthz``), ``/airflow/notify``, and a lifespan
    that runs slack_hitl's background work and the bridge's polling. ``bridge`` decides through ``hitl.engine``."""
    if bridge.engine is not hitl.engine:
        raise ValueError("the bridge decides through another engine: build it with AirflowBridge(hitl.engine, ...)")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with hitl.running():
            await bridge.start()
            polling = BackgroundTasks()
            polling.spawn(bridge.run())
            try:
                yield
            finally:
                await polling.cancel()

    return Starlette(
        routes=[notify_route(bridge, token=notify_token), Mount("/", app=hitl.app)],
        lifespan=lifespan,
    )


async def connect(settings: AirflowServiceSettings) -> tuple[SlackHitl, AirflowBridge]:
    """slack_hitl wired by its composition root with the Airflow adapter, and the bridge on its engine.

    Opens the store and checks the Slack token (``SlackHitlError`` naming what to fix); nothing runs yet.
    """
    client = AirflowClient(
        settings.airflow_url,
        username=settings.airflow_username,
        password=settings.airflow_password.get_secret_value(),
    )
    adapter = AirflowAdapter(
        client,
        min_request_age=settings.min_age_seconds,
        park_grace=settings.park_grace_seconds,
        follow_timeout=settings.follow_seconds,
        ui_base_url=settings.airflow_ui_url,
    )
    try:
        hitl = await SlackHitl.connect(settings.service_config(), adapters=[adapter])
    except BaseException:
        await client.aclose()
        raise
    return hitl, AirflowBridge(hitl.engine, client, settings.bridge_settings(), adapter=adapter)


async def serve(settings: AirflowServiceSettings) -> None:
    """Connect and serve until stopped (SIGTERM or Ctrl-C), all in one event loop."""
    hitl, bridge = await connect(settings)
    token = settings.notify_token.get_secret_value() if settings.notify_token else None
    app = service_app(bridge, hitl, notify_token=token)
    try:
        await AppServer(uvicorn.Config(app, host=settings.host, port=settings.port), stops_on_signals=True).serve()
    finally:
        await bridge.client.aclose()
        await hitl.close()


def main() -> None:
    try:
        settings = AirflowServiceSettings()  # type: ignore[call-arg]  # read from the environment
    except ValidationError as invalid:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in invalid.errors())
        raise SystemExit(f"slack-hitl-airflow: fix these environment variables: {problems}") from None
    try:
        asyncio.run(serve(settings))
    except SlackHitlError as refused:  # the Slack token, the database's schema: each says what to fix
        raise SystemExit(f"slack-hitl-airflow: {refused}") from None


if __name__ == "__main__":
    main()
