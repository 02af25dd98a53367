# Package state and options. Loading scMVP never starts Python: the Python module is imported
# on first use by scmvp_bridge() (R/install.R), which also decides which Python to start.

.scmvp <- new.env(parent = emptyenv())

# The source folder of this package at install time (R CMD INSTALL evaluates this file with the
# working directory at the package source). It holds pyproject.toml and python/scmvp when
# installed from the git repository (a built tarball has the Python package in inst/python
# only); install_scmvp(editable = TRUE) installs from it, so edits there are live.
.install_source <- local({
  d <- tryCatch(getwd(), error = function(e) "")
  if (nzchar(d) && file.exists(file.path(d, "pyproject.toml")) && dir.exists(file.path(d, "python", "scmvp"))) d else ""
})

#' Options of the scMVP package
#'
#' All options are read when they are used, so they can be set at any time (Python options
#' only before the first call that starts Python).
#' \describe{
#'   \item{`scMVP.python`}{Path to a Python binary or a virtualenv folder to use. The environment
#'     variable `SCMVP_PYTHON` does the same. Default: the virtualenv `~/.virtualenvs/r-scmvp`
#'     made by [install_scmvp()], when it exists.}
#'   \item{`scMVP.verbose`}{Default of the `verbose` argument of [RunSCMVP()] and
#'     [ProjectSCMVP()] (`TRUE`).}
#'   \item{`scMVP.progress.every`}{Print a progress line every this many epochs (default: about
#'     ten lines per fit).}
#'   \item{`scMVP.max.dense.bytes`}{Largest imputed ATAC matrix (in bytes of doubles) returned
#'     dense; larger ones are returned sparse, keeping values `>= impute.threshold`
#'     (default `5e8`, 500 MB).}
#'   \item{`scMVP.deepbind`}{`FALSE` keeps scMVP from loading torch's library with
#'     `RTLD_DEEPBIND` (or setting R's OpenBLAS to one thread) when it starts Python, a change to
#'     the whole R process that makes training about 3-20 times faster; see [scmvp_config()].
#'     The environment variable `SCMVP_DEEPBIND=false` does the same. Default: on.}
#' }
#' Model settings have no options: their defaults live in the Python package, see
#' [scmvp_defaults()].
#' @name scMVP-options
#' @aliases scMVP.options
NULL

.onLoad <- function(libname, pkgname) {
  op <- options()
  defaults <- list(scMVP.verbose = TRUE, scMVP.max.dense.bytes = 5e8)
  toset <- !(names(defaults) %in% names(op))
  if (any(toset)) options(defaults[toset])
  invisible()
}
