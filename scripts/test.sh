#!/usr/bin/env bash
# Install everything (scripts/setup.sh) and run all tests: pytest (Python), testthat and
# R CMD check (R). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${SCMVP_VENV:-$HOME/.virtualenvs/r-scmvp}"
export SCMVP_PYTHON="$VENV/bin/python"
echo "== pytest"
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"
if [ -f DESCRIPTION ] && [ -f tests/run_r_tests.sh ]; then
  bash tests/run_r_tests.sh
fi
