"""slack_hitl adapter for Agno: a paused agent run's requirements as rows of one Slack message.

    adapter = AgnoAdapter(agent)
    engine.register(adapter)
    run = await agent.arun("...")
    if run.is_paused:
        await adapter.pause_to_approval(engine, run, channel="C123")

Once every row is decided the engine calls ``adapter.resume``, which answers each Agno
requirement by id and continues the run with ``agent.acontinue_run(..., stream=True)``.
"""

from slack_hitl import PauseNotUsable, ResumeNotPossible
from slack_hitl_agno.adapter import AgnoAdapter

__all__ = ["AgnoAdapter", "PauseNotUsable", "ResumeNotPossible"]
