"""A separate OS process that races to decide rows: ``python -m tests.core.racer MODE URL LOG APPROVAL_IDS``.

MODE ``decide``: decide every row of the given approvals (in a shuffled order, several asyncio
tasks at once), resuming what this process wins with an adapter that appends one line per
resume to LOG. MODE ``hang``: decide every row, then hang inside the resume (the test kills it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys

from slack_hitl import Actor, AlreadyDecided, ApprovalClosed, DecisionInput, Done, Engine, Store


class AppendingAdapter:
    name = "recording"

    def __init__(self, log_path: str, *, hang: bool) -> None:
        self.log_path = log_path
        self.hang = hang

    async def resume(self, approval, *, idempotency_key):
        undecided = sum(not r.decided for r in approval.rows)
        line = f"{'started' if self.hang else 'resume'} {approval.id} {undecided} {os.getpid()}\n"
        with open(self.log_path, "a") as log:  # noqa: ASYNC230 - one short line, O_APPEND is atomic
            log.write(line)
        if self.hang:
            await asyncio.sleep(3600)
        yield Done()


def answer(row) -> DecisionInput:
    kind = row.requirement.kind
    if kind == "confirmation":
        return DecisionInput(choices=("approve",))
    if kind == "user_input":
        return DecisionInput(values={"replicas": 2})
    if kind == "user_feedback":
        return DecisionInput(values={"tone": "formal"})
    return DecisionInput(result="{}")


async def main(mode: str, url: str, log_path: str, approval_ids: list[str]) -> None:
    store = await Store.open(url, create=False, lease_seconds=1.0 if mode == "hang" else 60.0)
    engine = Engine(store, adapters=[AppendingAdapter(log_path, hang=mode == "hang")])
    actor = Actor(id=f"U{os.getpid()}", name=f"proc-{os.getpid()}")
    work = [(approval_id, row) for approval_id in approval_ids for row in (await store.get(approval_id)).rows]
    random.shuffle(work)

    async def decide_all(share):
        for approval_id, row in share:
            with contextlib.suppress(AlreadyDecided, ApprovalClosed):
                await engine.decide(approval_id, row.id, answer(row), actor)

    await asyncio.gather(*(decide_all(work[i::8]) for i in range(8)))
    await engine.drain()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")))
