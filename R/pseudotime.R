#' Diffusion pseudotime on the scMVP joint embedding
#'
#' Orders cells along a trajectory with destiny's diffusion map and diffusion pseudotime (DPT;
#' Haghverdi et al. 2016), computed on the scMVP joint embedding (or any reduction) of a lineage
#' subset of the cells, as in the scMVP paper's trajectory analyses. The pseudotime is stored in
#' meta.data (`NA` for cells outside the subset), with the first two diffusion components.
#'
#' **Root.** `root` is either one cell name, or (with `root.by`) one or more values of the
#' meta.data column `root.by`, e.g. `root.by = "cell_type_coarse", root = "L2/3"`. With a group,
#' the root is the group's cell nearest to the group's centre in diffusion space (the first five
#' diffusion components), so pseudotime runs from that group to the others. (The group's extreme
#' cell along the first diffusion component, used before, gave the L6 neurons the lowest
#' pseudotime from an L2/3 root on the bundled cortex data: that component need not follow the
#' lineage.) `root = NULL` lets destiny pick a tip of the diffusion map (`destiny::find_tips()`,
#' seeded).
#'
#' destiny is a Bioconductor package (Debian: `apt-get install r-bioc-destiny`); it is only needed
#' for this function.
#'
#' @param object A Seurat object.
#' @param cells Cells of the lineage (names or a logical vector; default all cells).
#' @param reduction,dims Reduction to compute the diffusion map on (default the scMVP embedding)
#'   and its dimensions (default all).
#' @param root,root.by The start: a cell name, or values of meta.data column `root.by` (see Details).
#' @param pseudotime.name meta.data column for the pseudotime; the diffusion components go to
#'   `<pseudotime.name>_DC1` and `_DC2`.
#' @param k Nearest neighbours of the diffusion map (default destiny's choice for the number of
#'   cells).
#' @param seed.use Seed (destiny's neighbour search and tip choice use random numbers); the
#'   session's random state is left as it was.
#' @param verbose Print a one-line summary; default `getOption("scMVP.verbose")`.
#' @return The object with the meta.data columns above and, in `Misc(object, pseudotime.name)`, the
#'   root cell, the cells, the reduction, the dimensions and the diffusion map's eigenvalues.
#' @export
#' @examples
#' \donttest{
#' if (requireNamespace("destiny", quietly = TRUE)) {
#'   obj <- ReadSCMVPExample(n.cells = 300)
#'   set.seed(1)
#'   emb <- matrix(rnorm(300 * 5), 300, 5, dimnames = list(colnames(obj), paste0("SCMVP_", 1:5)))
#'   obj[["scmvp"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "SCMVP_", assay = "RNA")
#'   neurons <- colnames(obj)[obj$cell_type_coarse %in% c("L2/3", "L4/5", "L6")]
#'   obj <- RunSCMVPPseudotime(obj, cells = neurons, root.by = "cell_type_coarse", root = "L2/3")
#'   summary(obj$scmvp_pseudotime)
#' }
#' }
RunSCMVPPseudotime <- function(object, cells = NULL, reduction = "scmvp", dims = NULL, root = NULL, root.by = NULL,
                               pseudotime.name = "scmvp_pseudotime", k = NULL, seed.use = 0,
                               verbose = getOption("scMVP.verbose", TRUE)) {
  if (!methods::is(object, "Seurat")) .abort("scMVP: object must be a Seurat object, not ", class(object)[1], ".")
  .check_string(pseudotime.name, "pseudotime.name", "scmvp_pseudotime")
  .check_count(k, "k", min = 2, null.ok = TRUE)
  .check_count(seed.use, "seed.use", min = 0, max = .Machine$integer.max)
  .check_flag(verbose, "verbose")
  emb <- .reduction_embeddings(object, reduction, dims, "run RunSCMVP() first")
  cells <- if (is.null(cells)) colnames(object) else .check_cells(cells, colnames(object))
  if (length(cells) < 10L) .abort("scMVP: a diffusion map needs at least 10 cells, got ", length(cells), "; pass more cells.")
  miss <- setdiff(cells, rownames(emb))
  if (length(miss)) {
    .abort("scMVP: ", length(miss), " cells have no coordinates in reduction '", reduction, "' (e.g. ", miss[1], ").")
  }
  md <- object[[]]
  root.group <- NULL
  if (!is.null(root.by)) {
    if (!.is_string(root.by) || !root.by %in% colnames(md)) {
      .abort("scMVP: root.by must name a meta.data column (", if (.is_string(root.by)) paste0("'", root.by, "' is not one") else
        paste0("got ", .show(root.by)), "), e.g. root.by = \"cell_type_coarse\".")
    }
    if (is.null(root) || anyNA(root)) .abort("scMVP: with root.by, give root = the value(s) of '", root.by, "' to start from.")
    root.group <- cells[as.character(md[cells, root.by]) %in% as.character(root)]
    if (!length(root.group)) {
      vals <- unique(as.character(md[cells, root.by]))
      .abort("scMVP: no cell of the subset has ", root.by, " in ", paste(root, collapse = ", "), " (values: ",
             paste(utils::head(vals, 8), collapse = ", "), if (length(vals) > 8) ", ..." else "", "); pick one of them.")
    }
  } else if (!is.null(root)) {
    if (!.is_string(root) || !root %in% cells) {
      .abort("scMVP: root must be the name of one cell of the subset (or use root.by with group values), not ",
             .show(root), ".")
    }
  }
  if (!requireNamespace("destiny", quietly = TRUE)) {
    .abort("scMVP: RunSCMVPPseudotime needs the Bioconductor package destiny; install it (Debian: apt-get install ",
           "r-bioc-destiny; elsewhere: BiocManager::install(\"destiny\")).")
  }
  x <- emb[cells, , drop = FALSE]
  storage.mode(x) <- "double"
  t0 <- proc.time()[["elapsed"]]
  res <- .with_seed(seed.use, .quiet_destiny({
    dm_args <- list(data = x, verbose = FALSE)
    if (!is.null(k)) dm_args$k <- as.integer(min(k, length(cells) - 2L))
    dm <- do.call(destiny::DiffusionMap, dm_args)
    ev <- destiny::eigenvectors(dm)
    if (!is.null(root.group)) {
      d <- seq_len(min(5L, ncol(ev)))
      cand <- which(cells %in% root.group)
      centre <- colMeans(ev[cand, d, drop = FALSE])
      tip <- cand[which.min(rowSums(sweep(ev[cand, d, drop = FALSE], 2, centre)^2))]
    } else if (!is.null(root)) {
      tip <- match(root, cells)
    } else {
      tip <- destiny::find_tips(dm)[1]
    }
    # DPT() also searches for branches, and destiny's branch search stops with "stats$g >= gmin is
    # not TRUE" on some embeddings; the pseudotime from the root does not depend on that search,
    # so it is then read from the unbranched DPT object.
    # (`$dpt` would be the pseudotime from the tip of destiny's first branch, which after the
    # branch search need not be the root: read the row of the root cell itself)
    pt <- tryCatch(destiny::DPT(dm, tips = tip)[[paste0("DPT", tip)]], error = function(e) {
      if (!grepl("gmin", conditionMessage(e), fixed = TRUE)) stop(e)
      utils::getFromNamespace("dummy_dpt", "destiny")(dm)[[paste0("DPT", tip)]]
    })
    list(dm = dm, ev = ev, tip = tip, pt = pt)
  }))
  pt <- as.numeric(res$pt)
  if (any(!is.finite(pt))) {
    .warn("scMVP: ", sum(!is.finite(pt)), " cells got no finite pseudotime (disconnected from the root in the diffusion ",
          "map); they are NA. Choose a more connected subset or a larger k.")
    pt[!is.finite(pt)] <- NA_real_
  }
  new <- data.frame(row.names = colnames(object), a = rep(NA_real_, ncol(object)), b = NA_real_, c = NA_real_)
  new[cells, "a"] <- pt
  new[cells, "b"] <- res$ev[, 1]
  new[cells, "c"] <- if (ncol(res$ev) >= 2) res$ev[, 2] else NA_real_
  names(new) <- c(pseudotime.name, paste0(pseudotime.name, "_DC1"), paste0(pseudotime.name, "_DC2"))
  object <- SeuratObject::AddMetaData(object, metadata = new)
  SeuratObject::Misc(object, slot = pseudotime.name) <- list(
    root = cells[res$tip], root.by = root.by, root.value = if (is.null(root.by)) NULL else root, cells = cells,
    reduction = reduction, dims = if (is.null(dims)) seq_len(ncol(emb)) else dims,
    eigenvalues = destiny::eigenvalues(res$dm), seed.use = seed.use
  )
  .inform(verbose, sprintf("scMVP: diffusion pseudotime for %d cells (root %s) in %.1f s, stored in meta.data '%s'.",
                           length(cells), cells[res$tip], proc.time()[["elapsed"]] - t0, pseudotime.name))
  object
}

# destiny 3.12 with Matrix >= 1.5 warns that as(<dsCMatrix>, "dsTMatrix") is deprecated (a
# message about destiny's own code, not about the user's input): muffle exactly that warning.
.quiet_destiny <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl("is deprecated since Matrix", conditionMessage(w), fixed = TRUE)) invokeRestart("muffleWarning")
  })
}
