#' Run scMVP on paired RNA and ATAC counts
#'
#' Fits scMVP, a multi-view variational autoencoder with a Gaussian-mixture prior, on paired
#' single-cell RNA and ATAC counts (features x cells, as Seurat stores them) and returns the joint
#' embedding, the mixture-component (cluster) assignment of every cell and, optionally, imputed
#' (denoised) RNA expression and ATAC accessibility. The model runs in Python (PyTorch) through
#' reticulate; see [install_scmvp()] and [scmvp_config()].
#'
#' The `Seurat` method reads raw counts from `rna.assay` and `atac.assay` and adds to the object:
#' \itemize{
#'   \item a global DimReduc `reduction.name` (cells in the object's order) whose `misc` holds the
#'     trained model as raw bytes (`misc$model`) with its settings, feature names, loss history and
#'     cluster probabilities, so `saveRDS()` keeps a usable model (see [ProjectSCMVP()],
#'     [SaveSCMVPModel()]);
#'   \item meta.data columns `cluster.name` (a factor of mixture components 1..K) and
#'     `<cluster.name>_probability` (the probability of the assigned component);
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
#' peaks with counts in at least one cell; when these are more than `max.peaks` (100,000), the
#' `max.peaks` peaks accessible in the most cells. Features without counts in any selected cell
#' are dropped by the model (reported in the result).
#'
#' **Input checks.** Before Python starts, RunSCMVP checks that the assays exist and hold raw
#' counts (finite, non-negative integers), that both modalities describe the same cells, that no
#' cell is empty in the selected features, and the batch column and the other arguments; each
#' problem is a one-line error with the fix, and the object is left as it was.
#'
#' @param object A Seurat object, or (default method) the RNA counts: a features x cells
#'   dgCMatrix or matrix with dimnames.
#' @param ... Model settings passed to the Python model: `n_hidden` (128), `attention` (the
#'   attention layers: default `c("rna_mask", "atac_self")`, the encoders' mask and
#'   self-attention; TRUE adds the decoders' cluster gate, the paper's full model, which gave
#'   mixture clusters 0.025 ARI better and an embedding 0.03-0.05 ARI worse on the bundled data;
#'   FALSE: none),
#'   `cycle` (TRUE; "rna" re-encodes only the imputed RNA, FALSE switches it off), `prior` ("gmm" or "normal"), `gate` (the cluster gate's form with `attention = TRUE`: "sigmoid" or "softmax"), `atac_weight`
#'   (0.05: weight of the ATAC likelihood next to the RNA one, see the Python `ScMVP` docs), `dropout`
#'   (0.1), `lr` (5e-3), `batch_size` (128), `modality` ("joint", "rna" or "atac").
#' @return The default method: a named list with `embedding` (cells x n.latent), `clusters`
#'   (factor), `probabilities` (cells x K), `max.probability`, `history` (list of per-epoch
#'   losses), `features.rna`, `features.atac` (features used), `n.clusters`, `model` (raw bytes),
#'   `params`, `imputed.rna`, `imputed.atac` (NULL unless imputed) and `warnings`. The Seurat
#'   method: the object with the additions above.
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
#' @param atac (default method) ATAC peak counts, features x cells, same cells as `object`.
#' @param batch Default method: a vector with one batch label per cell. Seurat method: the name
#'   of a meta.data column with the batch (sample) of each cell. `NULL`: no batch correction.
#' @param n.clusters Number of mixture components K; `NULL` estimates K from the RNA
#'   (Marchenko-Pastur rule).
#' @param n.latent Dimensions of the joint embedding.
#' @param epochs Maximum training epochs; `NULL` scales them with the number of cells (about
#'   4,800 minibatch steps: 120 epochs at 5,000 cells, 60 at 10,000, at least 20). Training stops early when the held-out loss
#'   has not improved for 10 epochs (the weights of the last epoch are kept).
#' @param impute `TRUE`, `FALSE`, `"rna"` or `"atac"`: which imputed matrices to compute.
#' @param impute.rna.features,impute.atac.features Features to impute (default: all features used
#'   in training).
#' @param impute.threshold Keep imputed ATAC probabilities `>= impute.threshold` in a sparse
#'   matrix. `NULL` (default): dense when small enough (see Details), else sparse with 0.1.
#' @param device `"auto"` (CUDA GPU when available, else CPU), `"cpu"` or `"cuda"`.
#' @param seed.use Random seed (Python, NumPy and torch); CPU runs repeat exactly.
#' @param verbose Print progress (a line every few epochs); default `getOption("scMVP.verbose")`.
#' @export
RunSCMVP.default <- function(object, atac, batch = NULL, n.clusters = NULL, n.latent = 10, epochs = NULL,
                             impute = FALSE, impute.rna.features = NULL, impute.atac.features = NULL,
                             impute.threshold = NULL, device = "auto", seed.use = 42,
                             verbose = getOption("scMVP.verbose", TRUE), ...) {
  fix <- "pass raw counts (features x cells)"
  .check_counts(object, "RNA matrix", fix)
  .check_counts(atac, "ATAC matrix", fix)
  .check_same_cells(object, atac, "RNA matrix", "ATAC matrix")
  .check_nonempty_cells(object, "RNA matrix", "remove them, e.g. keep cells with colSums(rna) > 0 & colSums(atac) > 0")
  .check_nonempty_cells(atac, "ATAC matrix", "remove them, e.g. keep cells with colSums(rna) > 0 & colSums(atac) > 0")
  batch <- .check_batch_values(batch, ncol(object), "batch")
  args <- .check_fit_args(n.clusters, n.latent, epochs, device, seed.use, verbose, ncol(object), list(...))
  impute <- .check_impute(impute)
  if (!is.null(impute.rna.features)) .check_features(impute.rna.features, rownames(object), "impute.rna.features", "RNA matrix")
  if (!is.null(impute.atac.features)) .check_features(impute.atac.features, rownames(atac), "impute.atac.features", "ATAC matrix")
  .check_threshold(impute.threshold)
  res <- .fit_core(.as_dgc(object), .as_dgc(atac), batch, args, impute, impute.rna.features, impute.atac.features,
                   impute.threshold)
  res$imputed.atac.threshold <- NULL # (the class of imputed.atac tells: a dgCMatrix is truncated)
  res
}

