# The trained model outside Python: raw bytes in a DimReduc's misc (saveRDS keeps them; the
# layout is written and read in R/assays.R), files, projection of new cells and imputation.

#' Save and load a trained scMVP model
#'
#' `SaveSCMVPModel()` writes the model stored by [RunSCMVP()] to a file; the file is the same as
#' the Python package writes (`scmvp.ScMVP.save`), so Python can load it with
#' `scmvp.ScMVP.load(path)`. `LoadSCMVPModel()` reads such a file (from R or Python) into an
#' `scmvp_model` that [ProjectSCMVP()] and [ImputeSCMVP()] accept as their model. Single-view
#' models (`modality = "rna"` or `"atac"`) work the same way.
#'
#' @param object A Seurat object with an scMVP reduction, the DimReduc, an `scmvp_model`, or the
#'   list returned by `RunSCMVP.default()`.
#' @param file Path of the model file.
#' @param reduction The scMVP reduction of a Seurat object.
#' @param overwrite Replace an existing file.
#' @return `SaveSCMVPModel()`: the path, invisibly. `LoadSCMVPModel()`: an `scmvp_model` (a list
#'   with the model bytes, its settings, its modality and feature names).
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
  m <- .scmvp_read(object, reduction)
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
  info <- .py_model_info(.py_model(raw, device = "cpu", what = "LoadSCMVPModel"), "LoadSCMVPModel")
  m <- structure(list(model = raw, params = info$params, features = info$features, batch.levels = info$batch.levels,
                      file = normalizePath(file)),
                 class = "scmvp_model")
  m$modality <- .scmvp_read(m)$modality
  m
}

#' @export
print.scmvp_model <- function(x, ...) {
  p <- x$params
  views <- .views_of(x$modality %||% p$modality)
  sizes <- c(if ("rna" %in% views) paste(length(x$features$rna), "genes"),
             if ("atac" %in% views) paste(length(x$features$atac), "peaks"))
  cat("scMVP model", if (length(views) == 1L) paste0(" (", toupper(views), " only)") else "", ": ", p$n_latent,
      " latent dimensions, K = ", p$n_clusters, " mixture components, ", paste(sizes, collapse = ", "),
      if (length(x$batch.levels)) paste0(", ", length(x$batch.levels), " batches") else "",
      " (", format(length(x$model) / 2^20, digits = 3), " MB)\n", sep = "")
  invisible(x)
}

#' Embed new cells with a trained scMVP model
#'
#' Embeds the cells of `query` with the model stored in `reference` (by [RunSCMVP()], or read by
#' [LoadSCMVPModel()]) and assigns each cell to a mixture component (cluster) of the model, so
#' query clusters use the reference's cluster numbers. Features are matched by name; features of
#' the model missing from the query are set to zero and reported in a warning. A single-view model
#' (`modality = "rna"` or `"atac"`) needs only that view's assay in the query. With `refdata`,
#' reference meta.data labels are transferred: each query cell gets the label most common among
#' the reference cells of its cluster (`predicted.<column>`), with the share of reference cells
#' carrying it (`predicted.<column>.score`).
#'
#' @param query A Seurat object with raw counts for the views of the model (RNA and ATAC for a
#'   joint model).
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
#' @param device `"auto"`, `"cpu"` or `"cuda"`; `NULL`: Python's default (see [scmvp_defaults()]).
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
                         refdata = NULL, device = NULL, verbose = getOption("scMVP.verbose", TRUE)) {
  if (!inherits(query, "Seurat")) .abort("scMVP: query must be a Seurat object, not ", class(query)[1], ".")
  m <- .scmvp_read(reference, reduction)
  .check_string(reduction.name, "reduction.name", "scmvp")
  key.use <- reduction.key %||% m$key %||% "SCMVP_"
  .check_key(key.use)
  .check_string(cluster.name, "cluster.name", "scmvp_clusters")
  if (!is.null(device)) .check_device(device)
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

  model <- .py_model(m$model, device, "ProjectSCMVP")
  res <- .py_embed(model, inp$rna, inp$atac, inp$batch, "ProjectSCMVP")
  rownames(res$embedding) <- cells
  used <- c(rna = inp$rna.assay, atac = inp$atac.assay)
  query <- .scmvp_write(query, list(embedding = res$embedding, clusters = res$clusters,
                                    max.probability = res$max.probability, probabilities = res$probabilities,
                                    params = m$params, features.rna = m$features$rna, features.atac = m$features$atac,
                                    n.clusters = ncol(res$probabilities), batch.levels = m$batch.levels),
                        reduction.name = reduction.name, reduction.key = key.use, cluster.name = cluster.name,
                        assays = used, batch = batch, projected = TRUE, written.by = "ProjectSCMVP")
  clusters <- res$clusters
  md <- data.frame(row.names = cells)
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
  if (ncol(md)) query <- SeuratObject::AddMetaData(query, metadata = md)
  .inform(verbose, sprintf("scMVP: embedded %d cells with the reference model (%d of its %d clusters found).",
                           length(cells), length(unique(clusters)), ncol(res$probabilities)))
  command <- SeuratObject::LogSeuratCommand(object = query, return.command = TRUE)
  query <- .log_command(query, command, unname(used[[1]]))
  query
}

