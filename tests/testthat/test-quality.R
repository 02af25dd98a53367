# The one real-data quality test: clusters of the shared fit (2,000 random cells of the SNARE-seq
# adult cortex data, 5,000 peaks, 10 epochs, K estimated) against the published cell types.
# Measured (R 4.2, torch 2.13 CPU, seed 42, atac_weight 0.05): scMVP clusters ARI 0.299 / NMI 0.443
# (K = 38); KMeans (k = 23 labels) on the embedding ARI 0.275 / NMI 0.468. Thresholds sit below
# (a 10-epoch fit on 2,000 cells varies more than the full-data fit of the Python suite).

test_that("scMVP clusters agree with the published cell types", {
  skip_if_no_scmvp()
  obj <- fitted_object()
  labels <- obj$cell_type
  clusters <- ClusterAgreement(labels, obj$scmvp_clusters)
  expect_equal(unname(clusters[["ARI"]]), ari_reference(labels, obj$scmvp_clusters))
  expect_gt(clusters[["ARI"]], 0.20)
  expect_gt(clusters[["NMI"]], 0.38)
  emb <- SeuratObject::Embeddings(obj[["scmvp"]])
  set.seed(0)
  km <- stats::kmeans(emb, centers = length(unique(labels)), nstart = 10, iter.max = 100)$cluster
  kmeans <- ClusterAgreement(labels, km)
  expect_gt(kmeans[["ARI"]], 0.22)
  expect_gt(kmeans[["NMI"]], 0.40)
  # far above chance: shuffled labels give ARI near 0
  set.seed(1)
  expect_lt(abs(ClusterAgreement(sample(labels), obj$scmvp_clusters)[["ARI"]]), 0.02)
})
