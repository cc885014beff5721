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


def _anchors(doc: Path) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings: lower case, punctuation dropped, spaces as
    hyphens, ``-1``, ``-2``, ... after a repeated one (headings inside code fences are none)."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#+ (.*)", line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return out


def test_links_to_a_section_name_one_the_file_has() -> None:
    """``[Profile updates](#profile-updates)`` led nowhere: that is a paragraph of Steps, not a heading."""
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", doc.read_text()):
            file = doc.parent / target if target else doc
            if not re.match(r"[a-z]+:", target) and file.exists() and anchor not in _anchors(file):
                broken.append(f"{doc.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken, f"links to sections that do not exist: {broken}"
