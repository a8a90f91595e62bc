"""People and groups in mrkdwn: only Slack ids become mentions; the rest is escaped text."""

from __future__ import annotations

from slack_hitl import Deciders
from slack_hitl.slack.mentions import DECIDERS_SHOWN, NAME_CAP, deciders_text, group_mention, user_mention


def test_slack_ids_become_mentions() -> None:
    assert user_mention("U0ALICE") == "<@U0ALICE>"
    assert user_mention("W012AB") == "<@W012AB>"
    assert group_mention("S0OPS") == "<!subteam^S0OPS>"


def test_anything_else_is_escaped_text_on_one_line() -> None:
    assert user_mention("U0BOB> <!channel> <http://evil.example/x|login") == (
        "U0BOB&gt; &lt;!channel&gt; &lt;http://evil.example/x|login"
    )
    assert group_mention("S0OPS> <!here>") == "S0OPS&gt; &lt;!here&gt;"
    assert user_mention("u0alice") == "u0alice"  # Slack ids are capitals and digits
    assert user_mention("U0ALICE\n") == "U0ALICE"  # a trailing newline is not part of an id
    assert user_mention("S0OPS") == "S0OPS" and group_mention("U0ALICE") == "U0ALICE"
    assert len(user_mention("x" * 500)) == NAME_CAP


def test_deciders_are_people_then_groups_and_the_rest_counted() -> None:
    assert deciders_text(Deciders()) == ""
    assert deciders_text(Deciders(user_ids=("U0ALICE",), group_ids=("S0OPS",))) == "<@U0ALICE>, <!subteam^S0OPS>"
    many = Deciders(user_ids=tuple(f"U0P{index}" for index in range(DECIDERS_SHOWN + 2)))
    shown = ", ".join(f"<@U0P{index}>" for index in range(DECIDERS_SHOWN))
    assert deciders_text(many) == f"{shown} and 2 more"
