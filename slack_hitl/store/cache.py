"""What never changes about an approval once stored, kept in memory: its rows' requirements, its adapter
and who requested it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from slack_hitl.requirements import Deciders, Requirement


class ApprovalPolicy(NamedTuple):
    """What never changes of an approval's policies: who requested it, how many steps it has, and
    whom an escalation adds as deciders."""

    requested_by: str | None = None
    steps: int = 1
    escalate_to: Deciders = Deciders()

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> ApprovalPolicy:
        """Of a stored approval's ``requested_by``, ``steps`` and ``reminders`` columns."""
        reminders = record["reminders"] or {}
        escalate_to = Deciders.model_validate(reminders.get("escalate_to") or {})
        return cls(record["requested_by"], record["steps"], escalate_to)


class RequirementCache:
    """The adapter and the rows' requirements as JSON text of the approvals added last (10,000 rows
    of them); the last 1,024 rows used parsed as models.

    Requirements never change, so an approval's rows are read from the database once, while it
    is in the cache. Parsed models are kept only for recently used rows: each is a dozen objects
    that every full garbage collection walks, and with every clicked row kept those walks became
    the tail of an ack's latency (the p99 of benchmarks/bench_interactions.py). Text costs the
    collector nothing, and parsing it again is cheap. The approvals added first leave first: people
    decide the rows of new messages, and a click on an older one costs one read of its rows. A
    bound of every row ever clicked grew the web process by half a kilobyte a row
    (benchmarks/bench_scale.py samples its memory).
    """

    def __init__(self, *, parsed_rows: int = 1024, rows: int = 10_000) -> None:
        self._approvals: dict[str, tuple[str, dict[str, str], ApprovalPolicy]] = {}
        self._parsed: dict[tuple[str, str], Requirement] = {}
        self._parsed_rows = parsed_rows
        self._rows = rows
        self._row_count = 0

    def knows(self, approval_id: str) -> bool:
        return approval_id in self._approvals

    def adapter(self, approval_id: str) -> str | None:
        """The name of the adapter that resumes the approval; ``None`` if the approval is not cached."""
        known = self._approvals.get(approval_id)
        return known[0] if known is not None else None

    def policy(self, approval_id: str) -> ApprovalPolicy:
        """The approval's policies (the defaults if the approval is not cached)."""
        known = self._approvals.get(approval_id)
        return known[2] if known is not None else ApprovalPolicy()

    def get(self, approval_id: str, row_id: str) -> Requirement | None:
        """The row's requirement; ``None`` if the approval is not cached or has no such row."""
        key = (approval_id, row_id)
        found = self._parsed.get(key)
        if found is None:
            known = self._approvals.get(approval_id)
            text = known[1].get(row_id) if known is not None else None
            if text is not None:
                found = self.parsed_or(key, text)
        return found

    def parsed_or(self, key: tuple[str, str], stored: str | Mapping[str, Any]) -> Requirement:
        """The cached requirement of ``key``, or ``stored`` (JSON text, or parsed JSON) parsed."""
        found = self._parsed.get(key)
        if found is None:
            if isinstance(stored, str):
                found = Requirement.model_validate_json(stored)
            else:
                found = Requirement.model_validate(stored)
            self._keep_parsed(key, found)
        return found

    def add(
        self,
        approval_id: str,
        adapter: str,
        texts: Mapping[str, str],
        parsed: Iterable[Requirement] = (),
        *,
        policy: ApprovalPolicy | None = None,
    ) -> None:
        """Cache every row of an approval: ``texts`` by row id, and those already ``parsed``."""
        if approval_id not in self._approvals:
            while self._approvals and self._row_count + len(texts) > self._rows:
                oldest = self._approvals.pop(next(iter(self._approvals)))
                self._row_count -= len(oldest[1])
            self._approvals[approval_id] = (adapter, dict(texts), policy or ApprovalPolicy())
            self._row_count += len(texts)
        for requirement in parsed:
            self._keep_parsed((approval_id, requirement.id), requirement)

    def _keep_parsed(self, key: tuple[str, str], requirement: Requirement) -> None:
        # The oldest parsed goes first: a row is decided once, so recency says little more than age.
        self._parsed[key] = requirement
        if len(self._parsed) > self._parsed_rows:
            del self._parsed[next(iter(self._parsed))]
