#' Read the bundled SNARE-seq example (or a folder in its layout) as a Seurat object
#'
#' Reads paired RNA and ATAC counts in the layout of the bundled SNARE-seq adult mouse cortex
#' data (Chen et al. 2019; `rna.mtx.gz` cells x genes, `atac.mtx.gz` cells x peaks, `genes.tsv`,
#' `peaks.tsv` with `chr:start-end` names, `cells.tsv` with `barcode` and labels) and returns a
#' Seurat object with the assays `RNA` and `ATAC` (features x cells; peaks renamed
#' `chr-start-end`, as Signac names them) and the cell table as meta.data. No Python is used.
#'
#' @param dir The folder; default the bundled data.
#' @param n.cells Keep a random sample of this many cells. When `NULL`, the environment variable
#'   `SCMVP_EXAMPLE_CELLS` gives the number if it is set (the README's examples are tested that
#'   way, so that they run in seconds), else every cell is kept.
#' @param seed Seed of the sample.
#' @return A Seurat object.
#' @export
#' @examples
#' obj <- ReadSCMVPExample(n.cells = 200)
#' obj
ReadSCMVPExample <- function(dir = system.file("extdata", "snare_adult_cortex", package = "scMVP"),
                             n.cells = NULL, seed = 1) {
  if (is.null(n.cells) && nzchar(Sys.getenv("SCMVP_EXAMPLE_CELLS"))) {
    n.cells <- suppressWarnings(as.integer(Sys.getenv("SCMVP_EXAMPLE_CELLS")))
    if (is.na(n.cells) || n.cells < 1) {
      .abort("scMVP: SCMVP_EXAMPLE_CELLS=", Sys.getenv("SCMVP_EXAMPLE_CELLS"), " is not a positive cell count; ",
             "set it to e.g. 300, or unset it to read every cell.")
    }
  }
  need <- c("rna.mtx.gz", "atac.mtx.gz", "genes.tsv", "peaks.tsv", "cells.tsv")
  if (!.is_string(dir) || !all(file.exists(file.path(dir, need)))) {
    .abort("scMVP: ", .show(dir), " is not a paired dataset folder; it needs ", paste(need, collapse = ", "), ".")
  }
  cells <- utils::read.delim(file.path(dir, "cells.tsv"), stringsAsFactors = FALSE, check.names = FALSE)
  genes <- readLines(file.path(dir, "genes.tsv"))
  peaks <- readLines(file.path(dir, "peaks.tsv"))
  genes <- sub("\t.*$", "", genes[nzchar(genes)])
  peaks <- sub("\t.*$", "", peaks[nzchar(peaks)])
  read <- function(f) methods::as(Matrix::t(Matrix::readMM(file.path(dir, f))), "CsparseMatrix")
  rna <- .as_dgc(read("rna.mtx.gz"))
  atac <- .as_dgc(read("atac.mtx.gz"))
  if (!identical(dim(rna), c(length(genes), nrow(cells))) || !identical(dim(atac), c(length(peaks), nrow(cells)))) {
    .abort("scMVP: the matrices in ", dir, " do not match genes.tsv, peaks.tsv and cells.tsv; check the files.")
  }
  barcodes <- if ("barcode" %in% names(cells)) cells$barcode else paste0("cell", seq_len(nrow(cells)))
  dimnames(rna) <- list(genes, barcodes)
  dimnames(atac) <- list(peaks, barcodes)
  rownames(cells) <- barcodes
  if (!is.null(n.cells)) {
    .check_count(n.cells, "n.cells", min = 1, max = length(barcodes))
    old <- if (exists(".Random.seed", envir = globalenv())) get(".Random.seed", envir = globalenv()) else NULL
    on.exit(if (is.null(old)) rm(".Random.seed", envir = globalenv()) else assign(".Random.seed", old, envir = globalenv()))
    set.seed(seed)
    keep <- sort(sample.int(length(barcodes), n.cells))
    rna <- rna[, keep, drop = FALSE]
    atac <- atac[, keep, drop = FALSE]
    cells <- cells[keep, , drop = FALSE]
  }
  .paired_object(rna, atac, cells)
}

#' Read a 10x Multiome filtered_feature_bc_matrix.h5 as a Seurat object
#'
#' Reads the `filtered_feature_bc_matrix.h5` that Cell Ranger ARC writes for a 10x Multiome
#' experiment (Gene Expression and Peaks features in one matrix) and returns a Seurat object with
#' the raw counts in the assays `RNA` and `ATAC` (peaks named `chr-start-end`, as Signac names
#' them), ready for [RunSCMVP()]. With the hdf5r package installed, the file is read by
#' `Seurat::Read10X_h5()`; without it, by the scmvp Python package (`scmvp.io.read_10x_h5`), so
#' hdf5r is not needed.
#'
#' @param file The `.h5` file; default a small bundled one: 500 human PBMCs, 2,500 genes and
#'   5,000 peaks (`extdata/pbmc_multiome_500`, with their published cell types in
#'   `cell_types.tsv` beside it).
#' @param reader `"auto"` (Seurat's reader when hdf5r is installed, else Python's), `"seurat"`
#'   or `"scmvp"`.
#' @return A Seurat object with the assays `RNA` and `ATAC`.
#' @export
#' @examples
#' if (scmvp_available()) {
#'   obj <- ReadSCMVP10x()
#'   obj
#' }
ReadSCMVP10x <- function(file = system.file("extdata", "pbmc_multiome_500", "filtered_feature_bc_matrix.h5",
                                            package = "scMVP"),
                         reader = c("auto", "seurat", "scmvp")) {
  reader <- match.arg(reader)
  if (!.is_string(file) || !file.exists(file)) {
    .abort("scMVP: ", .show(file), " is not a file; give the path of a Cell Ranger ARC filtered_feature_bc_matrix.h5.")
  }
  if (reader == "auto") reader <- if (requireNamespace("hdf5r", quietly = TRUE)) "seurat" else "scmvp"
  if (reader == "seurat") {
    if (!requireNamespace("Seurat", quietly = TRUE) || !requireNamespace("hdf5r", quietly = TRUE)) {
      .abort("scMVP: reader = \"seurat\" needs the Seurat and hdf5r packages; install them or use reader = \"scmvp\".")
    }
    m <- Seurat::Read10X_h5(file)
    if (!is.list(m) || !all(c("Gene Expression", "Peaks") %in% names(m))) {
      .abort("scMVP: ", file, " needs both 'Gene Expression' and 'Peaks' features, as a 10x Multiome file has.")
    }
    m <- list(rna = m[["Gene Expression"]], atac = m[["Peaks"]])
  } else {
    m <- .py_read_10x_h5(file, "ReadSCMVP10x")
  }
  .paired_object(.as_dgc(m$rna), .as_dgc(m$atac))
}

# A Seurat object from features x cells RNA and ATAC counts (peaks renamed chr-start-end) and
# an optional cell table (rows named by cell).
.paired_object <- function(rna, atac, cells = NULL) {
  rownames(atac) <- sub("^([^:]+):([0-9]+)-([0-9]+)$", "\\1-\\2-\\3", rownames(atac))
  obj <- SeuratObject::CreateSeuratObject(counts = rna, assay = "RNA", meta.data = cells)
  obj[["ATAC"]] <- SeuratObject::CreateAssayObject(counts = atac)
  obj
}
