import numpy as np
import pytest
import torch

from scmvp.prior import GMMPrior, estimate_n_components, gaussian_kl, normal_kl


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


@pytest.mark.parametrize("k", [3, 6, 12])
def test_estimate_n_components_counts_planted_groups(k):
    # k well-separated groups of 150 cells in a 10-dimensional embedding, with a spread that
    # varies across groups: the 50 KMeans groups merge back into the k planted ones
    rng = np.random.default_rng(k)
    centres = rng.normal(0.0, 6.0, size=(k, 10))
    z = np.concatenate([c + rng.normal(0.0, 0.5 + 0.5 * rng.random(), size=(150, 10)) for c in centres])
    assert estimate_n_components(z, seed=0, resolution=1.0) == k
    # the default counts finer (surplus components are merged into clusters later) but never
    # joins two planted groups
    assert k <= estimate_n_components(z, seed=0) <= 50


def test_estimate_n_components_stays_in_bounds():
    rng = np.random.default_rng(0)
    two_points = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    assert estimate_n_components(two_points, resolution=1.0, bounds=(3, 50)) == 3  # raised to the lower bound
    assert estimate_n_components(rng.normal(size=(30, 5)), bounds=(2, 50)) <= 30  # never more than the cells
    assert estimate_n_components(rng.normal(size=(2000, 5)), bounds=(2, 4)) <= 4


def test_resize_gives_new_uninitialised_components():
    prior = GMMPrior(4, 3)
    prior.initialise(np.random.default_rng(0).normal(size=(200, 3)))
    old = list(prior.parameters())
    prior.resize(7)
    assert prior.n_clusters == 7 and not bool(prior.initialised)
    assert [tuple(p.shape) for p in prior.parameters()] == [(7,), (7, 3), (7, 3)]
    assert not any(p is q for p in prior.parameters() for q in old)
    assert prior.log_q_c(torch.zeros(5, 3)).shape == (5, 7)
