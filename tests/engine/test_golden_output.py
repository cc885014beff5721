"""The engine's decisions, byte for byte, on fixed inputs: a change of speed must not change a command.

What the simulator decides (the same engine as the workers) over the example events and over generated
inputs, encoded as the workers encode them (msgspec JSON), is compared with what it decided when the
golden files were written. The example run is kept readable (``golden/demo.jsonl``); the generated ones,
thousands of decisions each, as a SHA-256 of the same lines (``golden/digests.json``). A deliberate change
of what the engine decides regenerates them: ``.venv/bin/python tests/engine/test_golden_output.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator

import msgspec
import orjson
import pytest

from cjo_stream.engine import Engine
from cjo_stream.generator import generate_events
from cjo_stream.journeys.loader import load_topology
from cjo_stream.jsonl import jsonl_lines
from cjo_stream.simulator import Simulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
DEMO = os.path.join(HERE, "demo.jsonl")
DIGESTS = os.path.join(HERE, "digests.json")
TOPOLOGIES = {"examples": os.path.join(ROOT, "topologies"),
              "send_heavy": os.path.join(ROOT, "cjo_stream", "bench", "send_heavy")}
_enc = msgspec.json.Encoder()


def decisions(topology: str, lines: Iterator[bytes]) -> list[bytes]:
    """Every command and skip the simulator decides, each as the workers encode it, in decision order."""
    topo = load_topology(TOPOLOGIES[topology])
    out: list[bytes] = []
    sim = Simulator(Engine(topo.journeys, topo.policies), keep=False,
                    on_command=lambda c: out.append(b"command " + _enc.encode(c)),
                    on_skip=lambda s: out.append(b"skip " + _enc.encode(s)))
    sim.run_lines(lines)
    sim.finish()
    return out


def generated(customers: int, seed: int) -> Iterator[bytes]:
    """A fixed generated input (ten days from a fixed start: every journey's timers fire)."""
    for e in generate_events(customers=customers, seed=seed, start=1_767_225_600.0, duration=10 * 86400):
        yield orjson.dumps(e)


CASES = {"examples-generated": ("examples", 800, 11), "send_heavy-generated": ("send_heavy", 500, 12)}


def digest(lines: list[bytes]) -> dict[str, object]:
    return {"decisions": len(lines), "sha256": hashlib.sha256(b"\n".join(lines)).hexdigest()}


def test_example_events_decide_as_before() -> None:
    got = decisions("examples", jsonl_lines(os.path.join(ROOT, "schemas", "examples", "touchpoints.jsonl")))
    with open(DEMO, "rb") as f:
        want = f.read().splitlines()
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"decision {i} differs"


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_inputs_decide_as_before(case: str) -> None:
    topology, customers, seed = CASES[case]
    got = decisions(topology, generated(customers, seed))
    with open(DIGESTS) as f:
        want = json.load(f)[case]
    assert got, "the input decided nothing"
    assert digest(got) == want


def _write() -> None:
    with open(DEMO, "wb") as f:
        f.write(b"\n".join(decisions("examples", jsonl_lines(os.path.join(ROOT, "schemas", "examples",
                                                                            "touchpoints.jsonl")))) + b"\n")
    out = {case: digest(decisions(t, generated(c, s))) for case, (t, c, s) in sorted(CASES.items())}
    with open(DIGESTS, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out, indent=2), file=sys.stderr)


if __name__ == "__main__":
    _write()
