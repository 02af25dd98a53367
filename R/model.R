# The trained model outside Python: raw bytes in a DimReduc's misc (saveRDS keeps them), files,
# and projection of new cells.

# The stored model of a reference: a Seurat object (its DimReduc), a DimReduc, a scmvp_model
# (LoadSCMVPModel) or the list returned by RunSCMVP.default. Returns list(model = raw, info).
.model_of <- function(reference, reduction = "scmvp") {
  if (inherits(reference, "scmvp_model")) return(unclass(reference))
  if (inherits(reference, "Seurat")) {
    .check_string(reduction, "reduction", "scmvp")
    reds <- names(reference@reductions)
    if (!reduction %in% reds) {
      .abort("scMVP: the reference has no reduction '", reduction, "' (reductions: ",
             if (length(reds)) paste(reds, collapse = ", ") else "none", "); run RunSCMVP() on it first or pass reduction =.")
    }
    reference <- reference[[reduction]]
  }
  if (inherits(reference, "DimReduc")) {
    misc <- methods::slot(reference, "misc")
    if (!is.raw(misc$model) || !length(misc$model)) {
      .abort("scMVP: this reduction holds no scMVP model (misc$model); use the reduction made by RunSCMVP().")
    }
    return(list(model = misc$model, params = misc$params, features = misc$features, assays = misc$assays,
                batch = misc$batch, batch.levels = misc$batch.levels, cluster.name = misc$cluster.name,
                key = SeuratObject::Key(reference)))
  }
  if (is.list(reference) && is.raw(reference$model)) {
    return(list(model = reference$model, params = reference$params,
                features = list(rna = reference$features.rna, atac = reference$features.atac)))
  }
  .abort("scMVP: expected a Seurat object with an scMVP reduction, a DimReduc, a model from LoadSCMVPModel() ",
         "or a RunSCMVP() result, not ", class(reference)[1], ".")
}

#' Save and load a trained scMVP model
#'
#' `SaveSCMVPModel()` writes the model stored by [RunSCMVP()] to a file; the file is the same as
#' the Python package writes (`scmvp.ScMVP.save`), so Python can load it with
#' `scmvp.ScMVP.load(path)`. `LoadSCMVPModel()` reads such a file (from R or Python) into an
#' `scmvp_model` that [ProjectSCMVP()] accepts as its reference.
#'
#' @param object A Seurat object with an scMVP reduction, the DimReduc, an `scmvp_model`, or the
#'   list returned by `RunSCMVP.default()`.
#' @param file Path of the model file.
#' @param reduction The scMVP reduction of a Seurat object.
#' @param overwrite Replace an existing file.
#' @return `SaveSCMVPModel()`: the path, invisibly. `LoadSCMVPModel()`: an `scmvp_model` (a list
#'   with the model bytes, its settings and feature names).
#' @export
#' @examples
#' \donttest{
#' if (scmvp_available()) {
#'   obj <- ReadSCMVPExample(n.cells = 300)
#'   obj <- RunSCMVP(obj, n.clusters = 5, epochs = 2, impute = FALSE, verbose = FALSE)
#'   path <- SaveSCMVPModel(obj, tempfile(fileext = ".pt"))
#'   model <- LoadSCMVPModel(path)
#'   model
#' }
#' }
SaveSCMVPModel <- function(object, file, reduction = "scmvp", overwrite = FALSE) {
  .check_string(file, "file", "model.pt")
  .check_flag(overwrite, "overwrite")
  m <- .model_of(object, reduction)
  if (file.exists(file) && !overwrite) {
    .abort("scMVP: ", file, " exists; pass overwrite = TRUE to replace it or choose another file.")
  }
  if (!dir.exists(dirname(file))) .abort("scMVP: folder ", dirname(file), " does not exist; create it first.")
  writeBin(m$model, file)
  invisible(file)
}

#' @rdname SaveSCMVPModel
#' @export
LoadSCMVPModel <- function(file) {
  .check_string(file, "file", "model.pt")
  if (!file.exists(file)) .abort("scMVP: model file ", file, " does not exist; check the path.")
  raw <- readBin(file, "raw", n = file.info(file)$size)
  br <- scmvp_bridge()
  model <- .py_call(br$model_from_bytes(raw, device = "cpu"), "LoadSCMVPModel")
  info <- reticulate::py_to_r(.py_call(br$model_info(model), "LoadSCMVPModel"))
  structure(list(model = raw, params = info$params,
                 features = list(rna = as.character(unlist(info$features_rna)), atac = as.character(unlist(info$features_atac))),
                 batch.levels = if (length(info$batch_categories)) as.character(unlist(info$batch_categories)) else NULL,
                 file = normalizePath(file)),
            class = "scmvp_model")
}

