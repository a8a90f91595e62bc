"""What apache-airflow-providers-common-ai puts into HITL requests, recognised so rows read well.

Both of its request shapes are plain HITL requests with the options ``Approve`` / ``Reject``
(checked against the provider's 1.0.0 source):

- ``LLMOperator(require_approval=True)`` (``LLMApprovalMixin.defer_for_approval``): the body is
  the prompt and the generated output in a code block; with ``allow_modifications=True`` a
  string param ``output`` holds the output to edit. Its answer is the output as it stands, edited
  or not; the operator returns the edit only when it differs.
- ``AgentOperator`` with ``approval_required`` toolsets (``_ask_for_tool_approval``, Airflow
  3.3+): the body lists each pending call as ``**tool**`` and its arguments in a JSON code
  block; the params are ``reason`` (optional text the agent gets when the calls are rejected)
  and ``request``, an integer whose schema is ``const``: which approval request of the run the
  answer is for. Such a param is hidden in Airflow's form and must be answered with its const.

The review loop (``enable_hitl_review=True``) is no HITL request at all: see ``review_session``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from slack_hitl_airflow.hitl_detail import HITLParam, HITLRequest

OUTPUT_PARAM = "output"
"""``LLMApprovalMixin``'s editable output (present with ``allow_modifications=True``)."""
TOOL_CALLS_INTRO = "The agent wants to run:"
_TOOL_CALL = re.compile(r"\*\*(?P<name>[^*\n]+)\*\*\s*```json\n(?P<args>.*?)\n```", re.DOTALL)


def is_llm_output_param(request: HITLRequest, name: str) -> bool:
    """Whether param ``name`` is the LLM output a reviewer may edit before approving."""
    param = request.params.get(name)
    return (
        name == OUTPUT_PARAM
        and param is not None
        and request.approval_shaped
        and param.json_schema.get("type") == "string"
    )


def const_value(param: HITLParam) -> tuple[bool, Any]:
    """``(True, value)`` for a param whose schema fixes its value (``const``): hidden, answered with it."""
    if "const" in param.json_schema:
        return True, param.json_schema["const"]
    return False, None


def tool_calls(request: HITLRequest) -> dict[str, Any] | None:
    """The calls an agent asks to run, ``{tool: arguments}`` in order (a repeated tool is numbered),
    read from a tool approval request's body; ``None`` for any other request."""
    body = (request.body or "").strip()
    if not body.startswith(TOOL_CALLS_INTRO):
        return None
    calls: dict[str, Any] = {}
    for match in _TOOL_CALL.finditer(body):
        name = match["name"].strip()
        try:
            arguments: Any = json.loads(match["args"])
        except json.JSONDecodeError:
            arguments = match["args"]
        key, seen = name, 1
        while key in calls:
            seen += 1
            key = f"{name} ({seen})"
        calls[key] = arguments
    return calls or None
