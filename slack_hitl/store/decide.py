"""Deciding rows by group commit, and the resume CAS that the last decision of an approval wins.

Concurrent decisions are written by group commit: the decisions that arrive while one
transaction is in flight share the next one, which keeps latency flat under load. A batch's
transaction is a few set-based statements whatever its size: the row CAS for every decision
at once, the log, the version bump, the resume CAS for the approvals it completed, and, for a
decision that did not decide its row, the row as the transaction met it (who decided it, or
why the approval takes no more decisions), so the engine never asks again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from slack_hitl.approvals import Actor
from slack_hitl.decisions import Decision
from slack_hitl.store import statements as sql
from slack_hitl.store.steps import after_staged_decisions
from slack_hitl.store.transactions import Work


@dataclass(frozen=True)
class DecideCommand:
    approval_id: str
    row_id: str
    decision: Decision
    actor: Actor
    delivery_key: str | None = None
    step: int = 1
    """The row's step, and how many steps its approval has (``steps`` > 1: a staged approval)."""
    steps: int = 1


@dataclass(frozen=True)
class RowState:
    """A row that a decide did not decide, as its transaction found it."""

    status: str
    decided_by: str | None
    decided_by_name: str | None
    approval_status: str
    approval_expired: bool


@dataclass(frozen=True)
class DecideResult:
    """What one decide did: ``decided`` if this call decided the row, ``resume`` if it also won the resume."""

    decided: bool
    resume: bool = False
    repeated: bool = False
    """The same delivery decided this row before: nothing changed, and that is fine."""
    found: RowState | None = None
    """For a decide that decided nothing: the row as it was (``None``: the approval has no such row)."""


def claim_resumes(approval_ids: list[str], owner: str, lease_seconds: float, now: dt.datetime) -> Work[set[str]]:
    """The resume CAS for each approval, for ``owner``, logged; the ids it won."""
    claimed = yield (
        sql.CLAIM_RESUMES,
        {
            "ids": approval_ids,
            "owner": owner,
            "lease_expires_at": now + dt.timedelta(seconds=lease_seconds),
            "now": now,
        },
    )
    won = set(claimed.scalars())
    if won:
        yield sql.INSERT_LOG, [sql.log_entry(a, "resuming", None, now, data={"owner": owner}) for a in sorted(won)]
    return won


class RetryClaim(NamedTuple):
    """What a Retry did: ``won`` the resume; ``repeated``: the same delivery was acted on before
    (Slack redelivers what it had no ack for), nothing was done now, and ``won`` is what it did then."""

    won: bool
    repeated: bool = False


def claim_retry(
    approval_id: str, actor: Actor, delivery_key: str | None, owner: str, lease_seconds: float, now: dt.datetime
) -> Work[RetryClaim]:
    """The resume CAS for a Retry, logged with its delivery, unless that delivery was acted on before."""
    if delivery_key is not None:
        seen = (yield sql.RETRY_DELIVERED, {"approval_id": approval_id, "key": delivery_key}).scalar()
        if seen is not None:
            return RetryClaim(won=bool(seen.get("won")), repeated=True)
    won = approval_id in (yield from claim_resumes([approval_id], owner, lease_seconds, now))
    # Logged whether it won or not: a redelivery of a Retry that lost must not win a later resume.
    data: dict[str, Any] = {"won": won, **({"delivery_key": delivery_key} if delivery_key else {})}
    yield sql.INSERT_LOG, [sql.log_entry(approval_id, "retry_requested", actor, now, data=data)]
    return RetryClaim(won)


