#' Link peaks to genes with a per-gene LASSO (scMVP paper, Fig. 5)
#'
#' For each gene, fits a LASSO regression ([glmnet::cv.glmnet()], lambda chosen by
#' cross-validation) of the gene's expression across cells on the accessibility of the peaks
#' near its transcription start site (TSS), as in Li et al. (Genome Biology 2022): by default the
#' imputed expression (`log1p` of the imputed RNA assay) on the imputed accessibility of the peaks
#' within 100 kb of the TSS. Peaks with a non-zero coefficient are the gene's links.
#'
#' **Positions.** Peak names are parsed as `chr1-100-600`, `chr1:100-600` or `chr1_100_600`; a
#' peak's position is its midpoint `(start + end) / 2`. A peak is in the window of a gene when it is
#' on the gene's chromosome and `|midpoint - TSS| <= window` (the edge is included). `distance` is
#' signed and strand-aware: `midpoint - TSS` for `+` genes and `TSS - midpoint` for `-` genes, so
#' upstream peaks have negative distances on both strands. A link is `"proximal"` when
#' `-proximal[1] <= distance <= proximal[2]` (default 2 kb upstream to 500 bp downstream of the
#' TSS, the paper's definition) and `"distal"` otherwise.
#'
#' **Fit.** Cross-validation folds are drawn once from `seed.use` (without touching the session's
#' random state) and shared by all genes, so results repeat exactly. The cross-validated
#' \eqn{R^2} of a gene is `1 - CV-MSE / var(y)` at the chosen lambda (`s`), where `var(y)` is the
#' mean squared deviation of the response; it estimates how much of the gene's expression the
#' peaks predict in held-out cells and can be slightly negative when they predict nothing. A gene
#' with a single peak in its window is fitted with that peak alone.
#'
#' **Genes without a fit** are not dropped silently: the per-gene table (attribute `"genes"`)
#' gives each requested gene a `status` (`"ok"`, `"not in annotation"`, `"not in RNA data"`,
#' `"no peaks in window"`, `"constant expression"`, `"constant peaks"`: no peak in the window
#' varies across the cells, `"too sparse"`: the peaks vary in so few cells that all are constant in
#' the training cells of a cross-validation fold), and a single warning lists them. Peaks that do not vary across the
#' cells are left out of a gene's fit.
#'
#' **Raw data.** To compare with the raw data, point the Seurat method at the raw assays, e.g.
#' `rna.assay = "RNA", rna.layer = "data"` after `Seurat::NormalizeData()` with
#' `rna.transform = "none"` (already log-normalised), and `atac.assay = "ATAC", atac.layer = "counts"`.
#'
#' @param object A Seurat object, or (default method) a genes x cells expression matrix (dense or
#'   sparse, with dimnames).
#' @param atac (default method) Peaks x cells accessibility matrix, the same cells in the same
#'   order as `object`; peak names as above.
#' @param genes Gene names to link (character).
#' @param annotation Gene TSS positions: `"mm10"` or `"hg38"` (the bundled tables, see
#'   [GeneAnnotation()]), a data.frame with columns `gene_name`, `chrom`, `tss` (1-based) and
#'   `strand` (`+`/`-`), or a GRanges with a `gene_name` metadata column (TSS = start of `+` ranges,
#'   end of `-` ranges; several ranges per gene are collapsed to the most 5' TSS).
#' @param window Largest distance (bp) between a peak's midpoint and the TSS (default 100 kb).
#' @param proximal Two numbers: bp upstream and bp downstream of the TSS that count as proximal.
#' @param rna.transform `"log1p"` (default) applies `log1p()` to the expression; `"none"` uses it
#'   as given (e.g. already log-normalised data).
#' @param nfolds Number of cross-validation folds.
#' @param s Lambda used for the coefficients and the \eqn{R^2}: `"lambda.min"` (lowest CV error)
#'   or `"lambda.1se"` (sparser).
#' @param alpha Elastic-net mixing (1 = LASSO).
#' @param seed.use Seed of the cross-validation folds.
#' @param verbose Print a one-line summary; default `getOption("scMVP.verbose")`.
#' @param ... Passed to the default method (Seurat method) or to [glmnet::cv.glmnet()] (default
#'   method).
#' @return A data.frame with one row per link (non-zero coefficient): `gene`, `peak`,
#'   `coefficient` (on the scale of the inputs), `std.coefficient` (the coefficient times the
#'   peak's standard deviation over the response's, comparable between genes and between raw and
#'   imputed data), `distance` (bp, signed, upstream negative),
#'   `class` (`"proximal"`/`"distal"`) and `r2` (the gene's cross-validated \eqn{R^2}), ordered by
#'   gene (as requested) and distance. Attributes: `"genes"`, a data.frame with one row per
#'   requested gene (`gene`, `chrom`, `tss`, `strand`, `n.peaks` in the window, `n.links`, `r2`,
#'   `lambda`, `status`), and `"params"`.
#' @seealso [GeneAnnotation()], [ExportCicero()] for co-accessibility with Cicero.
#' @export
#' @examples
#' # matrix level, on the bundled raw data (no Python needed)
#' obj <- ReadSCMVPExample(n.cells = 300)
#' rna <- SeuratObject::GetAssayData(obj, slot = "counts", assay = "RNA")
#' atac <- SeuratObject::GetAssayData(obj, slot = "counts", assay = "ATAC")
#' rna <- Matrix::t(Matrix::t(rna) / pmax(Matrix::colSums(rna), 1)) * 1e4
#' links <- LinkPeaksLASSO(rna, atac, genes = c("Rorb", "Sst"), annotation = "mm10", nfolds = 5)
#' head(links)
#' attr(links, "genes")
#' \donttest{
#' # on the imputed assays of a fitted object
#' if (scmvp_available()) {
#'   obj <- RunSCMVP(obj, n.clusters = 5, epochs = 2, verbose = FALSE)
#'   links <- LinkPeaksLASSO(obj, genes = c("Rorb", "Sst"))
#' }
#' }
LinkPeaksLASSO <- function(object, ...) {
  UseMethod("LinkPeaksLASSO")
}

