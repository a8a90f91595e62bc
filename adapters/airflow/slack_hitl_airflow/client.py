"""Airflow's REST API, the part the bridge needs: HITL requests, task instances, DAG runs.

A bearer token comes from ``POST /auth/token`` and is renewed when Airflow says it expired
(401) or no longer knows it (403 "Invalid JWT token", e.g. after a restart with a new secret).
Listings are paged (at most 100 per page); pages after the first are fetched concurrently.
Every other non-success status becomes a typed ``AirflowError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from slack_hitl_airflow.errors import (
    AirflowAuthFailed,
    AirflowConflict,
    AirflowError,
    AirflowForbidden,
    AirflowNotFound,
    AirflowServerError,
    AirflowUnavailable,
    AirflowUnprocessable,
)
from slack_hitl_airflow.hitl_detail import (
    DagRun,
    EventLog,
    HITLRequest,
    HITLResponse,
    Page,
    RequestKey,
    TaskInstance,
    XComEntry,
)
from slack_hitl_airflow.review_session import ReviewAction, ReviewSession

log = structlog.get_logger("slack_hitl_airflow.client")

PAGE_SIZE = 100
"""Airflow's maximum ``limit``."""
REVIEW_PLUGIN = "/hitl-review"
"""Where common-ai's review plugin is mounted on Airflow's API server."""

_STATUS_ERRORS: dict[int, type[AirflowError]] = {
    403: AirflowForbidden,
    404: AirflowNotFound,
    409: AirflowConflict,
    422: AirflowUnprocessable,
}


def _segment(value: str) -> str:
    # Run ids hold ':' and '+': quote everything so Airflow reads back exactly the id.
    return quote(value, safe="")


def request_path(key: RequestKey) -> str:
    return (
        f"/api/v2/dags/{_segment(key.dag_id)}/dagRuns/{_segment(key.run_id)}"
        f"/taskInstances/{_segment(key.task_id)}/{key.map_index}/hitlDetails"
    )


def _request_id(request: HITLRequest) -> str:
    return request.request_id


def _request(item: dict[str, Any], observed_at: dt.datetime | None) -> HITLRequest:
    return HITLRequest.model_validate({**item, "observed_at": observed_at})


def _review_params(key: RequestKey) -> dict[str, Any]:
    return {"dag_id": key.dag_id, "run_id": key.run_id, "task_id": key.task_id, "map_index": key.map_index}


def _server_time(response: httpx.Response) -> dt.datetime | None:
    dates = response.headers.get_list("date")
    try:
        moment = parsedate_to_datetime(dates[0])
    except (IndexError, TypeError, ValueError):
        return None
    # HTTP dates are GMT; "-0000" parses as naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:500]


