"""schema/schema.graphql is the live schema, so that a change to the API
shows in review as a change to that file."""

from __future__ import annotations

from pathlib import Path

from api.cli import main

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"


def test_the_committed_sdl_is_the_live_schema(capsys):
    assert main(["schema"]) == 0
    live = capsys.readouterr().out
    assert live == COMMITTED.read_text(), (
        "The API changed: run `.venv/bin/loyalty schema > schema/schema.graphql` and commit it."
    )
