# R <-> Python conversion (R/conversion.R) and the SeuratObject layer helper.

test_that("a dgCMatrix crosses to scipy CSC without copy and comes back identical", {
  skip_if_no_scmvp()
  set.seed(3)
  m <- Matrix::rsparsematrix(40, 25, 0.2)
  m@x <- round(abs(m@x) * 10) + 1
  dimnames(m) <- list(paste0("f", 1:40), paste0("c", 1:25))
  py <- scMVP:::.to_py_csc(m)
  expect_true(inherits(py, "scipy.sparse._csc.csc_matrix") || any(grepl("csc", class(py))))
  expect_equal(unlist(reticulate::py_to_r(py$shape)), c(40L, 25L))
  back <- scMVP:::.py_to_dgc(py, dimnames(m))
  expect_s4_class(back, "dgCMatrix")
  expect_identical(back, m)
  # CSR and COO with duplicates and unsorted indices come back canonical
  sp <- reticulate::import("scipy.sparse", convert = FALSE)
  np <- reticulate::import("numpy", convert = FALSE)
  coo <- sp$coo_matrix(reticulate::tuple(np$array(c(1, 2, 3, 4)), reticulate::tuple(np$array(c(2L, 0L, 2L, 1L)), np$array(c(1L, 0L, 1L, 2L)))),
                       shape = reticulate::tuple(3L, 3L))
  d <- scMVP:::.py_to_dgc(coo)
  expect_equal(as.matrix(d), matrix(c(2, 0, 0, 0, 0, 4, 0, 4, 0), 3, 3))
  # dense integer and logical matrices become dgCMatrix
  dense <- matrix(c(0L, 1L, 2L, 0L), 2, 2)
  expect_s4_class(scMVP:::.as_dgc(dense), "dgCMatrix")
  expect_equal(as.matrix(scMVP:::.as_dgc(dense)), matrix(c(0, 1, 2, 0), 2, 2))
})

test_that("dense results come back as double matrices in the right orientation", {
  skip_if_no_scmvp()
  np <- reticulate::import("numpy", convert = FALSE)
  x <- np$asfortranarray(np$arange(6)$reshape(reticulate::tuple(2L, 3L)), dtype = np$float64)
  m <- scMVP:::.py_to_matrix(x, list(c("a", "b"), c("x", "y", "z")))
  expect_identical(m, matrix(c(0, 3, 1, 4, 2, 5), 2, 3, dimnames = list(c("a", "b"), c("x", "y", "z"))))
  raw <- as.raw(c(0, 1, 255, 7))
  bytes <- reticulate::import_builtins(convert = FALSE)$bytes(raw)
  expect_identical(scMVP:::.py_to_raw(bytes), raw)
})

test_that("the layer helper reads counts from v3 assays and refuses absent layers", {
  obj <- example_object(200)
  m <- scMVP:::.get_layer(obj, "ATAC", "counts")
  expect_identical(dim(m), c(24744L, 200L))
  expect_true(all(grepl("^chr[0-9XYM]+-[0-9]+-[0-9]+$", rownames(m))))
  expect_identical(colnames(m), colnames(obj))
  expect_identical(m, obj[["ATAC"]]@counts)
})

test_that("Python errors become one-line R errors with cause and fix", {
  skip_if_no_scmvp()
  br <- scmvp_bridge()
  m <- Matrix::sparseMatrix(i = c(1, 2, 3), j = c(1, 2, 3), x = c(-1, 2, 3), dims = c(3, 3))
  err <- tryCatch(scMVP:::.py_call(br$fit(scMVP:::.to_py_csc(m), scMVP:::.to_py_csc(abs(m)), max_epochs = 1L), "RunSCMVP"),
                  error = function(e) e)
  expect_s3_class(err, "scmvp_input_error")
  expect_match(conditionMessage(err), "^scMVP: rna: negative values found \\(min -1\\)\\. scMVP needs raw, non-negative counts")
  expect_true(one_line(conditionMessage(err)))
  junk <- tempfile(fileext = ".pt")
  writeBin(as.raw(1:100), junk)
  err <- tryCatch(LoadSCMVPModel(junk), error = function(e) e)
  expect_s3_class(err, "scmvp_python_error")
  expect_match(conditionMessage(err), "^LoadSCMVPModel failed in Python: .*traceback: reticulate::py_last_error\\(\\)")
  expect_true(one_line(conditionMessage(err)))
})

