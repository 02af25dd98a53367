# Validation in R, before any Python call. Every check raises a one-line error (.abort) that
# names the problem and the fix. Nothing here modifies its inputs.

.is_string <- function(x) is.character(x) && length(x) == 1L && !is.na(x) && nzchar(x)

.check_string <- function(x, arg, example) {
  if (!.is_string(x)) .abort("scMVP: ", arg, " must be one non-empty string, e.g. ", arg, " = \"", example, "\".")
  invisible(x)
}

.check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) .abort("scMVP: ", arg, " must be TRUE or FALSE.")
  invisible(x)
}

# The attention layers: TRUE (all), FALSE (none) or some of the parts, as a list so that
# reticulate hands Python a list even for one part.
.attention_parts <- c("rna_mask", "atac_self", "gate")
.check_attention <- function(x) {
  if (is.logical(x) && length(x) == 1L && !is.na(x)) return(x)
  if (is.character(x) && length(x) >= 1L && !anyNA(x) && all(x %in% .attention_parts)) return(as.list(unique(x)))
  .abort("scMVP: attention must be TRUE, FALSE or some of ", paste0("\"", .attention_parts, "\"", collapse = ", "),
         " (e.g. attention = \"gate\"), not ", .show(x), ".")
}

.check_count <- function(x, arg, min = 1, max = Inf, null.ok = FALSE, hint = "") {
  if (is.null(x) && null.ok) return(invisible(NULL))
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && x == round(x) && x >= min && x <= max
  if (!ok) {
    range <- if (is.finite(max)) paste0("between ", min, " and ", max) else paste0("at least ", min)
    .abort("scMVP: ", arg, " must be a whole number ", range, if (null.ok) " (or NULL)" else "",
           ", not ", .show(x), if (nzchar(hint)) paste0("; ", hint) else "", ".")
  }
  invisible(x)
}

.show <- function(x) {
  if (is.null(x)) return("NULL")
  if (length(x) != 1L) return(paste0("a vector of length ", length(x)))
  if (is.character(x)) return(paste0("\"", x, "\""))
  format(x)
}

.check_device <- function(device) {
  if (!.is_string(device) || !grepl("^(auto|cpu|cuda(:[0-9]+)?|mps)$", device)) {
    .abort("scMVP: device must be \"auto\", \"cpu\" or \"cuda\" (or \"cuda:<index>\"), not ", .show(device), ".")
  }
  invisible(device)
}

.check_key <- function(key) {
  if (!.is_string(key) || !grepl("^[[:alpha:]][[:alnum:]]*_$", key)) {
    .abort("scMVP: reduction.key must be letters/digits ending with an underscore, e.g. \"SCMVP_\", not ",
           .show(key), ".")
  }
  invisible(key)
}

# Model settings passed through `...` to the Python model.
.model_params <- c("n_hidden", "modality", "attention", "cycle", "prior", "gate", "atac_weight", "dropout", "lr",
                   "batch_size")

.check_params <- function(params) {
  if (!length(params)) return(list())
  nm <- names(params)
  if (is.null(nm) || any(!nzchar(nm))) {
    .abort("scMVP: extra arguments must be named model settings (", paste(.model_params, collapse = ", "), ").")
  }
  bad <- setdiff(nm, .model_params)
  if (length(bad)) {
    .abort("scMVP: unknown argument", if (length(bad) > 1) "s" else "", " ", paste(bad, collapse = ", "),
           "; model settings are ", paste(.model_params, collapse = ", "), ".")
  }
  for (k in intersect(nm, c("n_hidden", "batch_size"))) {
    .check_count(params[[k]], k, min = if (k == "n_hidden") 8 else 2)
    params[[k]] <- as.integer(params[[k]])
  }
  if (!is.null(params$modality) && !(.is_string(params$modality) && params$modality %in% c("joint", "rna", "atac"))) {
    .abort("scMVP: modality must be \"joint\", \"rna\" or \"atac\".")
  }
  if (!is.null(params$attention)) params$attention <- .check_attention(params$attention)
  if (!is.null(params$cycle) && !identical(params$cycle, "rna")) {
    if (!(is.logical(params$cycle) && length(params$cycle) == 1L && !is.na(params$cycle))) {
      .abort("scMVP: cycle must be TRUE (re-encode the imputed RNA and ATAC), \"rna\" (the imputed RNA only) ",
             "or FALSE, not ", .show(params$cycle), ".")
    }
  }
  for (k in intersect(nm, c("dropout", "lr", "atac_weight"))) {
    v <- params[[k]]
    if (!is.numeric(v) || length(v) != 1L || is.na(v) || v < 0 || (k == "dropout" && v >= 1) || (k != "dropout" && v == 0) ||
        (k == "atac_weight" && v > 10)) {
      .abort("scMVP: ", k, " must be one number ", switch(k, dropout = "in [0, 1)", atac_weight = "in (0, 10]", "above 0"),
             ", not ", .show(v), ".")
    }
    params[[k]] <- as.double(v)
  }
  params
}

