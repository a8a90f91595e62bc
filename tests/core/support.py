"""Adapters the core tests resume with: they record what happened."""

from __future__ import annotations

import asyncio

from slack_hitl import Done, Failed, TextDelta


class RecordingAdapter:
    """Counts resumes; can fail the first ``fail_times`` attempts (by raising or by a Failed event)."""

    name = "recording"

    def __init__(self, *, fail_times: int = 0, fail_with_event: bool = False, pause: asyncio.Event | None = None):
        self.resumes: list[tuple[str, str, dict]] = []
        self.undecided_at_resume: list[str] = []
        self.fail_times = fail_times
        self.fail_with_event = fail_with_event
        self.pause = pause

    async def resume(self, approval, *, idempotency_key):
        self.resumes.append((approval.id, idempotency_key, approval.decisions))
        self.undecided_at_resume.extend(r.id for r in approval.rows if not r.decided)
        if self.pause is not None:
            await self.pause.wait()
        if len(self.resumes) <= self.fail_times:
            if self.fail_with_event:
                yield Failed(error="tool server unreachable")
                return
            raise RuntimeError("tool server unreachable")
        yield TextDelta(text="resumed ")
        yield Done(output={"decided": sorted(approval.decisions)})
