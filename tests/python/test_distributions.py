import numpy as np
import pytest
import scipy.stats as st
import torch

from scmvp.distributions import (
    zip_accessibility, nb_log_prob, nb_log_prob_zero, sparse_log_likelihood,
    zip_log_likelihood_and_mean, zip_log_prob, zip_log_prob_zero,
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


def _elementwise_zip_terms(rows, cols, values, rate, logits):
    ll = sparse_log_likelihood(zip_log_prob, zip_log_prob_zero, rows, cols, values, rate, logits)
    return ll, rate * torch.sigmoid(-logits)


def _sparse_counts(g, shape):
    x = torch.poisson(torch.rand(shape, generator=g, dtype=torch.float64) * 0.8)
    rows, cols = torch.nonzero(x, as_tuple=True)
    return x, rows, cols, x[rows, cols]


def test_zip_log_likelihood_and_mean_equals_elementwise_form_and_its_gradients():
    g = torch.Generator().manual_seed(1)
    x, rows, cols, values = _sparse_counts(g, (5, 40))
    rate = (torch.rand(5, 40, generator=g, dtype=torch.float64) * 3 + 0.01).requires_grad_()
    logits = (torch.randn(5, 40, generator=g, dtype=torch.float64) * 2).requires_grad_()
    fused = lambda r, a: zip_log_likelihood_and_mean(rows, cols, values, r, a)
    assert torch.autograd.gradcheck(fused, (rate, logits))
    dense_ll = zip_log_prob(x, rate, logits).sum(-1)  # the closed form on every entry
    w_ll, w_mean = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, 40, generator=g, dtype=torch.float64)
    grads = []
    for fn in (fused, lambda r, a: _elementwise_zip_terms(rows, cols, values, r, a)):
        ll, mean = fn(rate, logits)
        torch.testing.assert_close(ll, dense_ll)
        torch.testing.assert_close(mean, rate * torch.sigmoid(-logits))
        grads.append(torch.autograd.grad((ll * w_ll).sum() + (mean * w_mean).sum(), (rate, logits)))
    for ours, autograd in zip(*grads):
        torch.testing.assert_close(ours, autograd)
    # only the likelihood used (no cycle): the mean's gradient is None
    (ours,) = torch.autograd.grad(fused(rate, logits)[0].sum(), (rate,))
    torch.testing.assert_close(ours, torch.autograd.grad(dense_ll.sum(), (rate,))[0])


def test_zip_log_likelihood_capped_like_the_elementwise_form():
    # P(x > 0) at the cap (huge rate, no zero-inflation) on a zero count: same value, zero gradient
    rows, cols, values = torch.tensor([0]), torch.tensor([1]), torch.tensor([2.0])
    rate = torch.tensor([[1e4, 0.3]], requires_grad=True)
    logits = torch.tensor([[-50.0, 0.7]], requires_grad=True)
    ours = zip_log_likelihood_and_mean(rows, cols, values, rate, logits)[0]
    ref = _elementwise_zip_terms(rows, cols, values, rate, logits)[0]
    torch.testing.assert_close(ours, ref)
    g_ours, g_ref = torch.autograd.grad(ours.sum(), (rate, logits)), torch.autograd.grad(ref.sum(), (rate, logits))
    assert float(g_ours[0][0, 0]) == 0.0 and float(g_ours[1][0, 0]) == 0.0
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)


def test_zip_accessibility_is_one_minus_p_zero():
    rate = torch.tensor([0.01, 0.5, 3.0, 20.0])
    logits = torch.tensor([-3.0, 0.0, 1.0, 2.0])
    p_zero = zip_log_prob_zero(rate, logits).exp()
    torch.testing.assert_close(zip_accessibility(rate, logits), 1.0 - p_zero)
    torch.testing.assert_close(zip_accessibility(rate, logits), (1 - torch.sigmoid(logits)) * (1 - torch.exp(-rate)))
