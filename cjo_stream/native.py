"""Which modules are compiled to C (mypyc, by ``setup.py``), and whether the compiled builds are current.

mypyc compiles the same type-annotated source, so outputs do not change; the pure modules stay the
reference and run wherever nothing was compiled (``CJO_PURE_PYTHON=1``, or no C compiler). A compiled
module is imported *instead of* its ``.py``: after editing one, ``make setup`` builds it again (``make``
targets do it themselves; the test session refuses to run on a stale build, see tests/conftest.py).

A module that defines msgspec structs is not listed: under mypyc their annotations reach msgspec wrong
and decoding fails (msgspec issue 194); their structs live in modules of their own (``analytics.rows``).
Nothing may subclass or monkeypatch a compiled class: mypyc refuses both.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Source paths relative to the repository root, the form mypyc takes; hot paths of replay and workers.
COMPILED: tuple[str, ...] = (
    "cjo_stream/timefmt.py",
    "cjo_stream/event.py",
    "cjo_stream/events.py",
    "cjo_stream/dedupe.py",
    "cjo_stream/identity.py",
    "cjo_stream/journeys/wallclock.py",
    "cjo_stream/engine/clock.py",
    "cjo_stream/engine/besttime.py",
    "cjo_stream/engine/reads.py",
    "cjo_stream/engine/recent.py",
    "cjo_stream/engine/funnel.py",
    "cjo_stream/engine/transition.py",
    "cjo_stream/engine/result.py",
    "cjo_stream/engine/core.py",
    "cjo_stream/engine/overtaken.py",
    "cjo_stream/journeys/snapshot.py",
    "cjo_stream/timer_queue.py",
    "cjo_stream/simulator.py",
    "cjo_stream/analytics/fold.py",
    "cjo_stream/replay/spill.py",
    "cjo_stream/replay/run.py",
    "cjo_stream/kv.py",
    "cjo_stream/runtime/timers.py",
    "cjo_stream/runtime/decoded.py",
    "cjo_stream/runtime/ingest.py",
    "cjo_stream/runtime/customers.py",
    "cjo_stream/journeys/expressions.py",
    "cjo_stream/journeys/stage_model.py",
    "cjo_stream/journeys/model.py",
    "cjo_stream/journeys/fastliquid.py",
    "cjo_stream/journeys/templates.py",
    "cjo_stream/profile.py",
    "cjo_stream/runtime/stored.py",
    "cjo_stream/analytics/records.py",
    "cjo_stream/kafka/partitioner.py",
    "cjo_stream/runtime/aliases.py",
)


def module_name(path: str) -> str:
    return path[: -len(".py")].replace("/", ".")


def loaded_compiled() -> list[str]:
    """The listed modules imported now from a C extension (import them first)."""
    return [m for m in map(module_name, COMPILED)
            if isinstance(getattr(sys.modules.get(m), "__loader__", None), importlib.machinery.ExtensionFileLoader)]


class _Sources(importlib.abc.MetaPathFinder):
    """Finds the listed modules' ``.py`` files before their compiled builds (``CJO_PURE_PYTHON=1``)."""

    def __init__(self, root: str) -> None:
        self.paths = {module_name(p): os.path.join(root, p) for p in COMPILED}

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        src = self.paths.get(fullname)
        return importlib.util.spec_from_file_location(fullname, src) if src and os.path.exists(src) else None


def prefer_sources() -> None:
    """Run the pure-Python modules although compiled ones are installed: to compare the two, or to
    debug one with pdb. Must run before any listed module is imported (cjo_stream/__init__.py does)."""
    if not any(isinstance(f, _Sources) for f in sys.meta_path):
        sys.meta_path.insert(0, _Sources(_ROOT))


def stale() -> list[str]:
    """Listed modules whose source changed after their compiled build, in a checkout (an installed wheel's
    file times say nothing: pip writes the sources after the builds)."""
    root = _ROOT
    if not os.path.exists(os.path.join(root, "setup.py")):
        return []
    out = []
    for path in COMPILED:
        src = os.path.join(root, path)
        stem = src[: -len(".py")]
        builds = [os.path.join(os.path.dirname(src), f) for f in os.listdir(os.path.dirname(src))
                  if f.startswith(os.path.basename(stem) + ".") and f.endswith(".so")]
        if builds and os.path.exists(src) and os.path.getmtime(src) > min(map(os.path.getmtime, builds)):
            out.append(module_name(path))
    return out
