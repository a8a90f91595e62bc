"""How a real `slack-hitl serve` answers while Slack fails: seconds, measured from the outside.

usage: python benchmarks/bench_faults.py [--outage 95]

What it does, against the Slack emulator made to fail (``SlackEmulator.outage``) and a SQLite file:
1. views.open hangs: how long the click that opens a modal waits for its ack;
2. usergroups.users.list hangs, then fails: the ack of the first and of the next click on a row
   for a user group (the failure is cached, the next click does not ask Slack);
3. chat.postMessage hangs: how long ``POST /v1/approvals`` takes to answer;
4. chat.postMessage answers 500 for --outage seconds: how long after Slack answers again the
   approval opened at the start of the outage is posted (by a sweep once the opener gave up).

Slack wants an ack within 3 s. Figures vary with the machine; the tests assert the mechanisms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from slack_hitl.testing.emulator import SlackEmulator  # noqa: E402
from slack_hitl.testing.slack_user import SlackTestUser  # noqa: E402
from tests.service.support import (  # noqa: E402
    CHANNEL,
    SIGNING_SECRET,
    CallbackReceiver,
    ServeProcess,
    auth,
    open_over_api,
    service_env,
    serving,
)

HANG = 60.0
ROW = {"id": "deploy", "title": "deploy billing", "requires_confirmation": True}
INPUT_ROW = {"id": "size", "title": "choose the size", "fields": [{"name": "replicas", "type": "integer"}]}


def user(emulator: SlackEmulator, server: ServeProcess, user_id: str) -> SlackTestUser:
    return SlackTestUser(
        emulator, server.interactions_url, SIGNING_SECRET, user_id, user_id.lower(), timeout_seconds=120
    )


async def timed(work: object) -> float:
    started = time.monotonic()
    await work  # type: ignore[misc]
    return time.monotonic() - started


async def main(outage: float) -> None:
    with tempfile.TemporaryDirectory() as directory, SlackEmulator() as emulator, CallbackReceiver() as receiver:
        emulator.add_user_group("S0ONCALL", "oncall", ["U0BOB"])
        env = service_env(emulator.base_url, f"sqlite:///{Path(directory) / 'hitl.db'}")
        async with serving(env, Path(directory) / "serve.log") as server:
            created = await open_over_api(server.url, receiver, [INPUT_ROW])
            emulator.outage("views.open", seconds=HANG, status=None, delay=HANG)
            click = user(emulator, server, "U0BOB").click(CHANNEL, created["message_ts"], button_text="Provide input")
            print(f"views.open hung {HANG:.0f} s: click acked in {await timed(click):.2f} s")

            grouped = await open_over_api(server.url, receiver, [{**ROW, "deciders": {"group_ids": ["S0ONCALL"]}}])
            for status in (None, 500):
                emulator.outage(
                    "usergroups.users.list", seconds=HANG, status=status, delay=HANG if status is None else 0
                )
                bob = user(emulator, server, "U0BOB")
                acks = [await timed(bob.click(CHANNEL, grouped["message_ts"], button_text="Approve")) for _ in range(2)]
                shown = "hung" if status is None else "answering 500"
                print(f"usergroups.users.list {shown}: 1st click acked in {acks[0]:.2f} s, 2nd in {acks[1]:.2f} s")
                await asyncio.sleep(11)  # past the cached failure

            emulator.outage("chat.postMessage", seconds=1, status=None, delay=HANG)
            async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=120) as api:
                request = {"channel": CHANNEL, "title": "Hung post", "requirements": [ROW]}
                answered = await timed(api.post("/v1/approvals", json=request))
                print(f"chat.postMessage hung {HANG:.0f} s: POST /v1/approvals answered in {answered:.2f} s")

                emulator.outage("chat.postMessage", seconds=outage, status=500)
                back_at = time.monotonic() + outage
                opened = (await api.post("/v1/approvals", json={**request, "title": "Outage"})).json()
                while True:
                    if (await api.get(f"/v1/approvals/{opened['id']}")).json()["message_ts"] is not None:
                        break
                    await asyncio.sleep(0.5)
                print(
                    f"chat.postMessage 500 for {outage:.0f} s: posted {time.monotonic() - back_at:.1f} s after Slack was back"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=95.0)
    asyncio.run(main(parser.parse_args().outage))
