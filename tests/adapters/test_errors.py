"""Every adapter's errors are slack_hitl errors, and the same failure has the same name in every adapter."""

from __future__ import annotations

import importlib

import pytest
from slack_hitl_airflow import AirflowForbidden, AnswerInvalid

import slack_hitl
from slack_hitl import PauseNotUsable, ResumeNotPossible, SlackHitlError

AGENT_ADAPTERS = ["slack_hitl_agno", "slack_hitl_langgraph", "slack_hitl_openai_agents", "slack_hitl_pydantic_ai"]


def _exported_errors(package: str) -> dict[str, type[BaseException]]:
    module = importlib.import_module(package)
    exported = {name: getattr(module, name) for name in module.__all__}
    return {name: value for name, value in exported.items() if isinstance(value, type) and issubclass(value, Exception)}


@pytest.mark.parametrize("package", [*AGENT_ADAPTERS, "slack_hitl_airflow"])
def test_every_error_an_adapter_exports_is_a_slack_hitl_error(package: str) -> None:
    errors = _exported_errors(package)
    assert errors, f"{package} exports no errors"
    assert [name for name, error in errors.items() if not issubclass(error, SlackHitlError)] == []


@pytest.mark.parametrize("package", AGENT_ADAPTERS)
def test_a_pause_or_resume_that_cannot_go_on_raises_the_same_error_in_every_agent_adapter(package: str) -> None:
    errors = _exported_errors(package)
    assert errors["PauseNotUsable"] is PauseNotUsable is slack_hitl.PauseNotUsable
    assert errors["ResumeNotPossible"] is ResumeNotPossible is slack_hitl.ResumeNotPossible
    assert issubclass(PauseNotUsable, ValueError) and issubclass(ResumeNotPossible, RuntimeError)


def test_airflow_errors_are_also_the_standard_exceptions_they_resemble() -> None:
    errors = _exported_errors("slack_hitl_airflow")
    resembles = {
        "AirflowUnavailable": ConnectionError,
        "AirflowAuthFailed": PermissionError,
        "AirflowForbidden": PermissionError,
        "AirflowNotFound": LookupError,
        "AirflowUnprocessable": ValueError,
        "AnswerInvalid": slack_hitl.DecisionInvalid,
    }
    assert {name: issubclass(errors[name], standard) for name, standard in resembles.items()} == dict.fromkeys(
        resembles, True
    )
    # Beside an OSError, the Airflow error still carries its message, status and detail.
    forbidden = AirflowForbidden("Airflow answered 403", detail="not an assigned user")
    assert (str(forbidden), forbidden.status, forbidden.detail) == ("Airflow answered 403", 403, "not an assigned user")
    invalid = AnswerInvalid({"reviewer": "required"})
    assert (str(invalid), invalid.errors) == ("reviewer: required", {"reviewer": "required"})
