"""Dittofeed's journey names written as a journey file's keys, for the load error refusing such a key.

A Dittofeed journey is drawn of Delay, Message, Segment Split, Random Cohort, Rate Limit and Exit nodes, entered and
waited on by segments, its messages chosen from templates and subscription groups; a migrator writing it here
reaches for those names (``delay: 1d``, ``type: SegmentSplitNode``, ``entry: {segment: new_users}``,
``send: {template: welcome}``), and the loader listed the keys there are or named the closest (``segment``: "did
you mean `event`?"), which did not say what they are here (a migration walkthrough, README "Coming from
Dittofeed"). :func:`foreign_key` says it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_README: Final = 'README, "Coming from Dittofeed"'

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

#: where a segment was named -> what is written there instead (a segment is a condition, written where it is used)
_SEGMENT: Final = {
    "entry": "`entry: {event: identify, when: ...}` on the event that puts a customer in it, or a daily "
             '`entry: {schedule: {every: 1d, at: "09:00"}, when: ...}`',
    "wait_for": "`wait_for: {condition: ..., timeout: 3d}`",
    "branch": "`{when: ..., next: ...}`",
}

#: a send's key, folded -> what the send writes for it
_SEND: Final = {
    "template": "the message is written in the step, `content: {subject: ..., body: ...}`, not chosen from a library",
    "subscriptiongroup": "a subscription group is a topic here, `topic: newsletter`, declared under `topics:` in "
                         "policies.yaml",
}


def _folded(name: object) -> str:
    return re.sub(r"[^a-z]", "", name.lower()) if isinstance(name, str) else ""


def foreign_key(path: tuple[Any, ...], unknown: str, node: object) -> str:
    """`` (Dittofeed's Delay node is `wait: 1d` (...) here: ...)`` for an unknown key at ``path`` (its last item)
    of the mapping ``node`` that is a Dittofeed name: a node as a step's key (or its ``type:``), a segment where it
    was used, a message's template or subscription group; empty text otherwise."""
    where = tuple(p for p in path[:-1] if isinstance(p, str))
    key = _folded(unknown).removesuffix("id")
    if key == "segment" and where[-1:] and where[-1] in _SEGMENT:
        return f" (a Dittofeed segment is a condition here, written where it is used: {_SEGMENT[where[-1]]}: {_README})"
    if where == ("steps", "send") and key in _SEND:
        return f" (Dittofeed's {unknown}: {_SEND[key]}: {_README})"
    if where != ("steps",):
        return ""
    name = node.get("type") if unknown == "type" and isinstance(node, Mapping) else unknown
    found = _NODES.get(_folded(name).removesuffix("node"))
    if found is None:
        return ""
    return f" (Dittofeed's {found[0]} node is {found[1]} here: {_README})"
