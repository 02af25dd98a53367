#' Run scMVP on paired RNA and ATAC counts
#'
#' Fits scMVP, a multi-view variational autoencoder with a Gaussian-mixture prior, on paired
#' single-cell RNA and ATAC counts (features x cells, as Seurat stores them) and returns the joint
#' embedding, the cluster of every cell (its most probable mixture component, components merged
#' into clusters as the Python settings say: `cluster_resolution`) and, optionally, imputed
#' (denoised) RNA expression and ATAC accessibility. The model runs in Python (PyTorch) through
#' reticulate; see [install_scmvp()] and [scmvp_config()].
#'
#' The `Seurat` method reads raw counts from `rna.assay` and `atac.assay` and adds to the object:
#' \itemize{
#'   \item a global DimReduc `reduction.name` (cells in the object's order) whose `misc` holds the
#'     trained model as raw bytes (`misc$model`) with its settings, feature names, loss history and
#'     cluster probabilities, so `saveRDS()` keeps a usable model (see [ProjectSCMVP()],
#'     [SaveSCMVPModel()]);
#'   \item meta.data columns `cluster.name` (a factor of clusters 1..n, 1 the largest) and
#'     `<cluster.name>_probability` (the probability of the assigned cluster);
#'   \item with `impute`, the assays `imputed.rna.assay` (denoised expression scaled to 10,000
#'     counts per cell, for the RNA features used) and `imputed.atac.assay` (probability that each
#'     chosen peak is accessible). The imputed ATAC matrix is dense when it takes at most
#'     `getOption("scMVP.max.dense.bytes")` (500 MB) and sparse otherwise, keeping values
#'     `>= impute.threshold` (0.1 unless given); `misc$imputed` records the assay names and the
#'     threshold, and [ImputeSCMVP()] recomputes any peaks densely from the model (as
#'     [LinkPeaksLASSO()] does for the peaks it uses). A Signac ChromatinAssay input gives a
#'     ChromatinAssay with the same ranges when Signac is installed;
#'   \item the command, through `LogSeuratCommand()`.
#' }
#'
#' **Feature defaults.** RNA: the assay's `VariableFeatures()` when set, else all genes. Peaks:
#' the ATAC assay's `VariableFeatures()` when set (e.g. by `Signac::FindTopFeatures()`), else all
#' peaks with counts in at least one cell. The model then applies the Python package's feature
#' settings to what it is given, as Python's `ScMVP.fit()` does: `max_peaks` (`max.peaks` here;
#' default in [scmvp_defaults()], 100,000) keeps the peaks accessible in the most cells, and
#' `n_top_genes` (through `...`; default `NULL`, all genes) keeps the most variable genes by
#' Seurat's `"vst"` rule on counts. Features without counts in any selected cell are dropped by
#' the model (reported in the result).
#'
#' **Model settings.** Every default of the model lives in one place, the Python package's
#' `scmvp.ScMVPConfig`: an argument left `NULL` (`n.clusters`, `n.latent`, `epochs`, `device`,
#' `seed.use`) or a setting not passed through `...` takes its value there, so `RunSCMVP()` and
#' Python's `scmvp.ScMVP()` give the same model on the same counts. [scmvp_defaults()] shows the
#' values; the stored settings of a fitted model are in `misc$params` of the DimReduc (all of
#' them, `n_clusters` the fitted number of mixture components K).
#'
#' **Input checks.** Before Python starts, RunSCMVP checks that the assays exist and hold raw
#' counts (finite, non-negative integers), that both modalities describe the same cells, that no
#' cell is empty in the selected features, and the batch column and the other arguments; each
#' problem is a one-line error with the fix, and the object is left as it was.
#'
#' @param object A Seurat object, or (default method) the RNA counts: a features x cells
#'   dgCMatrix or matrix with dimnames.
#' @param ... Further model settings, by their Python names (the fields of the Python package's
#'   `scmvp.ScMVPConfig`), e.g. `n_hidden`, `attention`, `cycle`, `prior`, `gate`,
#'   `atac_weight`, `encode_atac` (`"auto"`: the joint encoder reads the chromatin only when
#'   its peaks show reproducible cell-to-cell signal; `TRUE`/`FALSE` force it), `dropout`, `lr`,
#'   `batch_size`, `patience`, and `modality` (`"joint"`, or
#'   `"rna"` / `"atac"` for a single-view model, which needs only that view's counts). Each one
#'   not given takes its Python default: [scmvp_defaults()] lists them all with their defaults
#'   (`scmvp_defaults(help = TRUE)` says what each does).
#' @return The default method: a named list with `embedding` (cells x `n_latent`), `clusters`
#'   (factor), `probabilities` (cells x clusters), `max.probability`, `history` (list of per-epoch
#'   losses), `features.rna`, `features.atac` (features used; empty for a view the model does not
#'   use), `n.clusters` (clusters), `batch.levels`, `model` (raw bytes), `params` (all model settings),
#'   `imputed.rna`, `imputed.atac` (NULL unless imputed), `imputed.atac.threshold` (NULL unless
#'   the imputed ATAC is sparse), `warnings` and `versions`. The Seurat method: the object with
#'   the additions above.
#' @export
#' @examples
#' \donttest{
#' if (scmvp_available() && requireNamespace("Seurat", quietly = TRUE)) {
#'   dir <- system.file("extdata", "snare_adult_cortex", package = "scMVP")
#'   obj <- ReadSCMVPExample(dir, n.cells = 300)
#'   obj <- RunSCMVP(obj, n.clusters = 5, epochs = 2, verbose = FALSE)
#'   head(obj$scmvp_clusters)
#' }
#' }
RunSCMVP <- function(object, ...) {
  UseMethod("RunSCMVP")
}

