# The one place where data cross between R and Python, and where Seurat objects are read and
# written (SeuratObject 4 and 5 through .get_layer()).
#
# R -> Python: a dgCMatrix (features x cells) becomes a scipy csc_matrix that views R's memory
# (no copy, no transpose in R; the Python side transposes to cells x features CSR for free).
# Integers cross as integers (as.integer), names as character vectors (Python lists of str).
# Python -> R: dense results come as float64 Fortran-order numpy arrays (the fastest layout to
# convert); sparse results are converted by .py_to_dgc() (reticulate 1.28's own converter fails
# with scipy >= 1.11, rstudio/reticulate#1417); names are set here, from R, never from Python.

# ------------------------------------------------------------------ Seurat objects (v4 / v5)

# A layer ("counts", "data") of an assay: v3 Assay slots (SeuratObject 4, Signac's ChromatinAssay)
# or Assay5 layers (SeuratObject 5). Returns a matrix with dimnames (0 x 0 when absent).
.get_layer <- function(object, assay, layer = "counts") {
  a <- object[[assay]]
  if (inherits(a, "Assay5")) {
    layers <- getExportedValue("SeuratObject", "Layers")(a)
    if (!layer %in% layers) {
      split <- grep(paste0("^", layer, "\\."), layers, value = TRUE)
      if (length(split)) {
        .abort("scMVP: assay '", assay, "' has split '", layer, "' layers (", paste(utils::head(split, 3), collapse = ", "),
               "); join them first: object[['", assay, "']] <- JoinLayers(object[['", assay, "']]).")
      }
      return(methods::new("dgCMatrix", Dim = c(0L, 0L)))
    }
    m <- getExportedValue("SeuratObject", "LayerData")(a, layer = layer)
    if (is.null(rownames(m))) rownames(m) <- rownames(a)
    if (is.null(colnames(m))) colnames(m) <- colnames(a)
    return(m)
  }
  methods::slot(a, layer)
}

.assay_names <- function(object) names(object@assays)

# Store a SeuratCommand (from LogSeuratCommand(return.command = TRUE), called in the Run function
# so it records that function's arguments) with the assay it used; LogSeuratCommand itself finds
# no assay in our arguments and would warn.
.log_command <- function(object, cmd, assay) {
  methods::slot(cmd, "assay.used") <- assay
  object[[methods::slot(cmd, "name")]] <- cmd
  object
}

.variable_features <- function(object, assay) {
  vf <- tryCatch(SeuratObject::VariableFeatures(object = object, assay = assay), error = function(e) character())
  if (is.null(vf)) character() else as.character(vf)
}

# An assay holding imputed values (dense matrix or dgCMatrix, features x cells). When the input
# assay was a Signac ChromatinAssay and Signac is installed, a ChromatinAssay with the same
# ranges, genome and annotation is made instead, so Signac's functions work on it.
.imputed_assay <- function(values, template = NULL) {
  if (!is.null(template) && inherits(template, "ChromatinAssay") && requireNamespace("Signac", quietly = TRUE)) {
    made <- tryCatch({
      ranges <- methods::slot(template, "ranges")
      idx <- match(rownames(values), rownames(template))
      create <- getExportedValue("Signac", "CreateChromatinAssay")
      args <- list(data = values, ranges = ranges[idx])
      ann <- tryCatch(methods::slot(template, "annotation"), error = function(e) NULL)
      if (!is.null(ann)) args$annotation <- ann
      si <- tryCatch(methods::slot(template, "seqinfo"), error = function(e) NULL)
      if (!is.null(si)) args$genome <- si
      do.call(create, args)
    }, error = function(e) {
      .warn("scMVP: could not build a ChromatinAssay for the imputed peaks (", .one_line(conditionMessage(e)),
            "); stored a standard Assay instead.")
      NULL
    })
    if (!is.null(made)) return(made)
  }
  SeuratObject::CreateAssayObject(data = values)
}

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

# Python's list of warning messages -> R warnings.
.relay_warnings <- function(w) {
  for (msg in .py_to_chr(w)) .warn("scMVP: ", msg)
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
