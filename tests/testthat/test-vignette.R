# The vignette renders offline with the fast settings (SCMVP_VIGNETTE_FAST=true) and writes its
# key figures as non-empty PNG files plus a summary table. It runs in a separate R process, as
# R CMD build would, against the installed package.

vignette_source <- function() {
  candidates <- c(file.path(testthat::test_path(), "..", "..", "vignettes", "scMVP.Rmd"),
                  system.file("doc", "scMVP.Rmd", package = "scMVP"))
  found <- candidates[nzchar(candidates) & file.exists(candidates)]
  if (length(found)) normalizePath(found[1]) else ""
}

test_that("the vignette renders with the fast settings and writes non-empty PNG figures", {
  skip_if_no_scmvp()
  skip_if_not_installed("rmarkdown")
  skip_if_not_installed("destiny")
  src <- vignette_source()
  if (!nzchar(src)) skip("vignette source not found (not a source checkout and vignettes not installed)")
  if (!rmarkdown::pandoc_available()) stop("pandoc is needed to render the vignette")
  out <- file.path(tempdir(), "vignette-render")
  figdir <- file.path(out, "figures")
  unlink(out, recursive = TRUE)
  dir.create(out, recursive = TRUE)
  script <- file.path(out, "render.R")
  writeLines(sprintf("rmarkdown::render(%s, output_dir = %s, intermediates_dir = %s, quiet = TRUE)",
                     deparse(src), deparse(out), deparse(file.path(out, "tmp"))), script)
  dir.create(file.path(out, "tmp"))
  env <- c(SCMVP_VIGNETTE_FAST = "true", SCMVP_VIGNETTE_FIGDIR = figdir)
  old <- Sys.getenv(names(env), unset = NA)
  do.call(Sys.setenv, as.list(env))
  on.exit(for (n in names(old)) if (is.na(old[[n]])) Sys.unsetenv(n) else do.call(Sys.setenv, stats::setNames(list(old[[n]]), n)),
          add = TRUE)
  t0 <- proc.time()[["elapsed"]]
  log <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE, stderr = TRUE))
  status <- attr(log, "status")
  seconds <- proc.time()[["elapsed"]] - t0
  if (!is.null(status) && status != 0) fail(paste(c("rendering the vignette failed:", utils::tail(log, 30)), collapse = "\n"))
  message(sprintf("vignette (fast settings) rendered in %.0f s", seconds))

  html <- file.path(out, "scMVP.html")
  expect_true(file.exists(html))
  expect_gt(file.size(html), 1e4)
  text <- paste(readLines(html, warn = FALSE), collapse = "\n")
  expect_false(grepl("## Error", text, fixed = TRUE))
  for (png in c("umap.png", "markers.png", "pseudotime.png", "links.png")) {
    f <- file.path(figdir, png)
    expect_true(file.exists(f), label = png)
    expect_gt(file.size(f), 5000, label = png)
    expect_identical(readBin(f, "raw", 8), as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), label = png)
  }
  s <- utils::read.delim(file.path(figdir, "summary.tsv"), stringsAsFactors = FALSE)
  v <- stats::setNames(s$value, s$name)
  expect_identical(v[["fast"]], "TRUE")
  expect_identical(v[["cells"]], "500")
  expect_identical(v[["epochs"]], "3")
  expect_gt(as.numeric(v[["links_imputed"]]), 0)
  expect_true(is.finite(as.numeric(v[["pseudotime_spearman"]])))
  expect_true(all(file.exists(file.path(figdir, "cicero", c("cicero_counts.txt", "cicero_reduced_coordinates.tsv",
                                                             "cicero_genome.txt")))))
})
