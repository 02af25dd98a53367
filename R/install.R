# Python discovery, the lazy import of the Python module, the installer and the diagnostic.

.venv_root <- function() {
  root <- Sys.getenv("WORKON_HOME", "")
  if (!nzchar(root)) root <- "~/.virtualenvs"
  path.expand(root)
}

.default_venv <- function() file.path(.venv_root(), "r-scmvp")

# A python binary from a path that is a binary or a virtualenv folder.
.python_binary <- function(path) {
  path <- path.expand(path)
  if (dir.exists(path)) {
    for (cand in file.path(path, c("bin/python", "bin/python3", "Scripts/python.exe"))) {
      if (file.exists(cand)) return(cand)
    }
    return(file.path(path, "bin", "python"))
  }
  path
}

# Which Python scMVP will start, and why: a list(python, source). python is "" when none is set
# and the default virtualenv does not exist (reticulate's own discovery then decides).
.python_choice <- function() {
  opt <- getOption("scMVP.python")
  if (!is.null(opt) && nzchar(opt)) return(list(python = .python_binary(opt), source = "option scMVP.python"))
  env <- Sys.getenv("SCMVP_PYTHON", "")
  if (nzchar(env)) return(list(python = .python_binary(env), source = "environment variable SCMVP_PYTHON"))
  ret <- Sys.getenv("RETICULATE_PYTHON", "")
  if (nzchar(ret)) return(list(python = ret, source = "environment variable RETICULATE_PYTHON"))
  venv <- .default_venv()
  py <- .python_binary(venv)
  if (file.exists(py)) return(list(python = py, source = paste0("default virtualenv ", venv)))
  list(python = "", source = "none")
}

.no_python_hint <- paste0(
  "run scMVP::install_scmvp() once, or point options(scMVP.python = ) or the SCMVP_PYTHON ",
  "environment variable to a Python (or virtualenv) that has the scmvp package"
)

#' The Python module behind scMVP (started on first use)
#'
#' Starts Python if needed (the Python chosen as described in [scmvp_config()]) and imports the
#' `scmvp.bridge` module with `convert = FALSE`. Loading the R package never starts Python;
#' the first call of a function that needs Python does. Python cannot be switched once it has
#' started in an R session. Before torch is imported, its library is loaded with
#' `RTLD_DEEPBIND`, a change to the whole R process; see [scmvp_config()] for what that does and
#' how to opt out (`options(scMVP.deepbind = FALSE)`).
#'
#' @return The module (a reticulate Python object), cached for the session.
#' @keywords internal
#' @export
scmvp_bridge <- function() {
  if (!is.null(.scmvp$bridge)) return(.scmvp$bridge)
  choice <- .python_choice()
  started <- reticulate::py_available(initialize = FALSE)
  if (!started) {
    if (!nzchar(choice$python)) {
      .abort("scMVP: no Python with the scmvp package is set up; ", .no_python_hint, ".",
             class = "scmvp_no_python")
    }
    if (!file.exists(choice$python)) {
      .abort("scMVP: the Python from the ", choice$source, " (", choice$python, ") does not exist; ",
             .no_python_hint, ".", class = "scmvp_no_python")
    }
    # reticulate 1.28 ranks RETICULATE_PYTHON above everything (including its mistaken guess
    # that a folder with a pyproject.toml is a Poetry project): set it only while Python starts.
    old <- Sys.getenv("RETICULATE_PYTHON", unset = NA)
    Sys.setenv(RETICULATE_PYTHON = choice$python)
    on.exit(if (is.na(old)) Sys.unsetenv("RETICULATE_PYTHON") else Sys.setenv(RETICULATE_PYTHON = old),
            add = TRUE)
  }
  .scmvp$torch.blas <- .bind_torch_blas()
  mod <- tryCatch(
    reticulate::import("scmvp.bridge", convert = FALSE),
    error = function(e) {
      py <- tryCatch(reticulate::py_config()$python, error = function(e2) choice$python)
      .abort("scMVP: could not import the Python package scmvp in ", py, " (",
             .one_line(conditionMessage(e)), "); ", .no_python_hint,
             if (started) " (Python was already running in this R session: restart R)" else "",
             ".", class = "scmvp_no_python")
    }
  )
  np_version <- reticulate::py_to_r(reticulate::import("numpy", convert = FALSE)$`__version__`)
  if (numeric_version(np_version) >= "2" && utils::packageVersion("reticulate") < "1.38") {
    .abort("scMVP: Python has NumPy ", np_version, " but reticulate ", utils::packageVersion("reticulate"),
           " needs NumPy < 2; run `", reticulate::py_config()$python,
           " -m pip install \"numpy<2\"` (or install_scmvp()) and restart R.", class = "scmvp_no_python")
  }
  .scmvp$bridge <- mod
  mod
}

