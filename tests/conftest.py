"""Shared helpers: build journeys from YAML text and events from short arguments."""

from __future__ import annotations

import itertools
import os
import signal
import textwrap
from typing import Any

import pytest

from cjo_stream import native
from cjo_stream.engine import Engine
from cjo_stream.events import Event, parse_ts
from cjo_stream.journeys.loader import load_journey_text
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.policies import Policies, compile_policies
from cjo_stream.journeys.source import load_yaml


def pytest_configure(config: pytest.Config) -> None:
    """A compiled module is imported instead of its source: testing an edited source needs a new build
    (not with ``CJO_PURE_PYTHON=1``, which imports the sources)."""
    stale = native.stale() if os.environ.get("CJO_PURE_PYTHON", "") in ("", "0") else []
    if stale:
        pytest.exit(f"compiled builds older than their sources ({', '.join(stale)}): run `make setup` "
                    "(or `make test`, which does)", returncode=4)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # run as a background job (`make test &`): SIGINT is ignored, and every command a test starts inherited
        # that, so the tests that stop one with Ctrl-C waited for it in vain (a Python handler here is reset to
        # the default in each child at exec)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:  # Quix Streams (a bench peer) imports Authlib, whose deprecation of its own httpx client was the suite's
        # one warning; Authlib sets an "always" filter for it when first imported, which, done inside a test,
        # came before pytest's filters: imported here, the filter in pyproject applies (not our code's warning)
        import authlib.deprecate  # noqa: F401
    except ImportError:
        pass


T0 = parse_ts("2026-03-02T10:00:00Z")  # a Monday, 10:00 UTC
_ids = itertools.count()


def journey(text: str, file: str = "test.yaml") -> Journey:
    return load_journey_text(textwrap.dedent(text), file)


def policies(text: str) -> Policies:
    return compile_policies(load_yaml(textwrap.dedent(text), "policies.yaml"))


def engine(*texts: str, policy: str | None = None) -> Engine:
    return Engine([journey(t) for t in texts], policies(policy) if policy else None)


def ev(name: str, at: float, user: str = "u1", *, type: str = "track", props: dict[str, Any] | None = None,
       traits: dict[str, Any] | None = None, context: dict[str, Any] | None = None,
       anon: str | None = None, mid: str | None = None) -> Event:
    return Event(message_id=mid or f"m{next(_ids)}", type=type, name=name, ts=at,  # type: ignore[arg-type]
                 user_id=user, anonymous_id=anon, properties=props or {}, traits=traits or {},
                 context=context or {})


@pytest.fixture
def t0() -> float:
    return T0