# A count matrix (features x cells) for one modality: names, values, no empty cells.
# `what` is e.g. "RNA assay 'RNA'" or "rna"; `fix` says how to get counts for this input kind.
.check_counts <- function(x, what, fix) {
  if (!(is.matrix(x) || methods::is(x, "Matrix") || is.data.frame(x))) {
    .abort("scMVP: the ", what, " must be a features x cells count matrix (dgCMatrix or matrix), not ",
           class(x)[1], ".")
  }
  if (nrow(x) == 0L || ncol(x) == 0L) {
    .abort("scMVP: the ", what, " has no counts (", nrow(x), " x ", ncol(x), "); ", fix, ".")
  }
  if (is.null(rownames(x)) || is.null(colnames(x))) {
    .abort("scMVP: the ", what, " needs feature names (rownames) and cell names (colnames); set them with dimnames().")
  }
  if (anyDuplicated(rownames(x))) {
    d <- unique(rownames(x)[duplicated(rownames(x))])
    .abort("scMVP: the ", what, " has ", length(d), " duplicated feature names (e.g. ", paste(utils::head(d, 3), collapse = ", "),
           "); make them unique (make.unique()) or sum the duplicates.")
  }
  if (anyDuplicated(colnames(x))) {
    .abort("scMVP: the ", what, " has duplicated cell names (e.g. ", colnames(x)[anyDuplicated(colnames(x))],
           "); make them unique.")
  }
  vals <- if (methods::is(x, "dsparseMatrix") && methods::.hasSlot(x, "x")) x@x else as.vector(as.matrix(x))
  if (!is.numeric(vals) && !is.logical(vals)) {
    .abort("scMVP: the ", what, " holds ", typeof(vals), " values; scMVP needs raw counts; ", fix, ".")
  }
  if (anyNA(vals) || any(!is.finite(vals))) {
    .abort("scMVP: the ", what, " has ", sum(!is.finite(vals)), " missing or infinite values; scMVP needs raw counts; ", fix, ".")
  }
  if (length(vals) && min(vals) < 0) {
    .abort("scMVP: the ", what, " has negative values (min ", format(min(vals)), "), so it is not raw counts (scaled data?); ", fix, ".")
  }
  frac <- vals != round(vals)
  if (any(frac)) {
    .abort("scMVP: the ", what, " has non-integer values (e.g. ", format(vals[which(frac)[1]], digits = 4),
           "), so it is not raw counts (normalised or log data?); ", fix, ".")
  }
  invisible(x)
}

# Cells with no counts in the selected features of either modality.
.check_nonempty_cells <- function(x, what, fix) {
  tot <- if (methods::is(x, "Matrix")) Matrix::colSums(x) else colSums(as.matrix(x))
  empty <- which(tot == 0)
  if (length(empty)) {
    .abort("scMVP: ", length(empty), " cells have no counts in the ", what, " (e.g. ",
           paste(utils::head(colnames(x)[empty], 3), collapse = ", "), "); ", fix, ".")
  }
  invisible(x)
}

.check_same_cells <- function(a, b, what.a, what.b) {
  ca <- colnames(a)
  cb <- colnames(b)
  if (length(ca) != length(cb)) {
    .abort("scMVP: the ", what.a, " has ", length(ca), " cells but the ", what.b, " has ", length(cb),
           "; both must hold the same cells in the same order (subset both to the shared cells).")
  }
  if (!identical(ca, cb)) {
    i <- which(ca != cb)[1]
    how <- if (setequal(ca, cb)) "in a different order" else "with different names"
    .abort("scMVP: the ", what.a, " and the ", what.b, " hold cells ", how, " (first at position ", i, ": ",
           ca[i], " vs ", cb[i], "); reorder or subset both to the same cells, e.g. atac[, colnames(rna)].")
  }
  invisible(TRUE)
}

# Requested features exist in the matrix.
.check_features <- function(features, available, arg, what) {
  if (!is.character(features) || !length(features) || anyNA(features)) {
    .abort("scMVP: ", arg, " must be a character vector of feature names from the ", what, ".")
  }
  miss <- setdiff(features, available)
  if (length(miss)) {
    .abort("scMVP: ", length(miss), " of the ", length(features), " ", arg, " are not in the ", what, " (e.g. ",
           paste(utils::head(miss, 3), collapse = ", "), "); use rownames of the ", what, ".")
  }
  invisible(features)
}

# A batch: NULL, or one label per cell without NA.
.check_batch_values <- function(batch, n, what) {
  if (is.null(batch)) return(NULL)
  if (!is.atomic(batch) || length(batch) != n) {
    .abort("scMVP: ", what, " must give one label per cell (", n, "), not ", length(batch), ".")
  }
  if (anyNA(batch)) {
    .abort("scMVP: ", what, " has ", sum(is.na(batch)), " missing (NA) labels; fill them in or drop those cells.")
  }
  as.character(batch)
}

.check_impute <- function(impute) {
  if (is.logical(impute) && length(impute) == 1L && !is.na(impute)) {
    return(if (impute) c("rna", "atac") else character())
  }
  if (is.character(impute) && length(impute) && all(impute %in% c("rna", "atac"))) return(unique(impute))
  .abort("scMVP: impute must be TRUE, FALSE, \"rna\", \"atac\" or c(\"rna\", \"atac\"), not ", .show(impute), ".")
}

# The cells x dims embeddings of a reduction of a Seurat object (optionally some dims), with
# one-line errors for a missing reduction or bad dims; `hint` says how to make the reduction.
.reduction_embeddings <- function(object, reduction, dims, hint) {
  .check_string(reduction, "reduction", "scmvp")
  reductions <- names(object@reductions)
  if (!reduction %in% reductions) {
    .abort("scMVP: reduction '", reduction, "' is not in the object (reductions: ",
           if (length(reductions)) paste(reductions, collapse = ", ") else "none", "); ", hint,
           " or pass reduction = one of them.")
  }
  emb <- SeuratObject::Embeddings(object[[reduction]])
  if (is.null(dims)) return(emb)
  if (!is.numeric(dims) || !length(dims) || anyNA(dims) || any(dims < 1 | dims > ncol(emb) | dims != round(dims))) {
    .abort("scMVP: dims must be whole numbers between 1 and ", ncol(emb), " (the dimensions of reduction '", reduction,
           "').")
  }
  emb[, dims, drop = FALSE]
}
