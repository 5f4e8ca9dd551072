#!/usr/bin/env bash
# Set up a virtualenv with the project, then run the offline demo (gateway + fake upstream).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/portkey demo "$@"
