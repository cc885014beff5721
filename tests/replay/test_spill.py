"""The spilling store behaves as a dict, before and after its in-memory budget is first reached."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cjo_stream.replay.spill import Spilling


def _store(budget: int) -> Spilling[int]:
    return Spilling(budget, lambda v: str(v).encode(), lambda _k, raw: int(raw))


@pytest.mark.parametrize("budget", [1, 2, 5, 50, 5000])
def test_the_store_answers_as_a_dict_under_any_mix_of_operations(budget: int) -> None:
    rnd = random.Random(budget)
    s, d = _store(budget), {}
    try:
        for _ in range(20_000):
            k = f"k{rnd.randrange(1000)}"
            op = rnd.random()
            if op < 0.4:
                v = rnd.randrange(10**6)
                s[k] = d[k] = v
            elif op < 0.7:
                assert s.get(k) == d.get(k) and s.get(k, -1) == d.get(k, -1)
            elif op < 0.8:
                assert s.pop(k, None) == d.pop(k, None)
            elif op < 0.9:
                if k in d:
                    assert s[k] == d[k]
                else:
                    with pytest.raises(KeyError):
                        s[k]
                    with pytest.raises(KeyError):
                        s.pop(k)
            elif k in d:
                del s[k], d[k]
        assert len(s) == len(d) and sorted(s) == sorted(d) and dict(s.items()) == d
        assert (s.spilled > 0) == (budget < 1000)  # 1,000 keys: the largest budget never spills
    finally:
        s.close()


def test_values_evicted_once_full_come_back_from_disk_least_recently_used_first() -> None:
    s = _store(3)
    try:
        s["a"], s["b"], s["c"] = 1, 2, 3  # fits: nothing ordered, nothing spilled
        assert s.spilled == 0 and s.get("a") == 1
        s["d"] = 4  # full: the first inserted goes to disk
        assert s.spilled == 1 and s.get("a") == 1  # read back (and "b", now the oldest, spilled)
        assert s.spilled == 2 and s.get("b") == 2
        s.get("a")
        s["e"] = 5  # "c" or "d": not "a", used just now
        assert s.get("a") == 1 and {k: s[k] for k in "abcde"} == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    finally:
        s.close()


def test_the_disk_store_is_made_at_the_first_eviction_and_deleted_at_close(tmp_path: Path) -> None:
    """A replay whose customers fit in memory opened two RocksDB stores per topology for nothing, and one left
    unclosed stayed in the temporary directory."""
    s = Spilling(3, lambda v: str(v).encode(), lambda _k, raw: int(raw), str(tmp_path))
    s["a"], s["b"], s["c"] = 1, 2, 3
    assert s.get("x") is None and s.pop("x", None) is None and sorted(s) == ["a", "b", "c"]
    assert list(tmp_path.iterdir()) == []  # within the budget: no store on disk
    s["d"] = 4
    assert [p.name[:11] for p in tmp_path.iterdir()] == ["cjo-replay-"] and s.spilled == 1
    s.close()
    assert list(tmp_path.iterdir()) == []
    s.close()  # (twice: nothing left to do)
