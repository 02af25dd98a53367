# The stored model: saveRDS/readRDS, model files, and ProjectSCMVP.

test_that("a model kept through saveRDS/readRDS embeds the same cells to the same place", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  rds <- tempfile(fileext = ".rds")
  saveRDS(obj, rds, compress = FALSE)
  ref <- readRDS(rds)
  query <- example_object(FIT_CELLS)[, 101:250]
  before <- query
  proj <- ProjectSCMVP(query, ref, refdata = "cell_type", verbose = FALSE)
  expect_identical(query, before)
  emb <- SeuratObject::Embeddings(proj[["scmvp"]])
  expect_identical(rownames(emb), colnames(query))
  expect_equal(emb, SeuratObject::Embeddings(obj[["scmvp"]])[colnames(query), ], tolerance = 1e-4)
  expect_identical(proj$scmvp_clusters, obj$scmvp_clusters[colnames(query)])
  expect_equal(proj$scmvp_clusters_probability, obj$scmvp_clusters_probability[colnames(query)], tolerance = 1e-4)
  # label transfer: the majority label of the reference cells in each cluster
  tab <- table(obj$scmvp_clusters, obj$cell_type)
  expected <- colnames(tab)[apply(tab, 1, which.max)][as.integer(proj$scmvp_clusters)]
  expect_identical(unname(proj$predicted.cell_type), expected)
  expect_true(all(proj$predicted.cell_type.score > 0 & proj$predicted.cell_type.score <= 1))
  expect_s4_class(proj@commands[["ProjectSCMVP"]], "SeuratCommand")
})

test_that("SaveSCMVPModel/LoadSCMVPModel round trip; missing features are reported", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  path <- tempfile(fileext = ".pt")
  expect_identical(SaveSCMVPModel(obj, path), path)
  expect_error(SaveSCMVPModel(obj, path), "exists; pass overwrite = TRUE")
  model <- LoadSCMVPModel(path)
  expect_s3_class(model, "scmvp_model")
  expect_identical(model$model, SeuratObject::Misc(obj[["scmvp"]])$model)
  expect_identical(model$features, SeuratObject::Misc(obj[["scmvp"]])$features)
  expect_null(model$batch.levels)
  expect_output(print(model), "scMVP model: 10 latent dimensions, K = [0-9]+ clusters, [0-9]+ genes, 5000 peaks \\([0-9.]+ MB\\)")

  query <- example_object(FIT_CELLS)[, 1:80]
  proj <- ProjectSCMVP(query, model, verbose = FALSE)
  expect_equal(SeuratObject::Embeddings(proj[["scmvp"]]), SeuratObject::Embeddings(obj[["scmvp"]])[1:80, ], tolerance = 1e-4)

  # drop 20 of the model's genes from the query: they are set to 0 and reported
  genes <- model$features$rna
  counts <- query[["RNA"]]@counts
  fewer <- query
  fewer[["RNA"]] <- SeuratObject::CreateAssayObject(counts = counts[setdiff(rownames(counts), genes[1:20]), ])
  expect_warning(p2 <- ProjectSCMVP(fewer, model, verbose = FALSE), "rna: 20 of [0-9]+ model features are missing and set to 0")
  expect_identical(dim(SeuratObject::Embeddings(p2[["scmvp"]])), c(80L, 10L))
})

test_that("a model trained with batches projects with batch labels and checks them", {
  skip_if_no_scmvp()
  ref <- batch_object()
  misc <- SeuratObject::Misc(ref[["scmvp"]])
  expect_identical(misc$batch, "batch")
  expect_identical(misc$batch.levels, sort(unique(ref$batch)))
  query <- example_object(300, seed = 11)[, 1:60]
  proj <- ProjectSCMVP(query, ref, batch = "batch", verbose = FALSE)
  expect_equal(SeuratObject::Embeddings(proj[["scmvp"]]), SeuratObject::Embeddings(ref[["scmvp"]])[1:60, ], tolerance = 1e-4)
  expect_error(ProjectSCMVP(query, ref), "model was trained with batches \\(09[A-L].*pass batch =", class = "scmvp_error")
  query$lib <- "09Z"
  expect_error(ProjectSCMVP(query, ref, batch = "lib"), "batch labels 09Z are unknown to the model", class = "scmvp_error")
  expect_error(ProjectSCMVP(query, fitted_object(), batch = "batch"), "trained without batches; call ProjectSCMVP\\(\\) without batch",
               class = "scmvp_error")
  expect_error(ProjectSCMVP(query, ref, rna.assay = "ATAC", atac.assay = "ATAC", batch = "batch"),
               "RNA assay 'ATAC' has none of the model's features", class = "scmvp_error")
  expect_error(ProjectSCMVP(query, ref, batch = "batch", refdata = "nope"), "refdata must name meta.data columns", class = "scmvp_error")
})