# Inside R, torch's calls to the BLAS symbol sgemm_ resolve to R's BLAS (already in the process's
# global scope) instead of torch's own MKL: with R's reference BLAS training ran 20x slower, with
# a multi-threaded OpenBLAS 3x slower (its threads and torch's OpenMP threads compete for the
# cores). Loading torch's library with RTLD_DEEPBIND, before torch is imported, makes it use its
# own BLAS, as in plain Python (measured: 4 epochs on 3,000 cells, Python 11.4 s; in R 32.6 s
# before, 12.0 s after). Fallback: OpenBLAS at one thread. Both change the whole R process (see
# scmvp_config()'s docs); options(scMVP.deepbind = FALSE) or SCMVP_DEEPBIND=false turn them off.
# Returns what was done, for scmvp_config().
.TORCH_BLAS_PY <- "
def _scmvp_bind_torch_blas():
    import ctypes, importlib.util, os, sys
    if 'torch' in sys.modules:
        return 'unchanged (torch was imported before scMVP)'
    try:
        host = ctypes.CDLL(None)
    except OSError:
        return 'unchanged'
    if not hasattr(host, 'sgemm_'):
        return \"torch's own\"
    spec = importlib.util.find_spec('torch')
    lib = os.path.join(os.path.dirname(spec.origin), 'lib', 'libtorch_cpu.so') if spec else ''
    try:
        ctypes.CDLL(lib, mode=os.RTLD_GLOBAL | os.RTLD_NOW | os.RTLD_DEEPBIND)
        return \"torch's own (bound with RTLD_DEEPBIND)\"
    except (OSError, AttributeError):
        pass
    if hasattr(host, 'openblas_set_num_threads'):
        host.openblas_set_num_threads(1)
        return \"R's OpenBLAS, set to 1 thread\"
    return \"R's BLAS (slow: install Debian's libopenblas0-pthread)\"
"
.DEEPBIND_OFF <- "unchanged (turned off by option scMVP.deepbind / SCMVP_DEEPBIND)"

# Whether scMVP may bind torch's BLAS (option scMVP.deepbind, else the environment variable
# SCMVP_DEEPBIND; on unless one of them says FALSE / "false" / "0" / "no").
.deepbind_enabled <- function() {
  opt <- getOption("scMVP.deepbind")
  if (!is.null(opt)) {
    if (!is.logical(opt) || length(opt) != 1L || is.na(opt)) {
      .abort("scMVP: option scMVP.deepbind must be TRUE or FALSE, not ", .show(opt), ".")
    }
    return(opt)
  }
  !tolower(Sys.getenv("SCMVP_DEEPBIND", "true")) %in% c("false", "0", "no", "off")
}

.bind_torch_blas <- function() {
  if (!.deepbind_enabled()) return(.DEEPBIND_OFF)
  tryCatch({
    main <- reticulate::py_run_string(.TORCH_BLAS_PY, local = TRUE, convert = FALSE)
    reticulate::py_to_r(main[["_scmvp_bind_torch_blas"]]())
  }, error = function(e) paste("unknown:", .one_line(conditionMessage(e))))
}

#' Is the scMVP Python module available?
#'
#' @param initialize Start Python to check (`TRUE`, default) or only report whether it has been
#'   imported already (`FALSE`).
#' @return `TRUE` or `FALSE`, never an error.
#' @export
#' @examples
#' scmvp_available(initialize = FALSE)
scmvp_available <- function(initialize = TRUE) {
  if (!is.null(.scmvp$bridge)) return(TRUE)
  if (!isTRUE(initialize)) return(FALSE)
  isTRUE(tryCatch({
    scmvp_bridge()
    TRUE
  }, error = function(e) FALSE))
}

