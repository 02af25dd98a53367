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

from .data import log_normalise

__all__ = ["GMMPrior", "normal_kl", "estimate_n_clusters", "correlation_spectrum"]

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


def correlation_spectrum(X, chunk: int = 1024):
    """Nonzero eigenvalues of Z Z^T / p and p, for Z = X with each column standardised.

    ``X`` is a cells x features CSR matrix; constant columns are dropped (p counts the rest).
    Never holds the dense cells x features matrix: with more features than cells the n x n Gram
    matrix is summed over dense blocks of ``chunk`` columns (BLAS ``syrk``), otherwise the
    p x p one over blocks of ``chunk`` cells. Peak memory is ~8 min(n, p)^2 bytes plus one
    block, against 8-24 n p bytes for an SVD of the dense matrix (3 GB for 5,000 cells and
    24,744 peaks).
    """
    import scipy.linalg
    import scipy.sparse as sp

    X = sp.csr_matrix(X, dtype=np.float64)
    n, p = X.shape
    mean = np.asarray(X.mean(axis=0)).ravel()
    var = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2
    keep = var > 1e-12 * np.maximum(mean**2, 1.0)
    X, mean, sd = X[:, keep], mean[keep], np.sqrt(var[keep])
    p = X.shape[1]
    if p == 0:
        return np.zeros(0), 0
    if p > n:  # Gram over cells: G = sum over column blocks of B B^T
        G, cols = np.zeros((n, n), order="F"), X.tocsc()
        for s in range(0, p, chunk):
            block = cols[:, s:s + chunk].toarray(order="F")
            block -= mean[s:s + chunk]
            block /= sd[s:s + chunk]
            G = scipy.linalg.blas.dsyrk(1.0, block, beta=1.0, c=G, lower=0, overwrite_c=1)
            del block  # never two blocks at once
    else:  # covariance over features: C = sum over row blocks of B^T B
        G = np.zeros((p, p), order="F")
        for s in range(0, n, chunk):
            block = X[s:s + chunk].toarray(order="F")
            block -= mean
            block /= sd
            G = scipy.linalg.blas.dsyrk(1.0, block, beta=1.0, c=G, trans=1, lower=0, overwrite_c=1)
            del block
    eig = scipy.linalg.eigvalsh(G, lower=False, overwrite_a=True, check_finite=False)
    return np.clip(eig[::-1], 0.0, None) / p, p


def estimate_n_clusters(X, max_cells: int = 5000, seed: int = 0, bounds=(2, 50)) -> int:
    """Estimate K as the number of eigenvalues of the cell-cell correlation matrix above the
    Marchenko-Pastur upper edge (the random-matrix rule used by SC3).

    ``X`` is a cells x features CSR count matrix (RNA; ATAC in ATAC-only fits). Cells are
    log-normalised (1e4) and each
    feature standardised; the nonzero spectrum of the n x n cell correlation matrix equals that
    of Z Z^T / p (:func:`correlation_spectrum`), on at most ``max_cells`` cells. Eigenvalues above
    (1 + sqrt(n/p))^2 cannot arise from noise alone; their count, clipped to ``bounds``, is K.
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    idx = np.sort(rng.choice(n, size=min(n, max_cells), replace=False))
    sub = log_normalise(X[idx])
    eig, p = correlation_spectrum(sub)
    ncell = sub.shape[0]
    edge = (1.0 + math.sqrt(ncell / max(p, 1))) ** 2
    k = int((eig > edge).sum())
    return int(min(max(k, bounds[0]), bounds[1]))