#' @export
print.scmvp_model <- function(x, ...) {
  p <- x$params
  cat("scMVP model: ", p$n_latent, " latent dimensions, K = ", p$n_clusters, " clusters, ", length(x$features$rna),
      " genes, ", length(x$features$atac), " peaks", if (length(x$batch.levels)) paste0(", ", length(x$batch.levels), " batches") else "",
      " (", format(length(x$model) / 2^20, digits = 3), " MB)\n", sep = "")
  invisible(x)
}

#' Embed new cells with a trained scMVP model
#'
#' Embeds the cells of `query` with the model stored in `reference` (by [RunSCMVP()], or read by
#' [LoadSCMVPModel()]) and assigns each cell to a mixture component (cluster) of the model, so
#' query clusters use the reference's cluster numbers. Features are matched by name; features of
#' the model missing from the query are set to zero and reported in a warning. With `refdata`,
#' reference meta.data labels are transferred: each query cell gets the label most common among
#' the reference cells of its cluster (`predicted.<column>`), with the share of reference cells
#' carrying it (`predicted.<column>.score`).
#'
#' @param query A Seurat object with raw RNA and ATAC counts.
#' @param reference A Seurat object with an scMVP reduction, that DimReduc, an `scmvp_model` or a
#'   `RunSCMVP.default()` result.
#' @param reduction The scMVP reduction of `reference`.
#' @param rna.assay,atac.assay Assays of `query` with the counts; default: the assay names used
#'   to train the model, else "RNA" and "ATAC".
#' @param batch meta.data column of `query` with batch labels known to the model (needed when the
#'   model was trained with batches).
#' @param reduction.name,reduction.key Name and key of the DimReduc added to `query`.
#' @param cluster.name meta.data column for the cluster assignment.
#' @param refdata meta.data columns of a Seurat `reference` to transfer (see Description).
#' @param device `"auto"`, `"cpu"` or `"cuda"`.
#' @param verbose Print a summary.
#' @return `query` with the DimReduc `reduction.name` and the meta.data columns `cluster.name`,
#'   `<cluster.name>_probability` and, with `refdata`, the predicted labels.
#' @export
#' @examples
#' \donttest{
#' if (scmvp_available()) {
#'   obj <- ReadSCMVPExample(n.cells = 400)
#'   ref <- RunSCMVP(obj[, 1:300], n.clusters = 5, epochs = 2, impute = FALSE, verbose = FALSE)
#'   query <- ProjectSCMVP(obj[, 301:400], ref, refdata = "cell_type")
#'   table(query$predicted.cell_type)
#' }
#' }
ProjectSCMVP <- function(query, reference, reduction = "scmvp", rna.assay = NULL, atac.assay = NULL, batch = NULL,
                         reduction.name = "scmvp", reduction.key = NULL, cluster.name = "scmvp_clusters",
                         refdata = NULL, device = "auto", verbose = getOption("scMVP.verbose", TRUE)) {
  if (!inherits(query, "Seurat")) .abort("scMVP: query must be a Seurat object, not ", class(query)[1], ".")
  m <- .model_of(reference, reduction)
  .check_string(reduction.name, "reduction.name", "scmvp")
  key.use <- reduction.key %||% m$key %||% "SCMVP_"
  .check_key(key.use)
  .check_string(cluster.name, "cluster.name", "scmvp_clusters")
  .check_device(device)
  .check_flag(verbose, "verbose")
  if (!is.null(refdata)) {
    if (!inherits(reference, "Seurat")) .abort("scMVP: refdata needs a Seurat reference (its meta.data holds the labels).")
    bad <- setdiff(refdata, colnames(reference[[]]))
    if (!is.character(refdata) || length(bad)) {
      .abort("scMVP: refdata must name meta.data columns of the reference (not found: ", paste(bad, collapse = ", "), ").")
    }
    if (is.null(m$cluster.name) || !m$cluster.name %in% colnames(reference[[]])) {
      .abort("scMVP: the reference's cluster column is missing from its meta.data; rerun RunSCMVP() on the reference.")
    }
  }
  cells <- colnames(query)
  inp <- .model_inputs(query, m, rna.assay, atac.assay, batch, "query", "ProjectSCMVP")
  rna <- inp$rna
  atac <- inp$atac
  rna.use <- inp$rna.assay
  atac.use <- inp$atac.assay
  batch.values <- inp$batch

  br <- scmvp_bridge()
  model <- .py_call(br$model_from_bytes(m$model, device = device), "ProjectSCMVP")
  res <- .py_call(br$embed(model, rna = .to_py_csc(rna), atac = .to_py_csc(atac), rna_features = .to_py_chr(rownames(rna)),
                           atac_features = .to_py_chr(rownames(atac)), batch = .to_py_chr(batch.values), allow_missing = TRUE),
                  "ProjectSCMVP")
  .relay_warnings(.item(res, "warnings"))
  emb <- .py_to_matrix(.item(res, "embedding"))
  dimnames(emb) <- list(cells, paste0(key.use, seq_len(ncol(emb))))
  probs <- .py_to_matrix(.item(res, "probabilities"))
  k <- ncol(probs)
  dimnames(probs) <- list(cells, as.character(seq_len(k)))
  clusters <- factor(.py_to_vec(.item(res, "clusters")), levels = seq_len(k))
  misc <- list(projected = TRUE, params = m$params, features = m$features, assays = c(rna = rna.use, atac = atac.use),
               probabilities = probs, cluster.name = cluster.name)
  query[[reduction.name]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = key.use, assay = rna.use,
                                                                global = TRUE, misc = misc)
  md <- data.frame(clusters, .py_to_vec(.item(res, "max_probability")), row.names = cells)
  names(md) <- c(cluster.name, paste0(cluster.name, "_probability"))
  for (col in refdata) {
    ref_md <- reference[[]]
    tab <- table(ref_md[[m$cluster.name]], as.character(ref_md[[col]]))
    best <- colnames(tab)[apply(tab, 1, which.max)]
    score <- apply(tab, 1, function(r) if (sum(r)) max(r) / sum(r) else NA_real_)
    idx <- match(as.character(clusters), rownames(tab))
    has <- !is.na(idx) & rowSums(tab)[pmax(idx, 1L)] > 0
    md[[paste0("predicted.", col)]] <- ifelse(has, best[idx], NA_character_)
    md[[paste0("predicted.", col, ".score")]] <- ifelse(has, score[idx], NA_real_)
  }
  query <- SeuratObject::AddMetaData(query, metadata = md)
  .inform(verbose, sprintf("scMVP: embedded %d cells with the reference model (%d clusters found of K = %d).",
                           length(cells), length(unique(clusters)), k))
  command <- SeuratObject::LogSeuratCommand(object = query, return.command = TRUE)
  query <- .log_command(query, command, rna.use)
  query
}

