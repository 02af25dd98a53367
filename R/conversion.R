# The one place where R and Python meet: every call of a function of the Python bridge
# (python/scmvp/bridge.py) is in this file, with the conversion of its arguments and results.
# Python is started by scmvp_bridge() (R/install.R); Seurat objects are read and written in
# R/assays.R; arguments are validated before any of this runs (R/validate.R).
#
# R -> Python: a dgCMatrix (features x cells) becomes a scipy csc_matrix that views R's memory
# (no copy, no transpose in R; the Python side transposes to cells x features CSR for free).
# Integers cross as integers (as.integer), names as character vectors (Python lists of str).
# Python -> R: dense results come as float64 Fortran-order numpy arrays (the fastest layout to
# convert); sparse results are converted by .py_to_dgc() (reticulate 1.28's own converter fails
# with scipy >= 1.11, rstudio/reticulate#1417); names are set here, from R, never from Python.

# ------------------------------------------------------------------ R -> Python

# Any matrix-like count matrix as a dgCMatrix (double, column-compressed), without densifying.
.as_dgc <- function(x) {
  if (inherits(x, "dgCMatrix")) return(x)
  if (is.matrix(x) || is.data.frame(x)) {
    x <- as.matrix(x)
    if (!is.numeric(x) && !is.logical(x)) .abort("scMVP: the count matrix must be numeric, not ", typeof(x), ".")
    storage.mode(x) <- "double"
    return(methods::as(methods::as(x, "CsparseMatrix"), "generalMatrix"))
  }
  if (methods::is(x, "Matrix")) {
    x <- methods::as(methods::as(methods::as(x, "CsparseMatrix"), "generalMatrix"), "dMatrix")
    return(x)
  }
  .abort("scMVP: expected a count matrix (dgCMatrix or matrix), got an object of class ", class(x)[1], ".")
}

# A dgCMatrix as a scipy csc_matrix (a view of R's memory).
.to_py_csc <- function(x) reticulate::r_to_py(.as_dgc(x))

.to_py_int <- function(x) if (is.null(x)) NULL else as.integer(x)

.to_py_chr <- function(x) if (is.null(x)) NULL else reticulate::r_to_py(as.list(as.character(x)))

# ------------------------------------------------------------------ Python -> R

# Any scipy sparse matrix (or sparse array) as a dgCMatrix.
.py_to_dgc <- function(x, dimnames = NULL) {
  x <- x$tocsc()
  x$sum_duplicates()
  shape <- as.integer(unlist(reticulate::py_to_r(x$shape)))
  m <- methods::new("dgCMatrix",
                    i = as.integer(reticulate::py_to_r(x$indices)),
                    p = as.integer(reticulate::py_to_r(x$indptr)),
                    x = as.double(reticulate::py_to_r(x$data)),
                    Dim = shape)
  if (!is.null(dimnames)) dimnames(m) <- dimnames
  m
}

# A numpy array (float64 F order is converted without a copy of the layout) as an R matrix.
.py_to_matrix <- function(x, dimnames = NULL) {
  m <- reticulate::py_to_r(x)
  if (!is.matrix(m)) m <- as.matrix(m)
  if (!is.null(dimnames)) dimnames(m) <- dimnames
  m
}

.py_to_vec <- function(x) as.vector(reticulate::py_to_r(x))

.py_to_chr <- function(x) as.character(unlist(reticulate::py_to_r(x)))

# Python bytes -> R raw vector (through a uint8 numpy view, no copy in Python).
.py_to_raw <- function(x) {
  np <- reticulate::import("numpy", convert = FALSE)
  as.raw(reticulate::py_to_r(np$frombuffer(x, dtype = np$uint8)))
}

# An element of a Python dict (convert = FALSE) without converting the dict.
.item <- function(d, key) reticulate::py_get_item(d, key)

# Warning messages (a Python list or an R character vector) -> R warnings.
.relay_warnings <- function(w) {
  if (inherits(w, "python.builtin.object")) w <- .py_to_chr(w)
  for (msg in w) .warn("scMVP: ", msg)
  invisible()
}

# ------------------------------------------------------------------ progress

