"""slack_hitl adapter for LangGraph and LangChain v1's ``HumanInTheLoopMiddleware``.

Wire it in a few lines::

    adapter = LangGraphAdapter(graph)              # a compiled graph with a checkpointer
    engine.register(adapter)
    result = await graph.ainvoke(inputs, config, version="v2")
    if result.interrupts:
        await adapter.pause_to_approval(engine, result, config=config, channel="C0123", title="Refund order 42")

When every row is decided the engine resumes the graph with ``Command(resume={interrupt_id: ...})``
on the same thread and streams the continuation into the message's thread.
"""

from slack_hitl import PauseNotUsable, ResumeNotPossible
from slack_hitl_langgraph.adapter import LangGraphAdapter

__all__ = ["LangGraphAdapter", "PauseNotUsable", "ResumeNotPossible"]
