# Every validation error fires, as a one-line error naming the problem and the fix, before any
# Python call, and leaves the input object as it was.

expect_scmvp_error <- function(expr, pattern) {
  err <- tryCatch({
    force(expr)
    NULL
  }, error = function(e) e)
  expect_s3_class(err, "scmvp_error")
  expect_match(conditionMessage(err), pattern)
  expect_true(one_line(conditionMessage(err)))
  invisible(err)
}

test_that("RunSCMVP.Seurat validates assays, counts, cells, batch and arguments", {
  obj <- example_object(200)
  before <- obj
  expect_scmvp_error(RunSCMVP(obj, rna.assay = "nope"), "assay 'nope' is not in the object \\(assays: RNA, ATAC\\); pass rna.assay")
  expect_scmvp_error(RunSCMVP(obj, atac.assay = "peaks"), "assay 'peaks' is not in the object.*pass atac.assay")
  expect_scmvp_error(RunSCMVP(obj, atac.assay = "RNA"), "rna.assay and atac.assay are both 'RNA'")
  expect_scmvp_error(RunSCMVP(obj, batch = "no_such_column"), "batch must name a meta.data column \\('no_such_column' is not one\\)")
  expect_scmvp_error(RunSCMVP(obj, batch = c("a", "b")), "batch must name a meta.data column")
  with_na <- obj
  with_na$bad_batch <- ifelse(seq_len(ncol(obj)) %% 7 == 0, NA, "b1")
  expect_scmvp_error(RunSCMVP(with_na, batch = "bad_batch"), "meta.data column 'bad_batch' has 28 missing \\(NA\\) labels")
  expect_scmvp_error(RunSCMVP(obj, n.clusters = 1000), "n.clusters must be a whole number between 1 and 200.*there are 200 cells")
  expect_scmvp_error(RunSCMVP(obj, n.clusters = 2.5), "n.clusters must be a whole number")
  expect_scmvp_error(RunSCMVP(obj, n.latent = 0), "n.latent must be a whole number at least 1")
  expect_scmvp_error(RunSCMVP(obj, epochs = -1), "epochs must be a whole number")
  expect_scmvp_error(RunSCMVP(obj, seed.use = "a"), "seed.use must be a whole number")
  expect_scmvp_error(RunSCMVP(obj, device = "gpu"), "device must be \"auto\", \"cpu\" or \"cuda\"")
  expect_scmvp_error(RunSCMVP(obj, verbose = NA), "verbose must be TRUE or FALSE")
  expect_scmvp_error(RunSCMVP(obj, reduction.key = "SC.MVP"), "reduction.key must be letters/digits ending with an underscore")
  expect_scmvp_error(RunSCMVP(obj, reduction.name = "ATAC"), "reduction.name 'ATAC' is the name of an assay")
  expect_scmvp_error(RunSCMVP(obj, imputed.rna.assay = "RNA"), "imputed.rna.assay = 'RNA' would overwrite an input assay")
  expect_scmvp_error(RunSCMVP(obj, imputed.rna.assay = "imp", imputed.atac.assay = "imp"), "both 'imp'; give two names")
  expect_scmvp_error(RunSCMVP(obj, impute = "protein"), "impute must be TRUE, FALSE")
  expect_scmvp_error(RunSCMVP(obj, impute.threshold = 2), "impute.threshold must be one number in \\(0, 1\\]")
  expect_scmvp_error(RunSCMVP(obj, rna.features = c("Gad1", "NotAGene")), "1 of the 2 rna.features are not in the RNA assay 'RNA' \\(e.g. NotAGene\\)")
  expect_scmvp_error(RunSCMVP(obj, atac.features = "chr1-1-2"), "atac.features are not in the ATAC assay")
  expect_scmvp_error(RunSCMVP(obj, impute.rna.features = "Gad1", rna.features = setdiff(rownames(obj), "Gad1")),
                     "impute.rna.features are not in the RNA features used")
  expect_scmvp_error(RunSCMVP(obj, n.hidden = 64), "unknown argument n.hidden; model settings go by their Python names")
  expect_scmvp_error(RunSCMVP(obj, n_latent = 4), "n_latent is set by the argument n.latent; pass n.latent = 4 instead of n_latent =")
  expect_scmvp_error(RunSCMVP(obj, max_epochs = 2), "max_epochs is set by the argument epochs")
  expect_scmvp_error(scMVP:::.check_settings(list(64)), "extra arguments must be model settings named as in Python")
  expect_scmvp_error(RunSCMVP(obj, seed.use = -1), "seed.use must be a whole number between 0 and")
  expect_scmvp_error(RunSCMVP(obj, n.latent = 2.5), "n.latent must be a whole number at least 1 \\(or NULL\\)")
  expect_scmvp_error(RunSCMVP(obj, n_hidden = 3), "n_hidden must be a whole number at least 8")
  expect_scmvp_error(RunSCMVP(obj, modality = "protein"), "modality must be")
  expect_scmvp_error(RunSCMVP(obj, modality = "rna", impute = "atac"),
                     "impute = \"atac\" asks for ATAC imputation but modality = \"rna\" trains no ATAC view; use impute = \"rna\"")
  expect_scmvp_error(RunSCMVP(obj, cycle = "atac"), "cycle must be TRUE .*\"rna\" .*or FALSE, not \"atac\"")
  expect_scmvp_error(RunSCMVP(obj, encode_atac = "sometimes"), "encode_atac must be \"auto\" .*TRUE or FALSE, not \"sometimes\"")
  expect_identical(scMVP:::.check_settings(list(encode_atac = FALSE))$encode_atac, FALSE)
  expect_scmvp_error(RunSCMVP(obj, attention = NA), "attention must be TRUE, FALSE or some of \"rna_mask\"")
  expect_scmvp_error(RunSCMVP(obj, attention = c("gate", "mask")), "attention must be TRUE, FALSE .*not a vector of length 2")
  expect_identical(obj, before)
})

