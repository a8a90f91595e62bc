"""The demo console in a real browser: a person decides every row of the sample pause and watches the run resume.

``slack-hitl demo`` runs as a user starts it; Debian's Chromium, driven by Playwright, clicks
the buttons, fills every kind of modal (one value refused by the modal as Slack's client
refuses it, one refused by the service), sees the rows turn decided, the continuation stream
into the thread and the final outcome, then opens a large pause whose rows continue in the
thread. Screenshots land in ``artifacts/screenshots/``. The database the demo wrote is read
afterwards: every decision the browser made is stored with who made it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from slack_hitl.store import Store
from tests.demo.support import SCREENSHOTS, chromium, start_demo

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

GROWN = """(length) => {
  const streaming = document.querySelector("#thread .message.streaming .markdown");
  return streaming !== null && streaming.innerText.length > length;
}"""


async def shoot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def row(pane: Locator, title: str) -> Locator:
    """The section block that shows the row titled ``title``."""
    return pane.locator(f"xpath=.//{_section(title)}")


def row_button(pane: Locator, title: str, text: str) -> Locator:
    """A button of the row titled ``title``: its accessory, or in the actions block right below it."""
    section = _section(title)
    button = f"button[normalize-space()={json.dumps(text)}]"
    actions = "following-sibling::div[1][contains(concat(' ', @class, ' '), ' bk-actions ')]"
    return pane.locator(f"xpath=.//{section}//{button} | .//{section}/{actions}//{button}")


def _section(title: str) -> str:
    return f"div[contains(concat(' ', @class, ' '), ' bk-section ')][.//b[contains(., {json.dumps(title)})]]"


async def open_modal(page: Page, button: Locator) -> Locator:
    """Click a button that opens a modal; as a person would, click again when Slack says it could not open in time.

    Slack's trigger_id lives 3 seconds; on a loaded machine the emulated Slack holds to that too.
    """
    modal = page.get_by_role("dialog")
    too_late = page.locator(".message.ephemeral", has_text="could not open the form in time")
    for _ in range(3):
        seen = await too_late.count()
        await button.click()
        try:
            await expect(modal).to_be_visible(timeout=8_000)
            return modal
        except AssertionError:
            if await too_late.count() == seen:
                raise
    raise AssertionError("Slack could not open the modal in time, three clicks in a row")


async def act_as(page: Page, name: str) -> None:
    """Switch who clicks, and wait until the channel is drawn as they see it (a person looks before clicking)."""
    chosen = await page.get_by_label("Viewing as").select_option(label=name)
    await expect(page.locator("body")).to_have_attribute("data-viewing", chosen[0])


async def test_a_person_decides_every_row_in_the_console_and_watches_the_run_resume(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    async with chromium() as browser:
        demo = await start_demo("--port", "0", "--database-url", f"sqlite:///{database}", cwd=tmp_path)
        try:
            await decide_and_watch(await browser.new_page(viewport={"width": 1440, "height": 960}), demo.url)
        finally:
            code, stderr = await demo.stop()
    assert code == 0, stderr
    await check_what_was_stored(database)


async def decide_and_watch(page: Page, url: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await page.goto(url)
    try:
        await decide_the_sample(page)
        await watch_the_resume(page)
        await open_a_large_pause(page)
        await decide_a_purchase_in_two_steps(page)
    except Exception:
        await shoot(page, "failed")  # what the person saw when the test gave up
        raise
    assert errors == [], f"the console raised in the browser: {errors}"


async def decide_the_sample(page: Page) -> None:
    channel = page.locator("#messages")
    await expect(channel.locator(".bk-header")).to_have_text("Release agent: ship billing-api v2.4")
    await expect(channel.locator(".bk-context").first).to_contain_text("0 of 5 decided")
    # The row's mrkdwn as Slack shows it: code, bold, italic, a link, the deciders' mention.
    migration = row(channel, "Run database migration")
    await expect(migration.locator("code")).to_have_text("invoices")
    await expect(migration.locator("i")).to_have_text("Irreversible")
    await expect(migration.get_by_role("link", name="migration runbook")).to_have_attribute(
        "href", "https://runbooks.example.com/billing/migrations"
    )
    await expect(row(channel, "Post the release note").locator(".mention")).to_have_text("@Bob Okafor")
    await shoot(page, "01-sample-pause")

    # A confirmation rejected: Slack asks for the reason in a modal.
    modal = await open_modal(page, row_button(channel, "Run database migration", "Reject"))
    await expect(modal).to_contain_text("You chose Reject")
    await modal.get_by_label("Reason").fill("Wait for tonight's backup to finish.")
    await shoot(page, "02-modal-reason")
    await modal.get_by_role("button", name="Reject").click()
    await expect(modal).to_be_hidden()
    migrate = row(channel, "Run database migration")
    await expect(migrate).to_contain_text("Rejected (Reject) by @Alice Chen (alice)")
    await expect(migrate).to_contain_text("Wait for tonight's backup to finish.")

    # Only Bob may approve the announcement: Alice is told so, only she sees it; Bob approves.
    await row_button(channel, "Post the release note", "Approve").click()
    note = channel.locator(".message.ephemeral")
    await expect(note).to_contain_text("You may not decide Post the release note to #releases; it is for @Bob Okafor")
    await expect(note).to_contain_text("Only visible to you")
    await shoot(page, "03-ephemeral-refusal")
    await act_as(page, "Bob Okafor (@bob)")
    await expect(channel.locator(".message.ephemeral")).to_have_count(0)
    await row_button(channel, "Post the release note", "Approve").click()
    await expect(row(channel, "Post the release note")).to_contain_text("Approved (Approve) by @Bob Okafor (bob)")

    await fill_the_deployment_settings(page, channel)
    await answer_the_feedback_questions(page, channel)
    await submit_the_smoke_test_result(page, channel)


async def fill_the_deployment_settings(page: Page, channel: Locator) -> None:
    await act_as(page, "Carol Diaz (@carol)")
    modal = await open_modal(page, row_button(channel, "Deployment settings", "Provide input"))
    await expect(modal.locator(".modal-title")).to_have_text("Provide input")
    # What the modal shows before anything is typed: initial values, optional marks and hints.
    await expect(modal.get_by_label("Replicas")).to_have_value("3")
    await expect(modal.get_by_label("CPU per pod (cores)")).to_have_value("1.5")
    await expect(modal.get_by_label("Region")).to_have_value("0")
    await expect(modal.locator(".bk-input", has_text="Channels to notify")).to_contain_text("(optional)")
    await expect(modal.locator(".bk-input", has_text="Change ticket")).to_contain_text("For example CHG-1234.")
    await expect(modal.get_by_label("Yes")).to_be_checked()

    # Slack's client refuses a number out of range before anything is sent.
    await modal.get_by_label("Replicas").fill("50")
    await modal.get_by_role("button", name="Submit").click()
    replicas = modal.locator(".bk-input", has_text="Replicas")
    await expect(replicas.locator(".bk-error")).to_have_text("Please enter a number between 1 and 20.")
    await expect(modal.locator(".bk-input", has_text="Change ticket").locator(".bk-error")).to_have_text(
        "Please complete this required field."
    )
    await shoot(page, "04-modal-refuses-a-value")

    window = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    await modal.get_by_label("Replicas").fill("4")
    await modal.get_by_label("CPU per pod (cores)").fill("2.5")
    await modal.get_by_label("Region").select_option(label="eu-central-1")
    await modal.get_by_label("Canary (5% first)").check()
    await modal.get_by_label("Add an option").select_option(label="#sre")
    await modal.get_by_label("Add an option").select_option(label="#payments")
    await modal.get_by_label("Health endpoint").check()
    await modal.get_by_label("Error budget").check()
    await modal.get_by_label("Maintenance window").fill(window)
    await modal.get_by_label("Change ticket").fill("CHG-2041")
    await modal.get_by_label("Notes for the on-call engineer").fill("Watch the backfill.\nIt may page at 80% disk.")
    await expect(modal.locator(".bk-token")).to_have_count(2)
    await shoot(page, "05-modal-every-input")
    await modal.get_by_role("button", name="Submit").click()
    await expect(modal).to_be_hidden()
    deploy = row(channel, "Deployment settings")
    await expect(deploy).to_contain_text("Answered by @Carol Diaz (carol)")
    await expect(deploy).to_contain_text("Replicas: 4")
    await expect(deploy).to_contain_text("Region: eu-central-1")


async def answer_the_feedback_questions(page: Page, channel: Locator) -> None:
    await act_as(page, "Alice Chen (@alice)")
    modal = await open_modal(page, row_button(channel, "How should the release notes read?", "Answer"))
    await modal.get_by_label("Friendly").check()
    await modal.get_by_label("The invoices API").check()
    await modal.get_by_label("Faster CSV exports").check()
    await modal.get_by_role("button", name="Submit").click()
    await expect(modal).to_be_hidden()
    await expect(row(channel, "How should the release notes read?")).to_contain_text("Friendly")


async def submit_the_smoke_test_result(page: Page, channel: Locator) -> None:
    await act_as(page, "Bob Okafor (@bob)")
    modal = await open_modal(page, row_button(channel, "Run the smoke tests", "Submit result"))
    # The service refuses what is not JSON; the modal stays open and says why under the input.
    await modal.get_by_label("Result").fill('{"passed": 42, "failed": 0')
    await modal.get_by_role("button", name="Submit").click()
    await expect(modal.locator(".bk-input", has_text="Result").locator(".bk-error")).to_contain_text("not valid JSON")
    await shoot(page, "06-modal-refused-by-the-service")
    await modal.get_by_label("Result").fill('{"passed": 42, "failed": 0}')
    await modal.get_by_role("button", name="Submit").click()
    await expect(modal).to_be_hidden()


async def watch_the_resume(page: Page) -> None:
    thread = page.locator("#thread")
    # The run's thread opens by itself when it starts resuming, with the "thinking" status.
    await expect(page.locator("#thread-status")).to_contain_text("slack_hitl is", timeout=10_000)
    streamed = thread.locator(".message.streaming .markdown")
    await expect(streamed).to_contain_text("Resuming", timeout=10_000)
    # Seen growing while it streams, not only once it is done.
    first = len(await streamed.inner_text())
    await page.wait_for_function(GROWN, arg=first, timeout=10_000)
    await shoot(page, "07-continuation-streaming")
    await expect(thread.locator(".message.streaming")).to_have_count(0, timeout=20_000)
    reply = thread.locator(".thread-messages .message .markdown").last
    await expect(reply).to_contain_text("run_migration skipped: rejected by alice")
    await expect(reply).to_contain_text("Release notes (Friendly)")
    await expect(reply).to_contain_text("Finished: 4 of 5 steps done")
    await expect(page.locator("#thread-status")).to_be_hidden()

    sample = page.locator("#messages .message").first
    await expect(sample).to_contain_text("5 of 5 decided")
    await expect(sample).to_contain_text("Completed (some rows were rejected)")
    await expect(sample.locator(".bk-button")).to_have_count(0)
    await shoot(page, "08-final-outcome")


async def open_a_large_pause(page: Page) -> None:
    await page.locator("#thread-close").click()
    await page.get_by_role("button", name="Open a large one (57 rows)").click()
    large = page.locator("#messages .message", has_text="57 stale branches")
    await expect(large.locator(".bk-context").first).to_contain_text(
        "rows 1-20 of 57 here; the others are in the thread"
    )
    await large.locator(".replies-bar").click()
    thread = page.locator("#thread-messages")
    await expect(thread).to_contain_text("(continued): Rows 21-40 of 57")
    await expect(thread).to_contain_text("(continued): Rows 41-57 of 57")
    await row_button(thread, "25. Delete branch", "Delete").click()
    await expect(row(thread, "25. Delete branch")).to_contain_text("Approved (Delete) by @Bob Okafor (bob)")
    await expect(large.locator(".bk-context").first).to_contain_text("1 of 57 decided")
    await shoot(page, "09-large-pause-continues-in-the-thread")

    # The composer takes the demo's command too. Messages that did not change keep their
    # DOM nodes when the channel is redrawn, so a redraw never swallows a click on them.
    await large.evaluate("node => { node.dataset.seen = 'before the new sample'; }")
    await page.get_by_label("Message").fill("/demo sample")
    await page.get_by_label("Message").press("Enter")
    await expect(page.locator("#messages .bk-header", has_text="billing-api v2.5")).to_be_visible()
    await expect(large).to_have_attribute("data-seen", "before the new sample")


async def decide_a_purchase_in_two_steps(page: Page) -> None:
    """The approval policies: step 2 locked until step 1, then a 2-of-3 quorum of distinct people."""
    await page.get_by_role("button", name="Open a purchase (2 steps)").click()
    purchase = page.locator("#messages .message", has_text="order 88 laptops")
    await expect(row(purchase, "Finance: release the budget")).to_contain_text("Step 2: waits until step 1 is approved")
    await expect(row_button(purchase, "Finance: release the budget", "Approve")).to_have_count(0)
    await shoot(page, "10-purchase-step-two-locked")

    await act_as(page, "Alice Chen (@alice)")
    await row_button(purchase, "Manager: buy 88 laptops", "Approve").click()
    finance = row(purchase, "Finance: release the budget")
    await expect(finance).to_contain_text("Needs 2 approvals from different people")
    await row_button(purchase, "Finance: release the budget", "Approve").click()
    await expect(finance).to_contain_text("Approvals 1 of 2: @Alice Chen")
    # The same person again counts once, and is told so, only them.
    await row_button(purchase, "Finance: release the budget", "Approve").click()
    await expect(page.locator(".message.ephemeral", has_text="each person counts once")).to_contain_text(
        "You already approved Finance: release the budget"
    )
    await shoot(page, "11-purchase-quorum-one-of-two")

    await act_as(page, "Carol Diaz (@carol)")
    await row_button(purchase, "Finance: release the budget", "Approve").click()
    await expect(finance).to_contain_text("Approved (Approve) by @Alice Chen, @Carol Diaz")
    await expect(purchase.locator(".bk-context").first).to_contain_text("2 of 2 decided")
    await purchase.locator(".replies-bar").click()
    await expect(page.locator("#thread-messages")).to_contain_text("budget released by alice, carol")
    await shoot(page, "12-purchase-approved-by-two")


async def check_what_was_stored(database: Path) -> None:
    store = await Store.open(f"sqlite:///{database}", create=False)
    try:
        approvals = {a.title: a for a in await store.list_approvals(limit=10)}
        release = approvals["Release agent: ship billing-api v2.4"]
        assert release.status == "completed"
        by_row = {r.id: r for r in release.rows}
        assert by_row["migrate"].decision.reason == "Wait for tonight's backup to finish."
        assert by_row["announce"].decided_by == "U0BOB"
        deploy = by_row["deploy"].decision.values
        assert deploy["replicas"] == 4 and deploy["cpu"] == 2.5 and deploy["region"] == "eu-central-1"
        assert deploy["notify"] == ["#sre", "#payments"] and deploy["dry_run"] is True
        assert deploy["handover"] == "Watch the backfill.\nIt may page at 80% disk."
        assert by_row["notes"].decision.values["highlights"]["selected"] == ["The invoices API", "Faster CSV exports"]
        assert by_row["smoke"].decision.result == {"passed": 42, "failed": 0}
        assert {r.decided_by for r in release.rows} == {"U0ALICE", "U0BOB", "U0CAROL"}
        large = next(a for title, a in approvals.items() if "57 stale branches" in title)
        assert [r.id for r in large.rows if r.decided] == ["b24"]
        purchase = approvals["Purchase agent: order 88 laptops"]
        assert purchase.status == "approved"
        assert [v.voter for v in purchase.row("finance").votes] == ["U0ALICE", "U0CAROL"]
    finally:
        await store.close()
