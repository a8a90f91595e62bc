"""Check an answer against its request before it is written.

Airflow 3.1 stores whatever a PATCH carries and fails the task later, when the trigger or the
operator looks at it. So every answer is checked here the way the operator will check it:
options among the request's, exactly one unless ``multiple``, ``params_input`` empty or exactly
the declared params, each value valid for its param's JSON schema.
"""

from __future__ import annotations

from slack_hitl import Decision, DecisionInvalid, Requirement
from slack_hitl_airflow.errors import AnswerInvalid
from slack_hitl_airflow.hitl_detail import HITLRequest
from slack_hitl_airflow.mapping import REQUEST_METADATA, Answer, answer_for, request_of
from slack_hitl_airflow.params import schema_errors

OPTIONS = "chosen_options"


def answer_problems(request: HITLRequest, answer: Answer) -> dict[str, str]:
    """Every problem of ``answer`` for ``request``, keyed by ``chosen_options`` or the param's name."""
    problems: dict[str, str] = {}
    chosen = answer.chosen_options
    unknown = [option for option in chosen if option not in request.options]
    if not chosen:
        problems[OPTIONS] = "choose at least one option"
    elif unknown:
        problems[OPTIONS] = f"{unknown[0]!r} is not one of {', '.join(request.options)}"
    elif len(set(chosen)) != len(chosen):
        problems[OPTIONS] = "an option is chosen twice"
    elif len(chosen) > 1 and not request.multiple:
        problems[OPTIONS] = f"choose exactly one option, not {len(chosen)}"
    given = answer.params_input
    if given:
        for name in sorted(set(given) - set(request.params)):
            problems[name] = "the task declares no such param"
        for name in sorted(set(request.params) - set(given)):
            problems[name] = "missing: every declared param must be given"
        for name, param in request.params.items():
            if name in given and name not in problems:
                errors = schema_errors(given[name], param.json_schema)
                if errors:
                    problems[name] = errors[0]
    return problems


def validate_answer(request: HITLRequest, answer: Answer) -> None:
    """Raise ``AnswerInvalid`` unless Airflow's operator would accept ``answer`` for ``request``."""
    problems = answer_problems(request, answer)
    if problems:
        raise AnswerInvalid(problems)


def check_row_decision(requirement: Requirement, decision: Decision) -> None:
    """Raise ``DecisionInvalid`` (field -> problem) when a decision of an Airflow row would make an answer
    its request refuses: what the modal's typed fields cannot express (patterns, formats, JSON shapes).

    Rows not made from an Airflow request pass unchecked.
    """
    if REQUEST_METADATA not in requirement.metadata:
        return
    fields = {f.name for f in requirement.fields}
    try:
        answer = answer_for(requirement, decision, slack_user="U0CHECK", slack_user_name="check")
    except AnswerInvalid as invalid:
        raise DecisionInvalid(invalid.errors) from None
    problems = {
        name: problem for name, problem in answer_problems(request_of(requirement), answer).items() if name in fields
    }
    if problems:
        raise DecisionInvalid(problems)
