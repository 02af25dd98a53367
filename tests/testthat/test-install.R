# Installing the Python side: install_scmvp() from the source tarball (the Python package ships
# inside the R package), and the opt-out of the process-wide change scMVP makes when it starts
# Python (torch's library loaded with RTLD_DEEPBIND).

source_root <- function() {
  root <- normalizePath(file.path(testthat::test_path(), "..", ".."), mustWork = FALSE)
  if (file.exists(file.path(root, "DESCRIPTION")) && file.exists(file.path(root, "inst", "python", "pyproject.toml"))) root else ""
}

run_r <- function(lines, env = character()) {
  script <- tempfile(fileext = ".R")
  writeLines(lines, script)
  out <- suppressWarnings(system2("env", c(env, file.path(R.home("bin"), "Rscript"), script), stdout = TRUE, stderr = TRUE))
  out
}

test_that("the BLAS binding is on unless options(scMVP.deepbind) or SCMVP_DEEPBIND turn it off", {
  old <- options(scMVP.deepbind = NULL)
  old_env <- Sys.getenv("SCMVP_DEEPBIND", unset = NA)
  on.exit({
    options(old)
    if (is.na(old_env)) Sys.unsetenv("SCMVP_DEEPBIND") else Sys.setenv(SCMVP_DEEPBIND = old_env)
  })
  Sys.unsetenv("SCMVP_DEEPBIND")
  expect_true(scMVP:::.deepbind_enabled())
  for (off in c("false", "FALSE", "0", "no")) {
    Sys.setenv(SCMVP_DEEPBIND = off)
    expect_false(scMVP:::.deepbind_enabled(), label = off)
  }
  Sys.setenv(SCMVP_DEEPBIND = "true")
  expect_true(scMVP:::.deepbind_enabled())
  options(scMVP.deepbind = FALSE) # the option wins over the variable
  expect_false(scMVP:::.deepbind_enabled())
  Sys.setenv(SCMVP_DEEPBIND = "false")
  options(scMVP.deepbind = TRUE)
  expect_true(scMVP:::.deepbind_enabled())
  options(scMVP.deepbind = "no")
  err <- tryCatch(scMVP:::.deepbind_enabled(), error = identity)
  expect_s3_class(err, "scmvp_error")
  expect_match(conditionMessage(err), "option scMVP.deepbind must be TRUE or FALSE")
  options(scMVP.deepbind = FALSE) # turned off: nothing is run in Python
  expect_identical(scMVP:::.bind_torch_blas(), "unchanged (turned off by option scMVP.deepbind / SCMVP_DEEPBIND)")
})

test_that("options(scMVP.deepbind = FALSE) leaves the process alone, and scMVP still trains", {
  skip_if_no_scmvp()
  py <- scmvp_config()$python
  out <- run_r(c(
    "options(scMVP.deepbind = FALSE)",
    "suppressPackageStartupMessages(library(scMVP))",
    "cfg <- scmvp_config()",
    "cat('BLAS=', cfg$torch.blas, '\\n', sep = '')",
    "maps <- readLines('/proc/self/maps')",
    "cat('TORCH_LOADED=', any(grepl('libtorch_cpu', maps)), '\\n', sep = '')",
    "obj <- ReadSCMVPExample(n.cells = 120, seed = 2)",
    "atac <- obj[['ATAC']]@counts; atac <- atac[order(-Matrix::rowSums(atac > 0))[1:400], ]",
    "rna <- obj[['RNA']]@counts",
    "keep <- Matrix::colSums(atac) > 0 & Matrix::colSums(rna) > 0",
    "res <- RunSCMVP(rna[, keep], atac[, keep], n.clusters = 2, epochs = 1, verbose = FALSE)",
    "cat('FIT=', all(is.finite(res$embedding)), '\\n', sep = '')"
  ), env = c("-u", "RETICULATE_PYTHON", "-u", "SCMVP_DEEPBIND", paste0("SCMVP_PYTHON=", py)))
  info <- paste(out, collapse = "\n")
  expect_true("BLAS=unchanged (turned off by option scMVP.deepbind / SCMVP_DEEPBIND)" %in% out, info = info)
  expect_true("TORCH_LOADED=TRUE" %in% out, info = info)
  expect_true("FIT=TRUE" %in% out, info = info)
})