#' @rdname RunSCMVP
#' @param rna.assay,atac.assay Assays with the RNA counts and the ATAC peak counts (a Signac
#'   ChromatinAssay works). Counts are read from their `counts` layer.
#' @param rna.features,atac.features Features to train on; see Details for the defaults.
#' @param max.peaks Most peaks used when `atac.features` is `NULL` and no variable features are set.
#' @param reduction.name,reduction.key Name and key of the DimReduc to add.
#' @param cluster.name meta.data column for the cluster assignment.
#' @param imputed.rna.assay,imputed.atac.assay Names of the imputed assays to add.
#' @export
RunSCMVP.Seurat <- function(object, rna.assay = "RNA", atac.assay = "ATAC", rna.features = NULL,
                            atac.features = NULL, n.clusters = NULL, n.latent = 10, epochs = NULL,
                            batch = NULL, reduction.name = "scmvp", reduction.key = "SCMVP_",
                            cluster.name = "scmvp_clusters", impute = TRUE,
                            imputed.rna.assay = "scmvpRNA", imputed.atac.assay = "scmvpATAC",
                            impute.rna.features = NULL, impute.atac.features = NULL,
                            impute.threshold = NULL, max.peaks = 1e5, device = "auto", seed.use = 42,
                            verbose = getOption("scMVP.verbose", TRUE), ...) {
  # ---- validation (R only; the object is not touched until the model has been fitted)
  .check_string(rna.assay, "rna.assay", "RNA")
  .check_string(atac.assay, "atac.assay", "ATAC")
  assays <- .assay_names(object)
  for (a in c(rna.assay, atac.assay)) {
    if (!a %in% assays) {
      .abort("scMVP: assay '", a, "' is not in the object (assays: ", paste(assays, collapse = ", "), "); pass ",
             if (a == rna.assay) "rna.assay" else "atac.assay", " = one of them.")
    }
  }
  if (rna.assay == atac.assay) .abort("scMVP: rna.assay and atac.assay are both '", rna.assay, "'; name the RNA and the ATAC assay.")
  .check_string(reduction.name, "reduction.name", "scmvp")
  .check_key(reduction.key)
  .check_string(cluster.name, "cluster.name", "scmvp_clusters")
  impute.views <- .check_impute(impute)
  .check_count(max.peaks, "max.peaks", min = 1)
  clash <- intersect(reduction.name, assays)
  if (length(clash)) .abort("scMVP: reduction.name '", clash, "' is the name of an assay; choose another name.")
  if ("rna" %in% impute.views) .check_imputed_name(imputed.rna.assay, "imputed.rna.assay", c(rna.assay, atac.assay))
  if ("atac" %in% impute.views) .check_imputed_name(imputed.atac.assay, "imputed.atac.assay", c(rna.assay, atac.assay))
  if (all(c("rna", "atac") %in% impute.views) && identical(imputed.rna.assay, imputed.atac.assay)) {
    .abort("scMVP: imputed.rna.assay and imputed.atac.assay are both '", imputed.rna.assay, "'; give two names.")
  }
  cells <- colnames(object)
  rna <- .seurat_counts(object, rna.assay, "RNA")
  atac <- .seurat_counts(object, atac.assay, "ATAC")
  # (locals get new names: LogSeuratCommand logs the values of the formal arguments)
  rna.use <- .choose_rna_features(object, rna.assay, rna, rna.features)
  atac.use <- .choose_atac_features(object, atac.assay, atac, atac.features, max.peaks)
  if (!identical(rna.use, rownames(rna))) rna <- rna[rna.use, , drop = FALSE]
  if (!identical(atac.use, rownames(atac))) atac <- atac[atac.use, , drop = FALSE]
  fix <- "use the raw counts (the assay's counts layer must hold counts, not normalised data)"
  .check_counts(rna, paste0("RNA assay '", rna.assay, "'"), fix)
  .check_counts(atac, paste0("ATAC assay '", atac.assay, "'"), fix)
  empty_fix <- paste0("remove them, e.g. object <- subset(object, nCount_", rna.assay, " > 0 & nCount_", atac.assay,
                      " > 0), or choose more features")
  .check_nonempty_cells(rna, paste0("RNA features used (assay '", rna.assay, "')"), empty_fix)
  .check_nonempty_cells(atac, paste0("peaks used (assay '", atac.assay, "')"), empty_fix)
  batch.values <- NULL
  if (!is.null(batch)) {
    md <- object[[]]
    if (!.is_string(batch) || !batch %in% colnames(md)) {
      .abort("scMVP: batch must name a meta.data column (", if (.is_string(batch)) paste0("'", batch, "' is not one") else
        paste0("got ", .show(batch)), "); e.g. batch = \"orig.ident\".")
    }
    batch.values <- .check_batch_values(md[cells, batch], length(cells), paste0("meta.data column '", batch, "'"))
  }
  args <- .check_fit_args(n.clusters, n.latent, epochs, device, seed.use, verbose, length(cells), list(...))
  if (!is.null(impute.rna.features)) .check_features(impute.rna.features, rna.use, "impute.rna.features", "RNA features used")
  if (!is.null(impute.atac.features)) .check_features(impute.atac.features, atac.use, "impute.atac.features", "peaks used")
  .check_threshold(impute.threshold)

  # ---- fit (Python)
  res <- .fit_core(rna, atac, batch.values, args, impute.views, impute.rna.features, impute.atac.features, impute.threshold)

  # ---- results into the object
  emb <- res$embedding
  colnames(emb) <- paste0(reduction.key, seq_len(ncol(emb)))
  misc <- list(
    model = res$model, format = "scMVP model bytes (torch, format 1)", params = res$params,
    features = list(rna = res$features.rna, atac = res$features.atac),
    assays = c(rna = rna.assay, atac = atac.assay), batch = batch,
    batch.levels = if (is.null(batch.values)) NULL else sort(unique(batch.values)),
    cluster.name = cluster.name, n.clusters = res$n.clusters, probabilities = res$probabilities,
    history = res$history, warnings = res$warnings,
    imputed = list(rna.assay = if (!is.null(res$imputed.rna)) imputed.rna.assay,
                   atac.assay = if (!is.null(res$imputed.atac)) imputed.atac.assay,
                   atac.threshold = res$imputed.atac.threshold),
    versions = list(scMVP = as.character(utils::packageVersion("scMVP")), python = res$versions)
  )
  object[[reduction.name]] <- SeuratObject::CreateDimReducObject(
    embeddings = emb, key = reduction.key, assay = rna.assay, global = TRUE, misc = misc
  )
  md <- data.frame(res$clusters, res$max.probability, row.names = cells)
  names(md) <- c(cluster.name, paste0(cluster.name, "_probability"))
  object <- SeuratObject::AddMetaData(object, metadata = md)
  if (!is.null(res$imputed.rna)) object[[imputed.rna.assay]] <- .imputed_assay(res$imputed.rna)
  if (!is.null(res$imputed.atac)) object[[imputed.atac.assay]] <- .imputed_assay(res$imputed.atac, object[[atac.assay]])
  command <- SeuratObject::LogSeuratCommand(object = object, return.command = TRUE)
  object <- .log_command(object, command, rna.assay)
  object
}

