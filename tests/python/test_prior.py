import numpy as np
import pytest
import scipy.sparse as sp
import torch

from synthetic import make_paired

from scmvp.prior import GMMPrior, correlation_spectrum, estimate_n_clusters, gaussian_kl, normal_kl


def test_q_c_is_normalised_and_stable_far_from_all_components():
    prior = GMMPrior(4, 3)
    z = torch.tensor([[0.0, 0.0, 0.0], [1e3, -1e3, 5e2]])
    log_q = prior.log_q_c(z)
    assert torch.isfinite(log_q).all()
    torch.testing.assert_close(log_q.exp().sum(-1), torch.ones(2))


def test_gmm_kl_matches_monte_carlo():
    torch.manual_seed(0)
    prior = GMMPrior(3, 2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]]))
        prior.logvars.copy_(torch.tensor([[0.0, 0.3], [-0.5, 0.0], [0.2, -0.2]]))
        prior.pi_logits.copy_(torch.tensor([0.0, 0.5, -0.5]))
    torch.set_grad_enabled(False)
    mean, logvar = torch.tensor([[1.0, 0.5]]), torch.tensor([[-1.0, -0.5]])
    # VaDE's closed form is evaluated at one z; compare with a Monte Carlo estimate of the same
    # quantity E_q(z)[ sum_c g(z)_c (log q(z) - log p(z|c) + log g_c - log pi_c) ] with g fixed at z.
    z = torch.tensor([[1.1, 0.4]])
    closed = prior.kl(z, mean, logvar).detach()
    eps = torch.randn(200000, 2)
    zs = mean + eps * (0.5 * logvar).exp()
    log_qz = (-0.5 * (np.log(2 * np.pi) + logvar + eps**2)).sum(-1)
    log_g = prior.log_q_c(z)
    log_pzc = prior.log_p_z_given_c(zs)
    log_pi = torch.log_softmax(prior.pi_logits, 0)
    mc = (log_g.exp() * (log_qz[:, None] - log_pzc + log_g - log_pi)).sum(-1).mean()
    torch.set_grad_enabled(True)
    assert abs(float(closed) - float(mc)) < 0.02


def test_normal_kl_closed_form():
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    expected = gaussian_kl(mean, logvar, torch.zeros(1, 2), torch.zeros(1, 2))
    torch.testing.assert_close(normal_kl(mean, logvar), expected)
    assert float(normal_kl(torch.zeros(1, 2), torch.zeros(1, 2))) == 0.0


def test_initialise_copies_a_fitted_mixture():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]], dtype=float)
    z = np.vstack([c + rng.normal(0, 0.3, (200, 2)) for c in centres])
    prior = GMMPrior(3, 2)
    labels = prior.initialise(z, seed=0)
    assert bool(prior.initialised)
    found = np.sort(prior.means.detach().numpy()[:, 0])
    np.testing.assert_allclose(found, [0, 0, 6], atol=0.2)
    assert len(set(labels)) == 3


def test_initialise_matches_the_aggregate_posterior_variance():
    # three groups of posteriors N(m_i, v_i): the mixture of all of them has, within a group,
    # variance Var(m) + E[v] (law of total variance); fitting the means alone gives only Var(m)
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]], dtype=float)
    means = np.vstack([c + rng.normal(0, 0.3, (400, 2)) for c in centres])
    post_var = np.column_stack([np.full(1200, 0.5), rng.uniform(0.1, 0.3, 1200)])
    prior = GMMPrior(3, 2)
    prior.initialise(means, post_var, seed=0)
    order = np.lexsort(prior.means.detach().numpy().T[::-1])
    fitted = prior.logvars.detach().exp().numpy()[order]
    groups = [means[:400], means[800:], means[400:800]]  # sorted like the components: (0,0), (0,6), (6,0)
    for var, group in zip(fitted, groups):
        np.testing.assert_allclose(var, group.var(0) + post_var.mean(0), rtol=0.08, atol=1e-3)
    means_only = GMMPrior(3, 2)
    means_only.initialise(means, seed=0)
    assert (means_only.logvars.detach().exp().numpy() < 0.15).all()


def test_initialise_after_warmup_does_not_favour_the_broadest_component():
    # the failure the aggregate-posterior variance fixes: posteriors still as wide as the
    # warm-up's N(0, 1) against a mixture fitted to their means alone; q(c|z) at sampled z then
    # sends a large share of all cells to the broadest component
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.5, (8, 4))
    means = np.vstack([c + rng.normal(0, 0.1 * (1 + i), (250, 4)) for i, c in enumerate(centres)])
    post_var = np.full_like(means, 0.8)
    z = torch.as_tensor(means + rng.normal(size=means.shape) * np.sqrt(post_var), dtype=torch.float32)
    largest = {}
    for name, var in (("means only", None), ("aggregate", post_var)):
        prior = GMMPrior(8, 4)
        prior.initialise(means, var, seed=0)
        with torch.no_grad():
            largest[name] = np.bincount(prior.log_q_c(z).argmax(1).numpy(), minlength=8).max()
    assert largest["aggregate"] <= 1.3 * 250, largest
    assert largest["means only"] >= 2 * 250, largest


def test_estimate_n_clusters_recovers_planted_groups():
    for k in (3, 6):
        rna = make_paired(n_cells=600, n_genes=300, n_groups=k, seed=1)[0]
        est = estimate_n_clusters(rna)
        assert abs(est - k) <= 2, (k, est)


def _dense_spectrum(X):
    """The reference: squared singular values / p of the column-standardised dense matrix."""
    dense = X.toarray().astype(np.float64)
    dense = dense[:, dense.std(axis=0) > 0]
    dense = (dense - dense.mean(axis=0)) / dense.std(axis=0)
    return np.linalg.svd(dense, compute_uv=False) ** 2 / dense.shape[1], dense.shape[1]


@pytest.mark.parametrize("n_cells, n_features", [(40, 150), (150, 40)])
def test_correlation_spectrum_equals_the_dense_svd(n_cells, n_features):
    # both paths (more features than cells: Gram over cells; fewer: covariance over features),
    # with blocks of 7 so that several are summed, and a constant (empty) column dropped
    X = sp.random(n_cells, n_features, density=0.2, random_state=3, format="csr") * 10
    X = sp.hstack([X, sp.csr_matrix((n_cells, 1))]).tocsr()
    eig, p = correlation_spectrum(X, chunk=7)
    ref, p_ref = _dense_spectrum(X)
    assert p == p_ref == n_features
    np.testing.assert_allclose(eig[: len(ref)], ref, rtol=1e-8, atol=1e-10)
    assert np.all(np.abs(eig[len(ref):]) < 1e-10)


def test_estimate_n_clusters_never_holds_the_dense_matrix():
    # 2,000 cells x 20,000 features: the dense float64 matrix is 320 MB; the estimate must stay
    # well below it (the SVD of the dense matrix peaked at ~3 GB on the bundled 24,744 peaks)
    import tracemalloc

    X = sp.random(2000, 20000, density=0.01, random_state=0, format="csr", dtype=np.float32)
    X.data = np.ceil(X.data * 3)
    dense_bytes = 2000 * 20000 * 8
    tracemalloc.start()
    estimate_n_clusters(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < dense_bytes / 3, (peak, dense_bytes)
