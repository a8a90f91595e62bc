"""views.*: modals opened with a trigger_id, stacked, updated, and what Slack does with a submission's ack."""

from __future__ import annotations

import copy
import secrets
import time

from slack_hitl.slack.documented_limits import VIEW_STACK
from slack_hitl.testing.emulator.errors import ApiError, InvalidViewAckError, invalid_arguments
from slack_hitl.testing.emulator.params import parse_view, required, str_param
from slack_hitl.testing.emulator.records import EmulatedView, JSONDict, Trigger
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace


def top_view(workspace: Workspace, user_id: str) -> EmulatedView | None:
    """The view the user is looking at (top of the stack), if any."""
    open_views = [v for v in workspace.views_by_id.values() if v.user_id == user_id and v.is_open]
    return open_views[-1] if open_views else None


def view_payload(workspace: Workspace, view: EmulatedView) -> JSONDict:
    """The view as Slack shows it in API responses and interaction payloads."""
    definition = view.definition
    return {
        "id": view.id,
        "team_id": workspace.team_id,
        "type": definition.get("type", "modal"),
        "title": definition.get("title"),
        "submit": definition.get("submit"),
        "close": definition.get("close"),
        "blocks": copy.deepcopy(definition.get("blocks", [])),
        "private_metadata": definition.get("private_metadata", ""),
        "callback_id": definition.get("callback_id", ""),
        "external_id": definition.get("external_id", ""),
        "state": {"values": {}},
        "hash": view.hash,
        "clear_on_close": bool(definition.get("clear_on_close", False)),
        "notify_on_close": bool(definition.get("notify_on_close", False)),
        "root_view_id": view.root_view_id,
        "previous_view_id": view.previous_view_id,
        "app_id": workspace.app_id,
        "app_installed_team_id": workspace.team_id,
        "bot_id": workspace.bot_id,
    }


def _usable_trigger(workspace: Workspace, params: JSONDict) -> tuple[str, Trigger]:
    """The request's trigger_id if it can still open a view (the caller spends it)."""
    trigger_id = required(params, "trigger_id")
    trigger = workspace.triggers.get(trigger_id)
    if trigger is None:
        raise ApiError("invalid_trigger_id")
    if trigger.used:
        raise ApiError("exchanged_trigger_id")
    if workspace.now() - trigger.issued_at > workspace.trigger_lifetime_seconds:
        raise ApiError("expired_trigger_id")
    return trigger_id, trigger


def _check_external_id(workspace: Workspace, definition: JSONDict, *, except_view: str | None = None) -> None:
    external_id = definition.get("external_id")
    if not external_id:
        return
    for view in workspace.views_by_id.values():
        if view.id != except_view and view.external_id == external_id:
            raise ApiError("duplicate_external_id")


def _new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _new_view(workspace: Workspace, user_id: str, trigger_id: str, definition: JSONDict) -> EmulatedView:
    view_id = workspace.new_view_id()
    workspace.fill_ids(definition.setdefault("blocks", []))
    view = EmulatedView(
        id=view_id,
        user_id=user_id,
        trigger_id=trigger_id,
        definition=definition,
        hash=_new_hash(),
        root_view_id=view_id,
    )
    workspace.views_by_id[view_id] = view
    return view


def _push_view(workspace: Workspace, user_id: str, trigger_id: str, definition: JSONDict) -> EmulatedView:
    top = top_view(workspace, user_id)
    if top is None:
        raise ApiError("not_found")
    stack = [v for v in workspace.views_by_id.values() if v.root_view_id == top.root_view_id and v.is_open]
    if len(stack) >= VIEW_STACK:
        raise ApiError("push_limit_reached")
    view = _new_view(workspace, user_id, trigger_id, definition)
    view.root_view_id = top.root_view_id
    view.previous_view_id = top.id
    return view


def _replace_definition(workspace: Workspace, view: EmulatedView, definition: JSONDict) -> None:
    workspace.fill_ids(definition.setdefault("blocks", []))
    view.definition = definition
    view.hash = _new_hash()


def _view_to_update(workspace: Workspace, params: JSONDict) -> EmulatedView:
    view_id = str_param(params, "view_id")
    external_id = str_param(params, "external_id")
    if not view_id and not external_id:
        raise invalid_arguments("either view_id or external_id is required")
    for view in workspace.views_by_id.values():
        if (view_id and view.id == view_id) or (external_id and view.external_id == external_id):
            if not view.is_open:
                raise ApiError("not_found")
            return view
    raise ApiError("not_found")