class AirflowClient:
    """Async client of one Airflow's REST API, authenticated as one (API) user."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        http: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        page_size: int = PAGE_SIZE,
        read_retries: int = 2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self.page_size = min(page_size, PAGE_SIZE)
        self.read_retries = read_retries
        self.calls = 0
        """HTTP requests sent, token requests included: what a poll cycle costs."""
        self.tokens_obtained = 0
        self._version: str | None = None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AirflowClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # -- authentication --------------------------------------------------------------------

    async def _renew_token(self, stale: str | None) -> str:
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another caller renewed it meanwhile
            self.calls += 1
            try:
                response = await self._http.post(
                    f"{self.base_url}/auth/token", json={"username": self.username, "password": self._password}
                )
            except httpx.TransportError as error:
                raise AirflowUnavailable(f"Airflow at {self.base_url} did not answer: {error}") from error
            if response.status_code not in (200, 201):
                raise AirflowAuthFailed(
                    f"Airflow refused a token for user {self.username!r} ({response.status_code}: "
                    f"{_detail(response)}); check the bridge's Airflow username and password",
                    status=response.status_code,
                )
            self._token = response.json()["access_token"]
            self.tokens_obtained += 1
            log.info("airflow_token_renewed", airflow_user=self.username)
            return self._token

    @staticmethod
    def _token_rejected(response: httpx.Response) -> bool:
        if response.status_code == 401:
            return True
        return response.status_code == 403 and _detail(response) == "Invalid JWT token"

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        return (await self._exchange(method, path, params=params, json=json))[0]

    async def _exchange(
        self, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> tuple[Any, dt.datetime | None]:
        """Airflow's answer and its clock (the ``Date`` header) when it answered."""
        reads = method == "GET"
        attempt = 0
        renewed = False
        while True:
            token = self._token or await self._renew_token(None)
            self.calls += 1
            try:
                response = await self._http.request(
                    method,
                    f"{self.base_url}{path}",
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as error:
                if reads and attempt < self.read_retries:
                    attempt += 1
                    await asyncio.sleep(0.2 * attempt)
                    continue
                raise AirflowUnavailable(
                    f"Airflow at {self.base_url} did not answer {method} {path}: {error}"
                ) from error
            if self._token_rejected(response) and not renewed:
                renewed = True
                await self._renew_token(token)
                continue
            if response.status_code >= 500 and reads and attempt < self.read_retries:
                attempt += 1
                await asyncio.sleep(0.2 * attempt)
                continue
            return self._result(method, path, response), _server_time(response)

    @staticmethod
    def _result(method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            return response.json() if response.content else None
        detail = _detail(response)
        message = f"Airflow answered {status} to {method} {path}: {detail}"
        if status >= 500:
            raise AirflowServerError(message, status=status, detail=detail)
        if status == 401:
            raise AirflowAuthFailed(message, status=status, detail=detail)
        error = _STATUS_ERRORS.get(status, AirflowError)
        raise error(message, status=status, detail=detail)

    async def _all_pages(
        self, fetch: Callable[[int, int], Awaitable[Page]], *, identity: Callable[[Any], str], concurrency: int = 4
    ) -> list[Any]:
        first = await fetch(0, self.page_size)
        items = list(first.items)
        if len(items) >= first.total_entries or not items:
            return items
        offsets = range(len(items), first.total_entries, self.page_size)
        gate = asyncio.Semaphore(concurrency)

        async def one(offset: int) -> Page:
            async with gate:
                return await fetch(offset, self.page_size)

        for page in await asyncio.gather(*(one(offset) for offset in offsets)):
            items.extend(page.items)
        # Entries answered between two pages shift the rest forward; one may be missed now
        # and is found on the next poll. Duplicates from the opposite shift are dropped here.
        unique = {identity(item): item for item in items}
        return list(unique.values())

    # -- the API ---------------------------------------------------------------------------

    async def version(self) -> str:
        if self._version is None:
            self._version = (await self._send("GET", "/api/v2/version"))["version"]
        return self._version

    async def at_least(self, major: int, minor: int) -> bool:
        found = tuple(int(part) for part in (await self.version()).split(".")[:2])
        return found >= (major, minor)

    async def waiting_states(self) -> tuple[str, ...]:
        """The task states of a request that waits: Airflow 3.1 and 3.2 refuse ``awaiting_input`` as a filter."""
        return ("deferred", "awaiting_input") if await self.at_least(3, 3) else ("deferred",)

    async def requests_page(
        self,
        *,
        dag_id: str = "~",
        run_id: str = "~",
        response_received: bool | None = None,
        states: tuple[str, ...] = (),
        dag_id_pattern: str | None = None,
        offset: int = 0,
        limit: int = PAGE_SIZE,
        order_by: str = "created_at",
    ) -> Page:
        params: list[tuple[str, Any]] = [("limit", limit), ("offset", offset), ("order_by", order_by)]
        if response_received is not None:
            params.append(("response_received", str(response_received).lower()))
        params.extend(("state", state) for state in states)
        if dag_id_pattern:
            params.append(("dag_id_pattern", dag_id_pattern))
        found, at = await self._exchange(
            "GET", f"/api/v2/dags/{_segment(dag_id)}/dagRuns/{_segment(run_id)}/hitlDetails", params=params
        )
        return Page(
            items=tuple(_request(item, at) for item in found["hitl_details"]),
            total_entries=found["total_entries"],
        )

    async def pending_requests(self, *, dag_id_pattern: str | None = None) -> list[HITLRequest]:
        """Every unanswered request whose task waits for it, oldest first, across all pages."""
        states = await self.waiting_states()

        async def fetch(offset: int, limit: int) -> Page:
            return await self.requests_page(
                response_received=False, states=states, dag_id_pattern=dag_id_pattern, offset=offset, limit=limit
            )

        return await self._all_pages(fetch, identity=_request_id)

    async def run_requests(self, dag_id: str, run_id: str) -> list[HITLRequest]:
        """Every request of one DAG run, answered or not."""

        async def fetch(offset: int, limit: int) -> Page:
            return await self.requests_page(dag_id=dag_id, run_id=run_id, offset=offset, limit=limit)

        return await self._all_pages(fetch, identity=_request_id)

    async def answered_lately(self, *, dag_id_pattern: str | None = None, limit: int = PAGE_SIZE) -> list[HITLRequest]:
        """The requests answered last (in Airflow's UI, by a timeout, or by this bridge), newest first: one call."""
        page = await self.requests_page(
            response_received=True, dag_id_pattern=dag_id_pattern, limit=limit, order_by="-responded_at"
        )
        return list(page.items)

    async def request(self, key: RequestKey) -> HITLRequest:
        return _request(*await self._exchange("GET", request_path(key)))

    async def task_instance(self, key: RequestKey) -> TaskInstance:
        path = (
            f"/api/v2/dags/{_segment(key.dag_id)}/dagRuns/{_segment(key.run_id)}"
            f"/taskInstances/{_segment(key.task_id)}/{key.map_index}"
        )
        return TaskInstance.model_validate(await self._send("GET", path))

    async def respond(
        self, key: RequestKey, *, chosen_options: list[str], params_input: dict[str, Any]
    ) -> HITLResponse:
        """Answer a request. Validate first (``validate_answer``): Airflow 3.1 takes anything."""
        body = {"chosen_options": chosen_options, "params_input": params_input}
        return HITLResponse.model_validate(await self._send("PATCH", request_path(key), json=body))

    async def dag_run(self, dag_id: str, run_id: str) -> DagRun:
        return DagRun.model_validate(
            await self._send("GET", f"/api/v2/dags/{_segment(dag_id)}/dagRuns/{_segment(run_id)}")
        )

    async def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstance]:
        path = f"/api/v2/dags/{_segment(dag_id)}/dagRuns/{_segment(run_id)}/taskInstances"

        async def fetch(offset: int, limit: int) -> Page:
            found = await self._send("GET", path, params={"limit": limit, "offset": offset})
            return Page(
                items=tuple(TaskInstance.model_validate(item) for item in found["task_instances"]),
                total_entries=found["total_entries"],
            )

        return await self._all_pages(fetch, identity=lambda ti: ti.id)

    async def trigger_run(
        self, dag_id: str, *, conf: dict[str, Any] | None = None, run_id: str | None = None
    ) -> DagRun:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id is not None:
            body["dag_run_id"] = run_id
        return DagRun.model_validate(await self._send("POST", f"/api/v2/dags/{_segment(dag_id)}/dagRuns", json=body))

    async def event_logs(self, key: RequestKey, *, event: str, limit: int = 10) -> list[EventLog]:
        """The newest audit log entries ``event`` of one task instance."""
        params = {
            "dag_id": key.dag_id,
            "run_id": key.run_id,
            "task_id": key.task_id,
            "map_index": key.map_index,
            "event": event,
            "order_by": "-when",
            "limit": limit,
        }
        found = await self._send("GET", "/api/v2/eventLogs", params=params)
        return [EventLog.model_validate(item) for item in found["event_logs"]]

    async def xcom_entries(self, key: str) -> list[XComEntry]:
        """The XComs named ``key`` across every DAG run, written last first.

        One call from Airflow 3.3 (the newest page); older versions cannot sort XComs, so every page is read.
        """
        path = "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries"

        async def fetch(offset: int, limit: int) -> Page:
            params = {"xcom_key": key, "order_by": "-timestamp", "limit": limit, "offset": offset}
            found = await self._send("GET", path, params=params)
            return Page(
                items=tuple(XComEntry.model_validate(item) for item in found["xcom_entries"]),
                total_entries=found["total_entries"],
            )

        if await self.at_least(3, 3):
            entries = list((await fetch(0, self.page_size)).items)
        else:
            entries = await self._all_pages(
                fetch, identity=lambda e: f"{e.dag_id}|{e.run_id}|{e.task_id}|{e.map_index}"
            )
        return sorted(entries, key=lambda e: e.timestamp, reverse=True)

    async def review_session(self, key: RequestKey) -> ReviewSession:
        """A common-ai review session, through the provider's plugin (404: the task has none)."""
        found = await self._send("GET", f"{REVIEW_PLUGIN}/sessions/find", params=_review_params(key))
        return ReviewSession.model_validate(found)

    async def answer_review(self, key: RequestKey, action: ReviewAction, feedback: str | None = None) -> ReviewSession:
        """Approve, reject, or request changes (``feedback``) of a session's current iteration.

        409 (``AirflowConflict``): the session is not waiting for a review (answered meanwhile).
        """
        body = {"feedback": feedback or ""} if action == "feedback" else None
        found = await self._send("POST", f"{REVIEW_PLUGIN}/sessions/{action}", params=_review_params(key), json=body)
        return ReviewSession.model_validate(found)

    async def xcom(
        self, dag_id: str, run_id: str, task_id: str, *, key: str = "return_value", map_index: int = -1
    ) -> Any:
        path = (
            f"/api/v2/dags/{_segment(dag_id)}/dagRuns/{_segment(run_id)}/taskInstances/{_segment(task_id)}"
            f"/xcomEntries/{_segment(key)}"
        )
        found = await self._send("GET", path, params={"map_index": map_index, "deserialize": "true"})
        return found.get("value")
