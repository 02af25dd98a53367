test_that("ReadSCMVP10x reads the bundled 10x Multiome h5 into RNA and ATAC assays", {
  skip_if_no_scmvp()
  obj <- ReadSCMVP10x(reader = "scmvp")
  expect_s4_class(obj, "Seurat")
  expect_equal(dim(obj[["RNA"]]), c(2500L, 500L))
  expect_equal(dim(obj[["ATAC"]]), c(5000L, 500L))
  expect_equal(rownames(obj[["ATAC"]])[1], "chr1-633793-634264")
  labels <- utils::read.delim(system.file("extdata", "pbmc_multiome_500", "cell_types.tsv", package = "scMVP"))
  expect_identical(colnames(obj), labels$barcode)
  counts <- SeuratObject::GetAssayData(obj, slot = "counts", assay = "ATAC")
  expect_true(all(counts@x == round(counts@x)) && sum(counts) > 0)
  if (requireNamespace("hdf5r", quietly = TRUE)) {
    seurat <- ReadSCMVP10x(reader = "seurat")
    expect_identical(SeuratObject::GetAssayData(seurat, slot = "counts", assay = "ATAC"), counts)
  }
})

test_that("ReadSCMVP10x names the fix for a missing file", {
  expect_error(ReadSCMVP10x(file.path(tempdir(), "nope.h5")), "filtered_feature_bc_matrix.h5")
})
