"""The ack of a click over Socket Mode against the ack of the same click over HTTP, in the same run.

usage: python benchmarks/bench_socket_mode.py [--clicks N] [--runs R]

One slack_hitl, wired as ``serve --socket-mode`` wires it (a ``HitlHarness`` in Socket Mode: it
holds slack_sdk's Socket Mode client's WebSocket to the emulator and still serves
``/slack/interactions``), is clicked by two people in turn, each click deciding a row of its own:
one over HTTP (a signed POST to ``/slack/interactions``), one over Socket Mode (an
``interactive`` envelope the emulator sends over the app's WebSocket). Both are timed by the
clicker, from handing the payload over to reading the answer; both acks come after the same
handler stored the decision. The Socket Mode figure also shows the emulator's own view (from
sending the envelope to receiving its ack, without the hop between the clicker's thread and the
emulator's). Printed: per run, the median ack of each and the ratio; then the median ratio over
runs. Alternating the two keeps a noisy machine's noise on both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

import structlog

from slack_hitl import Done, Requirement
from slack_hitl.testing.harness import HitlHarness
from slack_hitl.testing.slack_user import SlackTestUser, find_button


class FinishingAdapter:
    """Resumes at once: the benchmark measures acks, not the run."""

    name = "bench"

    async def resume(self, approval, *, idempotency_key):  # type: ignore[no-untyped-def]
        yield Done()


async def one_run(
    hitl: HitlHarness, http: SlackTestUser, socket: SlackTestUser, clicks: int
) -> tuple[float, float, float]:
    rows = [Requirement(id=f"r{i:03d}", kind="confirmation", title=f"tool call {i:03d}") for i in range(2 * clicks)]
    opened = await hitl.engine.open_approval(title="Benchmark", requirements=rows, adapter="bench")
    approval = await hitl.posted(opened.id)
    assert approval.message_ts is not None
    await hitl.settle()
    channel, ts = hitl.channel, approval.message_ts
    shown = [hitl.emulator.message_payload(channel, ts)]
    shown += [hitl.emulator.message_payload(channel, m.ts) for m in hitl.emulator.thread(channel, ts)]
    http_acks, socket_acks, wire_acks = [], [], []
    for index in range(2 * clicks):
        message, button = find_button(shown, button_text="Approve", near=f"tool call {index:03d}")
        user = http if index % 2 == 0 else socket
        started = time.perf_counter()
        answer = await user.click_rendered(channel, message, button)
        (http_acks if user is http else socket_acks).append(time.perf_counter() - started)
        if user is socket:
            assert socket.last_ack is not None and socket.last_ack.attempts == 1
            wire_acks.append(socket.last_ack.seconds)
        assert answer.status_code == 200
    await hitl.engine.wait_until_final(approval.id, timeout=60)
    await hitl.settle()
    return statistics.median(http_acks), statistics.median(socket_acks), statistics.median(wire_acks)


async def main(clicks: int, runs: int) -> None:
    async with HitlHarness(adapters=[FinishingAdapter()], socket_mode=True, update_window_seconds=0.4) as hitl:
        http = SlackTestUser(hitl.emulator, hitl.interactions_url, hitl.signing_secret, "U0HTTP", "http")
        socket = hitl.user("U0SOCKET", "socket")
        await hitl.emulator.socket_mode.wait_for_connections(1)
        await one_run(hitl, http, socket, min(clicks, 10))  # warm up both paths
        ratios = []
        print(f"{'run':>4} {'HTTP ack p50 ms':>16} {'Socket Mode ack p50 ms':>23} {'(on the wire)':>14} {'ratio':>7}")
        for run in range(1, runs + 1):
            http_ack, socket_ack, wire_ack = await one_run(hitl, http, socket, clicks)
            ratios.append(socket_ack / http_ack)
            print(
                f"{run:>4} {http_ack * 1000:>16.2f} {socket_ack * 1000:>23.2f} {wire_ack * 1000:>14.2f}"
                f" {ratios[-1]:>7.2f}"
            )
        await http.aclose()
        print(
            f"median Socket Mode / HTTP ack ratio over {runs} runs of {clicks} clicks each: {statistics.median(ratios):.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=40, help="clicks per transport per run (default: 40)")
    parser.add_argument("--runs", type=int, default=5, help="runs (default: 5)")
    options = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(options.clicks, options.runs))
