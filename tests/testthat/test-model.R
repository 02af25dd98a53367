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
  expect_output(print(model), paste0("scMVP model: ", scmvp_defaults()$n_latent, " latent dimensions, K = [0-9]+ mixture components, [0-9]+ genes, 5000 peaks \\([0-9.]+ MB\\)"))

  query <- example_object(FIT_CELLS)[, 1:80]
  proj <- ProjectSCMVP(query, model, verbose = FALSE)
  expect_equal(SeuratObject::Embeddings(proj[["scmvp"]]), SeuratObject::Embeddings(obj[["scmvp"]])[1:80, ], tolerance = 1e-4)

  # drop 20 of the model's genes from the query: they are set to 0 and reported
  genes <- model$features$rna
  counts <- query[["RNA"]]@counts
  fewer <- query
  fewer[["RNA"]] <- SeuratObject::CreateAssayObject(counts = counts[setdiff(rownames(counts), genes[1:20]), ])
  expect_warning(p2 <- ProjectSCMVP(fewer, model, verbose = FALSE), "rna: 20 of [0-9]+ model features are missing and set to 0")
  expect_identical(dim(SeuratObject::Embeddings(p2[["scmvp"]])), c(80L, scmvp_defaults()$n_latent))
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

test_that("an RNA-only model works without any ATAC assay: fit, project, impute, save, load and print", {
  skip_if_no_scmvp()
  obj <- example_object(300, seed = 5)
  obj[["ATAC"]] <- NULL
  expect_identical(names(obj@assays), "RNA")
  ref <- RunSCMVP(obj, modality = "rna", n.clusters = 4, epochs = 2, seed.use = 3, verbose = FALSE)
  misc <- SeuratObject::Misc(ref[["scmvp"]])
  expect_identical(misc$params$modality, "rna")
  expect_identical(misc$assays, c(rna = "RNA"))
  expect_identical(misc$features$atac, character(0))
  expect_identical(names(ref@assays), c("RNA", "scmvpRNA")) # impute = TRUE: the view the model has
  expect_identical(SeuratObject::DefaultAssay(ref[["scmvp"]]), "RNA")

  # a query without ATAC
  query <- obj[, 1:80]
  proj <- ProjectSCMVP(query, ref, verbose = FALSE)
  expect_equal(SeuratObject::Embeddings(proj[["scmvp"]]), SeuratObject::Embeddings(ref[["scmvp"]])[1:80, ], tolerance = 1e-4)
  expect_identical(proj$scmvp_clusters, ref$scmvp_clusters[1:80])
  expect_identical(SeuratObject::Misc(proj[["scmvp"]])$assays, c(rna = "RNA"))

  # imputation: the RNA view (the default for an RNA-only model), as RunSCMVP stored it
  genes <- rownames(ref[["scmvpRNA"]])[c(3, 1, 50)]
  stored <- as.matrix(SeuratObject::GetAssayData(ref, slot = "data", assay = "scmvpRNA")[genes, ])
  expect_equal(ImputeSCMVP(ref, features = genes, view = "rna"), stored, tolerance = 1e-4)
  expect_equal(ImputeSCMVP(ref, features = genes), stored, tolerance = 1e-4)
  err <- tryCatch(ImputeSCMVP(ref, features = "chr1-1-2", view = "atac"), error = identity)
  expect_s3_class(err, "scmvp_error")
  expect_match(conditionMessage(err), paste0("the model in reduction 'scmvp' is RNA-only \\(modality \"rna\"\\) and cannot impute ",
                                             "ATAC; use view = \"rna\", or train a joint model"))
  expect_true(one_line(conditionMessage(err)))

  # the model file round trip
  path <- tempfile(fileext = ".pt")
  SaveSCMVPModel(ref, path)
  model <- LoadSCMVPModel(path)
  expect_identical(model$modality, "rna")
  expect_identical(model$features$atac, character(0))
  expect_output(print(model), paste0("^scMVP model \\(RNA only\\): ", scmvp_defaults()$n_latent, " latent dimensions, K = 4 mixture components, [0-9]+ genes \\([0-9.]+ MB\\)$"))
  p2 <- ProjectSCMVP(query, model, verbose = FALSE)
  expect_equal(SeuratObject::Embeddings(p2[["scmvp"]]), SeuratObject::Embeddings(proj[["scmvp"]]), tolerance = 1e-5)
})

test_that("an ATAC-only model needs only the ATAC assay, from the matrix and the Seurat method", {
  skip_if_no_scmvp()
  obj <- example_object(300, seed = 5)
  atac <- obj[["ATAC"]]@counts[top_peaks(obj, 1500), ]
  atac <- atac[, Matrix::colSums(atac) > 0]
  res <- RunSCMVP(NULL, atac, modality = "atac", n.clusters = 3, epochs = 2, impute = TRUE, verbose = FALSE)
  expect_identical(res$features.rna, character(0))
  expect_identical(res$params$modality, "atac")
  expect_null(res$imputed.rna)
  expect_identical(dim(res$imputed.atac), dim(atac))
  only <- SeuratObject::CreateSeuratObject(counts = atac, assay = "ATAC")
  proj <- ProjectSCMVP(only, res, verbose = FALSE)
  expect_equal(unname(SeuratObject::Embeddings(proj[["scmvp"]])), unname(res$embedding), tolerance = 1e-4)
  expect_identical(SeuratObject::DefaultAssay(proj[["scmvp"]]), "ATAC")

  fit <- RunSCMVP(only, modality = "atac", n.clusters = 3, epochs = 2, impute = FALSE, verbose = FALSE)
  expect_identical(SeuratObject::Misc(fit[["scmvp"]])$assays, c(atac = "ATAC"))
  expect_identical(fit@commands[["RunSCMVP"]]@assay.used, "ATAC")
  peaks <- rownames(atac)[1:3]
  p <- ImputeSCMVP(fit, features = peaks)
  expect_identical(dimnames(p), list(peaks, colnames(only)))
  expect_true(all(p >= 0 & p <= 1))
  expect_error(ImputeSCMVP(fit, features = "Gad1", view = "rna"), "ATAC-only \\(modality \"atac\"\\) and cannot impute RNA; use view = \"atac\"",
               class = "scmvp_error")
  expect_output(print(LoadSCMVPModel(SaveSCMVPModel(fit, tempfile(fileext = ".pt")))), "^scMVP model \\(ATAC only\\): .* 1500 peaks")
})
