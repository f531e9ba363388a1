"""The analytics library in audience/ is pure: the database side and the API
import it, never the other way round (STYLE.md, rule 1 and 13)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = ["clv", "clv_models", "attribution", "rfm", "stats"]
FORBIDDEN = {"tortoise", "asyncpg", "aiosqlite", "strawberry", "starlette", "api", "loyalty",
             "wallet", "notifications", "geofence"}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_database_and_no_edge(module):
    tree = ast.parse((ROOT / "audience" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    assert names & FORBIDDEN == set()
    # Within audience/, only the other pure modules.
    local = {n.module for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("audience")}
    assert local <= {f"audience.{m}" for m in PURE}
