#' Agreement between two partitions of the cells (ARI and NMI)
#'
#' Adjusted Rand index and normalised mutual information (arithmetic-mean normalisation, as
#' scikit-learn's default) between, e.g., published cell-type labels and scMVP clusters.
#'
#' @param labels,clusters Two vectors with one label per cell (NA not allowed).
#' @return A named numeric vector `c(ARI = , NMI = )`.
#' @export
#' @examples
#' ClusterAgreement(c("a", "a", "b", "b"), c(1, 1, 2, 2))
#' ClusterAgreement(c("a", "a", "b", "b"), c(1, 2, 1, 2))
ClusterAgreement <- function(labels, clusters) {
  if (length(labels) != length(clusters) || !length(labels)) {
    .abort("scMVP: labels and clusters must have the same, non-zero length (", length(labels), " vs ", length(clusters), ").")
  }
  if (anyNA(labels) || anyNA(clusters)) .abort("scMVP: labels and clusters must not contain NA; drop those cells first.")
  tab <- table(as.character(labels), as.character(clusters))
  n <- sum(tab)
  comb2 <- function(x) x * (x - 1) / 2
  s <- sum(comb2(tab))
  sa <- sum(comb2(rowSums(tab)))
  sb <- sum(comb2(colSums(tab)))
  expected <- sa * sb / comb2(n)
  top <- (sa + sb) / 2
  ari <- if (top == expected) 1 else (s - expected) / (top - expected)
  p <- tab / n
  pa <- rowSums(p)
  pb <- colSums(p)
  nz <- p > 0
  mi <- sum(p[nz] * log(p[nz] / outer(pa, pb)[nz]))
  ent <- function(q) -sum(q[q > 0] * log(q[q > 0]))
  h <- (ent(pa) + ent(pb)) / 2
  nmi <- if (h == 0) 1 else mi / h
  c(ARI = ari, NMI = max(0, min(1, nmi)))
}
