"""The workers table's routing answer (runtime.members.owner_url)."""

from __future__ import annotations

from cjo_stream.runtime.members import STALE, WorkerInfo, owner_url

NOW = 1_800_000_000.0


def test_the_latest_recent_announcement_owns_a_partition_and_one_from_the_future_none() -> None:
    """An entry stamped ten years ahead (anyone with write access to the topic) won every partition for good
    and took the routed queries with the callers' tokens (a security review): beyond a minute's clock skew
    an entry counts for nothing."""
    workers = {"a": WorkerInfo("https://a:6066", [0, 1], NOW - 30), "b": WorkerInfo("https://b:6066", [1], NOW - 5),
               "old": WorkerInfo("https://old:6066", [2], NOW - STALE - 1),
               "rogue": WorkerInfo("http://evil:1/steal", [0, 1, 2], NOW + 10 * 365 * 86400)}
    assert owner_url(workers, 0, NOW) == "https://a:6066"
    assert owner_url(workers, 1, NOW) == "https://b:6066"
    assert owner_url(workers, 2, NOW) is None
    workers["skewed"] = WorkerInfo("https://c:6066", [2], NOW + 20)  # a host's clock a little ahead: fine
    assert owner_url(workers, 2, NOW) == "https://c:6066"
