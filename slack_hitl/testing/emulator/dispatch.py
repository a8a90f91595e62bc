"""Answering one Web API call, whatever transport brought it: auth, the faults a test asked for, the method.

Every call is recorded (`CallRecord`) with its parameters as the method read them and the
answer it got, so tests can assert on what the app sent.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from slack_hitl.testing.emulator.errors import ApiError, RateLimited
from slack_hitl.testing.emulator.params import normalized_params
from slack_hitl.testing.emulator.records import CallRecord, JSONDict
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace


@dataclass
class _RateLimit:
    fraction: float
    retry_after: int
    rng: random.Random


@dataclass
class _InjectedError:
    error: str
    remaining: int


@dataclass
class _Outage:
    until: float
    status: int | None
    retry_after: int | None
    delay: float
    processed: bool


@dataclass(frozen=True)
class Answer:
    """What a transport sends back: the HTTP status, Slack's JSON body and any headers, after ``delay`` seconds."""

    status: int
    body: JSONDict
    headers: dict[str, str]
    delay: float = 0.0


class WebApi:
    """The workspace's Web API: a table of methods, with rate limits and injected errors on request."""

    def __init__(
        self,
        workspace: Workspace,
        methods: Mapping[str, MethodHandler],
        token_prefixes: Mapping[str, str] | None = None,
    ) -> None:
        self._workspace = workspace
        self._methods = dict(methods)
        self._token_prefixes = dict(token_prefixes or {})
        self._calls: list[CallRecord] = []
        self._rate_limits: dict[str, _RateLimit] = {}
        self._injected: dict[str, _InjectedError] = {}
        self._outages: dict[str, _Outage] = {}

    @property
    def calls(self) -> list[CallRecord]:
        """Every call answered so far, oldest first."""
        with self._workspace.lock:
            return list(self._calls)

    def rate_limit(self, method: str, *, fraction: float, retry_after: int, seed: int | None) -> None:
        """Answer `fraction` of the calls to `method` with HTTP 429 (``fraction=0`` lifts the limit)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, got {fraction}")
        with self._workspace.lock:
            if fraction == 0.0:
                self._rate_limits.pop(method, None)
                return
            self._rate_limits[method] = _RateLimit(fraction, retry_after, random.Random(seed))

    def inject_error(self, method: str, error: str, *, times: int) -> None:
        """Make the next `times` calls to `method` fail with ``error``."""
        with self._workspace.lock:
            self._injected[method] = _InjectedError(error, times)

    def outage(
        self,
        method: str,
        *,
        seconds: float,
        status: int | None,
        retry_after: int | None,
        delay: float,
        processed: bool,
    ) -> None:
        """For `seconds` from now, answer `method` with HTTP `status` after `delay` seconds (see `SlackEmulator.outage`)."""
        with self._workspace.lock:
            self._outages[method] = _Outage(time.monotonic() + seconds, status, retry_after, delay, processed)

    def answer(self, method: str, token: str | None, params: JSONDict) -> Answer:
        """Slack's answer to one call of `method` with `token`, recorded."""
        with self._workspace.lock:
            outage = self._outages.get(method)
            if outage is not None and time.monotonic() >= outage.until:
                del self._outages[method]
                outage = None
            if outage is not None and outage.status is not None:
                return self._failed(method, token, params, outage)
            answer = self._answer(method, token, params)
            return Answer(answer.status, answer.body, answer.headers, outage.delay if outage else 0.0)

    def _failed(self, method: str, token: str | None, params: JSONDict, outage: _Outage) -> Answer:
        assert outage.status is not None
        if outage.processed:  # Slack did the work; only its answer is lost
            with contextlib.suppress(RateLimited, ApiError):
                self._dispatch(method, token, params)
        headers = {"Retry-After": str(outage.retry_after)} if outage.retry_after is not None else {}
        body: JSONDict = {"ok": False, "error": "ratelimited" if outage.status == 429 else "internal_error"}
        return self._recorded(method, params, Answer(outage.status, body, headers, outage.delay))

    def _answer(self, method: str, token: str | None, params: JSONDict) -> Answer:
        status, headers = 200, {}
        try:
            body = self._dispatch(method, token, params)
        except RateLimited as limited:
            status, headers = 429, {"Retry-After": str(limited.retry_after)}
            body = {"ok": False, "error": "ratelimited"}
        except ApiError as error:
            body = error.body()
        return self._recorded(method, params, Answer(status, body, headers))

    def _recorded(self, method: str, params: JSONDict, answer: Answer) -> Answer:
        record = CallRecord(
            method=method,
            params=copy.deepcopy(normalized_params(params)),
            response=copy.deepcopy(answer.body),
            status_code=answer.status,
            timestamp=time.time(),
        )
        self._calls.append(record)
        return answer

    def _dispatch(self, method: str, token: str | None, params: JSONDict) -> JSONDict:
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        if not token:
            raise ApiError("not_authed")
        wanted = self._token_prefixes.get(method, "xoxb-")
        if not token.startswith(wanted):
            # Slack tells a token of the wrong kind from a token that is no token at all.
            known_kind = token.startswith(("xoxb-", "xapp-"))
            raise ApiError("not_allowed_token_type" if known_kind else "invalid_auth")
        self._apply_rate_limit(method)
        self._apply_injected_error(method)
        return handler(self._workspace, params)

    def _apply_rate_limit(self, method: str) -> None:
        rule = self._rate_limits.get(method)
        if rule is not None and rule.rng.random() < rule.fraction:
            raise RateLimited(rule.retry_after)

    def _apply_injected_error(self, method: str) -> None:
        injected = self._injected.get(method)
        if injected is None:
            return
        injected.remaining -= 1
        if injected.remaining <= 0:
            del self._injected[method]
        raise ApiError(injected.error)