#' @rdname RunSCMVP
#' @param atac (default method) ATAC peak counts, features x cells, same cells as `object`; `NULL`
#'   for an RNA-only model (`modality = "rna"`). For an ATAC-only model (`modality = "atac"`),
#'   `object` may be `NULL`.
#' @param batch Default method: a vector with one batch label per cell. Seurat method: the name
#'   of a meta.data column with the batch (sample) of each cell. `NULL`: no batch correction.
#' @param n.clusters Number of mixture components K (`n_clusters`); `NULL`: Python's default,
#'   which chooses K at the end of the warm-up as the number of groups in the embedding,
#'   counted by modularity at resolution 3, finer than the clusters kept. The cells' clusters are these
#'   components, merged where the setting `cluster_resolution` says (see [scmvp_defaults()]).
#' @param n.latent Dimensions of the joint embedding (`n_latent`); `NULL`: Python's default.
#' @param epochs Maximum training epochs (`max_epochs`); `NULL`: Python's default, which scales
#'   the epochs with the number of cells. Training stops early when the held-out loss has not
#'   improved for `patience` epochs.
#' @param impute `TRUE` (every view the model has), `FALSE`, `"rna"` or `"atac"`: which imputed
#'   matrices to compute.
#' @param impute.rna.features,impute.atac.features Features to impute (default: all features used
#'   in training).
#' @param impute.threshold Keep imputed ATAC probabilities `>= impute.threshold` in a sparse
#'   matrix. `NULL` (default): dense when small enough (see Details), else sparse with 0.1.
#' @param device `"auto"` (CUDA GPU when available, else CPU), `"cpu"` or `"cuda"`; `NULL`:
#'   Python's default.
#' @param seed.use Random seed (`seed`: Python, NumPy and torch; CPU runs repeat exactly); `NULL`:
#'   Python's default, so `RunSCMVP()` and the Python package's `scmvp.ScMVP()` give the same
#'   model on the same data.
#' @param verbose Print progress (a line every few epochs); default `getOption("scMVP.verbose")`.
#' @export
RunSCMVP.default <- function(object, atac = NULL, batch = NULL, n.clusters = NULL, n.latent = NULL, epochs = NULL,
                             impute = FALSE, impute.rna.features = NULL, impute.atac.features = NULL,
                             impute.threshold = NULL, device = NULL, seed.use = NULL,
                             verbose = getOption("scMVP.verbose", TRUE), ...) {
  modality <- list(...)$modality
  if (!is.null(modality)) .check_modality(modality)
  views <- .views_of(modality) # (both unless a modality says otherwise; Python decides how they are used)
  counts <- list(rna = if ("rna" %in% views) object, atac = if ("atac" %in% views) atac)
  what <- c(rna = "RNA matrix", atac = "ATAC matrix")
  fix <- "pass raw counts (features x cells)"
  for (v in views) {
    if (is.null(counts[[v]])) {
      other <- setdiff(c("rna", "atac"), v)
      .abort("scMVP: the ", what[[v]], " is missing; pass ", if (v == "rna") "the RNA counts as the first argument" else
        "atac = <peak counts (features x cells)>", if (is.null(modality)) paste0(", or modality = \"", other, "\" to train on the ",
                                                                                 toupper(other), " alone") else "", ".")
    }
    .check_counts(counts[[v]], what[[v]], fix)
  }
  if (length(views) == 2L) .check_same_cells(counts$rna, counts$atac, "RNA matrix", "ATAC matrix")
  for (v in views) {
    .check_nonempty_cells(counts[[v]], what[[v]], if (length(views) == 2L) {
      "remove them, e.g. keep cells with colSums(rna) > 0 & colSums(atac) > 0"
    } else {
      "remove them, e.g. keep cells with colSums(counts) > 0"
    })
  }
  n.cells <- ncol(counts[[views[1]]])
  batch <- .check_batch_values(batch, n.cells, "batch")
  settings <- .check_fit_args(n.clusters, n.latent, epochs, device, seed.use, verbose, n.cells, list(...))
  impute.views <- .check_impute(impute)
  .check_impute_views(impute, impute.views, modality)
  for (v in c("rna", "atac")) {
    feats <- if (v == "rna") impute.rna.features else impute.atac.features
    if (is.null(feats)) next
    arg <- paste0("impute.", v, ".features")
    if (is.null(counts[[v]])) .abort("scMVP: ", arg, " is given but the model has no ", toupper(v), " view; leave it out.")
    .check_features(feats, rownames(counts[[v]]), arg, what[[v]])
  }
  .check_threshold(impute.threshold)
  .fit_core(if (!is.null(counts$rna)) .as_dgc(counts$rna), if (!is.null(counts$atac)) .as_dgc(counts$atac), batch, settings,
            verbose, impute.views, impute.rna.features, impute.atac.features, impute.threshold)
}

