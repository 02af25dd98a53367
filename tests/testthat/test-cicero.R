# ExportCicero: the inputs of cicero::make_atac_cds() and make_cicero_cds(). Cicero is not
# installable here, so its input checks (cicero R/utils.R, make_atac_cds / make_cicero_cds) are
# reproduced in cicero_accepts().

cicero_accepts <- function(x) {
  input <- x$counts
  # make_atac_cds(): class(input) %in% c("matrix", "data.frame"), 3 columns, numeric 3rd column
  stopifnot(identical(class(input), "data.frame"), ncol(input) == 3L, is.numeric(input[[3]]))
  # split_peak_names(): split on the last two of ":", "-", "_"; bp1/bp2 must be numbers
  rev <- vapply(strsplit(as.character(input[[1]]), ""), function(ch) paste(rev(ch), collapse = ""), "")
  parts <- do.call(rbind, lapply(strsplit(rev, ":|-|_"), function(p) c(p[1], p[2], paste(p[-(1:2)], collapse = "_"))))
  bp2 <- as.numeric(vapply(strsplit(parts[, 1], ""), function(ch) paste(rev(ch), collapse = ""), ""))
  bp1 <- as.numeric(vapply(strsplit(parts[, 2], ""), function(ch) paste(rev(ch), collapse = ""), ""))
  stopifnot(!anyNA(bp1), !anyNA(bp2), all(bp1 <= bp2))
  # make_cicero_cds(): a matrix/data.frame, one row per cell of the CDS (= the cells in the table)
  rc <- x$reduced_coordinates
  cds_cells <- levels(as.factor(input[[2]]))
  stopifnot(is.matrix(rc) || is.data.frame(rc), nrow(rc) == length(cds_cells), setequal(rownames(rc), cds_cells))
  # run_cicero(genomic_coords =): two columns, chromosome and length, covering every peak
  chr <- sub("_[0-9]+_[0-9]+$", "", input[[1]])
  stopifnot(ncol(x$genome) == 2L, all(chr %in% x$genome[[1]]), all(bp2 <= x$genome[[2]][match(chr, x$genome[[1]])]))
  TRUE
}

