"""slack_hitl adapter for the OpenAI Agents SDK.

A run paused on ``needs_approval`` tool calls becomes one approval, one row per call; the rows
are decided in Slack and the run resumes with ``state.approve`` / ``state.reject`` and
``Runner.run_streamed``, its output streamed into the approval's thread.
"""

from slack_hitl import PauseNotUsable, ResumeNotPossible
from slack_hitl_openai_agents.adapter import OpenAIAgentsAdapter
from slack_hitl_openai_agents.errors import HumanAnswerMissing
from slack_hitl_openai_agents.human_tools import HumanAnswerSpec, HumanTool, ask_user_tool, external_tool, input_tool
from slack_hitl_openai_agents.resumed import ResumedCall, resumed_call

__all__ = [
    "HumanAnswerMissing",
    "HumanAnswerSpec",
    "HumanTool",
    "OpenAIAgentsAdapter",
    "PauseNotUsable",
    "ResumeNotPossible",
    "ResumedCall",
    "ask_user_tool",
    "external_tool",
    "input_tool",
    "resumed_call",
]
