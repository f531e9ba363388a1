#!/usr/bin/env bash
# Install, then run the whole test suite twice: on SQLite and on PostgreSQL.
# PostgreSQL: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/loyalty_test).
# Its run is required; LOYALTY_SKIP_PG=1 skips it on a laptop without PostgreSQL
# (never in CI, where CI=true makes a missing PostgreSQL a failure).
source "$(dirname "$0")/_venv.sh" test "[test]"
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/loyalty_test}

run_pytest() {
  local rc=0
  .venv/bin/python -m pytest "$@" || rc=$?
  # Exit code 5 means no test ran: that is a failure here, not a pass.
  [ "$rc" -eq 5 ] && { echo "no tests were collected" >&2; return 1; }
  return "$rc"
}

echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/mypy loyalty wallet notifications geofence audience journeys observability api

echo "== tests on SQLite"
env -u TEST_DATABASE_URL bash -c "$(declare -f run_pytest); run_pytest -q $*"

if [ "${LOYALTY_SKIP_PG:-0}" = "1" ] && [ "${CI:-}" != "true" ]; then
  echo "== PostgreSQL run skipped (LOYALTY_SKIP_PG=1): the suite is NOT complete" >&2
  exit 0
fi
echo "== tests on PostgreSQL ($PG_URL)"
if ! .venv/bin/python - "$PG_URL" <<'PY'
import asyncio, sys
import asyncpg
from urllib.parse import urlsplit, urlunsplit
url = urlsplit(sys.argv[1].replace("postgres://", "postgresql://", 1))
admin = urlunsplit((url.scheme, url.netloc, "/postgres", "", ""))
async def main():
    conn = await asyncio.wait_for(asyncpg.connect(admin), 10)
    await conn.close()
asyncio.run(main())
PY
then
  echo "PostgreSQL is not reachable at $PG_URL: the PostgreSQL run cannot happen" >&2
  exit 1
fi
TEST_DATABASE_URL="$PG_URL" run_pytest -q "$@"
