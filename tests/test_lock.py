"""requirements.lock is the install: it covers pyproject.toml, and `make setup` installed exactly it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, tuple[str, Marker | None]]:
    pins: dict[str, tuple[str, Marker | None]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if m:
            pins[canonicalize_name(m.group(1))] = (m.group(2), Marker(m.group(3)) if m.group(3) else None)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in reqs]


def test_lock_pins_every_declared_dependency_within_its_range() -> None:
    pins = locked()
    assert len(pins) > 30, "requirements.lock looks empty: run `make lock`"
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in pins]
    assert not missing, f"requirements.lock lacks {missing}: run `make lock` and commit requirements.lock"
    outside = [f"{r} (locked {pins[canonicalize_name(r.name)][0]})" for r in declared()
               if not r.specifier.contains(pins[canonicalize_name(r.name)][0], prereleases=True)]
    assert not outside, f"locked versions outside pyproject.toml's ranges: {outside}: run `make lock`"


def test_installed_versions_are_the_locked_ones() -> None:
    wrong = []
    for name, (version, marker) in locked().items():
        if marker is not None and not marker.evaluate():
            continue
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "not installed"
        if have != version:
            wrong.append(f"{name}: locked {version}, installed {have}")
    assert not wrong, f"this environment is not the locked one (run `make setup`): {wrong}"
