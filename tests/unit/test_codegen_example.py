"""The TypeScript codegen example for app teams (examples/app-codegen):
generated from the committed schema, it compiles with `tsc --strict`.

Its packages are installed by `npm ci` (.ci/run does it). Without them the
compile test is skipped on a laptop and fails in CI (CI=true). It does not
depend on the database: it runs in the SQLite pass only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, parse, print_ast

from api.fast_home import HOME_DOCUMENT
from tests.conftest import IS_PG

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "app-codegen"
BIN = EXAMPLE / "node_modules" / ".bin"


def test_the_examples_home_document_is_the_apps():
    (theirs,) = parse((EXAMPLE / "src" / "home.graphql").read_text()).definitions
    (ours,) = parse(HOME_DOCUMENT).definitions
    assert isinstance(theirs, OperationDefinitionNode) and isinstance(ours, OperationDefinitionNode)
    assert print_ast(theirs.selection_set) == print_ast(ours.selection_set)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=EXAMPLE, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(IS_PG, reason="database-independent: checked in the SQLite pass")
def test_the_generated_types_compile_with_tsc_strict():
    missing = [name for name in ("node",) if shutil.which(name) is None]
    if missing or not (BIN / "graphql-codegen").exists() or not (BIN / "tsc").exists():
        reason = ("Node.js and examples/app-codegen's packages are needed: "
                  "npm ci --prefix examples/app-codegen")
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (.ci/run installs them)")
        pytest.skip(reason)
    generated = _run(str(BIN / "graphql-codegen"), "--config", "codegen.yml")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "export type HomeQuery" in (EXAMPLE / "src/generated/graphql.ts").read_text()
    compiled = _run(str(BIN / "tsc"), "--strict", "--noEmit", "-p", ".")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
