# RunSCMVP on real Seurat objects built from the bundled SNARE-seq data.

test_that("RunSCMVP.Seurat adds the reduction, clusters, imputed assays, model and command", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  cells <- colnames(example_object(FIT_CELLS))
  expect_identical(colnames(obj), cells)

  red <- obj[["scmvp"]]
  expect_s4_class(red, "DimReduc")
  emb <- SeuratObject::Embeddings(red)
  expect_identical(dim(emb), c(FIT_CELLS, scmvp_defaults()$n_latent))
  expect_identical(rownames(emb), cells)
  expect_identical(colnames(emb), paste0("SCMVP_", seq_len(scmvp_defaults()$n_latent)))
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
  # clusters are the K mixture components, merged as cluster_resolution says
  expect_gte(misc$params$n_clusters, k)
  expect_identical(misc$params$n_latent, scmvp_defaults()$n_latent)
  expect_identical(misc$assays, c(rna = "RNA", atac = "ATAC"))
  expect_null(misc$batch)
  expect_null(misc$batch.levels)
  expect_identical(dim(misc$probabilities), c(FIT_CELLS, k))
  expect_equal(unname(rowSums(misc$probabilities)), rep(1, FIT_CELLS), tolerance = 1e-5)
  expect_identical(unname(apply(misc$probabilities, 1, which.max)), as.integer(cl))
  expect_true(all(misc$features$atac %in% .fx$fitted_peaks))
  expect_true(all(misc$features$rna %in% rownames(obj[["RNA"]])))
  # one history entry per epoch trained: at most the 20 asked for, and early stopping cannot
  # end training before the warm-up (4 of 20 epochs) and `patience` epochs after it
  n_epochs <- length(misc$history$loss)
  expect_true(n_epochs >= 4 + scmvp_defaults()$patience && n_epochs <= 20)
  expect_equal(as.numeric(misc$history$epoch), as.numeric(seq_len(n_epochs)))
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
                      "features.atac", "n.clusters", "batch.levels", "model", "params", "imputed.rna", "imputed.atac",
                      "imputed.atac.threshold", "warnings", "versions"))
  expect_identical(res$imputed.atac.threshold, 0.1)
  expect_identical(dim(res$embedding), c(300L, 5L))
  expect_identical(rownames(res$embedding), colnames(rna))
  k <- res$n.clusters # (the 4 mixture components, merged where cluster_resolution says)
  expect_identical(res$params$n_clusters, 4L)
  expect_true(k >= 1L && k <= 4L)
  expect_identical(levels(res$clusters), as.character(seq_len(k)))
  expect_identical(dim(res$probabilities), c(300L, k))
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
  expect_null(res2$imputed.atac.threshold)
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
                  n_hidden = 12, seed.use = 2, patience = 3, weight_decay = 0, restore_best = TRUE, verbose = FALSE)
  expect_identical(unlist(res$params$attention), "gate")
  # any setting of Python's ScMVPConfig passes through `...` by its name (R keeps no list of them)
  expect_identical(res$params$patience, 3L)
  expect_identical(res$params$weight_decay, 0)
  expect_true(res$params$restore_best)
  expect_identical(res$params$seed, 2L)
  expect_true(all(is.finite(res$embedding)))
  path <- tempfile(fileext = ".pt")
  SaveSCMVPModel(res, path)
  model <- LoadSCMVPModel(path)
  expect_identical(unlist(model$params$attention), "gate")
  expect_identical(model$params$n_hidden, 12L)
  proj <- ProjectSCMVP(obj, model, verbose = FALSE)
  expect_equal(unname(SeuratObject::Embeddings(proj[["scmvp"]])), unname(res$embedding), tolerance = 1e-4)
})

