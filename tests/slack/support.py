"""What the Slack tests share: a scripted adapter and readers of what the emulator shows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from slack_hitl import (
    Approval,
    ContinuationEvent,
    Done,
    NestedPause,
    Requirement,
    Status,
    TextDelta,
    ToolProgress,
)
from slack_hitl.slack.signature import sign_request
from slack_hitl.testing.emulator import EmulatedMessage
from slack_hitl.testing.harness import HitlHarness
from slack_hitl.testing.slack_user import SlackTestUser, block_text, find_button


@dataclass
class Resume:
    approval_id: str
    idempotency_key: str
    decisions: dict[str, Any]
    undecided: list[str]


@dataclass
class ScriptedAdapter:
    """Resumes by streaming a short, fixed continuation; records every resume it was asked for.

    ``fail_first`` resumes raise; ``nest`` makes the first resume of a top-level approval
    pause again with one confirmation row.
    """

    name: str = "scripted"
    fail_first: int = 0
    nest: bool = False
    resumes: list[Resume] = field(default_factory=list)

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncIterator[ContinuationEvent]:
        self.resumes.append(
            Resume(
                approval.id,
                idempotency_key,
                {row_id: decision.model_dump() for row_id, decision in approval.decisions.items()},
                [row.id for row in approval.rows if not row.decided],
            )
        )
        if len(self.resumes) <= self.fail_first:
            raise RuntimeError("deploy API unreachable")
        yield Status(text="is deploying...")
        for piece in ("Deploying ", "build 42 ", "to prod.\n"):
            yield TextDelta(text=piece)
        yield ToolProgress(name="kubectl_apply", state="started")
        yield ToolProgress(name="kubectl_apply", state="finished", detail="3 pods")
        if self.nest and approval.parent_id is None:
            rollout = Requirement(id="rollout", kind="confirmation", title="roll out to every region")
            yield NestedPause(title="Confirm the rollout", requirements=(rollout,), resume_state={"step": 2})
            yield Done(summary="paused for the rollout")
            return
        yield TextDelta(text=f"Finished {approval.title}.")
        yield Done(output={"decided": sorted(approval.decisions)})


def confirmations(count: int, **options: Any) -> list[Requirement]:
    return [
        Requirement(id=f"r{index:02d}", kind="confirmation", title=f"tool call {index:02d}", **options)
        for index in range(count)
    ]


def message_text(message: EmulatedMessage) -> str:
    """Everything a person reads in a message's blocks."""
    return "\n".join(block_text(block) for block in message.blocks)


def button_texts(message: EmulatedMessage) -> list[str]:
    texts = []
    for block in message.blocks:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        texts += [e["text"]["text"] for e in elements if e.get("type") == "button"]
    return texts


# -- clicking many buttons at once --------------------------------------------------------------


def click_payload(
    hitl: HitlHarness, user: SlackTestUser, messages: list[dict[str, Any]], button_text: str, near: str
) -> dict[str, Any]:
    """A block_actions payload for a button among ``messages`` as they were captured (maybe a stale screen)."""
    message, button = find_button(messages, button_text=button_text, near=near)
    return {
        "type": "block_actions",
        "user": {"id": user.user_id, "username": user.user_name, "team_id": hitl.emulator.team_id},
        "team": {"id": hitl.emulator.team_id},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": hitl.channel},
        "channel": {"id": hitl.channel},
        "trigger_id": hitl.emulator.issue_trigger_id(user.user_id),
        "message": message,
        "actions": [button.action()],
    }


def form_body(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def form_headers(headers: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", **headers}


def shown_messages(hitl: HitlHarness, message_ts: str) -> list[dict[str, Any]]:
    """A message and its thread, as Slack puts them in interaction payloads."""
    messages = [hitl.emulator.message_payload(hitl.channel, message_ts)]
    return messages + [
        hitl.emulator.message_payload(hitl.channel, m.ts) for m in hitl.emulator.thread(hitl.channel, message_ts)
    ]


async def click_all(hitl: HitlHarness, message_ts: str, clicks: list[tuple[SlackTestUser, str, str]]) -> list[float]:
    """Post (user, button text, near) clicks at once over one shared HTTP client; returns each ack's seconds.

    SlackTestUser opens a new HTTP client (and TLS context) per request; under load that
    stalls the event loop the app shares with the test, which is not what is measured here.
    """
    messages = shown_messages(hitl, message_ts)
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(user: SlackTestUser, button_text: str, near: str) -> float:
            body = form_body(click_payload(hitl, user, messages, button_text, near))
            started = time.monotonic()
            headers = form_headers(sign_request(hitl.signing_secret, body))
            answer = await client.post(hitl.interactions_url, content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            return time.monotonic() - started

        return list(await asyncio.gather(*(post(*click) for click in clicks)))