#' @rdname LinkPeaksLASSO
#' @export
LinkPeaksLASSO.default <- function(object, atac, genes, annotation = "mm10", window = 1e5, proximal = c(2000, 500),
                                   rna.transform = c("log1p", "none"), nfolds = 10, s = c("lambda.min", "lambda.1se"),
                                   alpha = 1, seed.use = 42, verbose = getOption("scMVP.verbose", TRUE), ...) {
  rna.transform <- .check_choice(rna.transform, c("log1p", "none"), "rna.transform")
  s <- .check_choice(s, c("lambda.min", "lambda.1se"), "s")
  .check_matrix(object, "expression matrix")
  .check_matrix(atac, "accessibility matrix")
  .check_same_cells(object, atac, "expression matrix", "accessibility matrix")
  if (!is.character(genes) || !length(genes) || anyNA(genes) || any(!nzchar(genes))) {
    .abort("scMVP: genes must be a character vector of gene names, e.g. genes = c(\"Rorb\", \"Sst\").")
  }
  genes <- unique(genes)
  .check_number(window, "window", min = 0)
  if (!is.numeric(proximal) || length(proximal) != 2L || anyNA(proximal) || any(proximal < 0)) {
    .abort("scMVP: proximal must be two non-negative numbers (bp upstream, bp downstream), e.g. c(2000, 500).")
  }
  .check_count(nfolds, "nfolds", min = 3, max = ncol(object), hint = "cross-validation needs at least 3 folds")
  .check_number(alpha, "alpha", min = 0, max = 1)
  .check_count(seed.use, "seed.use", min = 0, max = .Machine$integer.max)
  .check_flag(verbose, "verbose")
  if (!requireNamespace("glmnet", quietly = TRUE)) {
    .abort("scMVP: LinkPeaksLASSO needs the glmnet package; install it (Debian: apt-get install r-cran-glmnet).")
  }
  ann <- .gene_tss(annotation)
  peaks <- .parse_peaks(rownames(atac))
  mid <- (peaks$start + peaks$end) / 2
  near <- .window_index(peaks, window)
  n <- ncol(object)
  foldid <- .with_seed(seed.use, sample(rep(seq_len(nfolds), length.out = n)))
  t0 <- proc.time()[["elapsed"]]

  info <- data.frame(gene = genes, chrom = NA_character_, tss = NA_real_, strand = NA_character_, n.peaks = 0L,
                     n.links = 0L, r2 = NA_real_, lambda = NA_real_, status = "ok", stringsAsFactors = FALSE)
  links <- vector("list", length(genes))
  for (k in seq_along(genes)) {
    g <- genes[k]
    ai <- match(g, ann$gene_name)
    if (is.na(ai)) {
      info$status[k] <- "not in annotation"
      next
    }
    a <- ann[ai, , drop = FALSE]
    info$chrom[k] <- a$chrom
    info$strand[k] <- a$strand
    info$tss[k] <- a$tss
    idx <- near(a$chrom, a$tss)
    info$n.peaks[k] <- length(idx)
    if (!g %in% rownames(object)) {
      info$status[k] <- "not in RNA data"
      next
    }
    if (!length(idx)) {
      info$status[k] <- "no peaks in window"
      next
    }
    y <- as.numeric(object[g, ])
    if (rna.transform == "log1p") y <- log1p(y)
    vy <- mean((y - mean(y))^2)
    if (!is.finite(vy) || vy <= 0) {
      info$status[k] <- "constant expression"
      next
    }
    x <- t(as.matrix(atac[idx, , drop = FALSE]))
    varies <- apply(x, 2, function(v) any(v != v[1]))
    if (!any(varies)) {
      info$status[k] <- "constant peaks"
      next
    }
    x <- x[, varies, drop = FALSE]
    idx <- idx[varies]
    if (ncol(x) == 1L) x <- cbind(x, 0) # glmnet needs two columns; the constant one gets coefficient 0
    fit <- tryCatch(glmnet::cv.glmnet(x, y, foldid = foldid, alpha = alpha, family = "gaussian", ...), error = function(e) {
      # a peak that varies in a few cells only can be constant in a fold's training cells
      if (grepl("zero variance", conditionMessage(e), fixed = TRUE)) return(NULL)
      .abort("scMVP: the LASSO fit of gene ", g, " failed: ", .one_line(conditionMessage(e)), ".")
    })
    if (is.null(fit)) {
      info$status[k] <- "too sparse"
      next
    }
    lam <- fit[[s]]
    i <- which(fit$lambda == lam)[1]
    info$lambda[k] <- lam
    info$r2[k] <- 1 - fit$cvm[i] / vy
    beta <- as.numeric(stats::coef(fit, s = s))[-1][seq_along(idx)]
    nz <- which(beta != 0)
    info$n.links[k] <- length(nz)
    if (!length(nz)) next
    d <- mid[idx[nz]] - a$tss
    if (a$strand == "-") d <- -d
    sdx <- apply(x[, nz, drop = FALSE], 2, function(v) sqrt(mean((v - mean(v))^2)))
    l <- data.frame(gene = g, peak = rownames(atac)[idx[nz]], coefficient = beta[nz],
                    std.coefficient = beta[nz] * sdx / sqrt(vy), distance = d,
                    class = ifelse(d >= -proximal[1] & d <= proximal[2], "proximal", "distal"), r2 = info$r2[k],
                    stringsAsFactors = FALSE)
    links[[k]] <- l[order(l$distance), , drop = FALSE]
  }
  out <- do.call(rbind, c(list(data.frame(gene = character(), peak = character(), coefficient = numeric(),
                                          std.coefficient = numeric(), distance = numeric(), class = character(), r2 = numeric(),
                                          stringsAsFactors = FALSE)), links))
  rownames(out) <- NULL
  failed <- info$status != "ok"
  if (any(failed)) {
    why <- vapply(split(info$gene[failed], info$status[failed]), function(x) {
      paste0(length(x), " ", if (length(x) > 1) "genes" else "gene", " (", paste(utils::head(x, 3), collapse = ", "),
             if (length(x) > 3) ", ..." else "", ")")
    }, character(1))
    .warn("scMVP: ", sum(failed), " of ", length(genes), " genes were not fitted: ",
          paste(paste0(names(why), ": ", why), collapse = "; "), " (see attr(links, \"genes\")).")
  }
  attr(out, "genes") <- info
  attr(out, "params") <- list(window = window, proximal = proximal, rna.transform = rna.transform, nfolds = nfolds,
                              s = s, alpha = alpha, seed.use = seed.use, n.cells = n)
  .inform(verbose, sprintf("scMVP: %d links for %d of %d genes (%d proximal, %d distal) in %.1f s.", nrow(out),
                           sum(info$n.links > 0), length(genes), sum(out$class == "proximal"),
                           sum(out$class == "distal"), proc.time()[["elapsed"]] - t0))
  out
}