#' @rdname RunSCMVP
#' @param rna.assay,atac.assay Assays with the RNA counts and the ATAC peak counts (a Signac
#'   ChromatinAssay works). Counts are read from their `counts` layer. A single-view model
#'   (`modality = "rna"` or `"atac"`) needs only its assay.
#' @param rna.features,atac.features Features to train on; see Details for the defaults.
#' @param max.peaks Most peaks to train on, those accessible in the most cells (the setting
#'   `max_peaks`; `NULL`: its default, see Details).
#' @param reduction.name,reduction.key Name and key of the DimReduc to add.
#' @param cluster.name meta.data column for the cluster assignment.
#' @param imputed.rna.assay,imputed.atac.assay Names of the imputed assays to add.
#' @export
RunSCMVP.Seurat <- function(object, rna.assay = "RNA", atac.assay = "ATAC", rna.features = NULL,
                            atac.features = NULL, n.clusters = NULL, n.latent = NULL, epochs = NULL,
                            batch = NULL, reduction.name = "scmvp", reduction.key = "SCMVP_",
                            cluster.name = "scmvp_clusters", impute = TRUE,
                            imputed.rna.assay = "scmvpRNA", imputed.atac.assay = "scmvpATAC",
                            impute.rna.features = NULL, impute.atac.features = NULL,
                            impute.threshold = NULL, max.peaks = NULL, device = NULL, seed.use = NULL,
                            verbose = getOption("scMVP.verbose", TRUE), ...) {
  # ---- validation (R only; the object is not touched until the model has been fitted)
  modality <- list(...)$modality
  if (!is.null(modality)) .check_modality(modality)
  views <- .views_of(modality)
  .check_string(rna.assay, "rna.assay", "RNA")
  .check_string(atac.assay, "atac.assay", "ATAC")
  assay.of <- c(rna = rna.assay, atac = atac.assay)
  assays <- .assay_names(object)
  for (v in views) {
    if (!assay.of[[v]] %in% assays) {
      other <- setdiff(c("rna", "atac"), v)
      .abort("scMVP: assay '", assay.of[[v]], "' is not in the object (assays: ", paste(assays, collapse = ", "), "); pass ",
             v, ".assay = one of them", if (is.null(modality)) paste0(", or modality = \"", other, "\" to train on the ",
                                                                      toupper(other), " alone") else "", ".")
    }
  }
  if (length(views) == 2L && rna.assay == atac.assay) {
    .abort("scMVP: rna.assay and atac.assay are both '", rna.assay, "'; name the RNA and the ATAC assay.")
  }
  .check_string(reduction.name, "reduction.name", "scmvp")
  .check_key(reduction.key)
  .check_string(cluster.name, "cluster.name", "scmvp_clusters")
  impute.views <- .check_impute(impute)
  .check_impute_views(impute, impute.views, modality)
  .check_count(max.peaks, "max.peaks", min = 1, null.ok = TRUE)
  if (!is.null(max.peaks) && !is.null(list(...)$max_peaks)) .abort("scMVP: give max.peaks or max_peaks, not both.")
  clash <- intersect(reduction.name, assays)
  if (length(clash)) .abort("scMVP: reduction.name '", clash, "' is the name of an assay; choose another name.")
  imputing <- intersect(impute.views, views)
  if ("rna" %in% imputing) .check_imputed_name(imputed.rna.assay, "imputed.rna.assay", assay.of[views])
  if ("atac" %in% imputing) .check_imputed_name(imputed.atac.assay, "imputed.atac.assay", assay.of[views])
  if (all(c("rna", "atac") %in% imputing) && identical(imputed.rna.assay, imputed.atac.assay)) {
    .abort("scMVP: imputed.rna.assay and imputed.atac.assay are both '", imputed.rna.assay, "'; give two names.")
  }
  # ---- the counts and features (locals get new names: LogSeuratCommand logs the formal arguments)
  cells <- colnames(object)
  rna <- atac <- NULL
  fix <- "use the raw counts (the assay's counts layer must hold counts, not normalised data)"
  empty_fix <- if (length(views) == 2L) {
    paste0("remove them, e.g. object <- subset(object, nCount_", rna.assay, " > 0 & nCount_", atac.assay,
           " > 0), or choose more features")
  } else {
    paste0("remove them, e.g. object <- subset(object, nCount_", assay.of[[views]], " > 0), or choose more features")
  }
  if ("rna" %in% views) {
    rna <- .seurat_counts(object, rna.assay, "RNA")
    rna.use <- .choose_rna_features(object, rna.assay, rna, rna.features)
    if (!identical(rna.use, rownames(rna))) rna <- rna[rna.use, , drop = FALSE]
    .check_counts(rna, paste0("RNA assay '", rna.assay, "'"), fix)
  }
  if ("atac" %in% views) {
    atac <- .seurat_counts(object, atac.assay, "ATAC")
    atac.use <- .choose_atac_features(object, atac.assay, atac, atac.features)
    if (!identical(atac.use, rownames(atac))) atac <- atac[atac.use, , drop = FALSE]
    .check_counts(atac, paste0("ATAC assay '", atac.assay, "'"), fix)
  }
  if (!is.null(rna)) .check_nonempty_cells(rna, paste0("RNA features used (assay '", rna.assay, "')"), empty_fix)
  if (!is.null(atac)) .check_nonempty_cells(atac, paste0("peaks used (assay '", atac.assay, "')"), empty_fix)
  batch.values <- NULL
  if (!is.null(batch)) {
    md <- object[[]]
    if (!.is_string(batch) || !batch %in% colnames(md)) {
      .abort("scMVP: batch must name a meta.data column (", if (.is_string(batch)) paste0("'", batch, "' is not one") else
        paste0("got ", .show(batch)), "); e.g. batch = \"orig.ident\".")
    }
    batch.values <- .check_batch_values(md[cells, batch], length(cells), paste0("meta.data column '", batch, "'"))
  }
  if (!is.null(impute.rna.features) && !is.null(rna)) {
    .check_features(impute.rna.features, rownames(rna), "impute.rna.features", "RNA features used")
  }
  if (!is.null(impute.atac.features) && !is.null(atac)) {
    .check_features(impute.atac.features, rownames(atac), "impute.atac.features", "peaks used")
  }

  # ---- fit (the matrix method), then the results into the object
  res <- RunSCMVP.default(rna, atac, batch = batch.values, n.clusters = n.clusters, n.latent = n.latent, epochs = epochs,
                          impute = impute, impute.rna.features = impute.rna.features,
                          impute.atac.features = impute.atac.features, impute.threshold = impute.threshold,
                          device = device, seed.use = seed.use, verbose = verbose, max_peaks = max.peaks, ...)
  used <- assay.of[.views_of(res$params$modality)]
  object <- .scmvp_write(object, res, reduction.name = reduction.name, reduction.key = reduction.key,
                         cluster.name = cluster.name, assays = used, batch = batch,
                         imputed.rna.assay = imputed.rna.assay, imputed.atac.assay = imputed.atac.assay,
                         written.by = "RunSCMVP")
  command <- SeuratObject::LogSeuratCommand(object = object, return.command = TRUE)
  object <- .log_command(object, command, unname(used[[1]]))
  object
}

