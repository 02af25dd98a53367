import numpy as np
import pytest
import scipy.stats as st
import torch

from scmvp.distributions import (
    NegativeBinomial, ZeroInflatedPoisson, nb_log_prob, nb_log_prob_zero, sparse_log_likelihood,
    zip_log_prob, zip_log_prob_zero,
)


def test_nb_matches_scipy():
    x = torch.tensor([0.0, 1, 3, 10, 50], dtype=torch.float64)
    mu = torch.tensor([0.5, 2.0, 3.0, 8.0, 40.0], dtype=torch.float64)
    theta = torch.tensor([0.3, 1.0, 5.0, 2.0, 10.0], dtype=torch.float64)
    p = (theta / (theta + mu)).numpy()
    expected = st.nbinom.logpmf(x.numpy(), theta.numpy(), p)
    np.testing.assert_allclose(nb_log_prob(x, mu, theta).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(nb_log_prob_zero(mu, theta).numpy(), st.nbinom.logpmf(0, theta.numpy(), p), rtol=1e-6)


def test_zip_matches_closed_form():
    x = torch.tensor([0.0, 0, 1, 2, 5], dtype=torch.float64)
    rate = torch.tensor([0.01, 2.0, 0.5, 3.0, 4.0], dtype=torch.float64)
    logits = torch.tensor([-2.0, 0.5, 1.0, -1.0, 0.0], dtype=torch.float64)
    pi = torch.sigmoid(logits).numpy()
    pois = st.poisson.pmf(x.numpy(), rate.numpy())
    expected = np.log(np.where(x.numpy() == 0, pi + (1 - pi) * pois, (1 - pi) * pois))
    np.testing.assert_allclose(zip_log_prob(x, rate, logits).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(zip_log_prob_zero(rate, logits).numpy()[:2], expected[:2], rtol=1e-6)


def test_zip_zero_is_finite_for_extreme_parameters():
    out = zip_log_prob_zero(torch.tensor([1e4, 0.0]), torch.tensor([-50.0, 50.0]))
    assert torch.isfinite(out).all()
    assert out[0] >= -16.2 and abs(float(out[1])) < 1e-6


@pytest.mark.parametrize("which", ["nb", "zip"])
def test_sparse_log_likelihood_equals_dense_sum(which):
    g = torch.Generator().manual_seed(0)
    x = torch.poisson(torch.rand(6, 30, generator=g) * 1.5)
    a = torch.rand(6, 30, generator=g) * 3 + 0.05
    if which == "nb":
        b = torch.rand(30, generator=g) * 4 + 0.1  # per-feature theta (broadcast)
        dense = nb_log_prob(x, a, b).sum(-1)
        fns = (nb_log_prob, nb_log_prob_zero)
    else:
        b = torch.randn(6, 30, generator=g)
        dense = zip_log_prob(x, a, b).sum(-1)
        fns = (zip_log_prob, zip_log_prob_zero)
    rows, cols = torch.nonzero(x, as_tuple=True)
    sparse = sparse_log_likelihood(*fns, rows, cols, x[rows, cols], a, b)
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-4)


def test_distribution_classes_moments():
    torch.manual_seed(0)
    nb = NegativeBinomial(torch.full((20000,), 4.0), torch.full((20000,), 2.0))
    s = nb.sample()
    assert abs(float(s.mean()) - 4.0) < 0.15 and abs(float(s.var()) - float(nb.variance[0])) < 1.0
    z = ZeroInflatedPoisson(torch.full((20000,), 3.0), torch.full((20000,), 0.0))
    s = z.sample()
    assert abs(float(s.mean()) - float(z.mean[0])) < 0.1
    assert abs(float((s > 0).float().mean()) - float(z.accessibility()[0])) < 0.02