#' Python, torch and device used by scMVP
#'
#' Reports which Python scMVP uses and why, the versions of the Python packages that matter and
#' the device that `device = "auto"` resolves to. Python is chosen, first match wins, from: the
#' option `scMVP.python`, the environment variable `SCMVP_PYTHON` (a python binary or a virtualenv
#' folder), the environment variable `RETICULATE_PYTHON`, and the virtualenv
#' `~/.virtualenvs/r-scmvp` made by [install_scmvp()].
#'
#' @return A list of class `scmvp_config` (`python`, `chosen.by`, `available`, and when Python
#'   started: `python.version`, `scmvp`, `torch`, `numpy`, `scipy`, `cuda`, `device`,
#'   `threads`, `float32_matmul`: whether training sends CPU float32 products through oneDNN
#'   (where that keeps float32 accuracy) or torch's default, `reticulate`, `torch.blas`: which BLAS
#'   torch's matrix products use inside R), printed readably. When Python cannot start, `error`
#'   says why.
#' @section A process-wide change: torch's BLAS:
#' Inside R, the BLAS routines torch calls for its matrix products resolve to R's own BLAS,
#' which is already loaded in the process: with R's reference BLAS, training runs about 20 times
#' slower than in Python, with a multi-threaded OpenBLAS about 3 times slower. So when scMVP starts
#' Python, before torch is imported, it loads torch's library (`libtorch_cpu.so`) with
#' `RTLD_GLOBAL | RTLD_DEEPBIND`, which makes torch use its own BLAS, as in plain Python. This
#' changes the whole R process for the rest of the session: torch's library stays loaded with
#' its symbols global (libraries loaded later may resolve symbols to it) and looking up its own
#' symbols first, which is known not to mix with tools that interpose `malloc` (AddressSanitizer,
#' some jemalloc set-ups). Where `RTLD_DEEPBIND` is not available and R uses OpenBLAS, scMVP
#' instead sets OpenBLAS to one thread, which also slows R's own matrix algebra. `torch.blas` in
#' `scmvp_config()` says which happened. To leave the process as it is (and accept slower
#' training), set `options(scMVP.deepbind = FALSE)` or the environment variable
#' `SCMVP_DEEPBIND=false` before the first scMVP call that starts Python; nothing is changed then
#' and `torch.blas` says so.
#' @export
#' @examples
#' \donttest{
#' if (scmvp_available()) scmvp_config()
#' }
scmvp_config <- function() {
  choice <- .python_choice()
  out <- list(python = choice$python, chosen.by = choice$source, available = FALSE,
              reticulate = as.character(utils::packageVersion("reticulate")),
              scMVP = as.character(utils::packageVersion("scMVP")))
  # (start Python through scmvp_bridge() before any reticulate function runs: reticulate's
  # generics initialise Python themselves, before evaluating their arguments)
  cfg <- tryCatch({
    scmvp_bridge()
    .py_config("scmvp_config()")
  }, error = function(e) e)
  if (inherits(cfg, "error")) {
    out$error <- conditionMessage(cfg)
  } else {
    out$available <- TRUE
    out$python <- cfg$python
    cfg$python <- NULL
    out <- c(out, cfg, list(torch.blas = .scmvp$torch.blas %||% "unknown"))
  }
  structure(out, class = "scmvp_config")
}

#' @export
print.scmvp_config <- function(x, ...) {
  cat("scMVP configuration\n")
  cat("  python     :", if (nzchar(x$python)) x$python else "(none)", "\n")
  cat("  chosen by  :", x$chosen.by, "\n")
  if (!isTRUE(x$available)) {
    cat("  available  : no\n  problem    :", x$error, "\n")
    return(invisible(x))
  }
  cat("  versions   : Python ", x$python_version, ", scmvp ", x$scmvp, ", torch ", x$torch,
      ", numpy ", x$numpy, ", scipy ", x$scipy, "\n", sep = "")
  cat("  R side     : scMVP ", x$scMVP, ", reticulate ", x$reticulate, "\n", sep = "")
  cat("  device     : ", x$device, if (isTRUE(x$cuda)) " (CUDA available)" else " (no CUDA GPU)",
      ", ", x$threads, " CPU threads\n", sep = "")
  cat("  torch BLAS :", x$torch.blas, "\n")
  cat("  matmul     :", x$float32_matmul, "\n")
  invisible(x)
}

# A folder holding the scmvp Python package source: pyproject.toml and python/scmvp.
.is_python_source <- function(dir) {
  is.character(dir) && length(dir) == 1L && !is.na(dir) && nzchar(dir) && file.exists(file.path(dir, "pyproject.toml")) &&
    file.exists(file.path(dir, "python", "scmvp", "__init__.py"))
}

