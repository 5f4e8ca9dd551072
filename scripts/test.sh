#!/usr/bin/env bash
# Set up a virtualenv with the project and its test extras, then run lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# the Snowflake tests run the real connector against fakesnow, which pins an older sqlglot than
# ours: it gets its own virtualenv (tests/fakes/snowflake.py starts it as a server)
if [ ! -x .venv-fakesnow/bin/fakesnow ]; then
  "$PY" -m venv .venv-fakesnow
  .venv-fakesnow/bin/python -m pip install -q "fakesnow[server]==0.12.1" \
    "snowflake-connector-python==4.8.1"
fi
# the dashboard's browser tests drive Debian's chromium (Playwright's own download needs the
# internet); installed here when missing and apt-get can (root), else those tests skip
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for the browser tests"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "could not install chromium: the browser tests will skip"
fi
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure for us, not a pass.
exit $rc
