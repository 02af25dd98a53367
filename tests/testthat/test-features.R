# Feature selection: the rules live in Python (scmvp.features); R passes its settings through.

test_that("Python's variable genes are Seurat's vst variable features", {
  skip_if_no_scmvp()
  obj <- example_object(FIT_CELLS)
  obj <- Seurat::FindVariableFeatures(obj, selection.method = "vst", nfeatures = 500, verbose = FALSE)
  features <- reticulate::import("scmvp.features")
  counts <- Matrix::t(SeuratObject::GetAssayData(obj, assay = "RNA", slot = "counts"))  # cells x genes
  py <- rownames(obj[["RNA"]])[as.integer(features$variable_genes(counts, 500L)) + 1L]
  # the loess is evaluated at 1,000 anchors rather than R's kd-tree vertices: near-ties may swap
  expect_gte(length(intersect(py, Seurat::VariableFeatures(obj))), 490)
})

test_that("max.peaks keeps the peaks accessible in the most cells, as max_peaks does in Python", {
  skip_if_no_scmvp()
  obj <- example_object(300, seed = 11)
  fit <- RunSCMVP(obj, max.peaks = 1500, n.clusters = 4, epochs = 1, impute = FALSE, verbose = FALSE)
  used <- SeuratObject::Misc(fit[["scmvp"]])$features$atac
  expect_identical(used, top_peaks(obj, 1500))
  expect_identical(SeuratObject::Misc(fit[["scmvp"]])$params$max_peaks, 1500L)
  expect_error(RunSCMVP(obj, max.peaks = 10, max_peaks = 10, epochs = 1, verbose = FALSE), "max.peaks or max_peaks")
  genes <- RunSCMVP(obj, n_top_genes = 200, max.peaks = 1500, n.clusters = 4, epochs = 1, impute = FALSE, verbose = FALSE)
  expect_length(SeuratObject::Misc(genes[["scmvp"]])$features$rna, 200)
})
