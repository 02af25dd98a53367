#!/usr/bin/env bash
# The peers' virtualenv for bench/compare.py and bench/scaling.py: MultiVI / scVI (scvi-tools),
# WNN and MOFA+ (muon, mofapy2), scanpy; plus scmvp itself without its dependencies (for the
# data reader). Default place: ~/.virtualenvs/scmvp-peers (env SCMVP_PEERS_VENV overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SCMVP_PEERS_VENV:-$HOME/.virtualenvs/scmvp-peers}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "is ignored" || true
"$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements-peers.txt 2>&1 | grep -v "is ignored" || true
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -c "import scvi, muon, mofapy2, scanpy, scmvp; print('peers venv:', '$VENV', '| scvi-tools', scvi.__version__, '| muon', muon.__version__, '| scanpy', scanpy.__version__)"
