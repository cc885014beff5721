"""What a journey instance keeps of its entry event.

Steps reached by a timer see the entry event as ``event``; storing the whole event in every waiting
instance was the largest part of a customer's state. The loader collects which ``event.*`` paths the
journey's steps can read (expressions and Liquid templates) into a tree, and the instance keeps only
those values. Narrowing is conservative, so templates render exactly as with the full event:

- a read that ends at a mapping or list (``event.properties``, ``{{ event.properties.items | map: ... }}``)
  or uses a computed key (``event.properties[x]``) keeps that value whole;
- Liquid's ``size``/``first``/``last`` on a mapping keep the mapping whole;
- on a list, only ``first`` / ``[0]`` reads are narrowed (the list keeps its first element); any other
  read keeps the whole list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

#: Fields of the event view worth storing (``event``/``name``/``timestamp`` come from the journey and the
#: instance's entry time).
FIELDS = ("messageId", "userId", "anonymousId", "type", "properties", "traits", "context", "previous")
#: The keys Liquid reads with a meaning of their own (``a.size`` of a list or mapping, ``first``, ``last``).
LIQUID_PROPS: Final = frozenset({"size", "first", "last"})

#: A path tree: key -> subtree; ``None`` means "keep the value whole".
Tree = dict[Any, "Tree | None"]


def _prune(value: Any, node: Tree | None) -> Any:
    if node is None:
        return value
    if type(value) is dict:
        for k in node:  # (not ``isdisjoint``: compiled, a method call was most of a prune)
            if k in LIQUID_PROPS:
                return value
        return {k: _prune(value[k], sub) for k, sub in node.items() if k in value}
    if type(value) is list:
        if not value or not node.keys() <= {"first", 0}:
            return value
        sub = _merge(node.get("first", {}), node.get(0, {}))
        return [_prune(value[0], sub)]
    return value


def _merge(a: Tree | None, b: Tree | None) -> Tree | None:
    if a is None or b is None:
        return None
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if k in out else v
    return out


@dataclass(frozen=True, slots=True)
class SnapshotSpec:
    tree: Tree | None  # None: keep every field

    def take(self, view: dict[str, Any]) -> dict[str, Any]:
        """The stored snapshot: the read parts of ``view`` (empty and missing parts left out).

        The event's time is not kept here: an instance's ``entered_at`` is its entry event's time.
        """
        snap: dict[str, Any] = {}
        tree = self.tree
        if tree is None:
            for k in FIELDS:
                v = view.get(k)
                if v:
                    snap[k] = v
            return snap
        for k, sub in tree.items():
            v = view.get(k)
            if v:
                snap[k] = _prune(v, sub)
        return snap


#: Keeps every field: for journeys built without the loader's analysis.
KEEP_ALL = SnapshotSpec(None)


def snapshot_spec(paths: Iterable[tuple[Any, ...]]) -> SnapshotSpec:
    """The snapshot for ``paths`` (each the keys read below ``event``; ``None`` for a computed key)."""
    tree: Tree = {}
    for path in paths:
        if not path or path[0] is None:
            return KEEP_ALL
        if path[0] not in FIELDS:
            continue  # derived (event, name, timestamp) or unknown: nothing to store
        node: Tree = tree
        for i, key in enumerate(path):
            last = i == len(path) - 1 or path[i + 1] is None
            if key not in node:
                node[key] = None if last else {}
            elif node[key] is None:
                break  # already kept whole
            elif last:
                node[key] = None
            if last:
                break
            nxt = node[key]
            assert nxt is not None
            node = nxt
    return SnapshotSpec(tree)
