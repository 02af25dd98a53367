"""Log-likelihoods of the two observation models (the one place they are defined).

* RNA: negative binomial NB(mu, theta), mean ``mu``, inverse dispersion ``theta``.
* ATAC: zero-inflated Poisson ZIP(lambda, pi), rate ``lambda``, zero-inflation given as
  logits ``pi_logits`` (probability of a structural zero = sigmoid(pi_logits)).

All functions are element-wise and return log p(x) with the shape of ``x``; callers sum
over features. Each is tested against scipy.stats in ``tests/python/test_distributions.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "nb_log_prob",
    "nb_log_prob_zero",
    "zip_log_prob",
    "zip_log_prob_zero",
    "zip_log_likelihood_and_mean",
    "sparse_log_likelihood",
    "zip_accessibility",
]

_EPS = 1e-8
_P_POS_MAX = 1.0 - 1e-7  # cap on P(x > 0) of the ZIP: log p(0) >= log(1e-7)


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """log NB(x | mu, theta) = lgamma(x+theta) - lgamma(theta) - lgamma(x+1)
    + theta*log(theta/(theta+mu)) + x*log(mu/(theta+mu))."""
    log_theta_mu = torch.log(theta + mu + _EPS)
    return (
        torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1.0)
        + theta * (torch.log(theta + _EPS) - log_theta_mu)
        + x * (torch.log(mu + _EPS) - log_theta_mu)
    )


def nb_log_prob_zero(mu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """log NB(0 | mu, theta) = theta * log(theta / (theta + mu))."""
    return theta * (torch.log(theta + _EPS) - torch.log(theta + mu + _EPS))


def zip_log_prob_zero(rate: torch.Tensor, pi_logits: torch.Tensor) -> torch.Tensor:
    """log ZIP(0 | rate, pi) = log(pi + (1 - pi) exp(-rate)) = log1p(-P(x > 0)), with
    P(x > 0) = (1 - pi)(1 - exp(-rate)) capped at 1 - 1e-7 (so log p(0) >= -16.1). This form
    uses vectorised sigmoid/expm1/log1p, about twice as fast on CPU as two softplus calls."""
    p_pos = torch.sigmoid(-pi_logits) * -torch.expm1(-rate)
    return torch.log1p(-p_pos.clamp(max=_P_POS_MAX))


def _zip_nonzero_correction(values, rate_nz, pi_nz):
    """log p(x) - log p(0) at the non-zero counts (what the zero-case sum leaves out)."""
    return zip_log_prob(values, rate_nz, pi_nz) - zip_log_prob_zero(rate_nz, pi_nz)


class _ZIPLogLikelihoodAndMean(torch.autograd.Function):
    """Per-cell ZIP log-likelihood of sparse counts and the ZIP mean (1 - pi) * rate, with a
    written-out backward. Autograd of the element-wise form (:func:`sparse_log_likelihood`
    with :func:`zip_log_prob_zero`) keeps seven cells x features tensors for the backward pass
    (the largest activations of a joint step) and builds four more for the gradients; this
    keeps three, frees the rate, and adds the non-zero entries' gradients in place."""

    @staticmethod
    def forward(ctx, rate, pi_logits, rows, cols, values):
        keep = torch.neg(pi_logits).sigmoid_()  # 1 - pi
        p_pos = torch.neg(rate).expm1_().neg_().mul_(keep).clamp_(max=_P_POS_MAX)  # P(x > 0)
        ll = torch.neg(p_pos).log1p_().sum(-1)
        rate_nz, pi_nz = rate[rows, cols], pi_logits[rows, cols]
        ll.index_add_(0, rows, _zip_nonzero_correction(values, rate_nz, pi_nz))
        mean = rate * keep
        # mean, not rate: rate can then be freed
        ctx.save_for_backward(mean, keep, p_pos, rows, cols, values, rate_nz, pi_nz)
        return ll, mean

    @staticmethod
    def backward(ctx, g_ll, g_mean):
        mean, keep, p_pos, rows, cols, values, rate_nz, pi_nz = ctx.saved_tensors
        if g_ll is None:
            g_ll = torch.zeros(mean.shape[0], dtype=mean.dtype, device=mean.device)
        # d log p0 / d rate = -(1 - pi) exp(-rate) / p0 = (P(x > 0) - (1 - pi)) / p0
        # d log p0 / d pi_logits = pi P(x > 0) / p0   (both zero where P(x > 0) was capped, as
        # autograd of the clamp gives); mean = rate (1 - pi): d / d rate = 1 - pi, d / d pi_logits
        # = -rate pi (1 - pi) = -mean pi. In place where possible: fresh cells x features
        # buffers cost more than the arithmetic on CPU.
        inv_p0 = torch.rsub(p_pos, 1.0).reciprocal_().masked_fill_(p_pos >= _P_POS_MAX, 0.0)
        inv_p0.mul_(g_ll.unsqueeze(-1))
        grad_rate = torch.sub(p_pos, keep).mul_(inv_p0)
        grad_pi = inv_p0.mul_(p_pos)
        if g_mean is not None:
            grad_rate.addcmul_(g_mean, keep)
            grad_pi.addcmul_(g_mean, mean, value=-1.0)
        grad_pi.addcmul_(grad_pi, keep, value=-1.0)  # times pi = 1 - keep
        # the non-zero entries: autograd of the small (nnz) correction, added in place
        with torch.enable_grad():
            r, a = rate_nz.detach().requires_grad_(), pi_nz.detach().requires_grad_()
            g_r, g_a = torch.autograd.grad(_zip_nonzero_correction(values, r, a), (r, a), grad_outputs=g_ll[rows])
        grad_rate.index_put_((rows, cols), g_r, accumulate=True)
        grad_pi.index_put_((rows, cols), g_a, accumulate=True)
        return grad_rate, grad_pi, None, None, None


