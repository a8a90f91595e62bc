"""``slack-hitl demo --script``: the sample pause decided by a script, headless, for a check in a terminal.

The script does what people do in the console, through the same path: each click and each
modal submission is a signed Slack request to the running service. It decides every row of the
release sample (one confirmation rejected with a reason, one refused for the wrong person, one
modal submission refused for an invalid value), waits for the resume, prints the thread and then
the decision trace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TextIO

import httpx

from slack_hitl.approvals import Approval
from slack_hitl.demo.session import ALICE, BOB, CAROL, DemoSession
from slack_hitl.status import FINAL_STATUSES
from slack_hitl.testing.slack_user import SlackTestUser
from slack_hitl.traces import approval_trace, trace_markdown

RESUME_TIMEOUT_SECONDS = 30.0
INVALID_REPORT = '{"passed": 42, "failed": 0'
SMOKE_REPORT = '{"passed": 42, "failed": 0}'


def deploy_values(today: dt.date) -> dict[str, object]:
    """What the script fills into the deployment settings modal, by input label."""
    return {
        "Replicas": 4,
        "CPU per pod (cores)": 2.5,
        "Region": "eu-central-1",
        "Rollout strategy": "Canary (5% first)",
        "Channels to notify": ["#sre", "#payments"],
        "Checks after the rollout": ["Health endpoint", "Error budget"],
        "Maintenance window": (today + dt.timedelta(days=2)).isoformat(),
        "Change ticket": "CHG-2041",
        "Notes for the on-call engineer": "Watch the invoices backfill;\nit may page at 80% disk.",
        "Dry run first": True,
    }


class ScriptedSession:
    """Decides the release sample's rows one by one, printing what each person did and what Slack showed."""

    def __init__(self, session: DemoSession, approval: Approval, out: TextIO) -> None:
        self.session = session
        self.approval = approval
        self.out = out
        self.channel = session.channel
        self.ts = approval.message_ts or ""

    async def decide_every_row(self) -> None:
        alice, bob, carol = (self.session.person(p.id) for p in (ALICE, BOB, CAROL))
        await self.click(alice, "Reject", near="0042_add_invoices")
        await self.submit(alice, {"Reason": "Wait for tonight's backup to finish."})
        await self.click(alice, "Approve", near="#releases")
        await self.click(bob, "Approve", near="#releases")
        await self.click(carol, "Provide input", near="Deployment settings")
        await self.submit(carol, deploy_values(dt.date.today()))
        await self.click(alice, "Answer", near="release notes")
        await self.submit(
            alice,
            {"Which tone for the release notes?": "Friendly", "What should they highlight?": ["The invoices API"]},
        )
        await self.click(bob, "Submit result", near="smoke tests")
        await self.submit(bob, {"Result": INVALID_REPORT})
        await self.submit(bob, {"Result": SMOKE_REPORT})

    async def click(self, person: SlackTestUser, button: str, *, near: str) -> None:
        emulator = self.session.hitl.emulator
        views_before = len(emulator.views(person.user_id))
        notes_before = len(emulator.ephemerals(person.user_id))
        response = await person.click(self.channel, self.ts, button_text=button, near=near)
        await self.session.hitl.settle()
        view = emulator.open_view(person.user_id)
        notes = emulator.ephemerals(person.user_id)[notes_before:]
        if response.status_code != 200:
            shown = f"the service answered {response.status_code}: {response.text}"
        elif view is not None and len(emulator.views(person.user_id)) > views_before:
            shown = f"a modal opens: {view.title}"
        elif notes:
            shown = f"refused, only {person.user_name} sees: {notes[-1].text}"
        else:
            shown = "recorded"
        self.say(person, f"clicks [{button}] near {near!r}", shown)

    async def submit(self, person: SlackTestUser, values: Mapping[str, object]) -> None:
        response = await person.submit_view(values)
        await self.session.hitl.settle()
        self.say(person, f"submits {_summary(values)}", _ack_text(response))

    def say(self, person: SlackTestUser, did: str, shown: str) -> None:
        print(f"  {person.user_name:<6} {did}\n         -> {shown}", file=self.out)


def _summary(values: Mapping[str, object]) -> str:
    text = ", ".join(f"{label}={value!r}" for label, value in values.items())
    return text if len(text) <= 160 else text[:157] + "..."


def _ack_text(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"the service answered {response.status_code}: {response.text}"
    if not response.content.strip():
        return "recorded; the modal closes"
    ack = response.json()
    if ack.get("response_action") == "errors":
        problems = "; ".join(ack.get("errors", {}).values())
        return f"refused in the modal: {problems}"
    return f"the modal shows: {ack}"


async def run_script(database_url: str, out: TextIO, *, pace: float = 1.0) -> int:
    """Run the scripted session; 0 when every row was decided and the run resumed to a final status."""
    async with DemoSession(database_url, pace=pace, update_window_seconds=0.1) as session:
        approval = await session.open_sample("release")
        kinds = ", ".join(row.requirement.kind for row in approval.rows)
        print(f"slack-hitl demo --script on {database_url}", file=out)
        print(f"Opened {approval.title!r} ({approval.id}): {len(approval.rows)} rows ({kinds})", file=out)
        script = ScriptedSession(session, approval, out)
        await script.decide_every_row()
        print("Every row is decided; waiting for the run to resume...", file=out)
        try:
            final = await session.hitl.engine.wait_until_final(approval.id, timeout=RESUME_TIMEOUT_SECONDS)
        except TimeoutError:
            stuck = await session.hitl.store.get(approval.id)
            why = f": {stuck.last_error}" if stuck.last_error else ""
            print(f"The run did not finish within {RESUME_TIMEOUT_SECONDS:g} s ({stuck.status}){why}", file=out)
            return 1
        await session.hitl.settle()
        print(f"\nThe thread of {final.title!r}:", file=out)
        for reply in session.hitl.thread(final):
            print("  | " + reply.text.strip().replace("\n", "\n  | "), file=out)
        trace = approval_trace(final, await session.hitl.store.decision_log(final.id))
        print("\n" + trace_markdown(trace), file=out)
        if final.status not in FINAL_STATUSES or not final.all_decided:
            print(f"The approval ended {final.status} with undecided rows.", file=out)
            return 1
        print(f"Outcome: {final.status}. The trace is in {database_url} (slack-hitl traces).", file=out)
        return 0