test_that("model settings in ... go by Python's names, checked against Python's list", {
  skip_if_no_scmvp()
  obj <- example_object(200)
  before <- obj
  err <- expect_scmvp_error(RunSCMVP(obj, n_hiden = 64), "unknown argument n_hiden \\(did you mean n_hidden\\?\\); the model settings for `...` are .*n_hidden")
  # the list is Python's (every ScMVPConfig field but those RunSCMVP has arguments for)
  listed <- strsplit(sub(" \\(see scmvp_defaults.*$", "", sub("^.*are ", "", conditionMessage(err))), ", ")[[1]]
  expect_setequal(listed, setdiff(names(scmvp_defaults()), c("n_clusters", "n_latent", "max_epochs", "device", "seed")))
  expect_scmvp_error(RunSCMVP(obj, n_latnt = 4), "did you mean n.latent\\?")
  expect_scmvp_error(RunSCMVP(obj, patience = 2.5), "patience must be a whole number")
  expect_scmvp_error(RunSCMVP(obj, restore_best = "yes"), "restore_best must be TRUE or FALSE")
  expect_scmvp_error(RunSCMVP(obj, weight_decay = "a"), "weight_decay must be one number")
  expect_identical(obj, before)
})

test_that("single-view models need only their view's counts; a missing view names the fix", {
  obj <- example_object(200)
  no_atac <- obj
  no_atac[["ATAC"]] <- NULL
  expect_scmvp_error(RunSCMVP(no_atac), "assay 'ATAC' is not in the object \\(assays: RNA\\); pass atac.assay = one of them, or modality = \"rna\" to train on the RNA alone")
  expect_scmvp_error(RunSCMVP(no_atac, modality = "atac"), "assay 'ATAC' is not in the object \\(assays: RNA\\); pass atac.assay = one of them\\.$")
  rna <- obj[["RNA"]]@counts
  expect_scmvp_error(RunSCMVP(rna), "the ATAC matrix is missing; pass atac = <peak counts \\(features x cells\\)>, or modality = \"rna\"")
  expect_scmvp_error(RunSCMVP(NULL, obj[["ATAC"]]@counts), "the RNA matrix is missing; pass the RNA counts as the first argument, or modality = \"atac\"")
  expect_scmvp_error(RunSCMVP(NULL, obj[["ATAC"]]@counts, modality = "atac", impute.rna.features = "Gad1"),
                     "impute.rna.features is given but the model has no RNA view")
  # the unused view is neither read nor checked
  bad_atac <- obj
  bad_atac[["ATAC"]] <- SeuratObject::CreateAssayObject(counts = obj[["ATAC"]]@counts * 0.5)
  expect_scmvp_error(RunSCMVP(bad_atac, modality = "rna", n.clusters = 1000), "n.clusters must be a whole number between 1 and 200")
})

test_that("RunSCMVP.Seurat refuses data that are not raw counts, and empty cells", {
  obj <- example_object(200)
  counts <- obj[["RNA"]]@counts
  scaled <- obj
  scaled[["RNA"]] <- SeuratObject::CreateAssayObject(counts = counts - 1)
  before <- scaled
  expect_scmvp_error(RunSCMVP(scaled), "RNA assay 'RNA' has negative values \\(min -1\\).*use the raw counts")
  expect_identical(scaled, before)

  normalised <- obj
  normalised[["ATAC"]] <- SeuratObject::CreateAssayObject(counts = obj[["ATAC"]]@counts * 0.5)
  expect_scmvp_error(RunSCMVP(normalised), "ATAC assay 'ATAC' has non-integer values \\(e.g. 0.5\\)")

  with_na <- obj
  m <- counts
  m@x[1] <- NA
  with_na[["RNA"]] <- SeuratObject::CreateAssayObject(counts = m)
  expect_scmvp_error(RunSCMVP(with_na), "RNA assay 'RNA' has 1 missing or infinite values")

  data_only <- obj
  data_only[["ATAC2"]] <- SeuratObject::CreateAssayObject(data = log1p(obj[["ATAC"]]@counts))
  expect_scmvp_error(RunSCMVP(data_only, atac.assay = "ATAC2"), "ATAC assay 'ATAC2' has no counts layer.*create the assay with counts")

  # a cell without counts in the chosen genes
  few <- c("Gad1", "Gad2")
  empty <- sum(Matrix::colSums(counts[few, ]) == 0)
  expect_gt(empty, 0)
  expect_scmvp_error(RunSCMVP(obj, rna.features = few), paste0(empty, " cells have no counts in the RNA features used.*subset\\(object, nCount_RNA > 0 & nCount_ATAC > 0\\)"))
})

