"""The repository a user clones is self-contained: no file points outside it, every relative link resolves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / p for p in out.splitlines() if (ROOT / p).is_file()]


def test_no_file_cites_something_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared/|/work/shared|MEASURED\.md")
    hits = []
    for path in tracked():
        if path.suffix in {".py", ".md", ".yml", ".yaml", ".toml", ".txt", ".json", ""} and path != Path(__file__):
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if outside.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "cite a file in the repository (docs/benchmarks.md, a README section) instead:\n" + "\n".join(hits)


def test_relative_links_in_the_docs_resolve() -> None:
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not re.match(r"[a-z]+:", target) and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, f"links to files that do not exist: {broken}"