def zip_log_likelihood_and_mean(rows, cols, values, rate: torch.Tensor, pi_logits: torch.Tensor):
    """(per-cell log ZIP(y | rate, pi) summed over features, ZIP mean (1 - pi) * rate) for
    (B, F) parameters and the non-zero counts y (``rows``, ``cols``, ``values``): the ATAC
    likelihood and the imputed ATAC in one pass. Equal to ``sparse_log_likelihood(zip_log_prob,
    zip_log_prob_zero, rows, cols, values, rate, pi_logits)`` and ``rate * sigmoid(-pi_logits)``."""
    rate, pi_logits = torch.broadcast_tensors(rate, pi_logits)
    return _ZIPLogLikelihoodAndMean.apply(rate, pi_logits, rows, cols, values)


def sparse_log_likelihood(log_prob, log_prob_zero, rows, cols, values, *params) -> torch.Tensor:
    """Per-cell sum of log p(x) over all features for a sparse count matrix, without
    evaluating the general density on the zeros: sum_j log p(0) + sum_{x_ij > 0} [log p(x_ij) -
    log p(0)]. ``params`` are dense (B, F) tensors (or broadcastable to it); ``rows``, ``cols``
    and ``values`` are the coordinates and values of the non-zero counts.
    """
    dense_params = torch.broadcast_tensors(*params)
    total = log_prob_zero(*dense_params).sum(-1)
    at_nz = [p[rows, cols] for p in dense_params]
    correction = log_prob(values, *at_nz) - log_prob_zero(*at_nz)
    return total.index_add(0, rows, correction)


def zip_log_prob(x: torch.Tensor, rate: torch.Tensor, pi_logits: torch.Tensor) -> torch.Tensor:
    """log ZIP(x | rate, pi): for x = 0, log(pi + (1-pi) exp(-rate)); for x > 0,
    log(1-pi) + x log(rate) - rate - lgamma(x+1), with log(1-pi) = -softplus(pi_logits)."""
    zero = zip_log_prob_zero(rate, pi_logits)
    nonzero = -F.softplus(pi_logits) + x * torch.log(rate + _EPS) - rate - torch.lgamma(x + 1.0)
    return torch.where(x < 0.5, zero, nonzero)


def zip_accessibility(rate: torch.Tensor, pi_logits: torch.Tensor) -> torch.Tensor:
    """P(y > 0) under ZIP(rate, pi) = (1 - pi) (1 - exp(-rate)): the imputed accessibility."""
    return torch.sigmoid(-pi_logits) * -torch.expm1(-rate)