#' Imputed expression or accessibility of chosen features, from the stored scMVP model
#'
#' Recomputes, densely and exactly, the model's imputation for the requested genes or peaks of
#' the cells of `object` (from their counts and the model stored in the scMVP reduction). Useful
#' where [RunSCMVP()] stored the imputed ATAC sparse (probabilities below `impute.threshold` set to
#' 0, its rule for large data sets) or did not impute at all: only the requested features are
#' computed, so memory stays at features x cells. A single-view model imputes its own view only,
#' from that view's counts (the object needs no assay of the other view).
#'
#' @param object A Seurat object with raw counts and the scMVP reduction made by [RunSCMVP()] on
#'   it (which holds the model).
#' @param features Gene names (`view = "rna"`) or peak names (`view = "atac"`) known to the model.
#' @param view `"atac"` or `"rna"`; default `"atac"`, or the only view of a single-view model.
#' @param reduction The scMVP reduction holding the model.
#' @param rna.assay,atac.assay Assays with the counts; default: those the model was trained on.
#' @param batch meta.data column with the batch labels, when the model was trained with batches
#'   (default: the column it was trained with).
#' @param kind For `view = "atac"`: `"probability"` (P(accessible), default) or `"rate"`.
#' @param device `"auto"`, `"cpu"` or `"cuda"`; `NULL`: Python's default (see [scmvp_defaults()]).
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
                        atac.assay = NULL, batch = NULL, kind = c("probability", "rate"), device = NULL) {
  if (!inherits(object, "Seurat")) .abort("scMVP: object must be a Seurat object, not ", class(object)[1], ".")
  m <- .scmvp_read(object, reduction)
  view <- if (missing(view) && length(m$views) == 1L) m$views else .check_choice(view, c("atac", "rna"), "view")
  if (!view %in% m$views) {
    .abort("scMVP: the model in reduction '", reduction, "' is ", toupper(m$views), "-only (modality \"", m$modality,
           "\") and cannot impute ", toupper(view), "; use view = \"", m$views, "\", or train a joint model ",
           "(RunSCMVP() without modality) to impute both views.")
  }
  kind <- .check_choice(kind, c("probability", "rate"), "kind")
  if (!is.null(device)) .check_device(device)
  if (!is.character(features) || !length(features) || anyNA(features)) {
    .abort("scMVP: features must be a character vector of ", if (view == "rna") "gene" else "peak", " names.")
  }
  features <- unique(features)
  .check_features(features, m$features[[view]], "features", paste0("model's ", if (view == "rna") "genes" else "peaks"))
  batch <- batch %||% (if (length(m$batch.levels)) m$batch)
  inp <- .model_inputs(object, m, rna.assay, atac.assay, batch, "object", "ImputeSCMVP")
  model <- .py_model(m$model, device, "ImputeSCMVP")
  .py_impute(model, view, features, colnames(object), rna = inp$rna, atac = inp$atac, batch = inp$batch,
             kind = if (view == "atac") kind, what = "ImputeSCMVP")
}
