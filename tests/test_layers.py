"""The import floors: data flows one way (topic → decode → identity → engine → commands → adapters), so
no module imports from a floor above its own (README "Layout").

Read from the source with ``ast`` (imports inside functions count too), not by importing: a lazy import
that runs up a floor is as much a tangle as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cjo_stream"
IO_LIBRARIES = {"faust", "aiokafka", "aiohttp", "httpx", "aiosmtplib", "rocksdict"}
#: The pure core: the engine and what it decides with; live workers, simulate and replay share it.
PURE_ROOTS = ("cjo_stream.engine", "cjo_stream.journeys", "cjo_stream.simulator", "cjo_stream.events",
              "cjo_stream.identity", "cjo_stream.profile", "cjo_stream.dedupe")


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


MODULES = _modules()


def imports(module: str) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function (``from x import y`` as ``x.y``
    when that is a module of ours, else ``x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def room(module: str) -> str:
    """``cjo_stream.<room>...``: the package directory, or the top-level module."""
    return module.split(".")[1] if "." in module else module


def test_the_pure_core_reaches_no_io() -> None:
    """What the engine, the simulator and replay decide with imports no Kafka, HTTP or RocksDB client and
    nothing from the runtime, adapters, Kafka IO or tools, however indirectly."""
    seen: set[str] = set()
    todo = [m for m in MODULES if any(m == r or m.startswith(r + ".") for r in PURE_ROOTS)]
    assert len(todo) > 10  # the roots exist under these names
    bad: list[str] = []
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for dep in imports(m):
            top = dep.split(".")[0]
            if top in IO_LIBRARIES:
                bad.append(f"{m} imports {dep}")
            elif top == "cjo_stream":
                if room(dep) in ("runtime", "adapters", "kafka", "bench", "replay", "cli"):
                    bad.append(f"{m} imports {dep}")
                if dep in MODULES:
                    todo.append(dep)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("low", ["adapters", "analytics", "replay", "kafka"])
def test_rooms_beside_the_runtime_import_nothing_from_it(low: str) -> None:
    """Adapters, analytics, replay and the shared Kafka IO are used by the workers or sit beside them:
    what they share with the runtime lives in a room of its own (``kafka/``, ``settings_args``, ...)."""
    above = {"runtime", "bench", "cli"} | ({"adapters", "analytics", "replay", "engine", "journeys"}
                                           if low == "kafka" else set())
    bad = sorted(f"{m} imports {dep}" for m in MODULES if room(m) == low
                 for dep in imports(m) if dep.startswith("cjo_stream.") and room(dep) in above)
    assert not bad, "\n".join(bad)
