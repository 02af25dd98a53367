# Gene annotation, peak parsing and LASSO peak-gene links (LinkPeaksLASSO).

test_that("the bundled mm10 and hg38 gene tables hold the known TSS values of the source tables", {
  mm <- GeneAnnotation("mm10")
  expect_identical(names(mm), c("gene_name", "chrom", "tss", "strand", "tss_gene", "biotype"))
  # row counts and values as in /work/shared/annotations (SOURCE.md, "Known genes")
  expect_identical(nrow(mm), 64623L)
  expect_false(anyDuplicated(mm$gene_name) > 0)
  row <- function(tab, g) tab[tab$gene_name == g, ]
  expect_identical(as.list(row(mm, "Sst")[, c("chrom", "tss", "strand")]), list(chrom = "chr16", tss = 23890844, strand = "-"))
  expect_identical(row(mm, "Pvalb")$tss, 78204237) # GREAT canonical TSS
  expect_identical(row(mm, "Pvalb")$tss_gene, 78206400) # Ensembl gene 5' end (minus strand: gene end)
  expect_identical(row(mm, "Vip")[, c("chrom", "tss", "strand")]$tss, 5639218)
  expect_identical(row(mm, "Vip")$strand, "+")
  expect_identical(as.list(row(mm, "Rorb")[, c("chrom", "tss", "strand", "tss_gene")]),
                   list(chrom = "chr19", tss = 19001117, strand = "-", tss_gene = 19111196))
  expect_identical(as.list(row(mm, "Gad1")[, c("chrom", "tss", "strand", "tss_gene")]),
                   list(chrom = "chr2", tss = 70562042, strand = "+", tss_gene = 70553072))
  expect_identical(row(mm, "Gapdh")[, c("chrom", "tss")]$chrom, "chr6")
  expect_identical(row(mm, "Gapdh")$tss, 125166467)
  expect_identical(sort(unique(mm$chrom)), sort(c(paste0("chr", 1:19), "chrX", "chrY", "chrM")))
  expect_identical(row(GeneAnnotation("mm10", tss = "tss_gene"), "Pvalb")$tss, 78206400)
  # every gene of the bundled SNARE-seq data is annotated
  genes <- readLines(file.path(example_dir(), "genes.tsv"))
  expect_true(all(genes %in% mm$gene_name))

  hs <- GeneAnnotation("hg38")
  expect_identical(nrow(hs), 87811L)
  expect_identical(row(hs, "CD3E")$tss, 118304545)
  expect_identical(row(hs, "CD3E")$chrom, "chr11")
  expect_identical(row(hs, "ACTB")$tss, 5530709)
  expect_identical(row(hs, "ACTB")$strand, "-")
  expect_identical(row(hs, "GAPDH")$tss, 6533927)

  err <- tryCatch(GeneAnnotation("mm9"), error = function(e) conditionMessage(e))
  expect_match(err, "no bundled gene table for genome \"mm9\"; use \"mm10\" or \"hg38\"")
  expect_true(one_line(err))
})

# A planted design: gene Gp (+ strand, chr1, TSS 1,000,000) and gene Gm (- strand, chr2, TSS
# 1,000,000), peaks at exact midpoints relative to the TSS, expression = accessibility x beta + noise.
planted <- function(n = 300, sep = "-") {
  ann <- data.frame(gene_name = c("Gp", "Gm", "Gfar"), chrom = c("chr1", "chr2", "chr3"), tss = c(1e6, 1e6, 5e6),
                    strand = c("+", "-", "+"))
  off <- c(-2001, -2000, 500, 501, 50000, 1e5, 1e5 + 1) # midpoint - TSS (genomic)
  mk <- function(chrom, mids) {
    s <- format(mids - 100, scientific = FALSE, trim = TRUE)
    e <- format(mids + 100, scientific = FALSE, trim = TRUE)
    if (sep == ":") paste0(chrom, ":", s, "-", e) else paste0(chrom, sep, s, sep, e)
  }
  peaks <- c(mk("chr1", 1e6 + off), mk("chr2", 1e6 - off), mk("chr3", 1e6)) # chr2: mirrored, as Gm is on '-'
  set.seed(3)
  acc <- matrix(rbinom(length(peaks) * n, 1, 0.4) * runif(length(peaks) * n), length(peaks), n,
                dimnames = list(peaks, paste0("c", seq_len(n))))
  beta <- c(1, 2, 1.5, 1, 2, 1, 0.5) # the last peak (outside the window) drives expression too
  rna <- rbind(Gp = drop(beta %*% acc[1:7, ]) + rnorm(n, sd = 0.05),
               Gm = drop(beta %*% acc[8:14, ]) + rnorm(n, sd = 0.05),
               Gfar = runif(n), Gnone = runif(n))
  colnames(rna) <- colnames(acc)
  list(rna = rna, acc = acc, ann = ann, off = off)
}