# ------------------------------------------------------------------ internals

.check_fit_args <- function(n.clusters, n.latent, epochs, device, seed.use, verbose, n.cells, params) {
  .check_count(n.clusters, "n.clusters", min = 1, max = n.cells, null.ok = TRUE,
               hint = paste0("there are ", n.cells, " cells; NULL estimates K from the data"))
  .check_count(n.latent, "n.latent", min = 1)
  .check_count(epochs, "epochs", min = 1, null.ok = TRUE)
  .check_count(seed.use, "seed.use", min = 0, max = .Machine$integer.max)
  .check_device(device)
  .check_flag(verbose, "verbose")
  params <- .check_params(params)
  list(n.clusters = n.clusters, n.latent = n.latent, epochs = epochs, device = device, seed.use = seed.use,
       verbose = verbose, params = params)
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

.seurat_counts <- function(object, assay, label) {
  m <- .get_layer(object, assay, "counts")
  if (nrow(m) == 0L || ncol(m) == 0L) {
    .abort("scMVP: the ", label, " assay '", assay, "' has no counts layer (it holds only normalised data); ",
           "scMVP needs raw counts: create the assay with counts = <raw count matrix>.")
  }
  cells <- colnames(object)
  if (!identical(colnames(m), cells)) {
    .abort("scMVP: the counts of assay '", assay, "' cover ", length(intersect(colnames(m), cells)), " of the object's ",
           length(cells), " cells; subset the object to cells present in both assays.")
  }
  m
}

.choose_rna_features <- function(object, assay, counts, features) {
  if (is.null(features)) {
    vf <- intersect(.variable_features(object, assay), rownames(counts))
    return(if (length(vf)) rownames(counts)[rownames(counts) %in% vf] else rownames(counts))
  }
  .check_features(features, rownames(counts), "rna.features", paste0("RNA assay '", assay, "'"))
  unique(features)
}

.choose_atac_features <- function(object, assay, counts, features, max.peaks) {
  if (!is.null(features)) {
    .check_features(features, rownames(counts), "atac.features", paste0("ATAC assay '", assay, "'"))
    return(unique(features))
  }
  vf <- intersect(.variable_features(object, assay), rownames(counts))
  if (length(vf)) return(rownames(counts)[rownames(counts) %in% vf])
  ncells <- Matrix::rowSums(.as_dgc(counts) > 0)
  keep <- which(ncells > 0)
  if (length(keep) > max.peaks) keep <- sort(keep[order(-ncells[keep])][seq_len(max.peaks)])
  rownames(counts)[keep]
}

# Fit, embed, cluster and impute; matrices are features x cells dgCMatrix with dimnames.
.fit_core <- function(rna, atac, batch, args, impute, impute.rna.features, impute.atac.features, impute.threshold) {
  br <- scmvp_bridge()
  verbose <- args$verbose
  cells <- colnames(rna)
  cfg <- reticulate::py_to_r(.py_call(br$config(), "scMVP"))
  .inform(verbose, sprintf("scMVP: fitting on %d cells, %d genes and %d peaks (%s, %s; %s)", length(cells), nrow(rna),
                           nrow(atac), cfg$device, if (is.null(args$epochs)) "epochs scaled to the data" else
                             paste("up to", args$epochs, "epochs"),
                           if (is.null(args$n.clusters)) "K estimated from the RNA" else paste("K =", args$n.clusters)))
  t0 <- proc.time()[["elapsed"]]
  fit_args <- c(list(
    rna = .to_py_csc(rna), atac = .to_py_csc(atac), rna_features = .to_py_chr(rownames(rna)),
    atac_features = .to_py_chr(rownames(atac)), batch = .to_py_chr(batch), n_clusters = .to_py_int(args$n.clusters),
    n_latent = as.integer(args$n.latent), max_epochs = .to_py_int(args$epochs), seed = as.integer(args$seed.use),
    device = args$device, verbose = FALSE, callback = .progress_callback(verbose)
  ), args$params)
  fit <- .py_call(do.call(br$fit, fit_args), "RunSCMVP")
  .progress_done(verbose)
  model <- .item(fit, "model")
  k <- as.integer(reticulate::py_to_r(.item(fit, "n_clusters")))
  d <- as.integer(args$n.latent)
  out <- list(
    embedding = .py_to_matrix(.item(fit, "embedding"), list(cells, paste0("SCMVP_", seq_len(d)))),
    clusters = factor(.py_to_vec(.item(fit, "clusters")), levels = seq_len(k)),
    probabilities = .py_to_matrix(.item(fit, "probabilities"), list(cells, as.character(seq_len(k)))),
    max.probability = stats::setNames(.py_to_vec(.item(fit, "max_probability")), cells),
    history = lapply(reticulate::py_to_r(.item(fit, "history")), as.vector),
    features.rna = .py_to_chr(.item(fit, "features_rna")),
    features.atac = .py_to_chr(.item(fit, "features_atac")),
    n.clusters = k,
    model = .py_to_raw(.py_call(br$model_to_bytes(model), "RunSCMVP")),
    params = reticulate::py_to_r(.py_call(br$model_info(model), "RunSCMVP"))$params,
    imputed.rna = NULL, imputed.atac = NULL,
    warnings = .py_to_chr(.item(fit, "warnings")),
    versions = cfg[c("python_version", "scmvp", "torch", "numpy")]
  )
  names(out$clusters) <- cells
  dropped <- c(setdiff(rownames(rna), out$features.rna), setdiff(rownames(atac), out$features.atac))
  if (length(dropped)) {
    .inform(verbose, "scMVP: ", length(dropped), " features without counts in these cells were not used (e.g. ",
            paste(utils::head(dropped, 3), collapse = ", "), ").")
  }
  epochs_run <- length(out$history$loss)
  .inform(verbose, sprintf("scMVP: trained in %.0f s (%d epochs, K = %d).", proc.time()[["elapsed"]] - t0, epochs_run, k))
  if ("rna" %in% impute && length(out$features.rna)) {
    feats <- if (is.null(impute.rna.features)) out$features.rna else .usable(impute.rna.features, out$features.rna, "RNA")
    if (length(feats)) {
      x <- .py_call(br$impute_rna(model, features = .to_py_chr(feats)), "RunSCMVP (RNA imputation)")
      out$imputed.rna <- .py_to_matrix(x, list(feats, cells))
    }
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
      x <- .py_call(br$impute_atac(model, features = .to_py_chr(feats), kind = "probability",
                                   threshold = if (is.null(threshold)) NULL else as.double(threshold)),
                    "RunSCMVP (ATAC imputation)")
      out$imputed.atac <- if (is.null(threshold)) .py_to_matrix(x, list(feats, cells)) else .py_to_dgc(x, list(feats, cells))
      out$imputed.atac.threshold <- threshold
    }
  }
  .relay_warnings(.item(fit, "warnings"))
  out
}

.usable <- function(requested, kept, what) {
  miss <- setdiff(requested, kept)
  if (length(miss)) {
    .warn("scMVP: ", length(miss), " requested ", what, " features have no counts in these cells and are not imputed (e.g. ",
          paste(utils::head(miss, 3), collapse = ", "), ").")
  }
  intersect(requested, kept)
}