#' @rdname LinkPeaksLASSO
#' @param rna.assay,atac.assay (Seurat method) Assays with the expression and the accessibility;
#'   default the imputed assays added by [RunSCMVP()].
#' @param rna.layer,atac.layer (Seurat method) Layers (slots) to read: `"data"` (default; the
#'   imputed values, or the normalised data of a raw assay) or `"counts"`.
#' @param cells (Seurat method) Cells to use (default all).
#' @param peaks (Seurat method) Peaks of `atac.assay` to consider (default all), e.g. the imputed
#'   peaks when linking on raw counts, for a like-for-like comparison.
#' @param reduction (Seurat method) The scMVP reduction whose model imputed `atac.assay`. When
#'   [RunSCMVP()] stored that imputation sparse (probabilities below its `impute.threshold` set to
#'   0, its rule for large data), the peaks in the genes' windows are imputed again, densely and
#'   exactly, with [ImputeSCMVP()], so the LASSO never sees the truncated values.
#' @export
LinkPeaksLASSO.Seurat <- function(object, genes, annotation = "mm10", rna.assay = "scmvpRNA", atac.assay = "scmvpATAC",
                                  rna.layer = "data", atac.layer = "data", cells = NULL, peaks = NULL,
                                  reduction = "scmvp", ...) {
  rna <- .assay_matrix(object, rna.assay, rna.layer, "rna.assay", "run RunSCMVP(object, impute = TRUE) first")
  atac <- .assay_matrix(object, atac.assay, atac.layer, "atac.assay", "run RunSCMVP(object, impute = TRUE) first")
  if (!is.null(peaks)) {
    .check_features(peaks, rownames(atac), "peaks", paste0("assay '", atac.assay, "'"))
    atac <- atac[unique(peaks), , drop = FALSE]
  }
  imp <- .truncated_imputation(object, reduction, atac.assay, atac.layer)
  if (!is.null(imp)) {
    dots <- list(...)
    window <- dots$window %||% formals(LinkPeaksLASSO.default)$window # (the default method's default)
    .check_number(window, "window", min = 0)
    ann <- .gene_tss(annotation)
    ann <- ann[ann$gene_name %in% genes, , drop = FALSE]
    in_window <- .window_index(.parse_peaks(rownames(atac)), window)
    idx <- unique(unlist(lapply(seq_len(nrow(ann)), function(i) in_window(ann$chrom[i], ann$tss[i]))))
    near <- intersect(rownames(atac)[sort(idx)], imp)
    if (length(near)) {
      atac <- ImputeSCMVP(object, features = near, view = "atac", reduction = reduction, kind = "probability")
    }
  }
  if (!is.null(cells)) {
    cells <- .check_cells(cells, colnames(object))
    rna <- rna[, cells, drop = FALSE]
    atac <- atac[, cells, drop = FALSE]
  }
  LinkPeaksLASSO.default(rna, atac, genes = genes, annotation = annotation, ...)
}

