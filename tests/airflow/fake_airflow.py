"""A small stand-in for Airflow's REST API, for the bridge's fast tests and the poll benchmark.

It answers the endpoints the bridge uses with the shapes Airflow 3.1.8 returns, keeps the
requests, task instances and runs in memory, and behaves like Airflow where the bridge cares:
409 on a second answer, 403 when the API user is not among ``assigned_users``, paging with
``total_entries``, token expiry. After an answer, the task resumes (``resume_after`` seconds
later) and the run succeeds when every task has finished. The real Airflow is exercised by
test_airflow_e2e.py; this is for what must be fast or counted.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.airflow.support import hitl_request, iso, task_instance

FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


@dataclass
class FakeAirflow:
    version: str = "3.1.8"
    username: str = "bridge"
    password: str = "pw"
    resume_after: float = 0.0
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """HITL details by task instance id."""
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[tuple[str, str], str] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    patch_failures: dict[str, int] = field(default_factory=dict)
    """task_id -> HTTP status the next PATCHes of it get."""
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    before_patch: Callable[[str], None] | None = None
    _answered_at: dict[str, dt.datetime] = field(default_factory=dict)

    # -- arranging -------------------------------------------------------------------------------

    def add(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Add a HITL request (and its waiting task instance and run)."""
        ti = payload["task_instance"]
        self.requests[ti["id"]] = payload
        self.instances[ti["id"]] = ti
        self.runs.setdefault((ti["dag_id"], ti["dag_run_id"]), "running")
        return payload

    def add_task(self, task_id: str, *, dag_id: str, run_id: str, state: str | None = None) -> dict[str, Any]:
        ti = task_instance(task_id, dag_id=dag_id, run_id=run_id, state=state or "scheduled", operator="PythonOperator")
        self.instances[ti["id"]] = ti
        return ti

    def answer_in_ui(
        self, ti_id: str, by: dict[str, str] | None, chosen: list[str], params: dict | None = None
    ) -> None:
        self._answer(ti_id, by, chosen, params or {})

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def _answer(self, ti_id: str, by: dict[str, str] | None, chosen: list[str], params: dict[str, Any]) -> dict:
        request = self.requests[ti_id]
        now = dt.datetime.now(dt.UTC)
        request.update(
            responded_by_user=by,
            responded_at=iso(now),
            chosen_options=chosen,
            params_input=params,
            response_received=True,
        )
        self._answered_at[ti_id] = now
        return request

    def _advance(self) -> None:
        """Answered tasks resume and succeed; a run whose tasks all finished succeeds."""
        # Downstream tasks first: they run one step after the tasks they wait for have finished.
        for ti in self.instances.values():
            if (
                ti["state"] == "scheduled"
                and not self._answered_at
                and all(other["state"] in FINISHED for other in self._run_tis(ti) if other is not ti)
            ):
                ti["state"] = "success"
        now = dt.datetime.now(dt.UTC)
        for ti_id, at in list(self._answered_at.items()):
            if (now - at).total_seconds() >= self.resume_after:
                self.instances[ti_id]["state"] = "success"
                self.requests[ti_id]["task_instance"]["state"] = "success"
                del self._answered_at[ti_id]
        for (dag_id, run_id), state in self.runs.items():
            tis = [ti for ti in self.instances.values() if ti["dag_id"] == dag_id and ti["dag_run_id"] == run_id]
            if state == "running" and tis and all(ti["state"] in FINISHED for ti in tis):
                self.runs[(dag_id, run_id)] = "success"

    def _run_tis(self, ti: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            o for o in self.instances.values() if o["dag_id"] == ti["dag_id"] and o["dag_run_id"] == ti["dag_run_id"]
        ]

    # -- the API -----------------------------------------------------------------------------------

    def app(self) -> Starlette:
        base = "/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        return Starlette(
            routes=[
                Route("/auth/token", self._token, methods=["POST"]),
                Route("/api/v2/version", self._version),
                Route(f"{base}/hitlDetails", self._list),
                Route(
                    f"{base}/taskInstances/{{task_id}}/{{map_index}}/hitlDetails", self._one, methods=["GET", "PATCH"]
                ),
                Route(f"{base}/taskInstances", self._task_instances),
                Route(base, self._run),
            ]
        )

    async def _token(self, request: Request) -> JSONResponse:
        body = await request.json()
        if (body.get("username"), body.get("password")) != (self.username, self.password):
            return JSONResponse({"detail": "Invalid credentials"}, status_code=401)
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return JSONResponse({"access_token": token}, status_code=201)

    def _denied(self, request: Request) -> JSONResponse | None:
        self.calls.append((request.method, request.url.path))
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return JSONResponse({"detail": "Token Expired"}, status_code=401)
        self._advance()
        return None

    async def _version(self, request: Request) -> JSONResponse:
        return self._denied(request) or JSONResponse({"version": self.version, "git_version": None})

    async def _list(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        q = request.query_params
        dag_id, run_id = unquote(request.path_params["dag_id"]), unquote(request.path_params["run_id"])
        states = q.getlist("state")
        found = [
            r
            for r in self.requests.values()
            if (dag_id == "~" or r["task_instance"]["dag_id"] == dag_id)
            and (run_id == "~" or r["task_instance"]["dag_run_id"] == run_id)
            and ("response_received" not in q or str(r["response_received"]).lower() == q["response_received"])
            and (not states or r["task_instance"]["state"] in states)
        ]
        found.sort(key=lambda r: r["created_at"])
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 50))
        return JSONResponse({"hitl_details": found[offset : offset + limit], "total_entries": len(found)})

    def _find(self, request: Request) -> dict[str, Any] | None:
        p = request.path_params
        for r in self.requests.values():
            ti = r["task_instance"]
            if (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"]) == (
                unquote(p["dag_id"]),
                unquote(p["run_id"]),
                unquote(p["task_id"]),
                int(p["map_index"]),
            ) and self.instances.get(ti["id"]) is ti:
                return r
        return None

    async def _one(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        found = self._find(request)
        if found is None:
            return JSONResponse({"detail": "The Task Instance ... was not found"}, status_code=404)
        if request.method == "GET":
            return JSONResponse(found)
        ti_id = found["task_instance"]["id"]
        task_id = found["task_instance"]["task_id"]
        if self.before_patch is not None:
            self.before_patch(ti_id)
        if found["response_received"]:
            return JSONResponse({"detail": "already been updated ... not allowed to write again."}, status_code=409)
        if task_id in self.patch_failures:
            return JSONResponse({"detail": "injected failure"}, status_code=self.patch_failures[task_id])
        assigned = {u["id"] for u in found["assigned_users"]}
        if assigned and self.username not in assigned:
            return JSONResponse({"detail": f"User={self.username} is not a respondent for the task."}, status_code=403)
        body = await request.json()
        self.patches.append((ti_id, body))
        answered = self._answer(
            ti_id, {"id": self.username, "name": self.username}, body["chosen_options"], body.get("params_input") or {}
        )
        return JSONResponse(
            {
                "responded_by": answered["responded_by_user"],
                "responded_at": answered["responded_at"],
                "chosen_options": answered["chosen_options"],
                "params_input": answered["params_input"],
            }
        )

    async def _task_instances(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        dag_id, run_id = unquote(request.path_params["dag_id"]), unquote(request.path_params["run_id"])
        tis = [ti for ti in self.instances.values() if ti["dag_id"] == dag_id and ti["dag_run_id"] == run_id]
        offset, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 50))
        return JSONResponse({"task_instances": tis[offset : offset + limit], "total_entries": len(tis)})

    async def _run(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        key = (unquote(request.path_params["dag_id"]), unquote(request.path_params["run_id"]))
        if key not in self.runs:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse({"dag_id": key[0], "dag_run_id": key[1], "state": self.runs[key]})


def run_of(dag_id: str, run_id: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """``count`` requests of one run, created together."""
    return [hitl_request(f"task_{i}", dag_id=dag_id, run_id=run_id, **kwargs) for i in range(count)]


def main() -> None:
    """Serve a stand-in Airflow holding ``--requests`` pending requests (for the poll benchmark)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--per-run", type=int, default=10)
    args = parser.parse_args()
    fake = FakeAirflow()
    for index in range(args.requests):
        run = index // args.per_run
        fake.add(hitl_request(f"task_{index % args.per_run}", dag_id=f"dag_{run % 7}", run_id=f"run_{run}"))
    uvicorn.run(fake.app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
