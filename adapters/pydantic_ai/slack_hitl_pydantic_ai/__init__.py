"""slack_hitl adapter for Pydantic AI: deferred tool calls become rows of one Slack approval.

``PydanticAIAdapter(agent).pause_to_approval(engine, result, channel=..., title=...)`` opens the
approval for a run that ended with ``DeferredToolRequests``; once every row is decided, the engine
resumes the run through the same adapter with ``DeferredToolResults``.
"""

from slack_hitl import PauseNotUsable, ResumeNotPossible
from slack_hitl_pydantic_ai.adapter import PydanticAIAdapter
from slack_hitl_pydantic_ai.requirements import deferred_requirements
from slack_hitl_pydantic_ai.results import deferred_results

__all__ = [
    "PauseNotUsable",
    "PydanticAIAdapter",
    "ResumeNotPossible",
    "deferred_requirements",
    "deferred_results",
]
