"""The console's Slack text rendering, in the browser: mrkdwn, markdown, emoji and date tokens as Slack shows them.

The page's own modules are served from the package and run in Debian's Chromium; each case
renders a text and reads back the DOM it built.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from slack_hitl.demo.console import STATIC_DIR
from slack_hitl.testing import BackgroundServer
from tests.demo.support import chromium

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

RENDER = """async ([kind, text]) => {
  const { renderMrkdwn, renderMarkdown } = await import("/static/text.js");
  const context = { people: { U0ALICE: { name: "alice", real_name: "Alice Chen" } }, me: "U0BOB", botUserId: "U0BOT" };
  const node = kind === "markdown" ? renderMarkdown(text) : renderMrkdwn(text, context);
  return node.innerHTML;
}"""


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    app = Starlette(routes=[Mount("/static", StaticFiles(directory=STATIC_DIR))])
    with BackgroundServer(app) as server:
        async with chromium() as browser:
            context = await browser.new_context(timezone_id="America/New_York")
            opened = await context.new_page()
            await opened.goto(f"{server.url}/static/console.css")
            yield opened


async def render(page: Page, text: str, kind: str = "mrkdwn") -> str:
    return await page.evaluate(RENDER, [kind, text])


async def test_mrkdwn_styles_code_and_links(page: Page) -> None:
    assert await render(page, "*bold* _italic_ ~gone~ `x_y*z`") == (
        "<b>bold</b> <i>italic</i> <s>gone</s> <code>x_y*z</code>"
    )
    link = await render(page, "see <https://example.com/a?b=1&amp;c=2|the docs>")
    assert (
        link == 'see <a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the docs</a>'
    )
    assert await render(page, "snake_case_name and 2*3*4") == "snake_case_name and 2*3*4"
    assert await render(page, "```pre *not bold*```") == "<pre>pre *not bold*</pre>"
    assert await render(page, ">quoted\nnot quoted") == "<blockquote>quoted</blockquote>not quoted"


async def test_only_http_https_and_mailto_links_are_clickable(page: Page) -> None:
    for target in (
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "vbscript:x",
    ):
        shown = await render(page, f"<{target}|click me>")
        assert "<a" not in shown and "href" not in shown, shown
        assert "click me" in shown
    assert "<a" not in await render(page, "<!date^1700000000^{date}^javascript:alert(1)|then>")
    assert 'href="mailto:ops@example.com"' in await render(page, "<mailto:ops@example.com|ops>")
    assert 'href="http://example.com/x"' in await render(page, "<http://example.com/x>")


async def test_mentions_dates_and_escaped_text(page: Page) -> None:
    mention = await render(page, "_Only <@U0ALICE> and <@U0BOB> may decide._")
    assert mention == (
        '<i>Only <span class="mention">@Alice Chen</span> and '
        '<span class="mention mention-me">@U0BOB</span> may decide.</i>'
    )
    # 1700000000 is 2023-11-14 22:13:20 UTC: shown in the reader's time zone, not as the fallback.
    date = await render(page, "<!date^1700000000^{date_num} at {time}|2023-11-14 22:13 UTC>")
    assert date == '<span class="slack-date" title="2023-11-14 22:13 UTC">2023-11-14 at 5:13 PM</span>'
    escaped = await render(page, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; <!here>")
    assert escaped == '&lt;script&gt;alert(1)&lt;/script&gt; &amp; <span class="mention mention-me">@here</span>'


async def test_emoji_shortcodes_and_the_cores_progress_marks_are_drawn(page: Page) -> None:
    shown = await render(page, ":white_check_mark: *Approved* :not_an_emoji:")
    assert shown.startswith('<svg viewBox="0 0 16 16" class="emoji" role="img" aria-label=":white_check_mark:">')
    assert shown.endswith("</svg> <b>Approved</b> :not_an_emoji:")
    progress = await render(page, "\n\u23f3 `deploy` started: 3 pods\n", kind="markdown")
    assert 'aria-label=":hourglass_flowing_sand:"' in progress and "<code>deploy</code> started: 3 pods" in progress


async def test_streamed_markdown_paragraphs_lists_and_links(page: Page) -> None:
    shown = await render(
        page, "**Release notes** (*Friendly*)\n- one [x](https://a.example)\n- two\n\nDone.", "markdown"
    )
    assert shown == (
        "<p><b>Release notes</b> (<i>Friendly</i>)</p>"
        '<ul><li>one <a href="https://a.example" target="_blank" rel="noopener noreferrer">x</a></li><li>two</li></ul>'
        "<p>Done.</p>"
    )
