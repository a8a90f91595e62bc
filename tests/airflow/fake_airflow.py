"""A small stand-in for Airflow's REST API, for the bridge's fast tests and the poll benchmark.

It answers the endpoints the bridge uses with the shapes Airflow returns, keeps the requests,
task instances and runs in memory, and behaves like Airflow where the bridge cares: 409 on a
second answer, 403 when the API user is not among ``assigned_users``, paging with
``total_entries``, token expiry, a ``Date`` on every answer.

Airflow 3.1 (``version`` below 3.3): after an answer the task resumes ``resume_after`` seconds
later and the run succeeds when every task has finished.

Airflow 3.3 (``version`` 3.3.x): waiting tasks are ``awaiting_input``, and a scheduler is
modelled loop by loop (``loop_interval``): each loop stamps the runs' ``last_scheduling_decision``,
queues answered tasks, then reads the reports of workers that finished by then; a task's pause
is reported ``park_linger`` seconds after it parked, and a report read while the resumed task
is queued or running fails it, with a "state mismatch" in the audit log, as 3.3.2 does.

common-ai's review sessions (``add_review``) live in XCom with its plugin's API at
``/hitl-review``; the worker regenerates ``regenerate_after`` seconds after feedback.

The real Airflow is exercised by test_airflow_e2e.py; this is for what must be fast or counted.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
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
    triggering_users: dict[tuple[str, str], str] = field(default_factory=dict)
    """Who triggered each run (Airflow user name); a run missing here was scheduled."""
    tokens: set[str] = field(default_factory=set)
    patch_failures: dict[str, int] = field(default_factory=dict)
    """task_id -> HTTP status the next PATCHes of it get."""
    patch_failures_once: dict[str, list[int]] = field(default_factory=dict)
    """task_id -> HTTP statuses its next PATCHes get, one each, before they are taken."""
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    before_patch: Callable[[str], None] | None = None
    loop_interval: float = 0.1
    park_linger: float = 0.3
    regenerate_after: float = 0.2
    run_seconds: float = 0.0
    """Airflow 3.3: how long a resumed task runs before it succeeds."""
    event_logs: list[dict[str, Any]] = field(default_factory=list)
    reviews: dict[tuple[str, str, str, int], dict[str, Any]] = field(default_factory=dict)
    """Review sessions by (dag_id, run_id, task_id, map_index): session, outputs, feedback, XCom time."""
    review_answers: list[tuple[str, str | None]] = field(default_factory=list)
    """(action, feedback) of every review answer the plugin took."""
    _answered_at: dict[str, dt.datetime] = field(default_factory=dict)
    _reports: dict[str, dt.datetime] = field(default_factory=dict)
    """Airflow 3.3: task instance id -> when the worker that ran it up to its pause reports that it finished."""
    _decisions: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    _scheduler_at: dt.datetime | None = None
    _progress_at: dict[str, dt.datetime] = field(default_factory=dict)

    @property
    def parks(self) -> bool:
        """Whether this is Airflow 3.3+: tasks wait in ``awaiting_input``, resumed by the answer itself."""
        major, minor = (int(part) for part in self.version.split(".")[:2])
        return (major, minor) >= (3, 3)

    # -- arranging -------------------------------------------------------------------------------

    def add(self, payload: dict[str, Any], *, linger: float | None = None) -> dict[str, Any]:
        """Add a HITL request (and its waiting task instance and run); on 3.3 the task parked at ``created_at``."""
        ti = payload["task_instance"]
        self.requests[ti["id"]] = payload
        self.instances[ti["id"]] = ti
        self.runs.setdefault((ti["dag_id"], ti["dag_run_id"]), "running")
        if self.parks:
            ti["state"] = "awaiting_input"
            parked = dt.datetime.fromisoformat(payload["created_at"].replace("Z", "+00:00"))
            self._reports[ti["id"]] = parked + dt.timedelta(seconds=self.park_linger if linger is None else linger)
        return payload

    def add_review(
        self,
        task_id: str,
        *,
        dag_id: str = "review",
        run_id: str = "run-1",
        outputs: list[str],
        max_iterations: int = 5,
    ) -> tuple[str, str, str, int]:
        """A running task of an agentic operator with ``enable_hitl_review=True``, its first output waiting."""
        ti = task_instance(task_id, dag_id=dag_id, run_id=run_id, state="running", operator="AgentOperator")
        self.instances[ti["id"]] = ti
        self.runs.setdefault((dag_id, run_id), "running")
        place = (dag_id, run_id, task_id, -1)
        self.reviews[place] = {
            "ti": ti,
            "outputs": list(outputs),
            "shown": [outputs[0]],
            "feedback": {},
            "status": "pending_review",
            "iteration": 1,
            "max_iterations": max_iterations,
            "written": dt.datetime.now(dt.UTC),
            "regenerate_at": None,
        }
        return place

    def retry_review(self, place: tuple[str, str, str, int]) -> None:
        """The task fails and Airflow runs it again: a new try, whose session starts over."""
        review = self.reviews[place]
        review["ti"]["try_number"] += 1
        review["ti"]["state"] = "running"
        review.update(
            shown=[review["outputs"][0]],
            feedback={},
            status="pending_review",
            iteration=1,
            written=dt.datetime.now(dt.UTC),
            regenerate_at=None,
        )

    def answer_review_in_ui(self, place: tuple[str, str, str, int], action: str, feedback: str | None = None) -> int:
        """Someone answers in the provider's own review chat; returns the HTTP status the plugin gives."""
        return self._review_action(place, action, feedback)[0]

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
        self._advance_reviews()
        self._advance_downstream()
        if self.parks:
            self._advance_scheduler()
        else:
            self._advance_triggers()
        self._finish_runs()

    def _advance_downstream(self) -> None:
        """Downstream tasks run one step after the tasks they wait for have finished."""
        for ti in self.instances.values():
            if (
                ti["state"] == "scheduled"
                and ti["id"] not in self.requests
                and not self._answered_at
                and all(other["state"] in FINISHED for other in self._run_tis(ti) if other is not ti)
            ):
                ti["state"] = "success"

    def _advance_scheduler(self) -> None:
        """Airflow 3.3: every scheduler loop due by now, in order (see the module docstring)."""
        now = dt.datetime.now(dt.UTC)
        at = self._scheduler_at or now
        step = dt.timedelta(seconds=self.loop_interval)
        while at + step <= now:
            at += step
            for run, state in self.runs.items():
                if state == "running":
                    self._decisions[run] = at
            for ti_id, answered in list(self._answered_at.items()):
                if answered <= at and self.instances[ti_id]["state"] == "scheduled":
                    self._set_state(ti_id, "queued")
                    self._progress_at[ti_id] = at
                    del self._answered_at[ti_id]
            for ti_id, reported in list(self._reports.items()):
                if reported <= at:
                    del self._reports[ti_id]
                    if self.instances[ti_id]["state"] in ("queued", "running"):
                        self._state_mismatch(ti_id)
            for ti_id, since in list(self._progress_at.items()):
                state = self.instances[ti_id]["state"]
                still_running = state == "running" and (at - since).total_seconds() < self.run_seconds
                if since < at and not still_running:
                    following = {"queued": "running", "running": "success"}.get(state)
                    if following is None:
                        del self._progress_at[ti_id]
                    else:
                        self._set_state(ti_id, following)
                        self._progress_at[ti_id] = at
        self._scheduler_at = at

    def _state_mismatch(self, ti_id: str) -> None:
        ti = self.instances[ti_id]
        self.event_logs.append(
            {
                "event": "state mismatch",
                "when": iso(dt.datetime.now(dt.UTC)),
                "dag_id": ti["dag_id"],
                "run_id": ti["dag_run_id"],
                "task_id": ti["task_id"],
                "map_index": ti["map_index"],
                "try_number": ti["try_number"],
                "extra": f"Executor reported that the task instance {ti['task_id']} finished with state success, "
                f"but the task instance's state attribute is {ti['state']}.",
            }
        )
        self._set_state(ti_id, "failed")
        self._answered_at.pop(ti_id, None)
        self._progress_at.pop(ti_id, None)

    def _set_state(self, ti_id: str, state: str) -> None:
        self.instances[ti_id]["state"] = state
        if ti_id in self.requests:
            self.requests[ti_id]["task_instance"]["state"] = state

    def _advance_triggers(self) -> None:
        """Airflow 3.1: answered tasks resume and succeed."""
        now = dt.datetime.now(dt.UTC)
        for ti_id, at in list(self._answered_at.items()):
            if (now - at).total_seconds() >= self.resume_after:
                self.instances[ti_id]["state"] = "success"
                self.requests[ti_id]["task_instance"]["state"] = "success"
                del self._answered_at[ti_id]

    def _finish_runs(self) -> None:
        for (dag_id, run_id), state in self.runs.items():
            tis = [ti for ti in self.instances.values() if ti["dag_id"] == dag_id and ti["dag_run_id"] == run_id]
            if state == "running" and tis and all(ti["state"] in FINISHED for ti in tis):
                failed = any(ti["state"] in ("failed", "upstream_failed") for ti in tis)
                self.runs[(dag_id, run_id)] = "failed" if failed else "success"

    def _advance_reviews(self) -> None:
        """The review loop's worker: regenerate after feedback; finish the task on approve or reject."""
        now = dt.datetime.now(dt.UTC)
        for review in self.reviews.values():
            due = review["regenerate_at"]
            if due is None or due > now or review["status"] != "changes_requested":
                continue
            review["regenerate_at"] = None
            iteration = review["iteration"] + 1
            outputs = review["outputs"]
            review["shown"].append(outputs[iteration - 1] if iteration <= len(outputs) else f"draft {iteration}")
            review.update(iteration=iteration, status="pending_review", written=now)

    def _review_action(self, place: tuple[str, str, str, int], action: str, feedback: str | None) -> tuple[int, Any]:
        review = self.reviews.get(place)
        if review is None:
            return 404, {"detail": {"message": "No matching session found.", "task_active": False}}
        if action == "feedback" and not (feedback or "").strip():
            return 400, {"detail": "Feedback is required when requesting changes."}
        if review["status"] != "pending_review":
            return 409, {"detail": f"Session is '{review['status']}', expected 'pending_review'."}
        now = dt.datetime.now(dt.UTC)
        ti_id = review["ti"]["id"]
        self.review_answers.append((action, feedback))
        if action == "approve":
            review["status"] = "approved"
            self._set_state(ti_id, "success")
        elif action == "reject":
            review["status"] = "rejected"
            self._set_state(ti_id, "failed")
        elif review["iteration"] >= review["max_iterations"]:
            review["feedback"][review["iteration"]] = feedback
            review["status"] = "max_iterations_exceeded"
            self._set_state(ti_id, "failed")
        else:
            review["feedback"][review["iteration"]] = feedback
            review["status"] = "changes_requested"
            review["regenerate_at"] = now + dt.timedelta(seconds=self.regenerate_after)
        review["written"] = now
        return 200, self._session_json(place)

    def _session_json(self, place: tuple[str, str, str, int]) -> dict[str, Any]:
        review = self.reviews[place]
        conversation = []
        for n, output in enumerate(review["shown"], start=1):
            conversation.append({"role": "assistant", "content": output, "iteration": n})
            if n in review["feedback"]:
                conversation.append({"role": "human", "content": review["feedback"][n], "iteration": n})
        return {
            "dag_id": place[0],
            "run_id": place[1],
            "task_id": place[2],
            "status": review["status"],
            "iteration": review["iteration"],
            "max_iterations": review["max_iterations"],
            "prompt": "Answer the ticket.",
            "current_output": review["shown"][-1],
            "conversation": conversation,
            "task_completed": review["ti"]["state"] not in ("running", "queued", "scheduled", "deferred"),
        }

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
                Route(f"{base}/taskInstances/{{task_id}}/xcomEntries", self._xcom_entries),
                Route(f"{base}/taskInstances/{{task_id}}/{{map_index}}", self._task_instance),
                Route(base, self._run),
                Route("/api/v2/eventLogs", self._event_logs),
                Route("/hitl-review/sessions/find", self._review_find),
                Route("/hitl-review/sessions/{action}", self._review_post, methods=["POST"]),
            ]
        )

    @staticmethod
    def _dated(body: Any, status_code: int = 200) -> JSONResponse:
        now = format_datetime(dt.datetime.now(dt.UTC), usegmt=True)
        return JSONResponse(body, status_code=status_code, headers={"date": now})

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
        order = q.get("order_by", "created_at")
        field_name = order.lstrip("-")
        found.sort(key=lambda r: r.get(field_name) or "", reverse=order.startswith("-"))
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 50))
        return self._dated({"hitl_details": found[offset : offset + limit], "total_entries": len(found)})

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
            return self._dated(found)
        ti_id = found["task_instance"]["id"]
        task_id = found["task_instance"]["task_id"]
        if self.before_patch is not None:
            self.before_patch(ti_id)
        if found["response_received"]:
            return JSONResponse({"detail": "already been updated ... not allowed to write again."}, status_code=409)
        if task_id in self.patch_failures:
            return JSONResponse({"detail": "injected failure"}, status_code=self.patch_failures[task_id])
        if self.patch_failures_once.get(task_id):
            status = self.patch_failures_once[task_id].pop(0)
            return JSONResponse({"detail": {"reason": "Database error"}}, status_code=status)
        assigned = {u["id"] for u in found["assigned_users"]}
        if assigned and self.username not in assigned:
            return JSONResponse({"detail": f"User={self.username} is not a respondent for the task."}, status_code=403)
        body = await request.json()
        self.patches.append((ti_id, body))
        if self.parks and found["task_instance"]["state"] == "awaiting_input":
            self._set_state(ti_id, "scheduled")  # the answer resumes the parked task itself
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
        decided = self._decisions.get(key)
        return self._dated(
            {
                "dag_id": key[0],
                "dag_run_id": key[1],
                "state": self.runs[key],
                "last_scheduling_decision": iso(decided) if decided else None,
                "triggering_user_name": self.triggering_users.get(key),
            }
        )

    async def _task_instance(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        p = request.path_params
        for ti in self.instances.values():
            if (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"]) == (
                unquote(p["dag_id"]),
                unquote(p["run_id"]),
                unquote(p["task_id"]),
                int(p["map_index"]),
            ):
                return self._dated(ti)
        return JSONResponse({"detail": "not found"}, status_code=404)

    async def _event_logs(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        q = request.query_params
        wanted = {name: q[name] for name in ("dag_id", "run_id", "task_id", "event") if name in q}
        found = [e for e in self.event_logs if all(str(e[name]) == value for name, value in wanted.items())]
        if "map_index" in q:
            found = [e for e in found if e["map_index"] == int(q["map_index"])]
        found = [{"event_log_id": i, **e} for i, e in enumerate(reversed(found))]
        return self._dated({"event_logs": found[: int(q.get("limit", 50))], "total_entries": len(found)})

    async def _xcom_entries(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        q = request.query_params
        entries = [
            {
                "key": "airflow_hitl_review_agent_session",
                "timestamp": iso(review["written"]),
                "dag_id": place[0],
                "run_id": place[1],
                "task_id": place[2],
                "map_index": place[3],
            }
            for place, review in self.reviews.items()
            if q.get("xcom_key") in (None, "airflow_hitl_review_agent_session")
        ]
        entries.sort(key=lambda e: e["timestamp"], reverse=True)
        return self._dated({"xcom_entries": entries[: int(q.get("limit", 50))], "total_entries": len(entries)})

    def _review_place(self, request: Request) -> tuple[str, str, str, int]:
        q = request.query_params
        return (q["dag_id"], q["run_id"], q["task_id"], int(q.get("map_index", -1)))

    async def _review_find(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        place = self._review_place(request)
        if place not in self.reviews:
            return JSONResponse({"detail": {"message": "No matching session found.", "task_active": False}}, 404)
        return self._dated(self._session_json(place))

    async def _review_post(self, request: Request) -> JSONResponse:
        if denied := self._denied(request):
            return denied
        action = request.path_params["action"]
        body = await request.json() if action == "feedback" else {}
        status, answer = self._review_action(self._review_place(request), action, body.get("feedback"))
        return self._dated(answer, status_code=status)


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
    parser.add_argument("--version", default="3.1.8", help="the Airflow version whose API shapes to answer with")
    args = parser.parse_args()
    fake = FakeAirflow(version=args.version)
    for index in range(args.requests):
        run = index // args.per_run
        fake.add(hitl_request(f"task_{index % args.per_run}", dag_id=f"dag_{run % 7}", run_id=f"run_{run}"))
    uvicorn.run(fake.app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