test_that("RunSCMVP.default validates matrices, cells and batch", {
  obj <- example_object(200)
  rna <- obj[["RNA"]]@counts
  atac <- obj[["ATAC"]]@counts
  expect_scmvp_error(RunSCMVP(rna, atac[, 1:100]), "RNA matrix has 200 cells but the ATAC matrix has 100")
  expect_scmvp_error(RunSCMVP(rna, atac[, rev(colnames(atac))]), "hold cells in a different order \\(first at position 1")
  renamed <- atac
  colnames(renamed)[5] <- "other"
  expect_scmvp_error(RunSCMVP(rna, renamed), "hold cells with different names \\(first at position 5")
  dup <- rna
  rownames(dup)[2] <- rownames(dup)[1]
  expect_scmvp_error(RunSCMVP(dup, atac), "RNA matrix has 1 duplicated feature names")
  unnamed <- rna
  dimnames(unnamed) <- list(NULL, NULL)
  expect_scmvp_error(RunSCMVP(unnamed, atac), "needs feature names \\(rownames\\) and cell names")
  expect_scmvp_error(RunSCMVP(rna, atac, batch = rep("a", 3)), "batch must give one label per cell \\(200\\), not 3")
  expect_scmvp_error(RunSCMVP(rna, atac, batch = c(NA, rep("a", 199))), "batch has 1 missing \\(NA\\) labels")
  expect_scmvp_error(RunSCMVP(list(1), atac), "RNA matrix must be a features x cells count matrix")
  zero <- rna
  zero[, 3] <- 0
  expect_scmvp_error(RunSCMVP(zero, atac), "1 cells have no counts in the RNA matrix")
})

test_that("ProjectSCMVP and the model functions validate before Python", {
  obj <- example_object(200)
  expect_scmvp_error(ProjectSCMVP(obj, obj), "the reference has no reduction 'scmvp' \\(reductions: none\\)")
  expect_scmvp_error(ProjectSCMVP(obj[["RNA"]]@counts, obj), "query must be a Seurat object")
  expect_scmvp_error(ProjectSCMVP(obj, list(a = 1)), "expected a Seurat object with an scMVP reduction")
  expect_scmvp_error(LoadSCMVPModel(file.path(tempdir(), "no_model.pt")), "model file .* does not exist")
  expect_scmvp_error(SaveSCMVPModel(obj, tempfile()), "the reference has no reduction 'scmvp'")
  expect_scmvp_error(ClusterAgreement(1:3, 1:2), "same, non-zero length")
  expect_scmvp_error(install_scmvp(source = tempdir()), "cannot find the scmvp Python package source.*install_scmvp\\(source =")
  expect_scmvp_error(install_scmvp(pip.args = NA_character_), "pip.args must be a character vector")
  expect_scmvp_error(install_scmvp(dependencies = "no"), "dependencies must be TRUE or FALSE")
  expect_scmvp_error(ReadSCMVPExample(tempdir()), "is not a paired dataset folder")
})

test_that("loading scMVP and failing validation never start Python; a missing Python is a clear error", {
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressPackageStartupMessages(library(scMVP))",
    "obj <- ReadSCMVPExample(n.cells = 50)",
    "e1 <- tryCatch(RunSCMVP(obj, rna.assay = 'nope'), error = conditionMessage)",
    "cat('started_after_validation=', reticulate::py_available(), '\\n', sep = '')",
    "options(scMVP.python = '/nonexistent/python')",
    "e2 <- tryCatch(RunSCMVP(obj, epochs = 1), error = conditionMessage)",
    "cat('started_after_missing=', reticulate::py_available(), '\\n', sep = '')",
    "cat('E2=', e2, '\\n', sep = '')",
    "cat('AVAILABLE=', scmvp_available(), '\\n', sep = '')"
  ), script)
  out <- system2("env", c("-u", "RETICULATE_PYTHON", "-u", "SCMVP_PYTHON", file.path(R.home("bin"), "Rscript"), script),
                 stdout = TRUE, stderr = TRUE)
  expect_true("started_after_validation=FALSE" %in% out)
  expect_true("started_after_missing=FALSE" %in% out)
  expect_true(any(grepl("^E2=scMVP: the Python from the option scMVP.python \\(/nonexistent/python\\) does not exist; run scMVP::install_scmvp\\(\\)", out)))
  expect_true("AVAILABLE=FALSE" %in% out)
})
