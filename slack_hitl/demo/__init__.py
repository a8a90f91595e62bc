"""``slack-hitl demo``: a local console that looks and clicks like Slack, on embedded defaults.

The console shows what slack_hitl posts to an emulated Slack workspace (messages, threads,
streamed continuations, modals) and turns every click into the signed request Slack would
send to the real service. ``DemoSession`` wires the parts; ``DemoAgent`` is the sample
adapter whose pauses the console opens; ``run_script`` decides a sample headless.

Names are imported on first use, so ``slack-hitl --help`` does not load the web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_hitl.demo.agent import DEMO_ADAPTER, DemoAgent, continuation_steps
    from slack_hitl.demo.console import build_console_app
    from slack_hitl.demo.defaults import DEFAULT_DEMO_DATABASE_URL
    from slack_hitl.demo.samples import LARGE_ROWS, SAMPLE_KINDS, Sample, SampleKind, build_sample
    from slack_hitl.demo.script import run_script
    from slack_hitl.demo.session import PEOPLE, DemoDatabaseInUse, DemoSession, UnknownPerson

_EXPORTS = {
    "DEFAULT_DEMO_DATABASE_URL": "slack_hitl.demo.defaults",
    "DEMO_ADAPTER": "slack_hitl.demo.agent",
    "LARGE_ROWS": "slack_hitl.demo.samples",
    "PEOPLE": "slack_hitl.demo.session",
    "SAMPLE_KINDS": "slack_hitl.demo.samples",
    "DemoAgent": "slack_hitl.demo.agent",
    "DemoDatabaseInUse": "slack_hitl.demo.session",
    "DemoSession": "slack_hitl.demo.session",
    "Sample": "slack_hitl.demo.samples",
    "SampleKind": "slack_hitl.demo.samples",
    "UnknownPerson": "slack_hitl.demo.session",
    "build_console_app": "slack_hitl.demo.console",
    "build_sample": "slack_hitl.demo.samples",
    "continuation_steps": "slack_hitl.demo.agent",
    "run_script": "slack_hitl.demo.script",
}

__all__ = [
    "DEFAULT_DEMO_DATABASE_URL",
    "DEMO_ADAPTER",
    "LARGE_ROWS",
    "PEOPLE",
    "SAMPLE_KINDS",
    "DemoAgent",
    "DemoDatabaseInUse",
    "DemoSession",
    "Sample",
    "SampleKind",
    "UnknownPerson",
    "build_console_app",
    "build_sample",
    "continuation_steps",
    "run_script",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slack_hitl.demo' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