# A function(chrom, tss) giving the indices of the peaks (a .parse_peaks() table) whose midpoint
# lies within `window` bp of the TSS, edges included: the one definition of a gene's window.
.window_index <- function(peaks, window) {
  mid <- (peaks$start + peaks$end) / 2
  by_chrom <- split(seq_len(nrow(peaks)), peaks$chrom)
  function(chrom, tss) {
    cand <- by_chrom[[chrom]]
    cand[abs(mid[cand] - tss) <= window]
  }
}

# The model's peaks when `atac.assay` is the ATAC imputation that RunSCMVP() stored truncated
# (sparse, below-threshold probabilities set to 0) in `reduction`; NULL otherwise.
.truncated_imputation <- function(object, reduction, atac.assay, atac.layer) {
  if (!identical(atac.layer, "data") || !reduction %in% names(object@reductions)) return(NULL)
  m <- tryCatch(.scmvp_read(object, reduction), scmvp_error = function(e) NULL)
  if (is.null(m) || !identical(m$imputed$atac.assay, atac.assay) || is.null(m$imputed$atac.threshold)) return(NULL)
  m$features$atac
}

# ------------------------------------------------------------------ helpers (shared with cicero.R and pseudotime.R)

# Evaluate `expr` with a fixed seed, leaving the session's random state as it was.
.with_seed <- function(seed, expr) {
  old <- if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) get(".Random.seed", envir = globalenv()) else NULL
  on.exit(if (is.null(old)) {
    if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) rm(".Random.seed", envir = globalenv())
  } else {
    assign(".Random.seed", old, envir = globalenv())
  })
  set.seed(seed)
  expr
}