# The Python package shipped inside the installed R package (inst/python: in the git repository
# symbolic links to the repository's pyproject.toml, README.md and python/, which R CMD build and
# R CMD INSTALL copy as files; .Rbuildignore and .Rinstignore keep caches out).
.shipped_python_source <- function() system.file("python", package = "scMVP")

# Where install_scmvp() takes the Python package from, first match wins: the copy shipped in the
# installed R package; the git checkout this package was installed from (R CMD INSTALL .); the
# current folder or one of its parents. For an editable install the checkouts come first (an
# editable install of the shipped copy would make the R library the live source).
.find_python_source <- function(start = getwd(), editable = FALSE) {
  walk <- function() {
    dir <- normalizePath(start, mustWork = FALSE)
    repeat {
      if (.is_python_source(dir)) return(dir)
      parent <- dirname(dir)
      if (identical(parent, dir)) return("")
      dir <- parent
    }
  }
  candidates <- if (editable) list(.install_source, walk, .shipped_python_source) else
    list(.shipped_python_source, .install_source, walk)
  for (cand in candidates) {
    dir <- if (is.function(cand)) cand() else cand
    if (.is_python_source(dir)) return(normalizePath(dir))
  }
  ""
}

# A copy of the Python source in a temporary folder: pip builds in the source tree (build/,
# *.egg-info), which must not happen in an R library (often read-only, and shared).
.copy_python_source <- function(source) {
  dest <- tempfile("scmvp-python-")
  dir.create(dest)
  files <- intersect(list.files(source, no.. = TRUE), c("pyproject.toml", "README.md", "LICENSE", "python"))
  ok <- file.copy(file.path(source, files), dest, recursive = TRUE)
  if (!all(ok)) .abort("scMVP: could not copy the Python package from ", source, " to ", dest, "; check the space in tempdir().")
  junk <- list.files(file.path(dest, "python"), pattern = "(__pycache__|\\.egg-info)$", recursive = TRUE, include.dirs = TRUE,
                     full.names = TRUE, all.files = TRUE)
  unlink(junk, recursive = TRUE)
  dest
}

