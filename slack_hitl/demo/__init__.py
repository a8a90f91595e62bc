"""``slack-hitl demo``: a local console that looks and clicks like Slack, on embedded defaults.

The console shows what slack_hitl posts to an emulated Slack workspace (messages, threads,
streamed continuations, modals) and turns every click into the signed request Slack would
send to the real service. ``DemoSession`` wires the parts; ``DemoAgent`` is the sample
adapter whose pauses the console opens; ``run_script`` decides a sample headless.
"""

from slack_hitl.demo.agent import DEMO_ADAPTER, DemoAgent, continuation_steps
from slack_hitl.demo.console import build_console_app
from slack_hitl.demo.defaults import DEFAULT_DEMO_DATABASE_URL
from slack_hitl.demo.samples import LARGE_ROWS, SAMPLE_KINDS, Sample, SampleKind, build_sample
from slack_hitl.demo.script import run_script
from slack_hitl.demo.session import PEOPLE, DemoDatabaseInUse, DemoSession, UnknownPerson

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