test_that("LinkPeaksLASSO: window edges, strand-aware distances and proximal/distal classes", {
  p <- planted()
  expect_warning(
    links <- LinkPeaksLASSO(p$rna, p$acc, genes = c("Gp", "Gm", "Gfar", "Nope"), annotation = p$ann, rna.transform = "none",
                   verbose = FALSE),
    "2 of 4 genes were not fitted: no peaks in window: 1 gene \\(Gfar\\); not in annotation: 1 gene \\(Nope\\)")
  expect_s3_class(links, "data.frame")
  expect_identical(names(links), c("gene", "peak", "coefficient", "std.coefficient", "distance", "class", "r2"))
  expect_true(all(sign(links$std.coefficient) == sign(links$coefficient)))
  info <- attr(links, "genes")
  expect_identical(info$gene, c("Gp", "Gm", "Gfar", "Nope"))
  expect_identical(info$status, c("ok", "ok", "no peaks in window", "not in annotation"))
  # the peak exactly at TSS + 100 kb is in the window, the one 1 bp further is not
  expect_identical(info$n.peaks, c(6L, 6L, 0L, 0L))
  expect_true(all(info$r2[1:2] > 0.9))

  gp <- links[links$gene == "Gp", ]
  expect_identical(gp$distance, sort(p$off[1:6])) # plus strand: distance = midpoint - TSS
  expect_identical(gp$class, c("distal", "proximal", "proximal", "distal", "distal", "distal"))
  expect_false(any(grepl("chr1-1100001", links$peak)))
  expect_equal(gp$coefficient, c(1, 2, 1.5, 1, 2, 1), tolerance = 0.1)
  expect_true(all(gp$r2 == info$r2[1]))

  gm <- links[links$gene == "Gm", ]
  # minus strand: upstream is the higher coordinate, distance = TSS - midpoint; the mirrored
  # peaks give the same distances and classes as on the plus strand
  expect_identical(gm$distance, gp$distance)
  expect_identical(gm$class, gp$class)
  expect_identical(gm$peak[gm$distance == -2000], "chr2-1001900-1002100") # 2 kb upstream on '-' = TSS + 2000
  expect_identical(gm$peak[gm$distance == 500], "chr2-999400-999600") # 500 bp downstream on '-' = TSS - 500
  expect_false("chr2-899899-900099" %in% links$peak) # TSS - 100,001: outside the window

  # a narrower window and a custom proximal range
  l2 <- LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = p$ann, window = 2000, proximal = c(0, 600),
                       rna.transform = "none", verbose = FALSE)
  expect_identical(attr(l2, "genes")$n.peaks, 3L)
  expect_identical(l2$class, c("distal", "proximal", "proximal"))
  # the session's random state is not touched
  set.seed(9)
  before <- .Random.seed
  LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = p$ann, rna.transform = "none", verbose = FALSE)
  expect_identical(.Random.seed, before)
})

test_that("LinkPeaksLASSO gives the same links for chr-start-end, chr:start-end and GRanges annotations", {
  p <- planted()
  a <- LinkPeaksLASSO(p$rna, p$acc, genes = c("Gp", "Gm"), annotation = p$ann, rna.transform = "none", verbose = FALSE)
  q <- planted(sep = ":")
  expect_true(all(grepl("^chr[0-9]+:[0-9]+-[0-9]+$", rownames(q$acc))))
  b <- LinkPeaksLASSO(q$rna, q$acc, genes = c("Gp", "Gm"), annotation = q$ann, rna.transform = "none", verbose = FALSE)
  expect_identical(b$peak, sub("^(chr[0-9]+)-", "\\1:", a$peak))
  expect_identical(b[, -2], a[, -2])
  u <- planted(sep = "_")
  c2 <- LinkPeaksLASSO(u$rna, u$acc, genes = c("Gp", "Gm"), annotation = u$ann, rna.transform = "none", verbose = FALSE)
  expect_identical(c2[, -2], a[, -2])

  # GRanges: TSS = start on '+', end on '-'; several ranges per gene collapse to the most 5' one
  skip_if_not_installed("GenomicRanges")
  gr <- GenomicRanges::GRanges(c("chr1:1000000-1009000:+", "chr1:1005000-1009000:+", "chr2:990001-1000000:-",
                                 "chr2:950001-980000:-"))
  gr$gene_name <- c("Gp", "Gp", "Gm", "Gm")
  g <- LinkPeaksLASSO(p$rna, p$acc, genes = c("Gp", "Gm"), annotation = gr, rna.transform = "none", verbose = FALSE)
  expect_identical(g[, names(g)], a[, names(a)])
  expect_identical(attr(g, "genes")$tss, c(1e6, 1e6))
})