.default_assay <- function(trained, fallback, assays) {
  if (!is.null(trained) && trained %in% assays) trained else fallback
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# The counts of `object` that a stored model takes: the model's assays (or rna.assay/atac.assay),
# restricted to the model's features (missing ones are reported in Python), checked as counts, plus
# the batch labels when the model was trained with batches. `what` and `caller` name the object
# and the function in errors.
.model_inputs <- function(object, m, rna.assay, atac.assay, batch, what, caller) {
  assays <- .assay_names(object)
  rna.use <- rna.assay %||% .default_assay(m$assays[["rna"]], "RNA", assays)
  atac.use <- atac.assay %||% .default_assay(m$assays[["atac"]], "ATAC", assays)
  for (a in c(rna.use, atac.use)) {
    .check_string(a, "rna.assay/atac.assay", "RNA")
    if (!a %in% assays) {
      .abort("scMVP: assay '", a, "' is not in the ", what, " (assays: ", paste(assays, collapse = ", "),
             "); pass rna.assay and atac.assay.")
    }
  }
  cells <- colnames(object)
  fix <- "use the raw counts (the assay's counts layer must hold counts, not normalised data)"
  rna <- .seurat_counts(object, rna.use, "RNA")
  atac <- .seurat_counts(object, atac.use, "ATAC")
  # only the model's features cross to Python (missing ones are reported there)
  rna <- rna[intersect(m$features$rna, rownames(rna)), , drop = FALSE]
  atac <- atac[intersect(m$features$atac, rownames(atac)), , drop = FALSE]
  if (!nrow(rna) || !nrow(atac)) {
    .abort("scMVP: the ", what, "'s ", if (!nrow(rna)) paste0("RNA assay '", rna.use, "'") else paste0("ATAC assay '", atac.use, "'"),
           " has none of the model's features; use an assay with the same feature names (peaks as chr-start-end).")
  }
  .check_counts(rna, paste0("RNA assay '", rna.use, "'"), fix)
  .check_counts(atac, paste0("ATAC assay '", atac.use, "'"), fix)
  empty_fix <- paste0("remove them (subset the ", what, " to cells with counts in both assays)")
  .check_nonempty_cells(rna, paste0("model's RNA features (assay '", rna.use, "')"), empty_fix)
  .check_nonempty_cells(atac, paste0("model's peaks (assay '", atac.use, "')"), empty_fix)
  batch.values <- NULL
  if (length(m$batch.levels) && is.null(batch)) {
    .abort("scMVP: the model was trained with batches (", paste(utils::head(m$batch.levels, 3), collapse = ", "),
           "); pass batch = the ", what, "'s meta.data column with these labels.")
  }
  if (!is.null(batch)) {
    if (!length(m$batch.levels)) .abort("scMVP: the model was trained without batches; call ", caller, "() without batch.")
    if (!.is_string(batch) || !batch %in% colnames(object[[]])) {
      .abort("scMVP: batch must name a meta.data column of the ", what, ", e.g. batch = \"orig.ident\".")
    }
    batch.values <- .check_batch_values(object[[]][cells, batch], length(cells), paste0("meta.data column '", batch, "'"))
    unknown <- setdiff(unique(batch.values), m$batch.levels)
    if (length(unknown)) {
      .abort("scMVP: batch labels ", paste(utils::head(unknown, 3), collapse = ", "), " are unknown to the model (it knows ",
             paste(utils::head(m$batch.levels, 5), collapse = ", "), "); use the reference's labels.")
    }
  }
  list(rna = rna, atac = atac, rna.assay = rna.use, atac.assay = atac.use, batch = batch.values)
}

#' Imputed expression or accessibility of chosen features, from the stored scMVP model
#'
#' Recomputes, densely and exactly, the model's imputation for the requested genes or peaks of
#' the cells of `object` (from their counts and the model stored in the scMVP reduction). Useful
#' where [RunSCMVP()] stored the imputed ATAC sparse (probabilities below `impute.threshold` set to
#' 0, its rule for large data sets) or did not impute at all: only the requested features are
#' computed, so memory stays at features x cells.
#'
#' @param object A Seurat object with raw counts and the scMVP reduction made by [RunSCMVP()] on
#'   it (which holds the model).
#' @param features Gene names (`view = "rna"`) or peak names (`view = "atac"`) known to the model.
#' @param view `"atac"` (default) or `"rna"`.
#' @param reduction The scMVP reduction holding the model.
#' @param rna.assay,atac.assay Assays with the counts; default: those the model was trained on.
#' @param batch meta.data column with the batch labels, when the model was trained with batches
#'   (default: the column it was trained with).
#' @param kind For `view = "atac"`: `"probability"` (P(accessible), default) or `"rate"`.
#' @param device `"auto"`, `"cpu"` or `"cuda"`.
#' @return A dense features x cells matrix (double): imputed expression scaled to 10,000 per cell
#'   (`"rna"`) or accessibility (`"atac"`).
#' @export
#' @examples
#' \donttest{
#' if (scmvp_available()) {
#'   obj <- ReadSCMVPExample(n.cells = 300)
#'   obj <- RunSCMVP(obj, n.clusters = 5, epochs = 2, impute = FALSE, verbose = FALSE)
#'   p <- ImputeSCMVP(obj, features = rownames(obj[["ATAC"]])[1:5])
#'   dim(p)
#' }
#' }
ImputeSCMVP <- function(object, features, view = c("atac", "rna"), reduction = "scmvp", rna.assay = NULL,
                        atac.assay = NULL, batch = NULL, kind = c("probability", "rate"), device = "auto") {
  if (!inherits(object, "Seurat")) .abort("scMVP: object must be a Seurat object, not ", class(object)[1], ".")
  view <- .check_choice(view, c("atac", "rna"), "view")
  kind <- .check_choice(kind, c("probability", "rate"), "kind")
  .check_device(device)
  m <- .model_of(object, reduction)
  if (!is.character(features) || !length(features) || anyNA(features)) {
    .abort("scMVP: features must be a character vector of ", if (view == "rna") "gene" else "peak", " names.")
  }
  features <- unique(features)
  known <- m$features[[view]]
  .check_features(features, known, "features", paste0("model's ", if (view == "rna") "genes" else "peaks"))
  batch <- batch %||% (if (length(m$batch.levels)) m$batch)
  inp <- .model_inputs(object, m, rna.assay, atac.assay, batch, "object", "ImputeSCMVP")
  br <- scmvp_bridge()
  model <- .py_call(br$model_from_bytes(m$model, device = device), "ImputeSCMVP")
  args <- list(model, rna = .to_py_csc(inp$rna), atac = .to_py_csc(inp$atac), rna_features = .to_py_chr(rownames(inp$rna)),
               atac_features = .to_py_chr(rownames(inp$atac)), features = .to_py_chr(features),
               batch = .to_py_chr(inp$batch))
  x <- if (view == "rna") {
    .py_call(do.call(br$impute_rna, args), "ImputeSCMVP")
  } else {
    .py_call(do.call(br$impute_atac, c(args, list(kind = kind))), "ImputeSCMVP")
  }
  .py_to_matrix(x, list(features, colnames(object)))
}
