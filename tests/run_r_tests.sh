#!/usr/bin/env bash
# The R side of the test suite (scripts/test.sh runs it after pytest):
#   1. install the R package into a temporary library and run the testthat suite against it,
#      printing the plain line "N passed, N failed, N skipped"; any failure, error or skip fails
#      (a missing Python must never pass as a skip: SCMVP_REQUIRE_PYTHON=true turns it into an error);
#      (this includes rendering vignettes/scMVP.Rmd with SCMVP_VIGNETTE_FAST=true: tests/testthat/test-vignette.R);
#   2. R CMD build and R CMD check --no-manual (tests and the vignette already ran in 1, so --no-tests
#      --ignore-vignettes): fails
#      unless check reports 0 errors and 0 warnings.
# Needs SCMVP_PYTHON (a python binary or virtualenv with scmvp); defaults to the setup.sh venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${SCMVP_VENV:-$HOME/.virtualenvs/r-scmvp}"
export SCMVP_PYTHON="${SCMVP_PYTHON:-$VENV/bin/python}"
export SCMVP_REQUIRE_PYTHON=true
if [ ! -e "$SCMVP_PYTHON" ]; then
  echo "run_r_tests.sh: SCMVP_PYTHON=$SCMVP_PYTHON does not exist; run scripts/setup.sh first." >&2
  exit 1
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lib"
export R_LIBS="$WORK/lib${R_LIBS:+:$R_LIBS}"

echo "== R: install scMVP into a temporary library"
R CMD INSTALL --no-multiarch --library="$WORK/lib" . >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }

echo "== R: testthat (SCMVP_PYTHON=$SCMVP_PYTHON)"
start=$(date +%s)
Rscript - <<'RSCRIPT'
options(warn = 1)
res <- testthat::test_dir("tests/testthat", package = "scMVP", load_package = "installed",
                          reporter = testthat::SummaryReporter$new(), stop_on_failure = FALSE)
r <- as.data.frame(res)
passed <- sum(r$passed); failed <- sum(r$failed) + sum(r$error); skipped <- sum(r$skipped)
cat(sprintf("%d passed, %d failed, %d skipped\n", passed, failed, skipped))
if (failed > 0 || skipped > 0 || passed == 0) quit(status = 1)
RSCRIPT
echo "== R: testthat took $(( $(date +%s) - start )) s"

echo "== R: R CMD build + R CMD check --no-manual"
start=$(date +%s)
# Debian's Rprofile.site points repos at CRAN, which check would try to reach: use an empty local repo.
mkdir -p "$WORK/repo/src/contrib"
: >"$WORK/repo/src/contrib/PACKAGES"
echo "options(repos = c(CRAN = 'file://$WORK/repo'))" >"$WORK/Rprofile"
export R_PROFILE_USER="$WORK/Rprofile"
# Signac (Suggests) is not in Debian: check without it.
export _R_CHECK_FORCE_SUGGESTS_=false
(cd "$WORK" && R CMD build --no-build-vignettes "$ROOT" >build.log 2>&1) || { cat "$WORK/build.log"; exit 1; }
TARBALL="$(ls "$WORK"/scMVP_*.tar.gz)"
set +e
# The vignette is rendered (fast settings) by tests/testthat/test-vignette.R in step 1, so a vignette that
# does not render fails there; the tarball is built without it, so check skips the vignette checks.
(cd "$WORK" && R CMD check --no-manual --no-tests --ignore-vignettes "$TARBALL" >check.log 2>&1)
rc=$?
set -e
sed -n '/^Status:/p' "$WORK/check.log"
if [ $rc -ne 0 ] || grep -Eq "^Status: .*(ERROR|WARNING)" "$WORK/check.log" || ! grep -q "^Status:" "$WORK/check.log"; then
  cat "$WORK/check.log"
  for f in "$WORK"/scMVP.Rcheck/00install.out; do [ -f "$f" ] && tail -50 "$f"; done
  echo "R CMD check: not clean (0 errors and 0 warnings required)" >&2
  exit 1
fi
grep -E "^\* checking .*\.\.\. (NOTE|WARNING|ERROR)" -A4 "$WORK/check.log" || true
echo "== R: build + check took $(( $(date +%s) - start )) s"
