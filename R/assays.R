# Reading and writing Seurat objects: the one place that knows how assays, layers and the scMVP
# reduction are laid out (SeuratObject 4 and 5 through .get_layer()).
#
#  * reading: counts layers (.get_layer, .seurat_counts, .assay_matrix), feature choices,
#    the counts a stored model takes (.model_inputs);
#  * writing: imputed assays (.imputed_assay), the command log (.log_command);
#  * the scMVP reduction's `misc`: .scmvp_write() is its only writer and .scmvp_read() its only
#    reader (R's RunSCMVP() and ProjectSCMVP() and Python's scmvp.seurat.write_seurat() all write
#    through .scmvp_write()).

# ------------------------------------------------------------------ layers (v4 / v5)

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

.variable_features <- function(object, assay) {
  vf <- tryCatch(SeuratObject::VariableFeatures(object = object, assay = assay), error = function(e) character())
  if (is.null(vf)) character() else as.character(vf)
}

# The raw counts of an assay for the object's cells, with one-line errors for a missing counts layer
# or other cells. `label` is "RNA" or "ATAC".
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

# One layer of an assay of a Seurat object, with one-line errors for a missing assay or layer.
.assay_matrix <- function(object, assay, layer, arg, hint) {
  if (!methods::is(object, "Seurat")) .abort("scMVP: object must be a Seurat object, not ", class(object)[1], ".")
  .check_string(assay, arg, "scmvpATAC")
  .check_string(layer, sub("assay", "layer", arg), "data")
  assays <- .assay_names(object)
  if (!assay %in% assays) {
    .abort("scMVP: assay '", assay, "' is not in the object (assays: ", paste(assays, collapse = ", "), "); pass ", arg,
           " = one of them, or ", hint, ".")
  }
  if (!layer %in% c("counts", "data") && !inherits(object[[assay]], "Assay5")) {
    .abort("scMVP: layer must be \"counts\" or \"data\", not ", .show(layer), ".")
  }
  m <- .get_layer(object, assay, layer)
  if (nrow(m) == 0L || ncol(m) == 0L) {
    .abort("scMVP: the '", layer, "' layer of assay '", assay, "' is empty; use the other layer (\"counts\" or \"data\").")
  }
  m
}