test_that("scmvp_config reports Python, torch, numpy and the device", {
  skip_if_no_scmvp()
  cfg <- scmvp_config()
  expect_s3_class(cfg, "scmvp_config")
  expect_true(cfg$available)
  expect_true(file.exists(cfg$python))
  expect_match(cfg$torch, "^[0-9]+\\.[0-9]+")
  expect_true(numeric_version(cfg$numpy) < "2")
  expect_true(cfg$device %in% c("cpu", "cuda"))
  expect_true(cfg$float32_matmul %in% c("oneDNN (float32-exact on this CPU)", "torch default"))
  out <- capture.output(print(cfg))
  expect_true(any(grepl("versions   : Python", out)))
  expect_true(any(grepl("matmul     : ", out, fixed = TRUE)))
})

test_that("Python is chosen from the option, then SCMVP_PYTHON, then RETICULATE_PYTHON, then the default venv", {
  old_opt <- options(scMVP.python = NULL)
  old_env <- Sys.getenv(c("SCMVP_PYTHON", "RETICULATE_PYTHON", "WORKON_HOME"), unset = NA)
  on.exit({
    options(old_opt)
    for (k in names(old_env)) if (is.na(old_env[[k]])) Sys.unsetenv(k) else do.call(Sys.setenv, as.list(old_env[k]))
  })
  venv <- file.path(tempfile("venvs"), "r-scmvp")
  dir.create(file.path(venv, "bin"), recursive = TRUE)
  file.create(file.path(venv, "bin", "python"))
  Sys.unsetenv(c("SCMVP_PYTHON", "RETICULATE_PYTHON"))
  Sys.setenv(WORKON_HOME = dirname(venv))
  expect_identical(scMVP:::.python_choice()$python, file.path(venv, "bin", "python"))
  Sys.setenv(RETICULATE_PYTHON = "/opt/py/bin/python")
  expect_identical(scMVP:::.python_choice()$source, "environment variable RETICULATE_PYTHON")
  Sys.setenv(SCMVP_PYTHON = venv)
  expect_identical(scMVP:::.python_choice(), list(python = file.path(venv, "bin", "python"), source = "environment variable SCMVP_PYTHON"))
  options(scMVP.python = "/usr/bin/python3")
  expect_identical(scMVP:::.python_choice(), list(python = "/usr/bin/python3", source = "option scMVP.python"))
  Sys.setenv(WORKON_HOME = tempfile("empty"))
  options(scMVP.python = NULL)
  Sys.unsetenv(c("SCMVP_PYTHON", "RETICULATE_PYTHON"))
  expect_identical(scMVP:::.python_choice()$python, "")
})

test_that("scmvp_config starts the chosen Python, without reticulate's Poetry warning, in a fresh session", {
  skip_if_no_scmvp()
  py <- scmvp_config()$python
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressPackageStartupMessages({library(scMVP); library(Seurat)})",
    "n <- 0L",
    "cfg <- withCallingHandlers(scmvp_config(), warning = function(w) { n <<- n + 1L; cat('WARNING=', conditionMessage(w), '\\n') })",
    "cat('WARNINGS=', n, '\\n', sep = '')",
    "cat('PYTHON=', reticulate::py_config()$python, '\\n', sep = '')",
    "cat('AVAILABLE=', cfg$available, '\\n', sep = '')",
    "cat('BLAS=', cfg$torch.blas, '\\n', sep = '')"
  ), script)
  out <- system2("env", c("-u", "RETICULATE_PYTHON", paste0("SCMVP_PYTHON=", py), file.path(R.home("bin"), "Rscript"), script),
                 stdout = TRUE, stderr = TRUE)
  expect_true("WARNINGS=0" %in% out, info = paste(out, collapse = "\n"))
  expect_true("AVAILABLE=TRUE" %in% out)
  expect_true(paste0("PYTHON=", py) %in% out)
  # R's BLAS is in the process before torch: torch must be bound to its own (R/install.R)
  expect_true("BLAS=torch's own (bound with RTLD_DEEPBIND)" %in% out, info = paste(out, collapse = "\n"))
})