# ------------------------------------------------------------------ internals

# Fit, embed, cluster and impute: matrices are features x cells dgCMatrix with dimnames (NULL for a
# view the model does not use); `settings` are the given model settings by their Python names.
.fit_core <- function(rna, atac, batch, settings, verbose, impute, impute.rna.features, impute.atac.features,
                      impute.threshold) {
  defaults <- .py_defaults("RunSCMVP")
  settings <- .check_settings_known(settings, defaults)
  cfg <- .py_config("RunSCMVP")
  cells <- colnames(if (!is.null(rna)) rna else atac)
  # what the fit will use (for the message only: the values travel as given, the rest is Python's)
  use <- function(k) if (k %in% names(settings)) settings[[k]] else defaults[[k]]
  device <- use("device")
  if (identical(device, "auto")) device <- cfg$device
  sizes <- c(if (!is.null(rna)) paste(nrow(rna), "genes"), if (!is.null(atac)) paste(nrow(atac), "peaks"))
  .inform(verbose, sprintf("scMVP: fitting on %d cells, %s (%s, %s; %s)", length(cells), paste(sizes, collapse = " and "),
                           device, if (is.null(use("max_epochs"))) "epochs scaled to the data" else
                             paste("up to", use("max_epochs"), "epochs"),
                           if (is.null(use("n_clusters"))) "K estimated from the data" else paste("K =", use("n_clusters"))))
  t0 <- proc.time()[["elapsed"]]
  fit <- .py_fit(rna, atac, batch, settings, verbose, "RunSCMVP")
  out <- fit$result
  dropped <- c(setdiff(rownames(rna), out$features.rna), setdiff(rownames(atac), out$features.atac))
  if (length(dropped)) {
    .inform(verbose, "scMVP: ", length(dropped), " features were not used: without counts in these cells, or beyond ",
            "the settings n_top_genes / max_peaks (e.g. ", paste(utils::head(dropped, 3), collapse = ", "), ").")
  }
  .inform(verbose, sprintf("scMVP: trained in %.0f s (%d epochs, K = %d mixture components, %d clusters).",
                           proc.time()[["elapsed"]] - t0, length(out$history$loss), out$params$n_clusters, out$n.clusters))
  impute <- intersect(impute, .views_of(out$params$modality))
  imputed.rna <- imputed.atac <- threshold <- NULL
  if ("rna" %in% impute && length(out$features.rna)) {
    feats <- if (is.null(impute.rna.features)) out$features.rna else .usable(impute.rna.features, out$features.rna, "RNA")
    if (length(feats)) imputed.rna <- .py_impute(fit$py, "rna", feats, cells, what = "RunSCMVP (RNA imputation)")
  }
  if ("atac" %in% impute && length(out$features.atac)) {
    feats <- if (is.null(impute.atac.features)) out$features.atac else .usable(impute.atac.features, out$features.atac, "ATAC")
    if (length(feats)) {
      threshold <- impute.threshold
      if (is.null(threshold) && 8 * length(feats) * length(cells) > getOption("scMVP.max.dense.bytes", 5e8)) {
        threshold <- 0.1
        .inform(verbose, sprintf(paste0("scMVP: the imputed ATAC matrix (%d peaks x %d cells) would take %.1f GB dense; ",
                                        "storing it sparse with probabilities >= %g (set impute.threshold or ",
                                        "impute.atac.features to change this)."),
                                 length(feats), length(cells), 8 * length(feats) * length(cells) / 1e9, threshold))
      }
      imputed.atac <- .py_impute(fit$py, "atac", feats, cells, kind = "probability", threshold = threshold,
                                 what = "RunSCMVP (ATAC imputation)")
    }
  }
  .relay_warnings(out$warnings)
  c(out[c("embedding", "clusters", "probabilities", "max.probability", "history", "features.rna", "features.atac",
          "n.clusters", "batch.levels", "model", "params")],
    list(imputed.rna = imputed.rna, imputed.atac = imputed.atac, imputed.atac.threshold = threshold,
         warnings = out$warnings, versions = cfg[c("python_version", "scmvp", "torch", "numpy")]))
}

.usable <- function(requested, kept, what) {
  miss <- setdiff(requested, kept)
  if (length(miss)) {
    .warn("scMVP: ", length(miss), " requested ", what, " features have no counts in these cells and are not imputed (e.g. ",
          paste(utils::head(miss, 3), collapse = ", "), ").")
  }
  intersect(requested, kept)
}
