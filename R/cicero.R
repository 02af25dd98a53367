#' Export accessibility and coordinates for Cicero (co-accessibility)
#'
#' Returns, and optionally writes, what Cicero (Pliner et al. 2018) takes to compute peak
#' co-accessibility from the scMVP results: the accessibility as a sparse peak / cell / count
#' data.frame for `cicero::make_atac_cds()`, with peaks named `chr1_100_600` as Cicero expects, and
#' the cells' reduced coordinates for `cicero::make_cicero_cds(reduced_coordinates = )`. By default
#' the imputed accessibility (probabilities, assay `scmvpATAC`) and the scMVP joint embedding are
#' exported; `threshold` drops small values (and `binarize` turns the rest into 1), which keeps the
#' table small, since imputed probabilities are never exactly zero. Use `atac.assay = "ATAC",
#' layer = "counts"` to export the raw counts instead.
#'
#' Cicero itself is not needed here. With Cicero installed (Bioconductor/GitHub), the calls are:
#' \preformatted{
#' x <- ExportCicero(obj, threshold = 0.2, binarize = TRUE, reduction = "umap")
#' input_cds <- cicero::make_atac_cds(x$counts, binarize = TRUE)
#' cicero_cds <- cicero::make_cicero_cds(input_cds, reduced_coordinates = x$reduced_coordinates, k = 50)
#' conns <- cicero::run_cicero(cicero_cds, genomic_coords = x$genome)
#' }
#' (the monocle3 branch of Cicero may need `input_cds <- monocle3::detect_genes(input_cds)` and
#' `input_cds <- monocle3::estimate_size_factors(input_cds)` before `make_cicero_cds()`). From the
#' files written with `dir`: `make_atac_cds("<dir>/cicero_counts.txt")` (tab-separated, no header),
#' `reduced_coordinates = as.matrix(read.delim("<dir>/cicero_reduced_coordinates.tsv", row.names = 1))`
#' and `genomic_coords = "<dir>/cicero_genome.txt"`. `k` must be smaller than the number of cells.
#'
#' `make_cicero_cds()` requires the row names of `reduced_coordinates` to be exactly the cells of
#' the CellDataSet, which `make_atac_cds()` builds from the cells present in the table; cells left
#' with no entry (after `threshold`) are therefore dropped from `reduced_coordinates` as well and
#' listed in `dropped.cells`.
#'
#' @param object A Seurat object.
#' @param atac.assay,layer Assay and layer with the accessibility (default: the imputed
#'   probabilities added by [RunSCMVP()]).
#' @param reduction,dims Reduction (e.g. `"scmvp"`, or a UMAP of it such as `"umap"`) and its
#'   dimensions (default all) to export as reduced coordinates.
#' @param cells,features Cells and peaks to export (default all).
#' @param threshold Keep only values `>= threshold` (default: keep all non-zero values).
#' @param binarize Set the kept values to 1.
#' @param dir A folder to write the three files to (created if needed); `NULL` writes nothing.
#' @param verbose Report dropped cells; default `getOption("scMVP.verbose")`.
#' @return A list with `counts` (a data.frame with character columns `peak`, `cell` and numeric
#'   `count`, in the column order `make_atac_cds()` reads), `reduced_coordinates` (a cells x dims
#'   numeric matrix with cell row names), `genome` (a data.frame `chr`, `length` giving, for each
#'   chromosome with peaks, the end of its last peak: pass real chromosome lengths to
#'   `run_cicero()` when you have them), `dropped.cells` and, with `dir`, `files`.
#' @seealso [LinkPeaksLASSO()]
#' @export
#' @examples
#' obj <- ReadSCMVPExample(n.cells = 100)
#' emb <- matrix(rnorm(200), 100, 2, dimnames = list(colnames(obj), c("UMAP_1", "UMAP_2")))
#' obj[["umap"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "UMAP_", assay = "RNA")
#' x <- ExportCicero(obj, atac.assay = "ATAC", layer = "counts", reduction = "umap")
#' head(x$counts)
#' head(x$reduced_coordinates)
ExportCicero <- function(object, atac.assay = "scmvpATAC", layer = "data", reduction = "scmvp", dims = NULL,
                         cells = NULL, features = NULL, threshold = NULL, binarize = FALSE, dir = NULL,
                         verbose = getOption("scMVP.verbose", TRUE)) {
  m <- .assay_matrix(object, atac.assay, layer, "atac.assay", "run RunSCMVP(object, impute = TRUE) first")
  emb <- .reduction_embeddings(object, reduction, dims, "run RunSCMVP() (and RunUMAP()) first")
  if (!is.null(threshold)) .check_number(threshold, "threshold")
  .check_flag(binarize, "binarize")
  .check_flag(verbose, "verbose")
  if (!is.null(dir)) .check_string(dir, "dir", "cicero_input")
  cells <- if (is.null(cells)) colnames(object) else .check_cells(cells, colnames(object))
  miss <- setdiff(cells, rownames(emb))
  if (length(miss)) {
    .abort("scMVP: ", length(miss), " cells have no coordinates in reduction '", reduction, "' (e.g. ", miss[1],
           "); pass cells present in it.")
  }
  if (!is.null(features)) {
    .check_features(features, rownames(m), "features", paste0("assay '", atac.assay, "'"))
    m <- m[unique(features), , drop = FALSE]
  }
  m <- m[, cells, drop = FALSE]
  peaks <- .parse_peaks(rownames(m))
  cicero_names <- paste(peaks$chrom, format(peaks$start, scientific = FALSE, trim = TRUE),
                        format(peaks$end, scientific = FALSE, trim = TRUE), sep = "_")

  # non-zero (>= threshold) entries as triplets, without densifying a sparse matrix
  if (methods::is(m, "Matrix")) {
    tm <- methods::as(methods::as(m, "CsparseMatrix"), "TsparseMatrix")
    i <- tm@i + 1L
    j <- tm@j + 1L
    x <- as.numeric(tm@x)
  } else {
    nz <- which(m != 0)
    i <- as.integer((nz - 1) %% nrow(m)) + 1L
    j <- as.integer((nz - 1) %/% nrow(m)) + 1L
    x <- as.numeric(m[nz])
  }
  if (anyNA(x) || any(!is.finite(x)) || any(x < 0)) {
    .abort("scMVP: the '", layer, "' layer of assay '", atac.assay, "' has missing, infinite or negative values; ",
           "export accessibility (counts or probabilities).")
  }
  keep <- x != 0 & (if (is.null(threshold)) TRUE else x >= threshold)
  i <- i[keep]
  j <- j[keep]
  x <- x[keep]
  if (binarize) x <- rep(1, length(x))
  o <- order(j, i)
  counts <- data.frame(peak = cicero_names[i[o]], cell = cells[j[o]], count = x[o], stringsAsFactors = FALSE)
  if (!nrow(counts)) {
    .abort("scMVP: no accessibility value is ", if (is.null(threshold)) "non-zero" else paste(">=", threshold),
           " in these cells and peaks; lower threshold.")
  }
  present <- cells[sort(unique(j))]
  dropped <- setdiff(cells, present)
  if (length(dropped)) {
    .inform(verbose, "scMVP: ", length(dropped), " cells have no accessibility value kept (e.g. ", dropped[1],
            ") and are left out of reduced_coordinates, as make_cicero_cds() requires.")
  }
  coords <- emb[present, , drop = FALSE]
  storage.mode(coords) <- "double"
  used <- unique(i)
  ends <- tapply(peaks$end[used], peaks$chrom[used], max)
  genome <- data.frame(chr = names(ends), length = as.integer(ends), stringsAsFactors = FALSE)
  out <- list(counts = counts, reduced_coordinates = coords, genome = genome, dropped.cells = dropped)
  if (!is.null(dir)) {
    dir.create(dir, recursive = TRUE, showWarnings = FALSE)
    files <- c(counts = file.path(dir, "cicero_counts.txt"),
               reduced_coordinates = file.path(dir, "cicero_reduced_coordinates.tsv"),
               genome = file.path(dir, "cicero_genome.txt"))
    utils::write.table(counts, files[["counts"]], sep = "\t", quote = FALSE, row.names = FALSE, col.names = FALSE)
    rc <- data.frame(cell = rownames(coords), coords, check.names = FALSE, stringsAsFactors = FALSE)
    utils::write.table(rc, files[["reduced_coordinates"]], sep = "\t", quote = FALSE, row.names = FALSE)
    utils::write.table(genome, files[["genome"]], sep = "\t", quote = FALSE, row.names = FALSE, col.names = FALSE)
    out$files <- files
  }
  out
}
