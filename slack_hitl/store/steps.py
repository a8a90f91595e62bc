"""Staged approvals: what deciding a row of an approval with several steps does besides deciding it.

The row CAS itself keeps a later step's row waiting (``statements.decide_rows``). After it, in the
same transaction: a rejection ends the approval, its undecided rows settled as rejected by
slack_hitl (no later step is asked), and the last decision of a step unlocks the next one. Both
are in the decision log (``approval_ended``, ``step_unlocked``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from slack_hitl.approvals import SYSTEM
from slack_hitl.decisions import Decision
from slack_hitl.store import statements as sql
from slack_hitl.store.transactions import Work

if TYPE_CHECKING:  # decide runs these effects, so it imports this module
    from slack_hitl.store.decide import DecideCommand

ENDED_REASON = "an earlier step was rejected"
_SETTLED = Decision(outcome="rejected", reason=ENDED_REASON).model_dump(mode="json")


def after_staged_decisions(commands: Iterable[DecideCommand], now: dt.datetime) -> Work[None]:
    """End the approvals a rejection ended and unlock the steps completed, for the decided ``commands``
    of staged approvals (others are left alone)."""
    for command in commands:
        if command.steps <= 1 or command.actor.system:
            continue
        if command.decision.outcome == "rejected":
            settled = yield (
                sql.SETTLE_LATER_ROWS,
                {
                    "approval": command.approval_id,
                    "settled": _SETTLED,
                    "by": SYSTEM.id,
                    "by_name": SYSTEM.name,
                    "now": now,
                },
            )
            rows = settled.scalars()
            data = {"rejected_row": command.row_id, "step": command.step, "settled": rows}
            yield sql.INSERT_LOG, [sql.log_entry(command.approval_id, "approval_ended", SYSTEM, now, data=data)]
        elif command.step < command.steps:
            key = {"approval_id": command.approval_id, "step": command.step}
            if not (yield sql.OPEN_ROWS_OF_STEP, key).scalar():
                entry = sql.log_entry(
                    command.approval_id, "step_unlocked", SYSTEM, now, data={"step": command.step + 1}
                )
                yield sql.INSERT_LOG, [entry]