test_that("LinkPeaksLASSO errors are one line and name the problem and the fix", {
  p <- planted()
  acc <- p$acc
  rownames(acc)[3] <- "peak_without_position"
  e <- tryCatch(LinkPeaksLASSO(p$rna, acc, genes = "Gp", annotation = p$ann), error = function(e) e)
  expect_s3_class(e, "scmvp_error")
  expect_match(conditionMessage(e), "1 peak names do not parse as chrom-start-end \\(e.g. 'peak_without_position'\\); name peaks like chr1-100-600, chr1:100-600")
  expect_true(one_line(conditionMessage(e)))
  msg <- function(expr) tryCatch({
    expr
    ""
  }, error = function(e) conditionMessage(e))
  checks <- list(
    list(msg(LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = p$ann[, c("gene_name", "chrom")])),
         "lacks the columns tss, strand; it needs gene_name, chrom, tss \\(1-based\\) and strand"),
    list(msg(LinkPeaksLASSO(p$rna, p$acc, genes = 1:3, annotation = p$ann)), "genes must be a character vector of gene names"),
    list(msg(LinkPeaksLASSO(p$rna, p$acc[, 1:10], genes = "Gp", annotation = p$ann)), "has 300 cells but the accessibility matrix has 10"),
    list(msg(LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = "mm9")), "no bundled gene table for genome \"mm9\""),
    list(msg(LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = p$ann, window = -1)), "window must be one number at least 0"),
    list(msg(LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = p$ann, s = "lambda.max")), "s must be one of \"lambda.min\", \"lambda.1se\""),
    list(msg(LinkPeaksLASSO(p$rna, p$acc, genes = "Gp", annotation = transform(p$ann, strand = "*"))), "strand other than \\+/-"),
    list(msg(LinkPeaksLASSO(unname(p$rna), p$acc, genes = "Gp", annotation = p$ann)), "needs feature names \\(rownames\\) and cell names")
  )
  for (ck in checks) {
    expect_match(ck[[1]], ck[[2]])
    expect_true(one_line(ck[[1]]))
  }
  obj <- example_object(200)
  e <- msg(LinkPeaksLASSO(obj, genes = "Sst"))
  expect_match(e, "assay 'scmvpRNA' is not in the object \\(assays: RNA, ATAC\\); pass rna.assay = one of them, or run RunSCMVP")
  expect_true(one_line(e))
})

test_that("LinkPeaksLASSO on raw counts of the bundled data finds the marker genes and reports the rest", {
  obj <- example_object(600)
  expect_warning(links <- LinkPeaksLASSO(obj, genes = c("Rorb", "Sst", "Vip", "NotAGene"), rna.assay = "RNA",
                                         atac.assay = "ATAC", rna.layer = "counts", atac.layer = "counts", verbose = FALSE),
                 "not in annotation: 1 gene \\(NotAGene\\)")
  info <- attr(links, "genes")
  expect_identical(info$gene, c("Rorb", "Sst", "Vip", "NotAGene"))
  expect_identical(info$tss[1:3], c(19001117, 23890844, 5639218))
  # Vip has no peak of this peak set within 100 kb of its TSS; it is reported, not dropped
  expect_identical(info$status[3:4], c("no peaks in window", "not in annotation"))
  expect_gt(info$n.peaks[1], 5)
  expect_true(all(links$gene %in% c("Rorb", "Sst")))
  expect_true(all(links$class %in% c("proximal", "distal")))
  expect_true(all(abs(links$distance) <= 1e5))
  expect_identical(attr(links, "params")$n.cells, 600L)

  # cells and peaks subsets of the Seurat method
  some <- colnames(obj)[1:300]
  sub <- LinkPeaksLASSO(obj, genes = "Rorb", rna.assay = "RNA", atac.assay = "ATAC", rna.layer = "counts",
                        atac.layer = "counts", cells = some, peaks = links$peak[links$gene == "Rorb"], verbose = FALSE)
  expect_identical(attr(sub, "params")$n.cells, 300L)
  expect_true(all(sub$peak %in% links$peak))
  e <- tryCatch(LinkPeaksLASSO(obj, genes = "Rorb", rna.assay = "RNA", atac.assay = "ATAC", peaks = "chr1-1-2"),
                error = function(e) conditionMessage(e))
  expect_match(e, "1 of the 1 peaks are not in the assay 'ATAC' \\(e.g. chr1-1-2\\); use rownames of the assay 'ATAC'")
  expect_true(one_line(e))
})

