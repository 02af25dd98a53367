# Validation in R, before any Python call. Every check raises a one-line error (.abort) that
# names the problem and the fix. Nothing here modifies its inputs.

`%||%` <- function(a, b) if (is.null(a)) b else a

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

# ------------------------------------------------------------------ model settings
# R writes no default of a model setting: an argument left NULL (or a setting not given) is not
# sent, and Python's scmvp.ScMVPConfig decides (scmvp_defaults() shows its values). R checks the
# values that are given, so a mistake is a one-line error before Python starts.

# RunSCMVP's arguments for model settings, and the Python settings they set.
.R_SETTINGS <- c(n.clusters = "n_clusters", n.latent = "n_latent", epochs = "max_epochs", device = "device",
                 seed.use = "seed")

# The arguments of RunSCMVP that set model settings, checked, as a list of Python-named settings
# (only those given). `dots`: the further settings passed through `...` (see .check_settings()).
.check_fit_args <- function(n.clusters, n.latent, epochs, device, seed.use, verbose, n.cells, dots) {
  .check_count(n.clusters, "n.clusters", min = 1, max = n.cells, null.ok = TRUE,
               hint = paste0("there are ", n.cells, " cells; NULL estimates K from the data"))
  .check_count(n.latent, "n.latent", min = 1, null.ok = TRUE)
  .check_count(epochs, "epochs", min = 1, null.ok = TRUE)
  .check_count(seed.use, "seed.use", min = 0, max = .Machine$integer.max, null.ok = TRUE)
  if (!is.null(device)) .check_device(device)
  .check_flag(verbose, "verbose")
  given <- list(n_clusters = .to_int(n.clusters), n_latent = .to_int(n.latent), max_epochs = .to_int(epochs),
                device = device, seed = .to_int(seed.use))
  c(given[!vapply(given, is.null, logical(1))], .check_settings(dots))
}

.to_int <- function(x) if (is.null(x)) NULL else as.integer(x)

