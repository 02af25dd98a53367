#!/usr/bin/env bash
# Install everything (scripts/setup.sh) and run scMVP end to end on the bundled real SNARE-seq
# adult mouse cortex data: prints ARI/NMI against the published labels and writes the embedding,
# clusters, model and PNG plots to ${1:-out/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${SCMVP_VENV:-$HOME/.virtualenvs/r-scmvp}"
OUT="${1:-out/demo}"
"$VENV/bin/scmvp" demo -o "$OUT"
if [ -f DESCRIPTION ]; then
  echo "== R: RunSCMVP on a Seurat object (inst/scripts/demo.R)"
  SCMVP_PYTHON="$VENV/bin/python" Rscript inst/scripts/demo.R "$OUT/R"
fi