with_umap <- function(obj, seed = 1) {
  set.seed(seed)
  emb <- matrix(rnorm(ncol(obj) * 2), ncol(obj), 2, dimnames = list(colnames(obj), c("UMAP_1", "UMAP_2")))
  obj[["umap"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "UMAP_", assay = "RNA")
  obj
}

test_that("ExportCicero exports raw counts in Cicero's sparse peak / cell / count format", {
  obj <- with_umap(example_object(200))
  counts <- SeuratObject::GetAssayData(obj, slot = "counts", assay = "ATAC")
  x <- ExportCicero(obj, atac.assay = "ATAC", layer = "counts", reduction = "umap", verbose = FALSE)
  expect_identical(names(x), c("counts", "reduced_coordinates", "genome", "dropped.cells"))
  expect_identical(class(x$counts), "data.frame")
  expect_identical(names(x$counts), c("peak", "cell", "count"))
  expect_identical(vapply(x$counts, typeof, ""), c(peak = "character", cell = "character", count = "double"))
  expect_true(all(grepl("^chr[0-9XYM]+_[0-9]+_[0-9]+$", x$counts$peak)))
  expect_identical(nrow(x$counts), length(counts@x))
  expect_equal(sum(x$counts$count), sum(counts))
  # one known entry, converted from chr-start-end to chr_start_end
  k <- which(counts[, 1] > 0)[1]
  cell1 <- x$counts[x$counts$cell == colnames(obj)[1], ]
  expect_identical(cell1$peak[1], gsub("-", "_", rownames(counts)[k]))
  expect_equal(cell1$count[1], counts[k, 1])
  expect_true(is.matrix(x$reduced_coordinates) && is.double(x$reduced_coordinates))
  expect_identical(colnames(x$reduced_coordinates), c("UMAP_1", "UMAP_2"))
  expect_identical(x$dropped.cells, character()) # every cell has counts
  expect_identical(rownames(x$reduced_coordinates), colnames(obj))
  expect_identical(names(x$genome), c("chr", "length"))
  expect_true(cicero_accepts(x))

  # binarised raw counts, a subset of cells and the embedding's first dimension
  b <- ExportCicero(obj, atac.assay = "ATAC", layer = "counts", reduction = "umap", dims = 1, binarize = TRUE,
                    cells = colnames(obj)[1:50], verbose = FALSE)
  expect_true(all(b$counts$count == 1))
  expect_identical(nrow(b$counts), sum(counts[, 1:50] > 0))
  expect_identical(dim(b$reduced_coordinates), c(50L, 1L))
  expect_true(cicero_accepts(b))
})

test_that("ExportCicero reads chr:start-end peak names and writes files Cicero can read", {
  obj <- with_umap(example_object(200))
  counts <- SeuratObject::GetAssayData(obj, slot = "counts", assay = "ATAC")
  colon <- counts
  rownames(colon) <- sub("^(chr[^-]+)-", "\\1:", rownames(counts))
  obj[["ATAC2"]] <- SeuratObject::CreateAssayObject(counts = colon)
  expect_true(all(grepl("^chr[0-9XYM]+:[0-9]+-[0-9]+$", rownames(obj[["ATAC2"]]))))
  a <- ExportCicero(obj, atac.assay = "ATAC", layer = "counts", reduction = "umap", verbose = FALSE)
  dir <- file.path(tempdir(), "cicero_out")
  b <- ExportCicero(obj, atac.assay = "ATAC2", layer = "counts", reduction = "umap", dir = dir, verbose = FALSE)
  expect_identical(b[names(a)], a)
  expect_true(all(file.exists(b$files)))
  # make_atac_cds(<file>) reads it with data.table::fread(header = FALSE): tab-separated, no header
  back <- utils::read.delim(b$files[["counts"]], header = FALSE, stringsAsFactors = FALSE)
  expect_identical(ncol(back), 3L)
  expect_identical(back$V1, a$counts$peak)
  expect_identical(back$V2, a$counts$cell)
  expect_equal(back$V3, a$counts$count)
  rc <- as.matrix(utils::read.delim(b$files[["reduced_coordinates"]], row.names = 1, check.names = FALSE))
  expect_equal(rc, a$reduced_coordinates)
  g <- utils::read.table(b$files[["genome"]], stringsAsFactors = FALSE)
  expect_identical(g$V1, a$genome$chr)
  expect_identical(as.integer(g$V2), a$genome$length)
})

test_that("ExportCicero errors are one line and name the fix", {
  obj <- example_object(200)
  msg <- function(expr) tryCatch({
    expr
    ""
  }, error = function(e) conditionMessage(e))
  e <- msg(ExportCicero(obj))
  expect_match(e, "assay 'scmvpATAC' is not in the object \\(assays: RNA, ATAC\\); pass atac.assay = one of them")
  expect_true(one_line(e))
  e <- msg(ExportCicero(obj, atac.assay = "ATAC", layer = "counts"))
  expect_match(e, "reduction 'scmvp' is not in the object \\(reductions: none\\); run RunSCMVP\\(\\)")
  expect_true(one_line(e))
  obj <- with_umap(obj)
  e <- msg(ExportCicero(obj, atac.assay = "ATAC", layer = "counts", reduction = "umap", threshold = 100))
  expect_match(e, "no accessibility value is >= 100 in these cells and peaks; lower threshold")
  expect_true(one_line(e))
  e <- msg(ExportCicero(obj, atac.assay = "ATAC", layer = "counts", reduction = "umap", dims = 3))
  expect_match(e, "dims must be whole numbers between 1 and 2")
  bad <- SeuratObject::GetAssayData(obj, slot = "counts", assay = "ATAC")[1:5, ]
  rownames(bad)[2] <- "notapeak"
  obj[["BAD"]] <- SeuratObject::CreateAssayObject(counts = bad)
  e <- msg(ExportCicero(obj, atac.assay = "BAD", layer = "counts", reduction = "umap"))
  expect_match(e, "1 peak names do not parse as chrom-start-end \\(e.g. 'notapeak'\\)")
  expect_true(one_line(e))
})

test_that("ExportCicero exports the imputed probabilities of a fitted object, thresholded and binarised", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  prob <- SeuratObject::GetAssayData(obj, slot = "data", assay = "scmvpATAC")
  thr <- stats::quantile(prob, 0.99)
  x <- ExportCicero(obj, threshold = thr, verbose = FALSE)
  expect_identical(nrow(x$counts), sum(prob >= thr))
  expect_true(all(x$counts$count >= thr & x$counts$count <= 1))
  expect_identical(ncol(x$reduced_coordinates), scmvp_defaults()$n_latent)
  expect_equal(x$reduced_coordinates, SeuratObject::Embeddings(obj[["scmvp"]])[rownames(x$reduced_coordinates), ])
  kept <- colnames(prob)[colSums(prob >= thr) > 0]
  expect_setequal(rownames(x$reduced_coordinates), kept)
  expect_setequal(x$dropped.cells, setdiff(colnames(prob), kept))
  expect_true(cicero_accepts(x))
  y <- ExportCicero(obj, threshold = thr, binarize = TRUE, features = rownames(prob)[1:200], verbose = FALSE)
  expect_true(all(y$counts$count == 1))
  expect_identical(nrow(y$counts), sum(prob[1:200, ] >= thr))
  expect_true(cicero_accepts(y))
})