# The per-epoch callback handed to Python: a line every few epochs (about ten lines a fit, or
# every getOption("scMVP.progress.every") epochs) through message(), so knitr and Rscript show
# tidy lines; an interactive console sees one line updated in place. NULL when not verbose.
.progress_callback <- function(verbose) {
  if (!isTRUE(verbose)) return(NULL)
  every <- getOption("scMVP.progress.every")
  inplace <- interactive() && !isTRUE(getOption("knitr.in.progress"))
  function(epoch, max_epochs, record) {
    epoch <- as.integer(reticulate::py_to_r(epoch))
    max_epochs <- as.integer(reticulate::py_to_r(max_epochs))
    step <- if (is.null(every)) max(1L, as.integer(ceiling(max_epochs / 10))) else max(1L, as.integer(every))
    show <- epoch == 1L || epoch %% step == 0L || epoch == max_epochs
    if (!inplace && !show) return(invisible(NULL))
    rec <- reticulate::py_to_r(record)
    held <- if (!is.null(rec$validation_loss)) sprintf(", held-out %.2f", rec$validation_loss) else ""
    line <- sprintf("scMVP: epoch %d/%d, loss %.2f%s", epoch, max_epochs, rec$loss, held)
    if (inplace) {
      cat("\r", line, "   ", sep = "", file = stderr())
    } else {
      message(line)
    }
    invisible(NULL)
  }
}

# Ends the in-place progress line of an interactive console.
.progress_done <- function(verbose) {
  if (isTRUE(verbose) && interactive() && !isTRUE(getOption("knitr.in.progress"))) cat("\n", file = stderr())
  invisible()
}

# ------------------------------------------------------------------ the bridge's functions

# Python's default of every model setting (scmvp.ScMVPConfig, the only place a default is
# written), as a named list; cached for the session.
.py_defaults <- function(what = "scmvp_defaults()") {
  if (is.null(.scmvp$defaults)) {
    br <- scmvp_bridge()
    .scmvp$defaults <- reticulate::py_to_r(.py_call(br$defaults(), what))
  }
  .scmvp$defaults
}

# One line of help per model setting (named character vector).
.py_settings_help <- function(what = "scmvp_defaults()") {
  br <- scmvp_bridge()
  h <- reticulate::py_to_r(.py_call(br$settings_help(), what))
  vapply(h, function(x) paste(as.character(x), collapse = " "), character(1))
}

# Python, package versions and the device "auto" resolves to (a named list).
.py_config <- function(what = "scMVP") {
  br <- scmvp_bridge()
  reticulate::py_to_r(.py_call(br$config(), what))
}

# Train on features x cells count matrices (dgCMatrix with dimnames; NULL for the view a
# single-view model does not use). `settings`: model settings by their Python names, only those
# given (the others take Python's defaults). Returns list(py = the trained Python model,
# result = the named results, as RunSCMVP.default() returns them, without imputation).
.py_fit <- function(rna, atac, batch, settings, verbose, what = "RunSCMVP") {
  br <- scmvp_bridge()
  cells <- colnames(if (!is.null(rna)) rna else atac)
  args <- c(list(rna = if (!is.null(rna)) .to_py_csc(rna), atac = if (!is.null(atac)) .to_py_csc(atac),
                 rna_features = .to_py_chr(rownames(rna)), atac_features = .to_py_chr(rownames(atac)),
                 batch = .to_py_chr(batch), verbose = FALSE, callback = .progress_callback(verbose)),
            settings)
  fit <- .py_call(do.call(br$fit, args), what)
  .progress_done(verbose)
  model <- .item(fit, "model")
  info <- .py_model_info(model, what)
  k <- as.integer(reticulate::py_to_r(.item(fit, "n_clusters")))
  emb <- .py_to_matrix(.item(fit, "embedding"))
  dimnames(emb) <- list(cells, paste0("SCMVP_", seq_len(ncol(emb))))
  clusters <- factor(.py_to_vec(.item(fit, "clusters")), levels = seq_len(k))
  names(clusters) <- cells
  result <- list(
    embedding = emb,
    clusters = clusters,
    probabilities = .py_to_matrix(.item(fit, "probabilities"), list(cells, as.character(seq_len(k)))),
    max.probability = stats::setNames(.py_to_vec(.item(fit, "max_probability")), cells),
    history = lapply(reticulate::py_to_r(.item(fit, "history")), as.vector),
    features.rna = .py_to_chr(.item(fit, "features_rna")),
    features.atac = .py_to_chr(.item(fit, "features_atac")),
    n.clusters = k,
    batch.levels = info$batch.levels,
    model = .py_model_bytes(model, what),
    params = info$params,
    warnings = .py_to_chr(.item(fit, "warnings"))
  )
  list(py = model, result = result)
}

