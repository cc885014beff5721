"""Dittofeed's journey node names written as a step's key, for the load error refusing that key.

A Dittofeed journey is drawn of Delay, Message, Segment Split, Random Cohort, Rate Limit and Exit nodes; a migrator
writing its steps here reaches for those names (``delay: 1d``, ``message: {...}``, ``type: SegmentSplitNode``), and
the loader listed a step's keys, which did not say which of them is the node (a migration walkthrough, README
"Coming from Dittofeed"). :func:`foreign_step` says it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

#: a node's name, lower case, without ``_`` and ``Node`` -> what a step writes for it
_NODES: Final = {
    "delay": ("Delay", '`wait: 1d` (a time of day: `wait_until: {at: "09:00", days: [mon]}`)'),
    "message": ("Message", "`send: {channel: email, content: {subject: ..., body: ...}}`"),
    "segmentsplit": ("Segment Split", "`branch: [{when: ..., next: ...}, {else: ...}]`"),
    "randomcohort": ("Random Cohort", "`split: [{variant: a, weight: 50, next: ...}, ...]`"),
    "ratelimit": ("Rate Limit", "`throttle: {max: 100, per: 1h}` in the send"),
    "exit": ("Exit", "`next: end`"),
    "waitfor": ("Wait For", "`wait_for: {condition: ..., timeout: 3d}` (or `{event: ..., timeout: 3d}`)"),
}


def _node(name: object) -> tuple[str, str] | None:
    if not isinstance(name, str):
        return None
    return _NODES.get(re.sub(r"[^a-z]", "", name.lower()).removesuffix("node"))


def foreign_step(path: tuple[Any, ...], unknown: str, step: object) -> str:
    """`` (Dittofeed's Delay node is `wait: 1d` (...) here ...)`` for an unknown key of a step (at ``path``) that names a
    Dittofeed node, or its ``type:`` that does; empty text otherwise."""
    if len(path) != 3 or path[0] != "steps":
        return ""
    found = _node(step.get("type")) if unknown == "type" and isinstance(step, Mapping) else _node(unknown)
    if found is None:
        return ""
    name, ours = found
    return f" (Dittofeed's {name} node is {ours} here: README, \"Coming from Dittofeed\")"