test_that("R writes no model default: RunSCMVP's, ProjectSCMVP's and ImputeSCMVP's model arguments default to NULL", {
  for (f in c("RunSCMVP.default", "RunSCMVP.Seurat")) {
    args <- formals(utils::getFromNamespace(f, "scMVP"))
    for (a in c("n.clusters", "n.latent", "epochs", "device", "seed.use")) {
      expect_null(args[[a]], label = paste0(f, "(", a, ")"))
    }
    expect_true("..." %in% names(args))
  }
  expect_null(formals(ProjectSCMVP)$device)
  expect_null(formals(ImputeSCMVP)$device)
})

test_that("one source of truth: RunSCMVP() with no settings and Python's ScMVP() give the same embedding", {
  skip_if_no_scmvp()
  obj <- example_object(600)
  counts <- obj[["RNA"]]@counts
  genes <- rownames(counts)[sort(order(-Matrix::rowSums(counts > 0))[1:300])]
  rna <- counts[genes, ]
  atac <- obj[["ATAC"]]@counts[top_peaks(obj, 2000), ]
  expect_identical(dim(rna), c(300L, 600L))
  expect_identical(dim(atac), c(2000L, 600L))
  # on a GPU both run on the CPU (CUDA kernels do not repeat bit for bit); here "auto" is the CPU
  on_gpu <- isTRUE(scmvp_config()$cuda)
  res <- if (on_gpu) RunSCMVP(rna, atac, epochs = 3, device = "cpu", verbose = FALSE) else
    RunSCMVP(rna, atac, epochs = 3, verbose = FALSE)
  scmvp <- reticulate::import("scmvp", convert = FALSE)
  cells_by_features <- function(m) reticulate::r_to_py(methods::as(Matrix::t(m), "RsparseMatrix")) # CSR
  expect_true(grepl("csr", class(cells_by_features(rna))[1]))
  model <- if (on_gpu) scmvp$ScMVP(verbose = FALSE, progress_bar = FALSE, device = "cpu") else
    scmvp$ScMVP(verbose = FALSE, progress_bar = FALSE)
  model <- model$fit(cells_by_features(rna), cells_by_features(atac), rna_features = as.list(rownames(rna)),
                     atac_features = as.list(rownames(atac)), max_epochs = 3L)
  emb <- reticulate::py_to_r(model$embedding())
  expect_identical(dim(emb), dim(res$embedding))
  expect_lt(max(abs(emb - unname(res$embedding))), 1e-4)
  # the settings R's fit used are Python's defaults (K and the epochs aside) and Python's model's
  defaults <- scmvp_defaults()
  # n_clusters and encode_atac ("auto") are resolved by the fit
  same <- setdiff(names(defaults), c("n_clusters", "max_epochs", "encode_atac", if (on_gpu) "device"))
  expect_identical(res$params[same], defaults[same])
  expect_identical(defaults$encode_atac, "auto")
  expect_true(isTRUE(res$params$encode_atac) || isFALSE(res$params$encode_atac))
  expect_identical(res$params$max_epochs, 3L)
  expect_identical(res$params$n_clusters, as.integer(reticulate::py_to_r(model$n_clusters_)))
  info <- reticulate::py_to_r(scmvp_bridge()$model_info(model))
  expect_identical(res$params, info$params)
})

test_that("scmvp_defaults() is Python's ScMVPConfig, with a line of help per setting", {
  skip_if_no_scmvp()
  d <- scmvp_defaults()
  cfg <- reticulate::import("scmvp", convert = FALSE)$ScMVPConfig
  expect_identical(d, reticulate::py_to_r(cfg$field_defaults()))
  expect_true(all(c("n_latent", "n_clusters", "seed", "device", "max_epochs", "atac_weight", "modality") %in% names(d)))
  expect_true("n_clusters" %in% names(d) && is.null(d$n_clusters))
  h <- scmvp_defaults(help = TRUE)
  expect_type(h, "character")
  expect_identical(names(h), names(d))
  expect_true(all(nzchar(h)))
  expect_error(scmvp_defaults(help = NA), "help must be TRUE or FALSE")
})
