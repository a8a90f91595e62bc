"""The store's cache of requirements stays within its bound however many approvals pass through it,
keeping the newest: the web process's memory stays flat over any number of clicks."""

from __future__ import annotations

from slack_hitl import Requirement
from slack_hitl.store.cache import RequirementCache

ROWS = 20


def texts(approval: int) -> dict[str, str]:
    requirements = [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {approval}.{i}") for i in range(ROWS)]
    return {requirement.id: requirement.model_dump_json() for requirement in requirements}


def test_the_approvals_added_first_leave_first_and_the_rows_kept_stay_within_the_bound() -> None:
    cache = RequirementCache(rows=10 * ROWS)
    for approval in range(1005):
        cache.add(f"a{approval}", "bench", texts(approval))

    kept = [approval for approval in range(1005) if cache.knows(f"a{approval}")]
    assert kept == list(range(995, 1005))
    newest = cache.get("a1004", "r3")
    assert newest is not None and newest.title == "tool 1004.3"
    assert cache.adapter("a1004") == "bench"
    assert cache.get("a0", "r3") is None and cache.adapter("a0") is None  # read again from the database


def test_an_approval_with_more_rows_than_the_bound_is_still_cached_alone() -> None:
    cache = RequirementCache(rows=ROWS // 2)
    cache.add("small", "bench", dict(list(texts(0).items())[:2]))
    cache.add("large", "bench", texts(1))

    assert not cache.knows("small")
    assert cache.knows("large") and cache.get("large", "r19") is not None
