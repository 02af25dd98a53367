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
  peaks <- sub("^([^:]+):([0-9]+)-([0-9]+)$", "\\1-\\2-\\3", peaks)
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
  obj <- SeuratObject::CreateSeuratObject(counts = rna, assay = "RNA", meta.data = cells)
  obj[["ATAC"]] <- SeuratObject::CreateAssayObject(counts = atac)
  obj
}