@dataclass
class Batch:
    """The decisions of one group commit: the first arrival per row is the one that may win it."""

    commands: list[DecideCommand]
    now: dt.datetime
    first_for_row: dict[tuple[str, str], DecideCommand]
    firsts: list[DecideCommand]
    dumped: dict[int, dict[str, Any]]
    """Each first arrival's decision as stored (dumped once: the log entry reuses it)."""

    @classmethod
    def of(cls, commands: list[DecideCommand], now: dt.datetime) -> Batch:
        first_for_row: dict[tuple[str, str], DecideCommand] = {}
        for command in commands:
            first_for_row.setdefault((command.approval_id, command.row_id), command)  # first arrival wins
        firsts = list(first_for_row.values())
        dumped = {id(c): c.decision.model_dump(mode="json") for c in firsts}
        return cls(commands, now, first_for_row, firsts, dumped)

    def row_params(self, size: int) -> dict[str, Any]:
        """The parameters of ``statements.decide_rows(size)``: the decisions, then NULLs."""
        params: dict[str, Any] = {"now": self.now}
        # In the order of their rows, not of arrival: PostgreSQL locks the rows in the order it meets
        # them, and two processes' batches locking shared rows in opposite orders would deadlock.
        for i, c in enumerate(sorted(self.firsts, key=_row_key)):
            params[f"a{i}"] = c.approval_id
            params[f"r{i}"] = c.row_id
            params[f"o{i}"] = c.decision.outcome
            params[f"d{i}"] = self.dumped[id(c)]
            params[f"b{i}"] = c.actor.id
            params[f"n{i}"] = c.actor.name
            params[f"k{i}"] = c.delivery_key
        if len(self.firsts) < size:
            params.update(sql.decide_rows_padding(len(self.firsts), size))
        return params

    def won_row(self, command: DecideCommand, decided: set[tuple[str, str]]) -> bool:
        key = (command.approval_id, command.row_id)
        return key in decided and self.first_for_row[key] is command

    def log_entries(self, decided: set[tuple[str, str]]) -> list[dict[str, Any]]:
        """The log's ``decided`` entries of the rows this batch decided, in order of arrival."""
        return [self._log_entry(c) for c in self.firsts if (c.approval_id, c.row_id) in decided]

    def _log_entry(self, command: DecideCommand) -> dict[str, Any]:
        data = {key: value for key, value in self.dumped[id(command)].items() if key != "reason"}
        return sql.log_entry(
            command.approval_id,
            "decided",
            command.actor,
            self.now,
            row_id=command.row_id,
            reason=command.decision.reason,
            data=data,
        )

    def decide_rows(self) -> Work[set[tuple[str, str]]]:
        """The row CAS for the batch, and the log entries of the rows it decided; those rows."""
        size = sql.decide_rows_size(len(self.firsts))
        found = yield sql.decide_rows(size), self.row_params(size)
        decided = {(approval_id, row_id) for approval_id, row_id in found.rows}
        if decided:
            yield sql.INSERT_LOG, self.log_entries(decided)
        return decided

    def transaction(self, owner: str | None, lease_seconds: float) -> Work[list[DecideResult]]:
        """Decide the batch; with an ``owner``, also claim the resumes of the approvals it completed."""
        decided = yield from self.decide_rows()
        won: set[str] = set()
        staged = [c for c in self.firsts if c.steps > 1 and (c.approval_id, c.row_id) in decided]
        if staged:
            yield from after_staged_decisions(staged, self.now)
        if decided:
            touched = sorted({approval_id for approval_id, _ in decided})
            # The bump locks each touched approval's row until commit, and the resume CAS is a
            # separate statement after it: on PostgreSQL (READ COMMITTED) two transactions that
            # decide the last two rows are thus serialised, and the second one's CAS takes a fresh
            # snapshot that sees the first one's row. One combined statement would let both miss.
            yield sql.BUMP_VERSIONS, {"ids": touched, "now": self.now}
            if owner is not None:
                won = yield from claim_resumes(touched, owner, lease_seconds, self.now)
        refused: dict[int, tuple[RowState | None, bool]] = {}
        for command in self.commands:
            if not self.won_row(command, decided):
                found = yield sql.ROW_STATE, {"approval_id": command.approval_id, "row_id": command.row_id}
                refused[id(command)] = refusal_of(command, found.first())
        return self._results(decided, won, refused)

    def _results(
        self, decided: set[tuple[str, str]], won: set[str], refused: dict[int, tuple[RowState | None, bool]]
    ) -> list[DecideResult]:
        # Exactly one decision of the batch reports the resume win of its approval: the last one decided.
        won = set(won)
        final: list[DecideResult] = []
        for command in reversed(self.commands):
            if self.won_row(command, decided):
                final.append(DecideResult(decided=True, resume=command.approval_id in won))
                won.discard(command.approval_id)
            else:
                found, repeated = refused[id(command)]
                final.append(DecideResult(decided=False, repeated=repeated, found=found))
        return final[::-1]


def _row_key(command: DecideCommand) -> tuple[str, str]:
    return command.approval_id, command.row_id


def refusal_of(command: DecideCommand, row: dict[str, Any] | None) -> tuple[RowState | None, bool]:
    """The row a decide did not decide, and whether the same delivery had decided it (a repeat)."""
    if row is None:
        return None, False
    repeated = command.delivery_key is not None and row["delivery_key"] == command.delivery_key
    state = RowState(
        status=row["status"],
        decided_by=row["decided_by"],
        decided_by_name=row["decided_by_name"],
        approval_status=row["approval_status"],
        approval_expired=bool(row["approval_expired"]),
    )
    return state, repeated


@dataclass
class _Pending:
    command: DecideCommand
    future: asyncio.Future[DecideResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    """Decisions queued while a batch is being written go together in the next one (at most
    ``statements.MAX_BATCH``). Up to ``in_flight`` batches are written at once: one where the
    database takes one writer at a time (SQLite), more where writers run side by side
    (PostgreSQL), so that a decision waits for no other batch's round trips while a connection is free."""

    def __init__(
        self,
        write_batch: Callable[[Batch], Awaitable[list[DecideResult]]],
        now: Callable[[], dt.datetime],
        *,
        in_flight: int = 1,
    ):
        self._write_batch = write_batch
        self._now = now
        self._in_flight = in_flight
        self._queue: list[_Pending] = []
        self._flushers: list[asyncio.Task[None]] = []

    async def decide(self, command: DecideCommand) -> DecideResult:
        pending = _Pending(command)
        self._queue.append(pending)
        # A flusher whose loop found the queue empty is done at once (no await between): it is not counted.
        self._flushers = [flusher for flusher in self._flushers if not flusher.done()]
        if len(self._flushers) < self._in_flight:
            self._flushers.append(asyncio.create_task(self._flush()))
        return await pending.future

    async def close(self) -> None:
        """Wait for the batches in flight."""
        await asyncio.gather(*self._flushers, return_exceptions=True)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: sql.MAX_BATCH], self._queue[sql.MAX_BATCH :]
            try:
                results = await self._write_batch(Batch.of([p.command for p in batch], self._now()))
            except Exception as error:  # every waiter must hear of the failure
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
