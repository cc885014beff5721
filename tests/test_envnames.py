"""A misspelt ``CJO_*`` variable is a warning naming the one meant (it was ignored without a word)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cjo_stream.envnames import KNOWN, misspelt

ROOT = Path(__file__).resolve().parent.parent


def test_known_is_exactly_the_names_the_code_reads() -> None:
    """Kept honest both ways: a setting added to the code and not here would be called misspelt when close to one."""
    read = set()
    for path in (ROOT / "cjo_stream").rglob("*.py"):
        if path.name != "envnames.py":
            read |= set(re.findall(r"""["'](CJO_[A-Z0-9_]*[A-Z0-9])["']""", path.read_text()))
    assert read == set(KNOWN)


@pytest.mark.parametrize("doc", ["README.md", "docs/adapters.md", "docs/operations.md"])
def test_every_variable_the_docs_tabulate_is_no_misspelling(doc: str) -> None:
    rows = re.findall(r"^\| `(CJO_[A-Z0-9_<>]+)`", (ROOT / doc).read_text(), re.M)
    names = {r.replace("<CHANNEL>", "EMAIL") for r in rows}
    assert names and misspelt({n: "x" for n in names}) == []


@pytest.mark.parametrize(("name", "meant"), [
    ("CJO_PARTITONS", "CJO_PARTITIONS"), ("CJO_BROKERS", "CJO_BROKER"), ("CJO_LOGLEVEL", "CJO_LOG_LEVEL"),
    ("CJO_RATE_EMIAL", "CJO_RATE_EMAIL"), ("CJO_RATE_SMSS_BURST", "CJO_RATE_SMS_BURST"),
    ("CJO_EXPIRY_PUHS", "CJO_EXPIRY_PUSH")])
def test_a_name_close_to_a_setting_names_it(name: str, meant: str) -> None:
    assert misspelt({name: "4"}) == [f"warning: {name} is not a setting cjo-stream reads (did you mean {meant}?); "
                                     "it is ignored"]


@pytest.mark.parametrize("name", ["CJO_PARTITIONS", "CJO_SMTP_PASSWORD_FILE", "CJO_SLACK_WEBHOOK_URL_FILE",
                                  "CJO_RATE_EMAIL_BURST", "CJO_RATE_CONSOLE", "CJO_EXPIRY_IN_APP",
                                  "CJO_RATE_MYCO_WHATSAPP", "CJO_MYCO_WHATSAPP_TOKEN"])
def test_settings_and_names_far_from_any_are_not_warned_about(name: str) -> None:
    """A channel of your own may read variables and rates of its own."""
    assert misspelt({name: "x"}) == []


def test_a_command_warns_once_and_goes_on() -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CJO_")}, "CJO_PARTITONS": "4"}
    r = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "validate"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == ("warning: CJO_PARTITONS is not a setting cjo-stream reads (did you mean "
                                        "CJO_PARTITIONS?); it is ignored")
