"""The JSON Schemas in schemas/ are generated from the structs; this fails when they drift."""

from __future__ import annotations

import os

import orjson
import pytest

from cjo_stream.schemas_export import SCHEMAS, render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_checked_in_schema_matches_code(name: str) -> None:
    path = os.path.join(ROOT, "schemas", name)
    assert os.path.exists(path), f"{path} is missing: run `make schemas`"
    with open(path, "rb") as f:
        assert f.read() == render(name), f"{path} drifted from the code: run `make schemas` and commit"


def test_journey_schema_describes_steps() -> None:
    schema = orjson.loads(render("journey.schema.json"))
    step = schema["$defs"]["StepSpec"]["properties"]
    assert {"wait", "wait_until", "wait_for", "branch", "split", "send", "next"} <= set(step)
