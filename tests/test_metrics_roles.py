"""Each process's ``/metrics`` lists the families its role moves, and only those (plus ``process_*``).

What a role moves is read from the source, not from :data:`cjo_stream.metrics.ROLE_METRICS`: the modules
its command imports (at any depth, in functions too) and the metrics they name (``metrics.X``, or through
a helper of metrics.py such as ``BatchCounts``). An adapter listed ``cjo_events_late_total 0``, a
worker ``cjo_analytics_cached_rows 0``; a metric a role moves but does not serve would be invisible.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from cjo_stream import metrics

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cjo_stream"
#: The module of the command that starts each role's process.
COMMANDS: dict[metrics.Role, str] = {"worker": "cjo_stream.runtime.commands",
                                     "adapter": "cjo_stream.adapters.commands",
                                     "analytics": "cjo_stream.analytics.commands"}
_KINDS = {"Counter", "Gauge", "Histogram", "SizeHistogram"}


def families(text: str) -> set[str]:
    """Family names of an exposition as its ``# TYPE`` lines give them (counters with ``_total``), without
    prometheus-client's ``_created`` companions."""
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return {n for n in names if not n.endswith("_created")}


def ours(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith("process_")}


@cache
def _trees() -> dict[str, ast.Module]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = ast.parse(path.read_text())
    return out


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node that runs: not those under ``if TYPE_CHECKING:``."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(module: str) -> set[str]:
    trees, out = _trees(), set()
    for node in _nodes(trees[module]):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if not node.level else ".".join([*module.split(".")[:-node.level], node.module])
            out |= {base, *(f"{base}.{a.name}" for a in node.names)}
    return out & set(trees)


def _reached(root: str) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(_imports(m))
    return seen


@cache
def _defined() -> tuple[dict[str, str], dict[str, set[str]]]:
    """metrics.py's family constants (``JOURNEY`` -> ``cjo_journey_transitions_total``), and the names each
    of its functions and classes uses."""
    consts, helpers = {}, {}
    for node in _trees()["cjo_stream.metrics"].body:
        if isinstance(node, ast.Assign) and isinstance(target := node.targets[0], ast.Name) and \
                isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and node.value.func.id in _KINDS:
            name = ast.literal_eval(node.value.args[0])
            counter = node.value.func.id == "Counter" and not name.endswith("_total")
            consts[target.id] = name + "_total" if counter else name
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            helpers[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return consts, helpers


def _moved_in(module: str) -> set[str]:
    consts, helpers = _defined()
    if module == "cjo_stream.metrics":
        return set()  # its definitions; its helpers count where they are used
    named = set()
    for node in _nodes(_trees()[module]):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "metrics":
            named.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "cjo_stream.metrics":
            named |= {a.name for a in node.names}
    out, seen = set(), set()
    while named:
        n = named.pop()
        if n not in seen:
            seen.add(n)
            if n in consts:
                out.add(consts[n])
            named |= helpers.get(n, set())
    return out


@cache
def moved() -> dict[metrics.Role, frozenset[str]]:
    """Role -> the families its process's code moves."""
    return {role: frozenset(set().union(*map(_moved_in, _reached(cmd)))) for role, cmd in COMMANDS.items()}


def test_the_reading_finds_what_each_role_is_known_to_move() -> None:
    m = moved()
    assert {"cjo_events_late_total", "cjo_journey_transitions_total", "cjo_profile_size_bytes"} <= m["worker"]
    assert {"cjo_delivery_outcomes_total", "cjo_adapter_peer_lookups_total"} <= m["adapter"]
    assert {"cjo_analytics_cached_rows", "cjo_analytics_request_seconds"} <= m["analytics"]
    assert "cjo_delivery_outcomes_total" not in m["worker"] and "cjo_events_late_total" not in m["adapter"]


@pytest.mark.parametrize("role", list(COMMANDS))
def test_a_role_serves_the_families_it_moves_and_no_other(role: metrics.Role) -> None:
    served = families(metrics.exposition(role).decode())
    assert ours(served) == moved()[role], f"{role}: served but not moved: {sorted(ours(served) - moved()[role])}, " \
                                          f"moved but not served: {sorted(moved()[role] - ours(served))}"
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds"} <= served


def test_every_family_is_served_by_a_role() -> None:
    every = ours(families(generate_latest(metrics.REGISTRY).decode()))
    served = set().union(*(families(metrics.exposition(r).decode()) for r in COMMANDS))
    assert every - served == set()
    assert every == set().union(*moved().values())  # and moved by one (a family no code moves is dead)


_ROW = re.compile(r"^\| `(cjo_[a-z_]+)` \|[^|]*\|[^|]*\|([^|]+)\|", re.MULTILINE)  # name, type, labels, from


def test_the_metrics_reference_says_which_process_serves_each_family() -> None:
    rows = dict(_ROW.findall((ROOT / "docs" / "operations.md").read_text()))
    every = set().union(*moved().values())
    assert set(rows) == every
    for name, said in rows.items():
        roles = set(COMMANDS) if said.strip() == "all" else {r.strip() for r in said.split(",")}
        assert roles == {r for r in COMMANDS if name in moved()[r]}, f"{name}: docs say {said.strip()!r}"
