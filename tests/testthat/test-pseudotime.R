# RunSCMVPPseudotime: destiny diffusion pseudotime on the scMVP embedding.

excitatory <- function(obj) colnames(obj)[obj$cell_type_coarse %in% c("L2/3", "L4/5", "L6")]

test_that("RunSCMVPPseudotime stores a pseudotime for the lineage cells, rooted in the requested group", {
  skip_if_no_scmvp()
  skip_if_not_installed("destiny")
  obj <- fitted_object()
  cells <- excitatory(obj)
  set.seed(5)
  before <- .Random.seed
  res <- RunSCMVPPseudotime(obj, cells = cells, root.by = "cell_type_coarse", root = "L2/3", verbose = FALSE)
  expect_identical(.Random.seed, before)
  md <- res[[]]
  expect_true(all(c("scmvp_pseudotime", "scmvp_pseudotime_DC1", "scmvp_pseudotime_DC2") %in% names(md)))
  pt <- md$scmvp_pseudotime
  names(pt) <- rownames(md)
  expect_true(all(is.na(pt[setdiff(colnames(obj), cells)])))
  expect_true(all(is.finite(pt[cells])))
  expect_true(all(pt[cells] >= 0))
  info <- SeuratObject::Misc(res, slot = "scmvp_pseudotime")
  expect_identical(info$cells, cells)
  expect_identical(info$reduction, "scmvp")
  expect_identical(info$dims, seq_len(scmvp_defaults()$n_latent))
  expect_identical(unname(as.character(obj$cell_type_coarse[info$root])), "L2/3")
  expect_equal(unname(pt[info$root]), 0)
  # the rest of the object is unchanged
  expect_identical(names(res@assays), names(obj@assays))
  expect_identical(SeuratObject::Embeddings(res[["scmvp"]]), SeuratObject::Embeddings(obj[["scmvp"]]))
  # same seed, same result
  again <- RunSCMVPPseudotime(obj, cells = cells, root.by = "cell_type_coarse", root = "L2/3", verbose = FALSE)
  expect_identical(again$scmvp_pseudotime, res$scmvp_pseudotime)

  # a root cell given by name, another column name, fewer dimensions
  root <- cells[3]
  r2 <- RunSCMVPPseudotime(obj, cells = cells, root = root, dims = 1:5, pseudotime.name = "pt5", verbose = FALSE)
  expect_equal(unname(r2$pt5[root]), 0)
  expect_identical(SeuratObject::Misc(r2, slot = "pt5")$root, root)
  expect_identical(SeuratObject::Misc(r2, slot = "pt5")$dims, 1:5)
})

test_that("RunSCMVPPseudotime errors are one line and name the fix", {
  obj <- example_object(200)
  set.seed(1)
  emb <- matrix(rnorm(200 * 4), 200, 4, dimnames = list(colnames(obj), paste0("SCMVP_", 1:4)))
  obj[["scmvp"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "SCMVP_", assay = "RNA")
  msg <- function(expr) tryCatch({
    expr
    ""
  }, error = function(e) conditionMessage(e))
  checks <- list(
    list(msg(RunSCMVPPseudotime(obj, reduction = "pca")), "reduction 'pca' is not in the object \\(reductions: scmvp\\)"),
    list(msg(RunSCMVPPseudotime(obj, root.by = "layer", root = "L2/3")), "root.by must name a meta.data column \\('layer' is not one\\)"),
    list(msg(RunSCMVPPseudotime(obj, root.by = "cell_type_coarse", root = "L9")), "no cell of the subset has cell_type_coarse in L9 \\(values: "),
    list(msg(RunSCMVPPseudotime(obj, root.by = "cell_type_coarse")), "with root.by, give root = the value\\(s\\) of 'cell_type_coarse'"),
    list(msg(RunSCMVPPseudotime(obj, root = "nocell")), "root must be the name of one cell of the subset"),
    list(msg(RunSCMVPPseudotime(obj, cells = colnames(obj)[1:5])), "a diffusion map needs at least 10 cells, got 5"),
    list(msg(RunSCMVPPseudotime(obj, cells = "x")), "1 of the cells are not in the object \\(e.g. x\\)"),
    list(msg(RunSCMVPPseudotime(obj, dims = 7)), "dims must be whole numbers between 1 and 4")
  )
  for (ck in checks) {
    expect_match(ck[[1]], ck[[2]])
    expect_true(one_line(ck[[1]]))
  }
})
