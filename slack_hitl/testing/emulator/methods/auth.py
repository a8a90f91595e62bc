"""auth.*: who the app's token belongs to."""

from __future__ import annotations

from slack_hitl.testing.emulator.records import JSONDict
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace


def auth_test(workspace: Workspace, params: JSONDict) -> JSONDict:
    return {
        "ok": True,
        "url": f"https://{workspace.team_domain}.slack.com/",
        "team": workspace.team_domain,
        "user": workspace.users[workspace.bot_user_id].name,
        "team_id": workspace.team_id,
        "user_id": workspace.bot_user_id,
        "bot_id": workspace.bot_id,
        "is_enterprise_install": False,
    }


METHODS: dict[str, MethodHandler] = {"auth.test": auth_test}
