"""users.* and usergroups.*: the workspace's members and user groups."""

from __future__ import annotations

from slack_hitl.testing.emulator.errors import ApiError
from slack_hitl.testing.emulator.params import required
from slack_hitl.testing.emulator.records import JSONDict
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace


def users_info(workspace: Workspace, params: JSONDict) -> JSONDict:
    user = workspace.users.get(required(params, "user", error="user_not_found"))
    if user is None:
        raise ApiError("user_not_found")
    return {
        "ok": True,
        "user": {
            "id": user.id,
            "team_id": user.team_id,
            "name": user.name,
            "real_name": user.real_name,
            "deleted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "tz": "Europe/Berlin",
            "profile": {"real_name": user.real_name, "display_name": user.name, "team": user.team_id},
        },
    }


def usergroups_users_list(workspace: Workspace, params: JSONDict) -> JSONDict:
    # Slack answers an unknown (or missing) group id with no_such_subteam.
    group = workspace.user_groups.get(required(params, "usergroup", error="no_such_subteam"))
    if group is None:
        raise ApiError("no_such_subteam")
    return {"ok": True, "users": list(group.user_ids)}


METHODS: dict[str, MethodHandler] = {
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
}