# A 10x Multiome .h5 read by scmvp.io.read_10x_h5: list(rna, atac), features x cells dgCMatrix
# with names (gene names made unique, as Seurat's reader does).
.py_read_10x_h5 <- function(file, what = "scMVP") {
  scmvp_bridge()
  io <- reticulate::import("scmvp.io", convert = FALSE)
  d <- .py_call(io$read_10x_h5(normalizePath(file)), what)
  cells <- .py_to_chr(.item(d$cells, "barcode")$tolist())
  list(rna = Matrix::t(.py_to_dgc(d$rna, list(cells, make.unique(.py_to_chr(d$genes))))),
       atac = Matrix::t(.py_to_dgc(d$atac, list(cells, .py_to_chr(d$peaks)))))
}

# A Python model from its bytes (R's raw vector). device NULL: Python's default.
.py_model <- function(raw, device = NULL, what = "scMVP") {
  br <- scmvp_bridge()
  args <- c(list(raw), if (!is.null(device)) list(device = device))
  .py_call(do.call(br$model_from_bytes, args), what)
}

.py_model_bytes <- function(model, what = "scMVP") {
  br <- scmvp_bridge()
  .py_to_raw(.py_call(br$model_to_bytes(model), what))
}

# The settings (all of them, n_clusters the fitted K), features and batch labels of a Python model.
.py_model_info <- function(model, what = "scMVP") {
  br <- scmvp_bridge()
  info <- reticulate::py_to_r(.py_call(br$model_info(model), what))
  list(params = info$params,
       features = list(rna = as.character(unlist(info$features_rna)), atac = as.character(unlist(info$features_atac))),
       batch.levels = if (length(info$batch_categories)) as.character(unlist(info$batch_categories)))
}

# Embed cells (features x cells counts; NULL for a view the model does not use) with a model.
# Returns list(embedding, probabilities, clusters (factor 1..K), max.probability), rows in the
# cells' order, without dimnames; Python's warnings (e.g. missing features) become R warnings.
.py_embed <- function(model, rna, atac, batch = NULL, what = "scMVP") {
  br <- scmvp_bridge()
  res <- .py_call(br$embed(model, rna = if (!is.null(rna)) .to_py_csc(rna), atac = if (!is.null(atac)) .to_py_csc(atac),
                           rna_features = .to_py_chr(rownames(rna)), atac_features = .to_py_chr(rownames(atac)),
                           batch = .to_py_chr(batch), allow_missing = TRUE), what)
  .relay_warnings(.item(res, "warnings"))
  probs <- .py_to_matrix(.item(res, "probabilities"))
  list(embedding = .py_to_matrix(.item(res, "embedding")), probabilities = probs,
       clusters = factor(.py_to_vec(.item(res, "clusters")), levels = seq_len(ncol(probs))),
       max.probability = .py_to_vec(.item(res, "max_probability")))
}

# Imputed values of `features` of one view ("rna" or "atac"), features x cells with dimnames: for
# the model's training cells (rna = atac = NULL) or for the cells of the given counts. With a
# `threshold` (ATAC), a dgCMatrix keeping the values >= threshold; else a dense matrix.
.py_impute <- function(model, view, features, cells, rna = NULL, atac = NULL, batch = NULL, kind = NULL,
                       threshold = NULL, what = "scMVP") {
  br <- scmvp_bridge()
  args <- list(model, rna = if (!is.null(rna)) .to_py_csc(rna), atac = if (!is.null(atac)) .to_py_csc(atac),
               rna_features = .to_py_chr(rownames(rna)), atac_features = .to_py_chr(rownames(atac)),
               features = .to_py_chr(features), batch = .to_py_chr(batch))
  if (view == "rna") {
    x <- .py_call(do.call(br$impute_rna, args), what)
    return(.py_to_matrix(x, list(features, cells)))
  }
  if (!is.null(kind)) args$kind <- kind
  if (!is.null(threshold)) args$threshold <- as.double(threshold)
  x <- .py_call(do.call(br$impute_atac, args), what)
  if (is.null(threshold)) .py_to_matrix(x, list(features, cells)) else .py_to_dgc(x, list(features, cells))
}
