# Sourced by the scripts: a project virtualenv with the package and its
# dependencies at the versions of the lock file (reproducible installs):
# requirements.lock to run, requirements-test.lock (with the test tools) to test.
# Regenerate both after changing pyproject.toml's dependencies:
#   uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
#     --no-header -o requirements.lock
#   uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
#     --generate-hashes --no-header -o requirements-test.lock
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
lock=requirements.lock
[ "${1:-run}" = test ] && lock=requirements-test.lock
# Reinstall only when pyproject.toml or the lock changed since the last install.
stamp=.venv/.installed-$(cat pyproject.toml "$lock" | sha1sum | cut -c1-12)-${1:-run}
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # Every package at its locked version, checked against its locked hashes.
  .venv/bin/python -m pip install -q --require-hashes -r "$lock"
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