# A layer of an assay as a dgCMatrix for the object's cells, in the object's order (Python's
# scmvp.seurat.read_seurat() reads counts through this, with its own argument names as `arg`).
.layer_dgc <- function(object, assay, layer = "counts", arg = "assay") {
  m <- .assay_matrix(object, assay, layer, arg, "add that assay to the object")
  cells <- colnames(object)
  if (!identical(colnames(m), cells)) {
    miss <- setdiff(cells, colnames(m))
    if (length(miss)) {
      .abort("scMVP: assay '", assay, "' lacks ", length(miss), " of the object's cells (e.g. ", miss[1],
             "); subset the object to the cells of the assay.")
    }
    m <- m[, cells, drop = FALSE]
  }
  .as_dgc(m)
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

# ------------------------------------------------------------------ feature choices (RunSCMVP)

.choose_rna_features <- function(object, assay, counts, features) {
  if (is.null(features)) {
    vf <- intersect(.variable_features(object, assay), rownames(counts))
    return(if (length(vf)) rownames(counts)[rownames(counts) %in% vf] else rownames(counts))
  }
  .check_features(features, rownames(counts), "rna.features", paste0("RNA assay '", assay, "'"))
  unique(features)
}

.choose_atac_features <- function(object, assay, counts, features) {
  if (!is.null(features)) {
    .check_features(features, rownames(counts), "atac.features", paste0("ATAC assay '", assay, "'"))
    return(unique(features))
  }
  vf <- intersect(.variable_features(object, assay), rownames(counts))
  if (length(vf)) return(rownames(counts)[rownames(counts) %in% vf])
  # peaks with counts; the model keeps the most accessible of them (its max_peaks setting)
  rownames(counts)[Matrix::rowSums(.as_dgc(counts) > 0) > 0]
}

# ------------------------------------------------------------------ the counts a stored model takes

.default_assay <- function(trained, fallback, assays) {
  if (!is.null(trained) && !is.na(trained) && trained %in% assays) trained else fallback
}

# x[[key]], or NULL when x has no element of that name.
.named <- function(x, key) if (!is.null(names(x)) && key %in% names(x)) x[[key]] else NULL

# The counts of `object` that a stored model `m` (from .scmvp_read()) takes: for each view the model
# uses (m$views), the model's assay (or rna.assay/atac.assay) restricted to the model's features
# (missing ones are reported in Python) and checked as counts, plus the batch labels when the model
# was trained with batches. A view the model does not use is NULL and its assay is not needed.
# `what` and `caller` name the object and the function in errors.
.model_inputs <- function(object, m, rna.assay, atac.assay, batch, what, caller) {
  assays <- .assay_names(object)
  given <- list(rna = rna.assay, atac = atac.assay)
  label <- c(rna = "RNA", atac = "ATAC")
  cells <- colnames(object)
  fix <- "use the raw counts (the assay's counts layer must hold counts, not normalised data)"
  only <- if (length(m$views) == 1L) paste0(", the only view of this ", label[[m$views]], "-only model") else ""
  out <- list(rna = NULL, atac = NULL, rna.assay = NULL, atac.assay = NULL, batch = NULL)
  for (v in m$views) {
    use <- given[[v]] %||% .default_assay(.named(m$assays, v), label[[v]], assays)
    .check_string(use, paste0(v, ".assay"), label[[v]])
    if (!use %in% assays) {
      .abort("scMVP: assay '", use, "' is not in the ", what, " (assays: ", paste(assays, collapse = ", "), "); pass ",
             v, ".assay = the ", what, "'s ", label[[v]], " assay", only, ".")
    }
    counts <- .seurat_counts(object, use, label[[v]])
    # only the model's features cross to Python (missing ones are reported there)
    counts <- counts[intersect(m$features[[v]], rownames(counts)), , drop = FALSE]
    if (!nrow(counts)) {
      .abort("scMVP: the ", what, "'s ", label[[v]], " assay '", use, "' has none of the model's features; use an assay with ",
             "the same feature names", if (v == "atac") " (peaks as chr-start-end)" else "", ".")
    }
    .check_counts(counts, paste0(label[[v]], " assay '", use, "'"), fix)
    out[[v]] <- counts
    out[[paste0(v, ".assay")]] <- use
  }
  empty_fix <- paste0("remove them (subset the ", what, " to cells with counts in ",
                      if (length(m$views) == 2L) "both assays" else "that assay", ")")
  for (v in m$views) {
    .check_nonempty_cells(out[[v]], paste0("model's ", if (v == "rna") "RNA features" else "peaks", " (assay '",
                                           out[[paste0(v, ".assay")]], "')"), empty_fix)
  }
  if (length(m$batch.levels) && is.null(batch)) {
    .abort("scMVP: the model was trained with batches (", paste(utils::head(m$batch.levels, 3), collapse = ", "),
           "); pass batch = the ", what, "'s meta.data column with these labels.")
  }
  if (!is.null(batch)) {
    if (!length(m$batch.levels)) .abort("scMVP: the model was trained without batches; call ", caller, "() without batch.")
    if (!.is_string(batch) || !batch %in% colnames(object[[]])) {
      .abort("scMVP: batch must name a meta.data column of the ", what, ", e.g. batch = \"orig.ident\".")
    }
    out$batch <- .check_batch_values(object[[]][cells, batch], length(cells), paste0("meta.data column '", batch, "'"))
    unknown <- setdiff(unique(out$batch), m$batch.levels)
    if (length(unknown)) {
      .abort("scMVP: batch labels ", paste(utils::head(unknown, 3), collapse = ", "), " are unknown to the model (it knows ",
             paste(utils::head(m$batch.levels, 5), collapse = ", "), "); use the reference's labels.")
    }
  }
  out
}

# ------------------------------------------------------------------ writing assays and commands

# Store a SeuratCommand (from LogSeuratCommand(return.command = TRUE), called in the Run function
# so it records that function's arguments) with the assay it used; LogSeuratCommand itself finds
# no assay in our arguments and would warn.
.log_command <- function(object, cmd, assay) {
  methods::slot(cmd, "assay.used") <- assay
  object[[methods::slot(cmd, "name")]] <- cmd
  object
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

# ------------------------------------------------------------------ the scMVP reduction and its misc

# The views a model uses, from its modality ("joint", "rna", "atac").
.views_of <- function(modality) {
  switch(modality %||% "", rna = "rna", atac = "atac", joint = c("rna", "atac"), c("rna", "atac"))
}

.MODEL_FORMAT <- "scMVP model bytes (torch, format 1)"

#' Write scMVP results into a Seurat object (internal)
#'
#' The only writer of the scMVP reduction's layout; [RunSCMVP()], [ProjectSCMVP()] and the Python
#' package's `scmvp.seurat.write_seurat()` (through rpy2) all call it, and `.scmvp_read()` is the
#' only reader. It adds:
#' \itemize{
#'   \item a global DimReduc `reduction.name` with the embedding (rows matched to the object's cells
#'     by name; columns `<reduction.key>1..d`) on the first assay of `assays`, whose `misc` holds:
#'     `model` (raw: the model file's bytes; absent for a projection), `format`, `params` (the
#'     model's whole configuration, as `scmvp.bridge.model_info()` gives it), `features`
#'     (`list(rna =, atac =)`: the features the model uses, `character(0)` for a view it lacks),
#'     `assays` (`c(rna =, atac =)`: the assays the counts came from, for the views the model
#'     uses), `batch` (meta.data column) and `batch.levels`, `cluster.name`, `n.clusters` (the
#'     number of clusters; `params$n_clusters` is the number of mixture components K),
#'     `probabilities` (cells x clusters), `history` (per-epoch losses), `warnings`, `imputed`
#'     (`list(rna.assay =, atac.assay =, atac.threshold =)`), `versions`, `projected` (TRUE for
#'     [ProjectSCMVP()]) and `written.by`;
#'   \item the meta.data columns `cluster.name` (a factor) and `<cluster.name>_probability`, when
#'     `result` has clusters;
#'   \item the imputed assays, when `result` has imputed matrices.
#' }
#' @param object A Seurat object.
#' @param result A list with `embedding` (cells x d, rownames the cells) and optionally `clusters`,
#'   `max.probability` (one value per embedding row), `probabilities`, `model` (raw), `params`,
#'   `features.rna`, `features.atac`, `n.clusters`, `batch.levels`, `history`, `warnings`,
#'   `versions`, `imputed.rna`, `imputed.atac`, `imputed.atac.threshold` (as
#'   `RunSCMVP.default()` returns them).
#' @return The object with the additions.
#' @keywords internal
#' @noRd
.scmvp_write <- function(object, result, reduction.name = "scmvp", reduction.key = "SCMVP_",
                         cluster.name = "scmvp_clusters", assays = c(rna = "RNA", atac = "ATAC"), batch = NULL,
                         imputed.rna.assay = "scmvpRNA", imputed.atac.assay = "scmvpATAC", projected = FALSE,
                         written.by = "scMVP (R)") {
  if (!inherits(object, "Seurat")) .abort("scMVP: expected a Seurat object, not ", class(object)[1], ".")
  .check_string(reduction.name, "reduction.name", "scmvp")
  .check_key(reduction.key)
  .check_string(cluster.name, "cluster.name", "scmvp_clusters")
  have <- .assay_names(object)
  assays <- assays[!is.na(assays)]
  if (!length(assays) || !all(assays %in% have)) {
    .abort("scMVP: assay '", setdiff(assays, have)[1], "' is not in the object (assays: ", paste(have, collapse = ", "),
           "); name the assays the counts came from.")
  }
  emb <- result$embedding
  cells <- rownames(emb)
  obj.cells <- colnames(object)
  if (!is.matrix(emb) || is.null(cells) || length(cells) != length(obj.cells) || !setequal(cells, obj.cells) ||
      anyDuplicated(cells)) {
    .abort("scMVP: the results cover ", if (is.matrix(emb)) nrow(emb) else 0L, " cells but the object has ",
           length(obj.cells), " (or other names); write results for the object's cells.")
  }
  order <- match(obj.cells, cells)
  emb <- emb[order, , drop = FALSE]
  colnames(emb) <- paste0(reduction.key, seq_len(ncol(emb)))
  per_cell <- function(x) if (is.null(x)) NULL else x[order]
  probs <- result$probabilities
  if (!is.null(probs)) {
    probs <- probs[order, , drop = FALSE]
    dimnames(probs) <- list(obj.cells, as.character(seq_len(ncol(probs))))
  }
  features <- list(rna = as.character(result$features.rna), atac = as.character(result$features.atac))
  imputed.rna <- result$imputed.rna
  imputed.atac <- result$imputed.atac
  misc <- list(
    model = if (length(result$model)) result$model, format = if (length(result$model)) .MODEL_FORMAT,
    params = result$params, features = features, assays = assays, batch = batch,
    batch.levels = if (length(result$batch.levels)) as.character(result$batch.levels),
    cluster.name = cluster.name, n.clusters = result$n.clusters %||% if (!is.null(probs)) ncol(probs),
    probabilities = probs, history = result$history, warnings = result$warnings,
    imputed = list(rna.assay = if (!is.null(imputed.rna)) imputed.rna.assay,
                   atac.assay = if (!is.null(imputed.atac)) imputed.atac.assay,
                   atac.threshold = if (!is.null(imputed.atac)) result$imputed.atac.threshold),
    versions = list(scMVP = as.character(utils::packageVersion("scMVP")), python = result$versions),
    projected = isTRUE(projected), written.by = written.by
  )
  misc <- misc[!vapply(misc, is.null, logical(1))]
  object[[reduction.name]] <- SeuratObject::CreateDimReducObject(
    embeddings = emb, key = reduction.key, assay = unname(assays[[1]]), global = TRUE, misc = misc
  )
  clusters <- per_cell(result$clusters)
  if (!is.null(clusters)) {
    if (!is.factor(clusters)) {
      lv <- unique(as.character(clusters))
      lv <- if (all(grepl("^[0-9]+$", lv))) lv[order(as.integer(lv))] else sort(lv)
      clusters <- factor(as.character(clusters), levels = lv)
    }
    md <- data.frame(clusters, row.names = obj.cells)
    names(md) <- cluster.name
    prob <- per_cell(result$max.probability)
    if (!is.null(prob)) md[[paste0(cluster.name, "_probability")]] <- unname(as.double(prob))
    object <- SeuratObject::AddMetaData(object, metadata = md)
  }
  if (!is.null(imputed.rna)) object[[imputed.rna.assay]] <- .imputed_assay(imputed.rna[, obj.cells, drop = FALSE])
  if (!is.null(imputed.atac)) {
    object[[imputed.atac.assay]] <- .imputed_assay(imputed.atac[, obj.cells, drop = FALSE],
                                                   if (!is.null(.named(assays, "atac"))) object[[assays[["atac"]]]])
  }
  object
}

# The scMVP model stored in `reference`, the only reader of the layout .scmvp_write() writes:
# `reference` is a Seurat object (its `reduction`), a DimReduc, an scmvp_model (LoadSCMVPModel())
# or the list RunSCMVP.default() returns. Returns list(model (raw), params, modality, views,
# features = list(rna, atac), assays, batch, batch.levels, cluster.name, key, imputed).
.scmvp_read <- function(reference, reduction = "scmvp") {
  if (inherits(reference, "scmvp_model")) {
    m <- unclass(reference)
  } else {
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
      m <- list(model = misc$model, params = misc$params, features = misc$features, assays = misc$assays,
                batch = misc$batch, batch.levels = misc$batch.levels, cluster.name = misc$cluster.name,
                key = SeuratObject::Key(reference), imputed = misc$imputed)
    } else if (is.list(reference) && !is.object(reference) && is.raw(reference$model)) {
      m <- list(model = reference$model, params = reference$params,
                features = list(rna = reference$features.rna, atac = reference$features.atac),
                batch.levels = reference$batch.levels)
    } else {
      .abort("scMVP: expected a Seurat object with an scMVP reduction, a DimReduc, a model from LoadSCMVPModel() ",
             "or a RunSCMVP() result, not ", class(reference)[1], ".")
    }
  }
  m$features <- list(rna = as.character(m$features$rna), atac = as.character(m$features$atac))
  # the modality: recorded in the settings; where they are missing (earlier versions of Python's
  # write_seurat kept them as JSON in misc$params.json) the views with features tell it
  m$modality <- m$params$modality %||% if (!length(m$features$atac)) "rna" else if (!length(m$features$rna)) "atac" else "joint"
  m$views <- .views_of(m$modality)
  m
}
