#!/usr/bin/env bash
# Install, then serve on the embedded default (SQLite in ./loyalty.sqlite3) with
# demo data seeded and its log-ins printed. Extra arguments go to `loyalty serve`.
source "$(dirname "$0")/_venv.sh" run
exec .venv/bin/loyalty serve --demo "$@"
