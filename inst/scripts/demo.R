# scMVP from R, end to end on the bundled SNARE-seq adult mouse cortex data (10,309 cells):
# build a Seurat object, RunSCMVP, UMAP of the scMVP embedding coloured by scMVP clusters and by
# the published labels, ARI/NMI against the published labels, time and memory.
#
#   Rscript inst/scripts/demo.R OUT_DIR [EPOCHS]
#
# EPOCHS (default: $SCMVP_DEMO_EPOCHS, else scMVP's own schedule: 60 epochs at 10k cells) caps
# training; early stopping may end it sooner.
# Writes to OUT_DIR: umap.png, embedding.tsv, clusters.tsv, metrics.tsv, model.pt.
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[[1]] else file.path("out", "demo", "R")
epochs <- if (length(args) >= 2) args[[2]] else Sys.getenv("SCMVP_DEMO_EPOCHS", "")
epochs <- if (nzchar(epochs)) as.integer(epochs) else NULL
dir.create(out, recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages({
  library(scMVP)
  library(Seurat)
})
options(Seurat.warn.umap.uwot = FALSE)

# Peak resident memory of this process (R + the embedded Python), from Linux's /proc.
peak_rss_mb <- function() {
  line <- grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE)
  if (!length(line)) return(NA_real_)
  as.numeric(gsub("[^0-9]", "", line)) / 1024
}
reset_peak_rss <- function() {
  ok <- tryCatch({
    cat("5", file = "/proc/self/clear_refs")
    TRUE
  }, error = function(e) FALSE)
  invisible(ok)
}

# A DimPlot for a slide: the colours of `scmvp demo` (scanpy's palettes, from scmvp.plots), a
# legend with each group's name and number of cells, and the names on the clusters (label = TRUE)
# with a white outline, moved apart by ggrepel.
slide_dimplot <- function(obj, group, title) {
  values <- as.character(obj[[group, drop = TRUE]])
  groups <- unique(values)
  num <- suppressWarnings(as.numeric(groups))
  groups <- if (!anyNA(num)) groups[order(num)] else sort(groups)
  cols <- stats::setNames(unlist(reticulate::import("scmvp.plots")$categorical_palette(length(groups))), groups)
  counts <- table(factor(values, levels = groups))
  obj[[group]] <- factor(values, levels = groups)
  p <- DimPlot(obj, reduction = "umap_scmvp", group.by = group, cols = cols, label = TRUE, repel = TRUE,
               label.size = 3, pt.size = 0.2, shuffle = TRUE, seed = 0)
  labels <- p$layers[[length(p$layers)]]  # the names on the clusters (ggrepel)
  labels$geom_params$bg.colour <- "white"
  labels$geom_params$bg.r <- 0.15
  suppressMessages(p + ggplot2::scale_colour_manual(
    values = cols, labels = sprintf("%s (%s)", groups, formatC(as.vector(counts), format = "d", big.mark = ",")),
    name = sprintf("%d groups (cells)", length(groups))
  )) + ggplot2::guides(colour = ggplot2::guide_legend(override.aes = list(size = 2.5), ncol = if (length(groups) > 26) 2 else 1)) +
    ggplot2::labs(title = title, x = "UMAP 1", y = "UMAP 2") + ggplot2::theme(plot.title = ggplot2::element_text(face = "plain"))
}

t_all <- proc.time()[["elapsed"]]
obj <- ReadSCMVPExample()
cat(sprintf("scMVP demo (R): %d cells, %d genes, %d peaks from the bundled SNARE-seq adult cortex data\n",
            ncol(obj), nrow(obj[["RNA"]]), nrow(obj[["ATAC"]])))
print(scmvp_config())

mem_before <- peak_rss_mb()
reset <- reset_peak_rss()
t0 <- proc.time()[["elapsed"]]
# no model settings: every default (seed included) is the Python package's, as in `scmvp demo`
obj <- RunSCMVP(obj, rna.assay = "RNA", atac.assay = "ATAC", epochs = epochs)
fit_s <- proc.time()[["elapsed"]] - t0
mem_peak <- peak_rss_mb()
red <- obj[["scmvp"]]
misc <- SeuratObject::Misc(red)
cat(sprintf("scMVP: RunSCMVP took %.0f s (%d epochs, %d clusters from K = %d mixture components); peak memory of the R process %s: %.0f MB\n",
            fit_s, length(misc$history$loss), misc$n.clusters, misc$params$n_clusters,
            if (reset) "during RunSCMVP" else "(whole run)", mem_peak))

emb <- SeuratObject::Embeddings(red)
labels <- obj$cell_type
scores <- ClusterAgreement(labels, obj$scmvp_clusters)
set.seed(0)
km <- stats::kmeans(emb, centers = length(unique(labels)), nstart = 10, iter.max = 100)$cluster
km_scores <- ClusterAgreement(labels, km)
cat(sprintf("scMVP: KMeans (k=%d) ARI %.3f  NMI %.3f; mixture clusters ARI %.3f  NMI %.3f\n",
            length(unique(labels)), km_scores[["ARI"]], km_scores[["NMI"]], scores[["ARI"]], scores[["NMI"]]))

# the same seed as the fit and as `scmvp demo`, so that both halves of the demo can be compared
obj <- RunUMAP(obj, reduction = "scmvp", dims = seq_len(ncol(emb)), reduction.name = "umap_scmvp",
               reduction.key = "scmvpUMAP_", seed.use = misc$params$seed, verbose = FALSE)
p <- slide_dimplot(obj, "cell_type", "published labels (cell_type)") +
  slide_dimplot(obj, "scmvp_clusters", sprintf("scMVP clusters (%d mixture components merged)", misc$params$n_clusters))
png(file.path(out, "umap.png"), width = 2300, height = 900, res = 150)
print(p)
invisible(dev.off())

utils::write.table(data.frame(barcode = rownames(emb), emb, check.names = FALSE), file.path(out, "embedding.tsv"),
                   sep = "\t", quote = FALSE, row.names = FALSE)
utils::write.table(data.frame(barcode = colnames(obj), cluster = obj$scmvp_clusters,
                              probability = obj$scmvp_clusters_probability, cell_type = labels),
                   file.path(out, "clusters.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
SaveSCMVPModel(obj, file.path(out, "model.pt"), overwrite = TRUE)
metrics <- data.frame(
  metric = c("cells", "epochs", "n_clusters", "fit_seconds", "peak_memory_mb", "kmeans_ari", "kmeans_nmi",
             "cluster_ari", "cluster_nmi"),
  value = c(ncol(obj), length(misc$history$loss), misc$n.clusters, round(fit_s, 1), round(mem_peak),
            round(c(km_scores, scores), 4))
)
utils::write.table(metrics, file.path(out, "metrics.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
cat(sprintf("scMVP demo (R): done in %.0f s; wrote %s to %s\n", proc.time()[["elapsed"]] - t_all,
            paste(sort(list.files(out)), collapse = ", "), out))
