"""The Slack interactions endpoint: clicks and modal submissions become decisions.

``InteractionHandler`` takes a verified, parsed interaction payload and returns the body of
the ack; it knows nothing of HTTP, so a Bolt app can call it from its own listeners.
``slack_hitl.slack.endpoint`` serves it at ``/slack/interactions``: it verifies the signature
on the raw body first and acts on nothing that does not verify.

The order of work follows Slack's clock: a modal is opened before anything else (its
trigger_id lives 3 seconds), a decision is durably written before the ack (no acknowledged
decision is ever lost), and whatever talks to Slack afterwards (telling the clicker why a
click did nothing, re-rendering the message, resuming the run) runs after the ack.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.approvals import Actor, Approval, Row, is_system_actor
from slack_hitl.background import BackgroundTasks
from slack_hitl.decisions import DecisionInput
from slack_hitl.engine import Engine
from slack_hitl.errors import (
    AlreadyDecided,
    AlreadyVoted,
    ApprovalClosed,
    ChangeRefused,
    DecisionInvalid,
    NotAllowed,
    RequesterRefused,
    SlackHitlError,
    StepLocked,
    StoreUnavailable,
    UnknownApproval,
    UnknownRow,
)
from slack_hitl.policies import is_refused_requester, may_decide, waiting_for_step
from slack_hitl.requirements import Choice, Requirement
from slack_hitl.slack.client import UserGroupDirectory, slack_error
from slack_hitl.slack.ids import (
    ACTION_PREFIX,
    MODAL_CALLBACK_ID,
    ActionRef,
    MalformedAction,
    RetryRef,
    decode_metadata,
    parse_action,
)
from slack_hitl.slack.limits import SlackLimitError, validate_view
from slack_hitl.slack.markdown import escape, escape_line
from slack_hitl.slack.mentions import NAME_CAP, deciders_text, is_user_id, user_mention
from slack_hitl.slack.modals import build_modal, parse_submission, reason_required, submission_errors
from slack_hitl.storable import json_problems

log = structlog.get_logger("slack_hitl.slack.interactions")

AckBody = dict[str, Any] | None
"""What to answer Slack with: ``None`` is an empty 200 (which also closes a submitted modal)."""


class MalformedPayload(SlackHitlError, ValueError):
    """A signed request whose payload is not a Slack interaction this endpoint understands."""


def refuse_unstorable_text(payload: dict[str, Any]) -> None:
    """``MalformedPayload`` when a text of the payload could not be stored (a lone surrogate, a NUL,
    nesting too deep): whichever transport brought it, such a payload decides nothing."""
    for where, problem in json_problems(payload):
        raise MalformedPayload(f"{'.'.join(map(str, where)) or 'payload'} {problem}")


# -- the parts of Slack's payloads we read ---------------------------------------------------


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _User(_Part):
    id: str = Field(min_length=1)
    username: str | None = None
    name: str | None = None

    @property
    def display_name(self) -> str | None:
        return self.username or self.name


class _Action(_Part):
    action_id: str = Field(min_length=1)
    value: str | None = None
    action_ts: str | None = None


class _Container(_Part):
    message_ts: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None


class _Channel(_Part):
    id: str


class BlockActions(_Part):
    type: Literal["block_actions"]
    user: _User
    actions: list[_Action] = Field(min_length=1)
    trigger_id: str | None = None
    container: _Container = _Container()
    channel: _Channel | None = None


class _ViewState(_Part):
    values: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class _View(_Part):
    id: str
    hash: str | None = None
    callback_id: str = ""
    private_metadata: str = ""
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    state: _ViewState = _ViewState()


class ViewSubmission(_Part):
    type: Literal["view_submission"]
    user: _User
    view: _View


# -- where a click happened, and what to tell the clicker ------------------------------------


@dataclass(frozen=True)
class _Place:
    """The message a click came from: where an ephemeral answer to the clicker goes."""

    channel: str | None
    message_ts: str | None
    thread_ts: str | None

    @classmethod
    def of(cls, payload: BlockActions) -> _Place:
        return cls(
            channel=payload.container.channel_id or (payload.channel.id if payload.channel else None),
            message_ts=payload.container.message_ts,
            thread_ts=payload.container.thread_ts,
        )


def not_allowed_text(requirement: Requirement) -> str:
    return f"You may not decide *{escape(requirement.title)}*; it is for {deciders_text(requirement.deciders)}."


def requester_refused_text(requirement: Requirement) -> str:
    return (
        f"You requested this approval, so you may not decide *{escape(requirement.title)}*: "
        "it needs a second pair of eyes (four-eyes)."
    )


def already_voted_text(title: str, outcome: str) -> str:
    voted = "approved" if outcome == "approved" else "rejected"
    return f"You already {voted} *{escape(title)}*; each person counts once."


def change_refused_text(requirement: Requirement, refused: ChangeRefused) -> str:
    title = escape(requirement.title)
    if refused.reason == "not_yours":
        who = (
            user_mention(refused.decided_by)
            if refused.decided_by and is_user_id(refused.decided_by)
            else "someone else"
        )
        return f"Only the person who decided *{title}* may change it; it was decided by {who}."
    if refused.reason == "last_row":
        return f"*{title}* can no longer be changed: every other row is decided, so the decisions are final."
    return f"You have no decision on *{title}* to change."


def refusal_text(refusal: SlackHitlError, requirement: Requirement, clicker: str) -> str | None:
    """What to tell a person whose decision of ``requirement`` was refused for a reason about them or
    the row (``None`` for the refusals whose words need the approval: closed, unknown)."""
    if isinstance(refusal, AlreadyDecided):
        return already_decided_text(requirement.title, refusal.decided_by, clicker, refusal.decided_by_name)
    if isinstance(refusal, AlreadyVoted):
        return already_voted_text(requirement.title, refusal.outcome)
    if isinstance(refusal, RequesterRefused):
        return requester_refused_text(requirement)
    if isinstance(refusal, NotAllowed):
        return not_allowed_text(requirement)
    if isinstance(refusal, StepLocked):
        return step_locked_text(requirement)
    return None


def step_locked_text(requirement: Requirement) -> str:
    return (
        f"*{escape(requirement.title)}* is in step {requirement.step}: it can be decided once every row "
        "of the earlier steps is approved."
    )


def already_decided_text(title: str, decided_by: str | None, clicker: str, decided_by_name: str | None = None) -> str:
    if decided_by == clicker:
        return f"You already decided *{escape(title)}*."
    if decided_by is None or is_system_actor(decided_by):
        return f"*{escape(title)}* was already decided by slack_hitl (the approval expired)."
    if not is_user_id(decided_by) and decided_by_name:
        # Not a Slack user (an answer an adapter recorded from its framework's own UI, say): the name
        # that row shows, as text, never a mention.
        return f"*{escape(title)}* was already decided by {escape_line(decided_by_name, NAME_CAP)}."
    return f"*{escape(title)}* was already decided by {user_mention(decided_by)}."


def no_such_choice_text(requirement: Requirement, choice: str) -> str:
    return f"*{escape(requirement.title)}* has no choice {escape_line(repr(choice), 160)}; nothing was recorded."


def closed_text(approval: Approval | None, status: str) -> str:
    if status == "expired" or (approval is not None and approval.expired):
        return "This approval expired; it takes no more decisions."
    if status == "resuming":
        return "Every row of this approval is decided and the run is resuming; it takes no more decisions."
    if status == "cancelled":
        return "This approval was cancelled; it takes no more decisions."
    if status == "undecided":
        return "Some rows of this approval are still undecided; there is nothing to retry yet."
    return f"This approval is finished ({status}); it takes no more decisions."


UNKNOWN_TEXT = "This approval is not known here any more; nothing was recorded."
TRY_AGAIN_TEXT = "Nothing was recorded: slack_hitl cannot reach its database just now. Please try again in a minute."
"""What a clicker is told while the store is away (the click is acknowledged, so Slack shows it)."""
VIEWS_OPEN_SECONDS = 2.0
"""How long a click waits for ``views.open``: Slack wants the ack within 3 s (and the trigger lives as long)."""


def _needs_modal(requirement: Requirement, choice: Choice) -> bool:
    # An Airflow task's params ride on its confirmation: approving means filling them in.
    return reason_required(requirement, choice) or bool(requirement.fields and not choice.rejects)


def _delivery_key(*parts: str) -> str:
    """One Slack delivery, so a redelivery of it is recognised (fits the store's 255 characters)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# -- the handler ------------------------------------------------------------------------------


class InteractionHandler:
    """Turns Slack interaction payloads into engine calls and returns what to ack.

    ``handle`` returns once the decision is durably stored (or refused); replies to the
    clicker are sent afterwards in background tasks (``drain`` waits for them).
    """

    def __init__(self, engine: Engine, client: AsyncWebClient, *, groups: UserGroupDirectory | None = None) -> None:
        self.engine = engine
        self.client = client
        self.groups = groups or UserGroupDirectory(client)
        self.stale_tab: Callable[[str], None] | None = None
        """Told the Slack user id whose click in the App Home tab was refused (a row decided since the
        tab was drawn): there is no message to answer in, so the tab is drawn again."""
        self._tasks = BackgroundTasks()

    async def handle(self, payload: dict[str, Any]) -> AckBody:
        """The ack body for one interaction payload. Raises ``MalformedPayload`` for what Slack never sends."""
        kind = payload.get("type")
        try:
            if kind == "block_actions":
                actions = BlockActions.model_validate(payload)
                try:
                    return await self._on_block_actions(actions)
                except StoreUnavailable as away:
                    log.warning("click_not_recorded", slack_user=actions.user.id, error=str(away))
                    self._tell(_Place.of(actions), actions.user.id, TRY_AGAIN_TEXT)
                    return None
            if kind == "view_submission":
                submission = ViewSubmission.model_validate(payload)
                try:
                    return await self._on_view_submission(submission)
                except StoreUnavailable as away:
                    log.warning("submission_not_recorded", slack_user=submission.user.id, error=str(away))
                    return _modal_error(submission.view, TRY_AGAIN_TEXT)
        except ValidationError as error:
            raise MalformedPayload(f"malformed {kind} payload: {_first_problem(error)}") from None
        if not isinstance(kind, str):
            raise MalformedPayload("the interaction payload has no type")
        return None  # view_closed, shortcuts...: nothing of ours to do

    @property
    def busy(self) -> bool:
        """Whether replies to clickers are still being sent."""
        return self._tasks.busy

    async def drain(self) -> None:
        """Wait until every reply to a clicker has been sent."""
        await self._tasks.drain()

    # -- clicks ------------------------------------------------------------------------------

    async def _on_block_actions(self, payload: BlockActions) -> AckBody:
        action = payload.actions[0]
        if not action.action_id.startswith(f"{ACTION_PREFIX}:"):
            return None  # another part of the app owns this button
        try:
            ref = parse_action(action.action_id, action.value or "")
        except MalformedAction as error:
            raise MalformedPayload(f"malformed slack_hitl action: {error}") from None
        place = _Place.of(payload)
        # No bound logger on the click path: binding one per click costs more than the line
        # (benchmarks/bench_interactions.py measures the acks).
        if isinstance(ref, RetryRef):
            log.debug("click", approval_id=ref.approval_id, slack_user=payload.user.id, verb="retry")
            await self._retry(ref, payload, place)
            return None
        log.debug("click", approval_id=ref.approval_id, row_id=ref.row_id, slack_user=payload.user.id, verb=ref.verb)
        requirement = await self.engine.store.requirement(ref.approval_id, ref.row_id)
        if requirement is None:
            self._tell(place, payload.user.id, UNKNOWN_TEXT)
            return None
        if ref.verb == "withdraw":
            await self._withdraw(ref, requirement, Actor(id=payload.user.id, name=payload.user.display_name), place)
            return None
        actor = await self._actor(payload.user, [requirement], ref.approval_id)
        choice = requirement.confirmation.choice(ref.choice or "") if requirement.confirmation else None
        if ref.verb == "open" or (choice is None and requirement.kind != "confirmation"):
            await self._open_modal(ref, actor, payload.trigger_id, place, choice=None)
        elif choice is None:
            self._tell(place, actor.id, no_such_choice_text(requirement, ref.choice or ""))
        elif _needs_modal(requirement, choice):
            await self._open_modal(ref, actor, payload.trigger_id, place, choice=choice.value)
        else:
            await self._decide_by_click(ref, requirement, choice, actor, payload, place)
        return None

    async def _decide_by_click(
        self,
        ref: ActionRef,
        requirement: Requirement,
        choice: Choice,
        actor: Actor,
        payload: BlockActions,
        place: _Place,
    ) -> None:
        action = payload.actions[0]
        key = _delivery_key("click", actor.id, action.action_ts or "", action.action_id, action.value or "")
        try:
            await self.engine.decide(
                ref.approval_id,
                ref.row_id,
                DecisionInput(choices=(choice.value,)),
                actor,
                delivery_key=key if action.action_ts else None,
            )
        except DecisionInvalid:
            # The button alone is not a complete decision for this row: ask for the rest.
            await self._open_modal(ref, actor, payload.trigger_id, place, choice=choice.value)
        except SlackHitlError as refusal:
            self._explain(refusal, ref, requirement, actor, place)

    async def _withdraw(self, ref: ActionRef, requirement: Requirement, actor: Actor, place: _Place) -> None:
        """Change of mind: the clicker takes back their decision of the row (or their quorum vote)."""
        try:
            vote = await self.engine.withdraw(ref.approval_id, ref.row_id, actor)
        except ChangeRefused as refused:
            log.info("change_refused", approval_id=ref.approval_id, row_id=ref.row_id, slack_user=actor.id)
            self._tell(place, actor.id, change_refused_text(requirement, refused))
        except SlackHitlError as refusal:
            self._explain(refusal, ref, requirement, actor, place)
        else:
            what = "vote" if vote else "decision"
            self._tell(
                place,
                actor.id,
                f"Your {what} on *{escape(requirement.title)}* is withdrawn; the row is open again, "
                "decide it anew when you are ready.",
            )

    async def _open_modal(
        self, ref: ActionRef, actor: Actor, trigger_id: str | None, place: _Place, *, choice: str | None
    ) -> None:
        bound = log.bind(approval_id=ref.approval_id, row_id=ref.row_id, slack_user=actor.id)
        try:
            approval = await self.engine.store.get(ref.approval_id)
        except UnknownApproval:
            self._tell(place, actor.id, UNKNOWN_TEXT)
            return
        row = approval.row(ref.row_id)
        refusal = _why_not(approval, row, actor)
        if refusal is not None or row is None:
            self._tell(place, actor.id, refusal or UNKNOWN_TEXT)
            return
        # A click in the App Home tab comes from no message: the modal belongs to the approval's own.
        channel, message_ts = place.channel or approval.channel, place.message_ts or approval.message_ts
        if not trigger_id or not channel or not message_ts:
            raise MalformedPayload("a click that opens a modal needs trigger_id, channel and message_ts")
        view = build_modal(approval, row, choice=choice, channel=channel, message_ts=message_ts)
        try:
            validate_view(view)
            async with asyncio.timeout(VIEWS_OPEN_SECONDS):
                await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackLimitError as error:
            bound.error("modal_too_large", error=str(error))
            self._tell(place, actor.id, f"This row cannot be shown in a Slack modal: {error}")
        except (SlackApiError, OSError, aiohttp.ClientError) as error:  # TimeoutError too: the deadline above
            bound.warning(
                "modal_not_opened", error=slack_error(error) if isinstance(error, SlackApiError) else repr(error)
            )
            self._tell(place, actor.id, "Slack could not open the form in time; please click again.")
        else:
            bound.info("modal_opened", choice=choice)

    async def _retry(self, ref: RetryRef, payload: BlockActions, place: _Place) -> None:
        try:
            approval = await self.engine.store.get(ref.approval_id)
        except UnknownApproval:
            self._tell(place, payload.user.id, UNKNOWN_TEXT)
            return
        requirements = [row.requirement for row in approval.rows]
        actor = await self._actor(payload.user, requirements)
        if not any(may_decide(requirement, actor) for requirement in requirements):
            self._tell(place, actor.id, "Only the people who may decide this approval may retry it.")
            return
        try:
            action = payload.actions[0]
            key = _delivery_key("retry", actor.id, action.action_ts or "", action.action_id, action.value or "")
            won = await self.engine.retry(ref.approval_id, actor, delivery_key=key if action.action_ts else None)
        except ApprovalClosed as closed:
            self._tell(place, actor.id, closed_text(approval, closed.status))
            return
        log.info("retry_clicked", approval_id=ref.approval_id, slack_user=actor.id, won=won)
        if not won:
            self._tell(place, actor.id, "Someone else is already retrying this approval.")

    # -- modal submissions ---------------------------------------------------------------------

    async def _on_view_submission(self, payload: ViewSubmission) -> AckBody:
        view = payload.view
        if view.callback_id != MODAL_CALLBACK_ID:
            return None
        try:
            ref = decode_metadata(view.private_metadata)
        except ValueError as error:
            raise MalformedPayload(f"malformed slack_hitl modal metadata: {error}") from None
        requirement = await self.engine.store.requirement(ref.approval_id, ref.row_id)
        if requirement is None:
            return _modal_error(view, UNKNOWN_TEXT)
        if ref.choice is not None and (
            requirement.confirmation is None or requirement.confirmation.choice(ref.choice) is None
        ):
            # Not a modal slack_hitl opened: the signed metadata names a choice the row never had.
            log.warning("submission_unknown_choice", approval_id=ref.approval_id, row_id=ref.row_id)
            return _modal_error(view, no_such_choice_text(requirement, ref.choice))
        actor = await self._actor(payload.user, [requirement], ref.approval_id)
        bound = log.bind(approval_id=ref.approval_id, row_id=ref.row_id, slack_user=actor.id)
        try:
            submitted = parse_submission(requirement, view.state.values, choice=ref.choice)
        except MalformedAction as error:
            raise MalformedPayload(f"malformed submission of row {ref.row_id!r}: {error}") from None
        try:
            await self.engine.decide(
                ref.approval_id,
                ref.row_id,
                submitted,
                actor,
                delivery_key=_delivery_key("view", view.id, view.hash or ""),
            )
        except DecisionInvalid as invalid:
            bound.info("submission_invalid", errors=invalid.errors)
            errors = submission_errors(requirement, invalid, choice=ref.choice)
            if not errors:
                return _modal_error(view, f"Not recorded: {invalid}")
            return {"response_action": "errors", "errors": errors}
        except (AlreadyDecided, AlreadyVoted, NotAllowed, StepLocked) as refusal:
            return _modal_error(view, refusal_text(refusal, requirement, actor.id) or str(refusal))
        except ApprovalClosed as closed:
            approval = await self._approval_or_none(ref.approval_id)
            return _modal_error(view, closed_text(approval, closed.status))
        except (UnknownApproval, UnknownRow):
            return _modal_error(view, UNKNOWN_TEXT)
        return None

    # -- helpers -------------------------------------------------------------------------------

    async def _actor(self, user: _User, requirements: Iterable[Requirement], approval_id: str | None = None) -> Actor:
        wanted = {group for r in requirements for group in r.deciders.group_ids}
        if approval_id is not None and not all(r.deciders.anyone for r in requirements):
            # The groups an escalation may add count too (only where the row limits its deciders).
            wanted.update(self.engine.store.cached_policy(approval_id).escalate_to.group_ids)
        group_ids = sorted(wanted)
        groups = await self.groups.groups_of(user.id, group_ids) if group_ids else ()
        return Actor(id=user.id, name=user.display_name, group_ids=groups)

    async def _approval_or_none(self, approval_id: str) -> Approval | None:
        try:
            return await self.engine.store.get(approval_id)
        except UnknownApproval:
            return None

    def _explain(
        self, refusal: SlackHitlError, ref: ActionRef, requirement: Requirement, actor: Actor, place: _Place
    ) -> None:
        log.info(
            "click_refused",
            approval_id=ref.approval_id,
            row_id=ref.row_id,
            slack_user=actor.id,
            refusal=type(refusal).__name__,
        )
        text = refusal_text(refusal, requirement, actor.id)
        if text is not None:
            self._tell(place, actor.id, text)
        elif isinstance(refusal, ApprovalClosed):
            self._spawn(self._tell_closed(ref.approval_id, refusal.status, actor.id, place))
        elif isinstance(refusal, UnknownApproval | UnknownRow):
            self._tell(place, actor.id, UNKNOWN_TEXT)
        else:
            raise refusal

    async def _tell_closed(self, approval_id: str, status: str, user_id: str, place: _Place) -> None:
        approval = await self._approval_or_none(approval_id)
        await self._post_ephemeral(place, user_id, closed_text(approval, status))

    def _tell(self, place: _Place, user_id: str, text: str) -> None:
        self._spawn(self._post_ephemeral(place, user_id, text))

    async def _post_ephemeral(self, place: _Place, user_id: str, text: str) -> None:
        if place.channel is None:
            if self.stale_tab is not None:
                log.info("tab_click_refused", slack_user=user_id, text=text)
                self.stale_tab(user_id)
            else:
                log.warning("ephemeral_without_channel", slack_user=user_id, text=text)
            return
        try:
            await self.client.chat_postEphemeral(
                channel=place.channel, user=user_id, text=text, thread_ts=place.thread_ts
            )
        except (SlackApiError, OSError, aiohttp.ClientError) as error:
            shown = slack_error(error) if isinstance(error, SlackApiError) else repr(error)
            log.warning("ephemeral_failed", slack_user=user_id, error=shown)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(work)


def _why_not(approval: Approval, row: Row | None, actor: Actor) -> str | None:
    """Why ``actor`` may not open the modal of ``row`` (None when they may)."""
    if row is None:
        return UNKNOWN_TEXT
    if is_refused_requester(row.requirement, actor, approval.requested_by):
        return requester_refused_text(row.requirement)
    escalated_to = approval.reminders.escalate_to if approval.reminders and approval.escalated else None
    if not may_decide(row.requirement, actor, approval.requested_by, escalated_to):
        return not_allowed_text(row.requirement)
    decided_by_person = row.decided and not is_system_actor(row.decided_by)
    if decided_by_person:
        return already_decided_text(row.requirement.title, row.decided_by, actor.id, row.decided_by_name)
    if approval.status != "pending" or row.decided:
        return closed_text(approval, approval.status)
    if row.requirement.step > 1 and waiting_for_step(approval, row) is not None:
        return step_locked_text(row.requirement)
    earlier = next((vote for vote in row.votes if vote.voter == actor.id), None)
    if earlier is not None:
        return already_voted_text(row.requirement.title, earlier.outcome)
    return None


def _input_block_ids(view: _View) -> list[str]:
    return [str(block["block_id"]) for block in view.blocks if block.get("type") == "input" and "block_id" in block]


def _modal_error(view: _View, text: str) -> AckBody:
    """A refusal in the modal itself, on its first input block (Slack shows errors only there)."""
    inputs = _input_block_ids(view)
    if not inputs:
        return {"response_action": "update", "view": _notice_view(text)}
    return {"response_action": "errors", "errors": {inputs[0]: text[:2000]}}


def _notice_view(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not recorded"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}"
