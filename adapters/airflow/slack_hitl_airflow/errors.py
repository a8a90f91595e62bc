"""Errors of the Airflow adapter. Each says what Airflow answered and what to do about it.

Each is a ``slack_hitl.SlackHitlError`` and, where one fits, the standard exception it resembles
(a refused login is a ``PermissionError``, a missing task a ``LookupError``...).
"""

from __future__ import annotations

from slack_hitl import DecisionInvalid, SlackHitlError


class AirflowError(SlackHitlError):
    """Airflow's REST API answered something other than success; ``status`` is its HTTP status (0: no answer)."""

    status: int = 0

    def __init__(self, message: str, *, status: int | None = None, detail: object = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.detail = detail


class AirflowUnavailable(AirflowError, ConnectionError):
    """Airflow did not answer (connection refused, timeout)."""


class AirflowAuthFailed(AirflowError, PermissionError):
    """No token could be had with the configured user and password."""


class AirflowForbidden(AirflowError, PermissionError):
    """403: the API user may not do this (for an answer: it is not among the request's assigned users)."""

    status = 403


class AirflowNotFound(AirflowError, LookupError):
    """404: no such DAG run, task instance or HITL request."""

    status = 404


class AirflowConflict(AirflowError):
    """409: the request was answered already (in the Airflow UI, by its timeout, or by an earlier attempt)."""

    status = 409


class AirflowUnprocessable(AirflowError, ValueError):
    """422: Airflow refused the body (e.g. no chosen option) or a query parameter."""

    status = 422


class AirflowServerError(AirflowError):
    """5xx: Airflow failed; worth retrying later."""


class AnswerInvalid(DecisionInvalid):
    """An answer does not fit its HITL request; ``errors`` maps each option or param to its problem.

    Airflow 3.1 accepts such answers and fails the task later, so they are never sent.
    """
