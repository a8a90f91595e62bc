"""slack_hitl: human-in-the-loop approvals in Slack.

A paused run's decisions become rows of one Slack message; each row is decided on its own,
every decision is kept with who made it and why, and the run resumes exactly once, after the
last row is decided. This module is the public API.
"""

from slack_hitl.adapter import Adapter, ChecksDecisions
from slack_hitl.approvals import EXPIRY, SYSTEM, Actor, Approval, ExpiryPolicy, Row
from slack_hitl.classifier import classify
from slack_hitl.decisions import Decision, DecisionInput, Outcome, validate_decision
from slack_hitl.engine import ContinuationSink, DecideOutcome, Engine, Publisher
from slack_hitl.errors import (
    AdapterNotRegistered,
    AlreadyDecided,
    ApprovalClosed,
    ClassificationError,
    DecisionInvalid,
    IdempotencyKeyReused,
    IllegalTransition,
    NotAllowed,
    PauseNotUsable,
    ResumeNotPossible,
    SlackHitlError,
    StoreUnavailable,
    UnknownApproval,
    UnknownRow,
)
from slack_hitl.events import ContinuationEvent, Done, Failed, NestedPause, Status, TextDelta, ToolProgress, ToolState
from slack_hitl.requirements import (
    APPROVE,
    REJECT,
    Choice,
    Confirmation,
    Deciders,
    InputField,
    Kind,
    Question,
    Requirement,
    ResultFormat,
)
from slack_hitl.status import ApprovalStatus, aggregate_outcome
from slack_hitl.store import Store

__all__ = [
    "APPROVE",
    "EXPIRY",
    "REJECT",
    "SYSTEM",
    "Actor",
    "Adapter",
    "AdapterNotRegistered",
    "AlreadyDecided",
    "Approval",
    "ApprovalClosed",
    "ApprovalStatus",
    "ChecksDecisions",
    "Choice",
    "ClassificationError",
    "Confirmation",
    "ContinuationEvent",
    "ContinuationSink",
    "DecideOutcome",
    "Deciders",
    "Decision",
    "DecisionInput",
    "DecisionInvalid",
    "Done",
    "Engine",
    "ExpiryPolicy",
    "Failed",
    "IdempotencyKeyReused",
    "IllegalTransition",
    "InputField",
    "Kind",
    "NestedPause",
    "NotAllowed",
    "Outcome",
    "PauseNotUsable",
    "Publisher",
    "Question",
    "Requirement",
    "ResultFormat",
    "ResumeNotPossible",
    "Row",
    "SlackHitlError",
    "Status",
    "Store",
    "StoreUnavailable",
    "TextDelta",
    "ToolProgress",
    "ToolState",
    "UnknownApproval",
    "UnknownRow",
    "aggregate_outcome",
    "classify",
    "validate_decision",
]