def views_open(workspace: Workspace, params: JSONDict) -> JSONDict:
    trigger_id, trigger = _usable_trigger(workspace, params)
    definition = parse_view(params)
    _check_external_id(workspace, definition)
    for view in workspace.views_by_id.values():
        if view.user_id == trigger.user_id:
            view.is_open = False
    view = _new_view(workspace, trigger.user_id, trigger_id, definition)
    trigger.used = True
    return {"ok": True, "view": view_payload(workspace, view)}


def views_push(workspace: Workspace, params: JSONDict) -> JSONDict:
    trigger_id, trigger = _usable_trigger(workspace, params)
    definition = parse_view(params)
    _check_external_id(workspace, definition)
    view = _push_view(workspace, trigger.user_id, trigger_id, definition)
    trigger.used = True
    return {"ok": True, "view": view_payload(workspace, view)}


def views_update(workspace: Workspace, params: JSONDict) -> JSONDict:
    view = _view_to_update(workspace, params)
    expected_hash = str_param(params, "hash")
    if expected_hash and expected_hash != view.hash:
        raise ApiError("hash_conflict")
    definition = parse_view(params)
    _check_external_id(workspace, definition, except_view=view.id)
    _replace_definition(workspace, view, definition)
    return {"ok": True, "view": view_payload(workspace, view)}


def views_publish(workspace: Workspace, params: JSONDict) -> JSONDict:
    """The user's App Home tab, replaced (``hash`` guards against a stale overwrite, as on Slack)."""
    user_id = required(params, "user_id")
    if user_id not in workspace.users:
        raise ApiError("user_not_found")
    definition = parse_view(params, surface="home")
    current = workspace.home_views.get(user_id)
    expected_hash = str_param(params, "hash")
    if expected_hash and current is not None and expected_hash != current.hash:
        raise ApiError("hash_conflict")
    if current is None:
        view_id = workspace.new_view_id()
        current = EmulatedView(id=view_id, user_id=user_id, trigger_id="", definition={}, hash="", root_view_id=view_id)
        workspace.home_views[user_id] = current
    _replace_definition(workspace, current, definition)
    return {"ok": True, "view": view_payload(workspace, current)}


# --------------------------------------------------------------------------- what the person does


def close_view(workspace: Workspace, view_id: str, *, clear: bool = False) -> None:
    """Close a view as the user would; `clear` closes the whole stack it belongs to."""
    view = workspace.views_by_id[view_id]
    stack = [v for v in workspace.views_by_id.values() if v.root_view_id == view.root_view_id and v.is_open]
    for closing in stack if clear else [view]:
        closing.is_open = False


def apply_view_submission_ack(workspace: Workspace, view_id: str, ack: JSONDict | None) -> None:
    """Do to the view what Slack does with the app's answer to a view_submission (see `SlackEmulator`)."""
    view = workspace.views_by_id[view_id]
    action = (ack or {}).get("response_action")
    view.errors = None
    if not ack:
        view.is_open = False
    elif action == "clear":
        close_view(workspace, view_id, clear=True)
    elif action == "errors":
        view.errors = _checked_errors(view, ack.get("errors"))
    elif action == "update":
        _replace_definition(workspace, view, _checked_ack_view(ack))
    elif action == "push":
        _push_view(workspace, view.user_id, view.trigger_id, _checked_ack_view(ack))
    else:
        raise InvalidViewAckError(f"unknown response_action {action!r} in {ack!r}")


def _checked_errors(view: EmulatedView, errors: object) -> dict[str, str]:
    if not isinstance(errors, dict) or not errors:
        raise InvalidViewAckError(f"response_action errors needs a non-empty errors object, got {errors!r}")
    input_ids = {b.get("block_id") for b in view.blocks if b.get("type") == "input"}
    unknown = sorted(str(k) for k in errors if k not in input_ids)
    if unknown:
        raise InvalidViewAckError(
            f"errors must be keyed by input block_ids {sorted(map(str, input_ids))}, got {unknown}"
        )
    return {str(k): str(v) for k, v in errors.items()}


def _checked_ack_view(ack: JSONDict) -> JSONDict:
    try:
        return parse_view({"view": ack.get("view")})
    except ApiError as error:
        raise InvalidViewAckError(f"Slack would refuse the view in the ack: {error.body()}") from None


METHODS: dict[str, MethodHandler] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
}
