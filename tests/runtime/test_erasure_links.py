"""An erase by an id merged into the customer drops that id's own link (a privacy walkthrough).

A customer's erase deletes the links of the ids its profile lists, but a profile lists at most 1,000
merged ids (README, "Profile limits"; a shrunk profile fewer): the links of the others (``<app>.aliases``:
that anonymous id → the customer) stayed, and an erase naming such an id was resolved to the customer and
left it too. The state API now sends the erase keyed by the id as named; its partition passes it on to
the customer and drops the id's link.
"""

from __future__ import annotations

import orjson

from cjo_stream.events import format_ts
from cjo_stream.profile import MAX_ALIASES
from tests.runtime.test_aliases import BASE, Cluster


def _merge_visitors(c: Cluster, user: str, n: int) -> list[str]:
    anons = [f"v-{i}" for i in range(n)]
    for i, a in enumerate(anons):
        t = BASE + i * 0.01
        c.send(orjson.dumps({"messageId": f"p-{i}", "type": "page", "anonymousId": a, "timestamp": format_ts(t)}))
        c.send(orjson.dumps({"messageId": f"i-{i}", "type": "identify", "userId": user, "anonymousId": a,
                             "timestamp": format_ts(t + 0.001)}))
    c.drain()
    return anons


def test_an_erase_by_a_merged_id_the_profile_does_not_list_drops_its_link() -> None:
    c = Cluster(seed=2)
    anons = _merge_visitors(c, "u-many", MAX_ALIASES + 1)
    listed = set(c.profile("u-many").aliases)
    unlisted = [a for a in anons if a not in listed]
    assert len(listed) == MAX_ALIASES and len(unlisted) == 1 and c.link(unlisted[0]) == "u-many"
    c.erase("u-many")
    c.drain()
    assert c.profile("u-many") is None
    assert all(c.link(a) is None for a in listed)
    assert c.link(unlisted[0]) == "u-many"  # what the customer's erase cannot find (docs/operations.md says so)
    c.erase(unlisted[0])  # DELETE /customers/<that id>: keyed by the id as named
    c.drain()
    assert c.link(unlisted[0]) is None
    assert not any(c.part_of(a).links.owner(a) for a in anons)


def test_an_erase_by_a_merged_id_erases_the_customer_and_the_id() -> None:
    c = Cluster(seed=3)
    _merge_visitors(c, "u-one", 2)
    assert c.link("v-1") == "u-one" and c.profile("u-one") is not None
    c.erase("v-1")
    c.drain()
    assert c.profile("u-one") is None and c.link("v-0") is None and c.link("v-1") is None
