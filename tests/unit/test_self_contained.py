"""A fresh clone is the whole project: the tests read nothing outside it, and
the documentation's links lead to files inside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A path out of the clone: the sibling folder the contracts once lived in, or
# a parent of the clone's root.
OUTSIDE = re.compile(r"\.\./shared|\bshared/(schema-contract|contract-marketing|DESIGN)"
                     r"|schema-contract\.graphql|parents\[[3-9]\]")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _files(*patterns: str) -> list[Path]:
    found = [p for pattern in patterns for p in ROOT.glob(pattern)]
    return [p for p in found if ".venv" not in p.parts and "node_modules" not in p.parts]


def test_the_suite_and_scripts_read_nothing_outside_the_clone():
    offenders = {str(p.relative_to(ROOT)): OUTSIDE.findall(p.read_text())
                 for p in _files("tests/**/*.py", "scripts/*", ".ci/*", "bench/*.py")
                 if p.is_file() and p != Path(__file__).resolve()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_documentation_links_lead_inside_the_repository():
    broken, checked = [], 0
    for page in _files("*.md", "docs/**/*.md", "bench/*.md", "api/**/*.md", "examples/**/*.md"):
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            checked += 1
            path = (page.parent / target).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
    assert checked > 10  # the pages were read