# Further model settings (RunSCMVP's `...`), named as in Python: the names are checked against
# Python's list later (.check_settings_known(), once Python runs); the values of the settings
# below are checked here. NULL values are dropped (NULL means Python's default).
.check_settings <- function(params) {
  if (!length(params)) return(list())
  nm <- names(params)
  if (is.null(nm) || any(!nzchar(nm))) {
    .abort("scMVP: extra arguments must be model settings named as in Python, e.g. n_hidden = 64 (scmvp_defaults() ",
           "lists them).")
  }
  if (anyDuplicated(nm)) .abort("scMVP: the setting ", nm[anyDuplicated(nm)], " is given twice; give it once.")
  for (k in intersect(nm, .R_SETTINGS)) {
    r <- names(.R_SETTINGS)[.R_SETTINGS == k]
    .abort("scMVP: ", k, " is set by the argument ", r, "; pass ", r, " = ", .show(params[[k]]), " instead of ", k, " =.")
  }
  bad <- nm[!grepl("^[a-z][a-z0-9_]*$", nm)]
  if (length(bad)) {
    .abort("scMVP: unknown argument", if (length(bad) > 1) "s" else "", " ", paste(bad, collapse = ", "),
           "; model settings go by their Python names (e.g. n_hidden, atac_weight; scmvp_defaults() lists them).")
  }
  params <- params[!vapply(params, is.null, logical(1))]
  for (k in intersect(names(params), c("n_hidden", "batch_size"))) {
    .check_count(params[[k]], k, min = if (k == "n_hidden") 8 else 2)
    params[[k]] <- as.integer(params[[k]])
  }
  if (!is.null(params$modality)) .check_modality(params$modality)
  if (!is.null(params$attention)) params$attention <- .check_attention(params$attention)
  if (!is.null(params$cycle) && !identical(params$cycle, "rna")) {
    if (!(is.logical(params$cycle) && length(params$cycle) == 1L && !is.na(params$cycle))) {
      .abort("scMVP: cycle must be TRUE (re-encode the imputed RNA and ATAC), \"rna\" (the imputed RNA only) ",
             "or FALSE, not ", .show(params$cycle), ".")
    }
  }
  if (!is.null(params$encode_atac) && !identical(params$encode_atac, "auto")) {
    if (!(is.logical(params$encode_atac) && length(params$encode_atac) == 1L && !is.na(params$encode_atac))) {
      .abort("scMVP: encode_atac must be \"auto\" (the encoder reads the chromatin when it shows reproducible ",
             "signal), TRUE or FALSE, not ", .show(params$encode_atac), ".")
    }
  }
  for (k in intersect(names(params), c("dropout", "lr", "atac_weight"))) {
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

.check_modality <- function(x) {
  if (!(.is_string(x) && x %in% c("joint", "rna", "atac"))) {
    .abort("scMVP: modality must be \"joint\" (RNA and ATAC), \"rna\" or \"atac\" (one view), not ", .show(x), ".")
  }
  invisible(x)
}

# Once Python runs: every setting is one of Python's (`defaults`: scmvp_defaults()), and the
# settings R has no own check for have the type of their default (whole numbers as integers).
.check_settings_known <- function(settings, defaults) {
  known <- names(defaults)
  bad <- setdiff(names(settings), known)
  if (length(bad)) {
    near <- known[which.min(utils::adist(bad[1], known))]
    if (near %in% .R_SETTINGS) near <- names(.R_SETTINGS)[.R_SETTINGS == near]
    .abort("scMVP: unknown argument", if (length(bad) > 1) "s" else "", " ", paste(bad, collapse = ", "),
           " (did you mean ", near, "?); the model settings for `...` are ", paste(setdiff(known, .R_SETTINGS), collapse = ", "),
           " (see scmvp_defaults()).")
  }
  for (k in names(settings)) {
    v <- settings[[k]]
    d <- defaults[[k]]
    if (is.integer(d)) {
      .check_count(v, k, min = 0)
      settings[[k]] <- as.integer(v)
    } else if (is.double(d)) {
      if (!is.numeric(v) || length(v) != 1L || is.na(v)) .abort("scMVP: ", k, " must be one number, not ", .show(v), ".")
      settings[[k]] <- as.double(v)
    } else if (is.logical(d) && length(d) == 1L && !(k %in% c("attention", "cycle", "encode_atac"))) {
      .check_flag(v, k)
    } else if (is.character(d) && length(d) == 1L && !(k %in% c("attention", "cycle", "encode_atac"))) {
      .check_string(v, k, d)
    }
  }
  settings
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

# An explicit impute = "rna"/"atac" must name a view the model has (impute = TRUE means the views
# it has, whatever they are).
.check_impute_views <- function(impute, views, modality) {
  if (is.null(modality) || is.logical(impute)) return(invisible(views))
  lacking <- setdiff(views, .views_of(modality))
  if (length(lacking)) {
    .abort("scMVP: impute = \"", lacking[1], "\" asks for ", toupper(lacking[1]), " imputation but modality = \"", modality,
           "\" trains no ", toupper(lacking[1]), " view; use impute = \"", modality, "\" (or TRUE).")
  }
  invisible(views)
}

.check_threshold <- function(x) {
  if (is.null(x)) return(invisible(NULL))
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x <= 0 || x > 1) {
    .abort("scMVP: impute.threshold must be one number in (0, 1] (a probability) or NULL, not ", .show(x), ".")
  }
  invisible(x)
}

.check_imputed_name <- function(name, arg, inputs) {
  .check_string(name, arg, if (grepl("rna", arg)) "scmvpRNA" else "scmvpATAC")
  if (name %in% inputs) {
    .abort("scMVP: ", arg, " = '", name, "' would overwrite an input assay; choose another name.")
  }
  invisible(name)
}

.check_choice <- function(x, choices, arg) {
  if (identical(x, choices)) return(choices[1])
  if (!.is_string(x) || !x %in% choices) {
    .abort("scMVP: ", arg, " must be one of ", paste0("\"", choices, "\"", collapse = ", "), ", not ", .show(x), ".")
  }
  x
}

.check_number <- function(x, arg, min = -Inf, max = Inf) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || !is.finite(x) || x < min || x > max) {
    range <- if (is.finite(max)) paste0("between ", min, " and ", max) else paste0("at least ", min)
    .abort("scMVP: ", arg, " must be one number ", range, ", not ", .show(x), ".")
  }
  invisible(x)
}

# A features x cells numeric matrix (dense or sparse) with dimnames.
.check_matrix <- function(x, what) {
  if (!(is.matrix(x) || methods::is(x, "Matrix"))) {
    .abort("scMVP: the ", what, " must be a features x cells matrix (matrix or dgCMatrix), not ", class(x)[1], ".")
  }
  if (is.null(rownames(x)) || is.null(colnames(x))) {
    .abort("scMVP: the ", what, " needs feature names (rownames) and cell names (colnames); set them with dimnames().")
  }
  if (nrow(x) == 0L || ncol(x) == 0L) .abort("scMVP: the ", what, " is empty (", nrow(x), " x ", ncol(x), ").")
  if (anyDuplicated(rownames(x))) {
    .abort("scMVP: the ", what, " has duplicated feature names (e.g. ", rownames(x)[anyDuplicated(rownames(x))],
           "); make them unique.")
  }
  invisible(x)
}

.check_cells <- function(cells, available) {
  if (is.logical(cells) && length(cells) == length(available) && !anyNA(cells)) cells <- available[cells]
  if (!is.character(cells) || !length(cells) || anyNA(cells)) {
    .abort("scMVP: cells must be cell names (colnames(object)) or a logical vector with one value per cell.")
  }
  miss <- setdiff(cells, available)
  if (length(miss)) {
    .abort("scMVP: ", length(miss), " of the cells are not in the object (e.g. ", miss[1], "); use colnames(object).")
  }
  unique(cells)
}