#' Install the scMVP Python package into a virtualenv
#'
#' Creates a Python virtualenv (`python -m venv`) and installs into it, with pip, PyTorch (CPU
#' build, pinned), NumPy < 2 (reticulate 1.28, which Debian 12 ships, cannot read NumPy 2
#' arrays) and the scmvp Python package. The Python package ships inside the R package (its
#' `python` folder, `system.file("python", package = "scMVP")`), so this works from a package
#' installed from the source tarball as well as from a git checkout. scMVP finds the default
#' virtualenv by itself; for another `envname`, set `options(scMVP.python = <path>)`.
#'
#' @param envname Name of a virtualenv under `~/.virtualenvs` (or `WORKON_HOME`), or a path.
#' @param source Folder with the scmvp Python package source (`pyproject.toml` and
#'   `python/scmvp`). Default: the copy shipped in this R package; else the git checkout it was
#'   installed from, or the current folder or one of its parents (with `editable = TRUE` the
#'   checkouts come first).
#' @param python The Python used to create the virtualenv (default `/usr/bin/python3` when it
#'   exists, else `python3` on the PATH).
#' @param torch The PyTorch version to pin (pinning keeps pip from pulling a multi-GB CUDA build).
#' @param editable Install the Python package in editable (development) mode, from a git checkout.
#' @param extra Further pip requirements (e.g. `"anndata"`), installed in the same call.
#' @param dependencies `FALSE` installs only the scmvp package (`pip install --no-deps`), for a
#'   virtualenv that already has PyTorch, NumPy and SciPy (e.g. a CUDA build of PyTorch).
#' @param pip.args Further options for `pip install` (e.g. `"--no-build-isolation"` offline, or
#'   `c("--index-url", "<url>")`).
#' @return The virtualenv's python binary, invisibly.
#' @seealso [scmvp_config()] for the process-wide change scMVP makes when it starts Python.
#' @export
#' @examples
#' \dontrun{
#' install_scmvp()
#' scmvp_config()
#' }
#' # the Python package it installs:
#' list.files(system.file("python", package = "scMVP"))
install_scmvp <- function(envname = "r-scmvp", source = NULL, python = NULL, torch = "2.13.0",
                          editable = FALSE, extra = character(), dependencies = TRUE, pip.args = character()) {
  if (!is.character(envname) || length(envname) != 1L || !nzchar(envname)) {
    .abort("scMVP: envname must be one name or path, e.g. install_scmvp(\"r-scmvp\").")
  }
  .check_flag(editable, "editable")
  .check_flag(dependencies, "dependencies")
  if (!is.character(pip.args) || anyNA(pip.args)) .abort("scMVP: pip.args must be a character vector of pip options.")
  if (is.null(source)) source <- .find_python_source(editable = editable)
  if (!.is_python_source(source)) {
    .abort("scMVP: cannot find the scmvp Python package source (a folder with pyproject.toml and ",
           "python/scmvp, shipped in the R package's python folder); reinstall scMVP or pass ",
           "install_scmvp(source = \"/path/to/scMVP\") (the git repository).")
  }
  if (is.null(python)) python <- if (file.exists("/usr/bin/python3")) "/usr/bin/python3" else Sys.which("python3")
  if (!nzchar(python) || !file.exists(python)) {
    .abort("scMVP: no python3 to create the virtualenv with; install Python 3 (Debian: apt-get install ",
           "python3-venv) or pass install_scmvp(python = \"/path/to/python3\").")
  }
  venv <- if (grepl("/", envname, fixed = TRUE)) path.expand(envname) else file.path(.venv_root(), envname)
  run <- function(cmd, args) {
    message("scMVP: ", cmd, " ", paste(args, collapse = " "))
    status <- system2(cmd, shQuote(args))
    if (!identical(status, 0L)) {
      .abort("scMVP: `", cmd, " ", paste(args, collapse = " "), "` failed (status ", status,
             "); see the output above, fix the cause and run install_scmvp() again.")
    }
  }
  if (!file.exists(.python_binary(venv))) {
    dir.create(dirname(venv), recursive = TRUE, showWarnings = FALSE)
    run(python, c("-m", "venv", venv))
  }
  vpy <- .python_binary(venv)
  pip <- c("-m", "pip", "install", "--disable-pip-version-check", pip.args)
  pins <- if (dependencies) c(paste0("torch==", torch), "numpy<2")
  if (dependencies) run(vpy, c(pip, pins))
  pkg <- if (editable) c("-e", normalizePath(source)) else .copy_python_source(source)
  if (!editable) on.exit(unlink(pkg, recursive = TRUE), add = TRUE)
  run(vpy, c(pip, if (!dependencies) "--no-deps", pkg, pins, extra))
  if (normalizePath(venv) != normalizePath(.default_venv(), mustWork = FALSE)) {
    message("scMVP: installed in ", venv, "; use it with options(scMVP.python = \"", venv, "\").")
  } else {
    message("scMVP: installed in ", venv, "; scMVP uses it by default (check with scmvp_config()).")
  }
  if (reticulate::py_available(initialize = FALSE)) {
    message("scMVP: Python is already running in this R session; restart R to use the new environment.")
  }
  invisible(vpy)
}

#' The defaults of scMVP's model settings
#'
#' Every setting of an scMVP model (and of its training) has its default in one place, the
#' Python package's `scmvp.ScMVPConfig`; [RunSCMVP()] writes none of them: an argument left
#' `NULL`, or a setting not passed through its `...`, takes the value listed here. Settings are
#' named as in Python; [RunSCMVP()]'s arguments `n.clusters`, `n.latent`, `epochs`, `device` and
#' `seed.use` set `n_clusters`, `n_latent`, `max_epochs`, `device` and `seed`, and every other
#' setting is passed by its name through `...` (e.g. `RunSCMVP(obj, atac_weight = 0.1)`).
#' A `NULL` default is decided from the data (`n_clusters`: K estimated; `max_epochs`: scaled
#' with the number of cells).
#'
#' @param help `TRUE`: each setting's one-line description instead of its default.
#' @return A named list: setting name -> default (`attention` as a character vector of the
#'   attention parts, or `TRUE`/`FALSE`). With `help = TRUE`, a named character vector.
#' @seealso The settings a fitted model used: `Misc(object[["scmvp"]])$params`.
#' @export
#' @examples
#' if (scmvp_available()) {
#'   str(scmvp_defaults())
#'   scmvp_defaults(help = TRUE)[c("n_latent", "atac_weight")]
#' }
scmvp_defaults <- function(help = FALSE) {
  .check_flag(help, "help")
  scmvp_bridge() # (starts Python with scMVP's choice, before any reticulate function runs)
  if (help) .py_settings_help() else .py_defaults()
}
