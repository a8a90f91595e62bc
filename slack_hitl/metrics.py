"""What an operator watches, in Prometheus's text format: each process counts what it does.

The counters and histograms below are updated where things happen (an ack, a decision, a resume,
a Slack API call, a callback). ``slack-hitl serve`` runs several processes, so it points
``PROMETHEUS_MULTIPROC_DIR`` at a directory of its own before any of them starts: every process
then writes its figures there, and ``/metrics`` of the web process adds them all up. Figures that
are a state of the database (approvals pending, the age of the oldest resume that is due) are not
counted anywhere: ``/metrics`` reads them from the store when it is asked (``exposition``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ACK_SECONDS = Histogram(
    "slack_hitl_ack_seconds", "Time to answer a request, by route.", ["route"], buckets=LATENCY_BUCKETS
)
DECISIONS = Counter(
    "slack_hitl_decisions",
    "Decisions asked for, by outcome: the row's outcome when it was decided, else why not (already_decided, "
    "closed, repeated).",
    ["outcome"],
)
RESUMES = Counter("slack_hitl_resumes", "Resumes run, by result: the final status, failed, or lost_lease.", ["result"])
SLACK_API_CALLS = Counter(
    "slack_hitl_slack_api_calls",
    "Slack Web API responses, by method and response: ok, Slack's error code, 429, or unreachable.",
    ["method", "response"],
)
CALLBACK_SECONDS = Histogram(
    "slack_hitl_callback_seconds",
    "Time until a webhook callback answered (its headers), by HTTP status or unreachable.",
    ["status"],
    buckets=LATENCY_BUCKETS,
)


def share_between_processes(directory: Path) -> None:
    """Make this process, and the processes it starts (they inherit the environment), write their
    figures to files in ``directory`` (emptied first), which ``exposition`` adds up. Call it before
    anything is counted: prometheus_client picks where a figure lives when it is first counted
    (every metric here has labels, so none is before its first ``labels()``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's figures would be added to this one's
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(directory)
    values.ValueClass = values.get_value_class()


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreFigures(Collector):
    def __init__(self, figures: Mapping[str, tuple[str, float]]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, value) in self.figures.items():
            yield GaugeMetricFamily(name, documentation, value=value)


def exposition(store_figures: Mapping[str, tuple[str, float]]) -> bytes:
    """Every process's counters (all of serve's processes' when ``PROMETHEUS_MULTIPROC_DIR`` is set) and
    ``store_figures`` (name -> (documentation, value)) as gauges, in Prometheus's text format."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR):
        MultiProcessCollector(registry)
        sources: list[CollectorRegistry] = [registry]
    else:
        sources = [REGISTRY]
    figures = CollectorRegistry()
    figures.register(_StoreFigures(store_figures))
    return b"".join(generate_latest(source) for source in [*sources, figures])