test_that("LinkPeaksLASSO on the imputed assays of a fitted object links peaks and beats the raw data's R^2", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  imp <- rownames(obj[["scmvpATAC"]])
  ann <- GeneAnnotation("mm10")
  peaks <- scMVP:::.parse_peaks(imp)
  mid <- (peaks$start + peaks$end) / 2
  genes <- rownames(obj[["scmvpRNA"]])
  near <- vapply(genes, function(g) {
    a <- ann[match(g, ann$gene_name), ]
    sum(peaks$chrom == a$chrom & abs(mid - a$tss) <= 1e5)
  }, numeric(1))
  use <- names(sort(-near[near >= 3]))[1:8]
  imputed <- LinkPeaksLASSO(obj, genes = use, verbose = FALSE)
  info <- attr(imputed, "genes")
  expect_identical(info$status, rep("ok", 8))
  expect_gt(nrow(imputed), 0)
  expect_true(all(imputed$peak %in% imp))
  expect_true(all(is.finite(info$r2)))
  obj <- Seurat::NormalizeData(obj, verbose = FALSE)
  raw <- suppressWarnings(LinkPeaksLASSO(obj, genes = use, rna.assay = "RNA", atac.assay = "ATAC", atac.layer = "counts",
                                         rna.transform = "none", peaks = imp, verbose = FALSE))
  rinfo <- attr(raw, "genes")
  expect_identical(rinfo$gene, use)
  expect_identical(rinfo$n.peaks, info$n.peaks) # the same peaks in each window
  expect_true(all(raw$peak %in% imp))
  expect_gt(mean(info$r2), mean(rinfo$r2, na.rm = TRUE))
})

test_that("ImputeSCMVP recomputes the stored imputations exactly, and LinkPeaksLASSO uses it for a truncated ATAC assay", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  misc <- SeuratObject::Misc(obj[["scmvp"]])
  expect_identical(misc$imputed$atac.assay, "scmvpATAC")
  expect_null(misc$imputed$atac.threshold) # 5,000 peaks x 2,000 cells are kept dense
  peaks <- rownames(obj[["scmvpATAC"]])[c(5, 1, 300)]
  p <- ImputeSCMVP(obj, features = peaks)
  expect_identical(dimnames(p), list(peaks, colnames(obj)))
  expect_equal(p, as.matrix(SeuratObject::GetAssayData(obj, slot = "data", assay = "scmvpATAC")[peaks, ]), tolerance = 1e-5)
  genes <- rownames(obj[["scmvpRNA"]])[1:3]
  x <- ImputeSCMVP(obj, features = genes, view = "rna")
  expect_equal(x, as.matrix(SeuratObject::GetAssayData(obj, slot = "data", assay = "scmvpRNA")[genes, ]), tolerance = 1e-4)
  err <- tryCatch(ImputeSCMVP(obj, features = c(peaks, "chr1-1-2")), error = identity)
  expect_match(conditionMessage(err), "1 of the 4 features are not in the model's peaks \\(e.g. chr1-1-2\\)")
  expect_true(one_line(conditionMessage(err)))

  # the same object with the ATAC imputation stored truncated, as RunSCMVP does for large data
  genes <- c("Rorb", "Gad1", "Sst")
  full <- LinkPeaksLASSO(obj, genes = genes, verbose = FALSE)
  dense <- SeuratObject::GetAssayData(obj, slot = "data", assay = "scmvpATAC")
  trunc <- obj
  cut <- Matrix::Matrix(ifelse(as.matrix(dense) >= 0.1, as.matrix(dense), 0), sparse = TRUE)
  trunc[["scmvpATAC"]] <- SeuratObject::CreateAssayObject(data = cut)
  trunc[["scmvp"]]@misc$imputed$atac.threshold <- 0.1
  again <- LinkPeaksLASSO(trunc, genes = genes, verbose = FALSE)
  expect_equal(attr(again, "genes")$r2, attr(full, "genes")$r2, tolerance = 1e-3)
  expect_identical(again$peak, full$peak)
  # without the record, the truncated values themselves are used (and give other fits)
  trunc[["scmvp"]]@misc$imputed$atac.threshold <- NULL
  expect_warning(cut_fit <- LinkPeaksLASSO(trunc, genes = genes, verbose = FALSE), "constant peaks")
  expect_false(isTRUE(all.equal(attr(cut_fit, "genes")$r2, attr(full, "genes")$r2, tolerance = 1e-3)))
})
