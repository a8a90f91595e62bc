import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_URL = os.environ.get("SLACK_HITL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'slack_hitl.db'}"


async def _admin(statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards), on the server of
    SLACK_HITL_TEST_POSTGRES_URL. Fails, not skips, when no server answers: CI provides one."""
    from sqlalchemy.engine import make_url

    name = f"slack_hitl_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except OSError as error:
        pytest.fail(f"no PostgreSQL server at {POSTGRES_URL} ({error}); set SLACK_HITL_TEST_POSTGRES_URL")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str:
    """Run a test on the embedded default and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")
