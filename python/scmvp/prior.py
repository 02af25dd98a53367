"""The Gaussian-mixture prior p(z) = sum_c p(c) N(z | mu_c, diag(sigma2_c)) (VaDE-style).

q(c|z) is computed in log space (``log_softmax``), the KL is closed form in the encoder's
log-variance, and :meth:`GMMPrior.initialise` copies a sklearn ``GaussianMixture`` fitted on
latent means, with each component's variance widened by its cells' mean posterior variance,
into the prior after the warm-up with a standard normal prior.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GMMPrior", "normal_kl", "estimate_n_components"]

#: Bounds of an estimated K (mixture components).
K_BOUNDS = (2, 50)
#: Modularity resolution at which :func:`estimate_n_components` counts the embedding's groups:
#: finer than the clusters kept (``cluster_resolution``, 0.5), because surplus components are
#: merged afterwards while too few merge cell types that nothing splits again. At 1 (Seurat's
#: default) the cortex data's warm-up embedding gave 12 components for 23 types and lost 0.045
#: KMeans ARI; at 3, 31 and none (bench/RESULTS.md, "Why K is chosen after the warm-up").
K_RESOLUTION = 3.0

_LOG_2PI = math.log(2.0 * math.pi)


def normal_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per cell (summed over latent dims)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_kl(mean_q, logvar_q, mean_p, logvar_p) -> torch.Tensor:
    """KL(N_q || N_p) for diagonal Gaussians, summed over the last dim."""
    return 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).pow(2)) / logvar_p.exp() - 1.0
    ).sum(-1)


class GMMPrior(nn.Module):
    """K-component diagonal Gaussian mixture over the d-dimensional latent space."""

    def __init__(self, n_clusters: int, n_latent: int):
        super().__init__()
        self.n_clusters, self.n_latent = n_clusters, n_latent
        self.pi_logits = nn.Parameter(torch.zeros(n_clusters))
        self.means = nn.Parameter(torch.randn(n_clusters, n_latent) * 0.1)
        self.logvars = nn.Parameter(torch.zeros(n_clusters, n_latent))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def resize(self, n_clusters: int) -> None:
        """Start over with ``n_clusters`` components (new, uninitialised parameters on the same
        device): K chosen at the end of the warm-up (:func:`estimate_n_components`)."""
        dev = self.means.device
        self.n_clusters = n_clusters
        self.pi_logits = nn.Parameter(torch.zeros(n_clusters, device=dev))
        self.means = nn.Parameter(torch.zeros(n_clusters, self.n_latent, device=dev))  # set by initialise
        self.logvars = nn.Parameter(torch.zeros(n_clusters, self.n_latent, device=dev))
        self.initialised.fill_(False)

    def log_p_z_given_c(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z | mu_c, sigma2_c) for every c: (B, K)."""
        diff = z.unsqueeze(1) - self.means.unsqueeze(0)
        return -0.5 * (_LOG_2PI + self.logvars + diff.pow(2) / self.logvars.exp()).sum(-1)

    def log_q_c(self, z: torch.Tensor) -> torch.Tensor:
        """log q(c|z) = log_softmax_c(log p(c) + log p(z|c)): (B, K)."""
        return torch.log_softmax(F.log_softmax(self.pi_logits, 0) + self.log_p_z_given_c(z), dim=-1)

    def kl(self, z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """E_q[log q(z|x) - log p(z|c)] weighted by q(c|z), plus KL(q(c|z) || p(c)), per cell.

        The Gaussian part is closed form given the encoder's (mean, logvar); q(c|z) is
        evaluated at the sampled ``z`` (as in VaDE).
        """
        log_gamma = self.log_q_c(z)
        gamma = log_gamma.exp()
        # E_{q(z)}[-log p(z|c)] for every c, closed form
        cross = 0.5 * (
            _LOG_2PI
            + self.logvars.unsqueeze(0)
            + (logvar.exp().unsqueeze(1) + (mean.unsqueeze(1) - self.means.unsqueeze(0)).pow(2))
            / self.logvars.exp().unsqueeze(0)
        ).sum(-1)
        entropy = 0.5 * (1.0 + _LOG_2PI + logvar).sum(-1)
        log_pi = F.log_softmax(self.pi_logits, 0)
        kl_c = (gamma * (log_gamma - log_pi.unsqueeze(0))).sum(-1)
        return (gamma * cross).sum(-1) - entropy + kl_c

    @torch.no_grad()
    def initialise(self, latent_means: np.ndarray, latent_vars: Optional[np.ndarray] = None, seed: int = 0) -> np.ndarray:
        """Fit the mixture to the aggregate posterior and copy it in; returns the labels.

        sklearn ``GaussianMixture(K, diag)`` is fitted on the latent means; with ``latent_vars``
        (the cells' posterior variances) each component's variance becomes the spread of its
        cells' means plus their mean posterior variance, the variance of the aggregate posterior
        sum_i q(z|x_i) within the component. Fitted to the means alone, the components were
        narrower than the posteriors they had to explain (at the end of the warm-up the
        posterior variances are still near the normal prior's 1), so q(c|z) at a sampled z
        favoured the broadest component almost everywhere and the KL pulled the cells into it: on
        2,000 bundled cells 1,706 of 2,000 cells were in one of 36 components two epochs after
        the initialisation (bench/RESULTS.md).
        """
        from sklearn.mixture import GaussianMixture

        means64 = latent_means.astype(np.float64)
        gmm = GaussianMixture(
            self.n_clusters, covariance_type="diag", random_state=seed, n_init=1, reg_covar=1e-4
        ).fit(means64)
        variances = gmm.covariances_
        if latent_vars is not None:
            resp = gmm.predict_proba(means64)
            variances = variances + (resp.T @ latent_vars.astype(np.float64)) / np.maximum(resp.sum(0), 1e-10)[:, None]
        dev = self.means.device
        self.pi_logits.copy_(torch.as_tensor(np.log(gmm.weights_ + 1e-10), dtype=torch.float32, device=dev))
        self.means.copy_(torch.as_tensor(gmm.means_, dtype=torch.float32, device=dev))
        self.logvars.copy_(torch.as_tensor(np.log(variances), dtype=torch.float32, device=dev))
        self.initialised.fill_(True)
        return gmm.predict(means64)


def estimate_n_components(z: np.ndarray, seed: int = 0, resolution: float = K_RESOLUTION, n_groups: int = 50,
                          bounds=K_BOUNDS) -> int:
    """K for the mixture: the groups of cells in the embedding ``z`` (cells x d posterior means,
    at the end of the warm-up), counted by graph modularity as Leiden or ``FindClusters`` do.

    ``n_groups`` KMeans groups (finer than any K kept) are merged greedily by modularity on the
    15-nearest-neighbour graph of ``z`` at ``resolution`` (:data:`K_RESOLUTION`;
    :mod:`scmvp.clusters`, at most 50,000 cells); what is left, clipped to ``bounds``, is K. The warm-up embedding holds what
    either view separates, so K counts groups that only the chromatin tells apart too, which a
    rule on the RNA counts alone (the Marchenko-Pastur count of signal dimensions that chose K
    before) cannot see (bench/RESULTS.md).
    """
    from sklearn.cluster import KMeans

    from .clusters import MAX_GRAPH_CELLS, component_graph, merge_components

    z = np.asarray(z, dtype=np.float32)
    if z.shape[0] > MAX_GRAPH_CELLS:
        z = z[np.sort(np.random.default_rng(seed).choice(z.shape[0], MAX_GRAPH_CELLS, replace=False))]
    n_groups = min(n_groups, z.shape[0])
    groups = KMeans(n_groups, n_init=1, random_state=seed).fit_predict(z)
    k = len(np.unique(merge_components(component_graph(z, groups, n_groups, seed=seed), resolution)))
    return int(min(max(k, bounds[0]), bounds[1], z.shape[0]))
