# RunSCMVP on real Seurat objects built from the bundled SNARE-seq data.

test_that("RunSCMVP.Seurat adds the reduction, clusters, imputed assays, model and command", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  cells <- colnames(example_object(FIT_CELLS))
  expect_identical(colnames(obj), cells)

  red <- obj[["scmvp"]]
  expect_s4_class(red, "DimReduc")
  emb <- SeuratObject::Embeddings(red)
  expect_identical(dim(emb), c(FIT_CELLS, 10L))
  expect_identical(rownames(emb), cells)
  expect_identical(colnames(emb), paste0("SCMVP_", 1:10))
  expect_identical(SeuratObject::Key(red), "SCMVP_")
  expect_true(SeuratObject::IsGlobal(red))
  expect_identical(SeuratObject::DefaultAssay(red), "RNA")
  expect_true(all(is.finite(emb)))
  expect_gt(min(apply(emb, 2, stats::sd)), 0)

  misc <- SeuratObject::Misc(red)
  k <- misc$n.clusters
  expect_true(k >= 2 && k <= 50)
  cl <- obj$scmvp_clusters
  expect_true(is.factor(cl))
  expect_identical(levels(cl), as.character(seq_len(k)))
  expect_identical(names(cl), cells)
  expect_gt(length(unique(cl)), 1)
  p <- obj$scmvp_clusters_probability
  expect_true(all(p >= 1 / k - 1e-6 & p <= 1 + 1e-6))

  expect_true(is.raw(misc$model))
  expect_gt(length(misc$model), 1e5)
  expect_identical(misc$params$n_clusters, k)
  expect_identical(misc$params$n_latent, 10L)
  expect_identical(misc$assays, c(rna = "RNA", atac = "ATAC"))
  expect_null(misc$batch)
  expect_null(misc$batch.levels)
  expect_identical(dim(misc$probabilities), c(FIT_CELLS, k))
  expect_equal(unname(rowSums(misc$probabilities)), rep(1, FIT_CELLS), tolerance = 1e-5)
  expect_identical(unname(apply(misc$probabilities, 1, which.max)), as.integer(cl))
  expect_true(all(misc$features$atac %in% .fx$fitted_peaks))
  expect_true(all(misc$features$rna %in% rownames(obj[["RNA"]])))
  expect_length(misc$history$loss, 20)
  expect_true(all(is.finite(misc$history$loss)))

  # imputed assays: dense, features = those used, cells in order, plausible values
  imp_rna <- SeuratObject::GetAssayData(obj, slot = "data", assay = "scmvpRNA")
  expect_true(is.matrix(imp_rna))
  expect_identical(rownames(imp_rna), misc$features$rna)
  expect_identical(colnames(imp_rna), cells)
  expect_true(all(imp_rna >= 0))
  expect_equal(unname(colSums(imp_rna)), rep(1e4, FIT_CELLS), tolerance = 1e-3)
  imp_atac <- SeuratObject::GetAssayData(obj, slot = "data", assay = "scmvpATAC")
  expect_identical(dim(imp_atac), c(length(misc$features$atac), FIT_CELLS))
  expect_identical(rownames(imp_atac), misc$features$atac)
  expect_true(all(imp_atac >= 0 & imp_atac <= 1))

  cmd <- obj@commands[["RunSCMVP"]]
  expect_s4_class(cmd, "SeuratCommand")
  expect_identical(cmd@assay.used, "RNA")
  expect_identical(cmd$atac.assay, "ATAC")
  expect_identical(cmd$epochs, 20)
  expect_null(cmd$n.clusters)
  expect_null(cmd$rna.features)
  expect_identical(names(obj@assays), c("RNA", "ATAC", "scmvpRNA", "scmvpATAC"))
})

test_that("Seurat's FindNeighbors, FindClusters, RunUMAP and DimPlot run on the result", {
  skip_if_no_scmvp()
  skip_if_not_installed("Seurat")
  obj <- fitted_object()
  obj <- Seurat::FindNeighbors(obj, reduction = "scmvp", dims = 1:10, graph.name = c("scmvp_nn", "scmvp_snn"), verbose = FALSE)
  obj <- Seurat::FindClusters(obj, graph.name = "scmvp_snn", resolution = 0.8, verbose = FALSE)
  expect_gt(length(unique(obj$seurat_clusters)), 1)
  old <- options(Seurat.warn.umap.uwot = FALSE)
  on.exit(options(old))
  obj <- Seurat::RunUMAP(obj, reduction = "scmvp", dims = 1:10, reduction.name = "umap_scmvp", reduction.key = "scmvpUMAP_",
                         verbose = FALSE)
  expect_identical(dim(SeuratObject::Embeddings(obj[["umap_scmvp"]])), c(FIT_CELLS, 2L))
  p <- Seurat::DimPlot(obj, reduction = "umap_scmvp", group.by = c("scmvp_clusters", "cell_type"))
  png_file <- tempfile(fileext = ".png")
  grDevices::png(png_file, width = 900, height = 400)
  print(p)
  grDevices::dev.off()
  expect_gt(file.size(png_file), 10000)
  # the imputed RNA assay works with the usual downstream functions
  Seurat::DefaultAssay(obj) <- "scmvpRNA"
  fp <- Seurat::FeaturePlot(obj, features = "Gad1", reduction = "umap_scmvp")
  expect_s3_class(fp, "ggplot")
})

