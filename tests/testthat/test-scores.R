test_that("ClusterAgreement matches known values and an independent ARI", {
  expect_equal(ClusterAgreement(c("a", "a", "b", "b"), c(2, 2, 1, 1)), c(ARI = 1, NMI = 1))
  # scikit-learn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714286, NMI = 0.8
  expect_equal(ClusterAgreement(c(0, 0, 1, 1), c(0, 0, 1, 2)), c(ARI = 4 / 7, NMI = 0.8), tolerance = 1e-6)
  set.seed(2)
  a <- sample(letters[1:5], 300, TRUE)
  b <- ifelse(runif(300) < 0.6, a, sample(letters[1:7], 300, TRUE))
  expect_equal(unname(ClusterAgreement(a, b)["ARI"]), ari_reference(a, b))
  # scikit-learn: adjusted_rand_score([0,0,0,1,1,1],[0,1,2,0,1,2]) = -4/11 (worse than chance)
  expect_equal(unname(ClusterAgreement(c(0, 0, 0, 1, 1, 1), c(0, 1, 2, 0, 1, 2))["ARI"]), -4 / 11)
})
