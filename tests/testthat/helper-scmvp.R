# Shared helpers and fixtures. Fixtures are built once per test run and cached in `.fx`.
#
# Python: tests that need it call skip_if_no_scmvp(). When SCMVP_REQUIRE_PYTHON=true (set by
# tests/run_r_tests.sh, which CI runs) a missing Python is an error, never a silent skip.

.fx <- new.env(parent = emptyenv())

skip_if_no_scmvp <- function() {
  if (scmvp_available()) return(invisible(TRUE))
  cfg <- scMVP::scmvp_config()
  if (identical(Sys.getenv("SCMVP_REQUIRE_PYTHON"), "true")) {
    stop("scMVP's Python is required (SCMVP_REQUIRE_PYTHON=true) but not available: ", cfg$error)
  }
  testthat::skip(paste("scMVP Python module not available:", cfg$error))
}

example_dir <- function() {
  d <- system.file("extdata", "snare_adult_cortex", package = "scMVP")
  if (!nzchar(d)) stop("the bundled example data are not installed")
  d
}

# A Seurat object with n random cells of the bundled SNARE-seq data (RNA + ATAC assays).
example_object <- function(n = 600, seed = 1) {
  key <- paste0("obj_", n, "_", seed)
  if (is.null(.fx[[key]])) .fx[[key]] <- ReadSCMVPExample(example_dir(), n.cells = n, seed = seed)
  .fx[[key]]
}

# The peaks accessible in the most cells of `obj` (a small peak set keeps test fits fast).
top_peaks <- function(obj, n) {
  counts <- obj[["ATAC"]]@counts
  det <- Matrix::rowSums(counts > 0)
  rownames(counts)[sort(order(-det)[seq_len(n)])]
}

# The main fitted object, shared by the structure, downstream, model and quality tests (one fit
# keeps the suite short): 2,000 random cells, all genes, the 5,000 most accessible peaks,
# 20 epochs, K estimated from the data; imputation on.
FIT_CELLS <- 2000L
fitted_object <- function() {
  if (is.null(.fx$fitted)) {
    obj <- example_object(FIT_CELLS)
    .fx$fitted_peaks <- top_peaks(obj, 5000)
    t0 <- proc.time()[["elapsed"]]
    .fx$fitted <- RunSCMVP(obj, atac.features = .fx$fitted_peaks, epochs = 20, seed.use = 42, verbose = FALSE)
    .fx$fit_seconds <- proc.time()[["elapsed"]] - t0
  }
  .fx$fitted
}

# A small model trained with batches (the SNARE-seq libraries): 300 cells, 1,500 peaks, 2 epochs.
batch_object <- function() {
  if (is.null(.fx$batch_fit)) {
    obj <- example_object(300, seed = 11)
    .fx$batch_fit <- RunSCMVP(obj, atac.features = top_peaks(obj, 1500), n.clusters = 4, epochs = 2, batch = "batch",
                              impute = FALSE, verbose = FALSE)
  }
  .fx$batch_fit
}

# Adjusted Rand index computed independently of the package (for cross-checks).
ari_reference <- function(a, b) {
  tab <- table(a, b)
  comb <- function(x) x * (x - 1) / 2
  s <- sum(comb(tab)); sa <- sum(comb(rowSums(tab))); sb <- sum(comb(colSums(tab))); n <- comb(sum(tab))
  (s - sa * sb / n) / ((sa + sb) / 2 - sa * sb / n)
}

one_line <- function(msg) !grepl("\n", msg, fixed = TRUE)
