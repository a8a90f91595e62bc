"""The end-to-end DAGs of the common-ai provider, with a scripted model: an LLM approval, an agent's
tool approval, and a review loop. Runs inside the real Airflow 3.3 started by test_airflow_e2e.py.

The operators are the provider's own; only their model is scripted. The provider gets its model
from ``PydanticAIHook.get_conn()`` (the hook of ``llm_conn_id``); here the hook answers with
pydantic-ai's ``FunctionModel`` and the functions below, so nothing leaves the machine and every
answer is known in advance. A script reads what a real model would read: the prompt, the
reviewer's feedback (a new user prompt), the result of a tool call, or its denial.
"""

from __future__ import annotations

import os
from functools import cached_property

from airflow.providers.common.ai.hooks.pydantic_ai import PydanticAIHook
from airflow.providers.common.ai.operators.agent import AgentOperator
from airflow.providers.common.ai.operators.llm import LLMOperator
from airflow.sdk import DAG, task
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets.function import FunctionToolset

RELEASE_NOTE = "Webhook deliveries that fail with a 5xx are now retried three times with backoff."
DRAFTS = [
    "Hi John, thanks for writing in.",
    "Hi John, sorry your order 7 was lost: a refund is on its way.",
    "Hi John, sorry your order 7 was lost: we refunded $42; it reaches your card within 3 days.",
]


def _user_prompts(messages: list[ModelMessage]) -> list[str]:
    return [str(part.content) for message in messages for part in message.parts if isinstance(part, UserPromptPart)]


def release_note_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(RELEASE_NOTE)])


def support_agent_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Asks to refund order 7, then reports what the tool said, or why it may not run."""
    results = [part for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
    if not results:
        return ModelResponse(parts=[ToolCallPart("refund_order", {"order_id": 7, "amount": 42.0})])
    outcome = results[-1]
    if outcome.outcome == "denied":
        return ModelResponse(parts=[TextPart(f"Not refunded. The reviewer said: {outcome.content}")])
    return ModelResponse(parts=[TextPart(f"Done: {outcome.content}")])


def ticket_answer_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Draft n for the n-th user prompt: the ticket, then each reviewer's feedback."""
    prompts = _user_prompts(messages)
    return ModelResponse(parts=[TextPart(DRAFTS[min(len(prompts), len(DRAFTS)) - 1])])


class ScriptedHook(PydanticAIHook):
    """The provider's hook, answering with a scripted model instead of a provider's API."""

    def __init__(self, script, **kwargs) -> None:
        super().__init__(llm_conn_id="scripted", **kwargs)
        self._script = script

    def get_conn(self) -> FunctionModel:
        return FunctionModel(self._script)


class ScriptedModel:
    """Gives an operator of the provider the scripted hook instead of the one of its ``llm_conn_id``."""

    script = staticmethod(release_note_model)

    @cached_property
    def llm_hook(self) -> PydanticAIHook:
        return ScriptedHook(self.script)


class ScriptedLLMOperator(ScriptedModel, LLMOperator):
    script = staticmethod(release_note_model)


class ScriptedAgentOperator(ScriptedModel, AgentOperator):
    script = staticmethod(support_agent_model)


class ScriptedReviewedAgentOperator(ScriptedModel, AgentOperator):
    script = staticmethod(ticket_answer_model)


def lookup_order(order_id: int) -> str:
    """Look an order up."""
    return f"order {order_id}: $42, the carrier marked it lost"


def refund_order(order_id: int, amount: float) -> str:
    """Refund an order. Irreversible."""
    return f"refunded ${amount:.0f} for order {order_id}"


shop = FunctionToolset(tools=[lookup_order, refund_order]).approval_required(
    lambda ctx, tool_def, args: tool_def.name == "refund_order"
)


def _notifiers() -> list:
    if not os.environ.get("SLACK_HITL_NOTIFY_URL"):
        return []
    from slack_hitl_airflow.in_airflow.notifier import SlackHitlNotifier

    return [SlackHitlNotifier()]


with DAG(dag_id="slack_hitl_llm_approval", schedule=None, catchup=False, tags=["slack_hitl"]):
    draft = ScriptedLLMOperator(
        task_id="draft_release_note",
        prompt="Write a one-sentence release note for the webhook retry change.",
        llm_conn_id="scripted",
        require_approval=True,
        allow_modifications=True,
        approval_notifiers=_notifiers(),
    )

    @task
    def publish(note: str) -> str:
        return note

    publish(draft.output)


with DAG(dag_id="slack_hitl_agent_tools", schedule=None, catchup=False, tags=["slack_hitl"]):
    ScriptedAgentOperator(
        task_id="handle_ticket",
        llm_conn_id="scripted",
        prompt="The customer says order 7 never arrived. Resolve it.",
        toolsets=[shop],
    )


with DAG(dag_id="slack_hitl_review_loop", schedule=None, catchup=False, tags=["slack_hitl"]):
    answer = ScriptedReviewedAgentOperator(
        task_id="answer_ticket",
        llm_conn_id="scripted",
        prompt="Answer John: his order 7 never arrived.",
        enable_hitl_review=True,
        max_hitl_iterations=5,
        hitl_poll_interval=1.0,
    )

    @task
    def send(reply: str) -> str:
        return reply

    send(answer.output)