test_that("install_scmvp() works from the source tarball: the Python package ships inside the R package", {
  skip_if_no_scmvp()
  root <- source_root()
  if (!nzchar(root)) skip("not run from a source checkout with inst/python")
  python <- if (file.exists("/usr/bin/python3")) "/usr/bin/python3" else unname(Sys.which("python3"))
  if (!nzchar(python)) skip("no python3 to create a virtualenv with")
  work <- tempfile("tarball-")
  dir.create(file.path(work, "lib"), recursive = TRUE)
  owd <- setwd(work)
  on.exit({
    setwd(owd)
    unlink(work, recursive = TRUE)
  }, add = TRUE)
  # as a user would: R CMD build, then R CMD INSTALL of the tarball
  log <- suppressWarnings(system2(file.path(R.home("bin"), "R"), c("CMD", "build", "--no-build-vignettes", "--no-manual",
                                                                    shQuote(root)), stdout = TRUE, stderr = TRUE))
  tarball <- list.files(work, pattern = "^scMVP_.*\\.tar\\.gz$", full.names = TRUE)
  expect_length(tarball, 1L)
  if (length(tarball) != 1L) fail(paste(utils::tail(log, 20), collapse = "\n"))
  listing <- utils::untar(tarball, list = TRUE)
  shipped <- grep("^scMVP/inst/python/", listing, value = TRUE)
  expect_true(all(c("scMVP/inst/python/pyproject.toml", "scMVP/inst/python/README.md",
                    "scMVP/inst/python/python/scmvp/__init__.py", "scMVP/inst/python/python/scmvp/bridge.py") %in% shipped))
  expect_false(any(grepl("__pycache__|egg-info|\\.pyc$", listing)))
  # the tarball holds one copy of the sources: inst/python, not the repository's python/
  expect_false(any(grepl("^scMVP/python/|^scMVP/pyproject\\.toml$", listing)))
  lib <- file.path(work, "lib")
  log <- suppressWarnings(system2(file.path(R.home("bin"), "R"), c("CMD", "INSTALL", "--no-multiarch", paste0("--library=", lib),
                                                                    shQuote(tarball)), stdout = TRUE, stderr = TRUE))
  if (!dir.exists(file.path(lib, "scMVP"))) fail(paste(utils::tail(log, 20), collapse = "\n"))
  venv <- file.path(work, "venv")
  out <- run_r(c(
    sprintf("suppressPackageStartupMessages(library(scMVP, lib.loc = %s))", deparse(lib)),
    sprintf("setwd(%s)", deparse(tempdir())),
    "src <- scMVP:::.find_python_source()",
    "cat('SRC=', src, '\\n', sep = '')",
    "before <- list.files(src, recursive = TRUE, all.files = TRUE)",
    sprintf("vpy <- install_scmvp(%s, python = %s, dependencies = FALSE)", deparse(venv), deparse(python)),
    "cat('VPY=', vpy, '\\n', sep = '')",
    "cat('UNCHANGED=', identical(before, list.files(src, recursive = TRUE, all.files = TRUE)), '\\n', sep = '')"
  ), env = c("-u", "RETICULATE_PYTHON", "-u", "SCMVP_PYTHON", paste0("R_LIBS=", lib, ":", Sys.getenv("R_LIBS"))))
  info <- paste(utils::tail(out, 30), collapse = "\n")
  src <- sub("^SRC=", "", grep("^SRC=", out, value = TRUE))
  expect_length(src, 1L)
  # the installed package's own copy, not a checkout
  expect_identical(src, normalizePath(file.path(lib, "scMVP", "python")), info = info)
  expect_true(file.exists(file.path(src, "pyproject.toml")))
  expect_identical(sort(list.files(file.path(src, "python", "scmvp"), pattern = "\\.py$")),
                   sort(list.files(file.path(root, "python", "scmvp"), pattern = "\\.py$")))
  expect_identical(unname(tools::md5sum(file.path(src, "python", "scmvp", "bridge.py"))),
                   unname(tools::md5sum(file.path(root, "python", "scmvp", "bridge.py"))))
  expect_true("UNCHANGED=TRUE" %in% out, info = info) # pip built from a copy, not in the R library
  vpy <- sub("^VPY=", "", grep("^VPY=", out, value = TRUE))
  expect_length(vpy, 1L)
  expect_true(length(vpy) == 1L && file.exists(vpy), info = info)
  # the scmvp package is in the virtualenv (installed without its dependencies, so not imported)
  probe <- system2(vpy, c("-c", shQuote(paste0(
    "import importlib.metadata as m; d = m.distribution('scmvp'); ",
    "print('VERSION=' + d.version); print('BRIDGE=' + str(d.locate_file('scmvp/bridge.py')))"))), stdout = TRUE, stderr = TRUE)
  expect_true(any(grepl("^VERSION=[0-9]", probe)), info = paste(probe, collapse = "\n"))
  bridge <- sub("^BRIDGE=", "", grep("^BRIDGE=", probe, value = TRUE))
  expect_true(length(bridge) == 1L && file.exists(bridge))
  expect_identical(unname(tools::md5sum(bridge)), unname(tools::md5sum(file.path(root, "python", "scmvp", "bridge.py"))))
})
