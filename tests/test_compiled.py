"""The hot modules run compiled (mypyc, ``setup.py``), and decide exactly what their sources decide."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys

import orjson
import pytest

from cjo_stream import native
from cjo_stream.generator import generate_events
from tests.conftest import T0

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "schemas", "examples", "touchpoints.jsonl")


def _cli(*args: str, pure: bool, cwd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CJO_PURE_PYTHON": "1" if pure else "0"}
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.mark.skipif(os.environ.get("CJO_PURE_PYTHON", "") not in ("", "0"), reason="installed without compiling")
def test_every_listed_module_is_compiled_and_current() -> None:
    for path in native.COMPILED:
        importlib.import_module(native.module_name(path))
    assert native.loaded_compiled() == [native.module_name(p) for p in native.COMPILED]
    assert native.stale() == []


def test_pure_python_switch_imports_the_sources() -> None:
    code = ("import cjo_stream.replay.run, cjo_stream.simulator; from cjo_stream import native; "
            "print(len(native.loaded_compiled()))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "CJO_PURE_PYTHON": "1"})
    assert p.stdout.strip() == "0"


def test_no_listed_module_defines_a_msgspec_struct() -> None:
    """mypyc hands msgspec wrong annotations for structs defined in a compiled module (they then fail to decode)."""
    for path in native.COMPILED:
        with open(os.path.join(ROOT, path)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                assert not any("Struct" in b for b in bases), f"{path}: class {node.name}({', '.join(bases)})"


def test_simulate_and_replay_decide_the_same_compiled_or_not(tmp_path: str) -> None:
    """What users type, both ways: every command, the report and the analytics page byte for byte."""
    events = os.path.join(tmp_path, "events.jsonl")
    with open(events, "wb") as f:  # ten days of 300 customers: waits expire, sends render, ids merge
        f.writelines(orjson.dumps(e) + b"\n" for e in generate_events(customers=300, seed=11, start=T0,
                                                                      duration=10 * 86400))
    outputs = []
    for pure in (False, True):
        d = os.path.join(tmp_path, "pure" if pure else "compiled")
        os.mkdir(d)
        sim = _cli("simulate", "--topologies", os.path.join(ROOT, "topologies"), "--events", EXAMPLES, "--report",
                   pure=pure, cwd=d)
        rep = _cli("replay", "--topologies", os.path.join(ROOT, "topologies"), "--events", events, "--commands",
                   "cmds.jsonl", "--html", "page.html", pure=pure, cwd=d)
        assert sim.returncode == 0 and rep.returncode == 0, (sim.stderr, rep.stderr)
        with open(os.path.join(d, "cmds.jsonl")) as f, open(os.path.join(d, "page.html")) as g:
            # the summary line's events/s and memory differ from run to run
            report = [ln for ln in rep.stdout.splitlines() if not ln.startswith("replayed ")]
            outputs.append((sim.stdout, report, f.read(), g.read()))
    assert outputs[0] == outputs[1]
    assert outputs[0][2].count("\n") > 100  # the generated traffic made sends to compare