test_that("RunSCMVP.default returns named results, is reproducible, and verbose controls progress", {
  skip_if_no_scmvp()
  obj <- example_object(300, seed = 7)
  rna <- obj[["RNA"]]@counts
  peaks <- top_peaks(obj, 1500)
  atac <- obj[["ATAC"]]@counts[peaks, ]
  old <- options(scMVP.max.dense.bytes = 1, scMVP.progress.every = 1)
  on.exit(options(old))
  msgs <- character()
  res <- withCallingHandlers(
    RunSCMVP(rna, atac, n.clusters = 4, n.latent = 5, epochs = 3, impute = TRUE, impute.threshold = NULL,
             impute.rna.features = c("Gad1", "Gad2"), seed.use = 1, verbose = TRUE),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  expect_true(any(grepl("^scMVP: fitting on 300 cells, 1677 genes and 1500 peaks", msgs)))
  expect_identical(sum(grepl("^scMVP: epoch [0-9]+/3, loss", msgs)), 3L)
  expect_true(any(grepl("storing it sparse with probabilities >= 0.1", msgs)))
  expect_named(res, c("embedding", "clusters", "probabilities", "max.probability", "history", "features.rna",
                      "features.atac", "n.clusters", "model", "params", "imputed.rna", "imputed.atac", "warnings",
                      "versions"))
  expect_identical(dim(res$embedding), c(300L, 5L))
  expect_identical(rownames(res$embedding), colnames(rna))
  expect_identical(levels(res$clusters), as.character(1:4))
  expect_identical(res$n.clusters, 4L)
  expect_identical(dim(res$probabilities), c(300L, 4L))
  expect_identical(dimnames(res$imputed.rna), list(c("Gad1", "Gad2"), colnames(rna)))
  # over the dense limit: sparse, only values >= 0.1 kept
  expect_s4_class(res$imputed.atac, "dgCMatrix")
  expect_identical(dimnames(res$imputed.atac), list(res$features.atac, colnames(rna)))
  expect_true(all(res$imputed.atac@x >= 0.1 & res$imputed.atac@x <= 1))
  # genes without counts in these 300 cells were dropped and reported
  expect_identical(res$features.rna, rownames(rna)[Matrix::rowSums(rna) > 0])

  # same seed: the same model, silently
  options(scMVP.max.dense.bytes = 5e8)
  expect_silent(res2 <- RunSCMVP(rna, atac, n.clusters = 4, n.latent = 5, epochs = 3, impute = "atac",
                                 impute.atac.features = res$features.atac[1:10], seed.use = 1, verbose = FALSE))
  expect_equal(res2$embedding, res$embedding, tolerance = 1e-6)
  expect_identical(res2$clusters, res$clusters)
  expect_null(res2$imputed.rna)
  expect_true(is.matrix(res2$imputed.atac))
  expect_identical(dim(res2$imputed.atac), c(10L, 300L))
  kept <- as.matrix(res$imputed.atac[1:10, ])
  expect_gt(sum(kept != 0), 0)
  expect_equal(kept[kept != 0], res2$imputed.atac[kept != 0], tolerance = 1e-6)
  expect_true(all(res2$imputed.atac[kept == 0] < 0.1))
})

test_that("RunSCMVP.default keeps the attention parts asked for, in the result and the stored model", {
  skip_if_no_scmvp()
  obj <- example_object(200, seed = 3)
  rna <- obj[["RNA"]]@counts
  atac <- obj[["ATAC"]]@counts[top_peaks(obj, 800), ]
  res <- RunSCMVP(rna, atac, n.clusters = 3, n.latent = 4, epochs = 2, impute = FALSE, attention = "gate",
                  n_hidden = 12, seed.use = 2, verbose = FALSE)
  expect_identical(unlist(res$params$attention), "gate")
  expect_true(all(is.finite(res$embedding)))
  path <- tempfile(fileext = ".pt")
  SaveSCMVPModel(res, path)
  model <- LoadSCMVPModel(path)
  expect_identical(unlist(model$params$attention), "gate")
  expect_identical(model$params$n_hidden, 12L)
  proj <- ProjectSCMVP(obj, model, verbose = FALSE)
  expect_equal(unname(SeuratObject::Embeddings(proj[["scmvp"]])), unname(res$embedding), tolerance = 1e-4)
})
