#!/usr/bin/env bash
# Install everything scMVP needs on a fresh Debian 12 machine (idempotent; run as root or with sudo):
#   R 4.2 + Seurat 4.3 from Debian's packages, a Python virtualenv with torch (CPU) and scmvp,
#   and the R package scMVP. The virtualenv is $SCMVP_VENV (default ~/.virtualenvs/r-scmvp, the
#   place install_scmvp() and the R package look first).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SCMVP_VENV:-$HOME/.virtualenvs/r-scmvp}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

R_DEBS="r-base-core r-cran-seurat r-cran-seuratobject r-cran-reticulate r-cran-matrix r-cran-testthat
  r-cran-rmarkdown r-cran-knitr pandoc r-cran-glmnet r-bioc-limma qpdf python3-venv r-cran-roxygen2
  r-bioc-destiny r-bioc-genomicranges libopenblas0-pthread"
if ! dpkg -s $R_DEBS >/dev/null 2>&1; then
  echo "== apt: R, Seurat and friends"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $R_DEBS >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== python virtualenv at $VENV"
  /usr/bin/python3 -m venv "$VENV"
fi
echo "== pip: torch (CPU), numpy<2 (reticulate 1.28), scmvp"
"$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0 "numpy<2" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[test]" torch==2.13.0 "numpy<2" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -c "import scmvp, torch, numpy; print('scmvp', scmvp.__version__, '| torch', torch.__version__, '| numpy', numpy.__version__)"

if [ -f DESCRIPTION ]; then
  echo "== R package scMVP"
  R CMD INSTALL --no-multiarch . >/dev/null 2>&1 || R CMD INSTALL --no-multiarch .
fi
