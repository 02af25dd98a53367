"""Network blocks: the input layer for sparse batches, the shared hidden block, the gated RNA
branch ("mask attention"), the ATAC self-attention, the encoders and the decoders.

Design notes (DESIGN.md §1.2, §1.4):
* ``InputLinear`` multiplies a sparse minibatch without densifying it (``embedding_bag`` over
  the CSR arrays), so the first layer costs O(nnz x H) rather than O(cells x features x H).
* Self-attention treats the H hidden units of *one cell* as ``n_tokens`` tokens of H/n_tokens
  dims (128 = 8 x 16) and applies ``n_heads`` scaled heads of ``H/n_tokens`` dims each, an output
  projection, a residual connection and LayerNorm. It never runs over peaks or over cells.
* The cluster attention gate is ``sigmoid(Linear(q(c|z)))`` by default (``gate="softmax"`` gives
  the paper's Softmax form, rescaled so the mean gate is 1).
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import SparseBatch

__all__ = [
    "ATTENTION_PARTS",
    "attention_parts",
    "InputLinear",
    "Block",
    "SelfAttention",
    "RNABranch",
    "ATACBranch",
    "GaussianHead",
    "ClusterGate",
    "RNADecoder",
    "ATACDecoder",
]


# the three attention layers of DESIGN.md §1.2/§1.4, each of which can be switched on alone
ATTENTION_PARTS = ("rna_mask", "atac_self", "gate")


def attention_parts(attention) -> frozenset:
    """The attention layers an ``attention`` setting switches on.

    ``True`` means all of :data:`ATTENTION_PARTS` (the RNA mask attention, the ATAC
    self-attention, the cluster gate of the decoders), ``False`` none; a part name or a list of
    part names switches on just those.

    >>> sorted(attention_parts(["gate", "rna_mask"]))
    ['gate', 'rna_mask']
    >>> attention_parts(True) == frozenset(ATTENTION_PARTS)
    True
    """
    if isinstance(attention, bool):
        return frozenset(ATTENTION_PARTS) if attention else frozenset()
    names = [attention] if isinstance(attention, str) else attention
    try:
        parts = frozenset(names)
        ok = all(isinstance(n, str) for n in parts) and parts <= frozenset(ATTENTION_PARTS)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"attention must be True, False, or one or more of {list(ATTENTION_PARTS)} "
            f"(e.g. attention=['gate']), got {attention!r}."
        )
    return parts


#: A sparse minibatch with at least this share of non-zeros is multiplied as a dense matrix:
#: the backward of ``embedding_bag`` costs about as much per stored value as a dense product
#: does per entry at 5% density (bench/RESULTS.md, "Why small data fit fast").
DENSE_INPUT_DENSITY = 0.06


class InputLinear(nn.Module):
    """Linear layer whose input is either a dense tensor or a :class:`SparseBatch` (multiplied
    without densifying below :data:`DENSE_INPUT_DENSITY`, as a dense matrix above it)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        bound = 1.0 / math.sqrt(n_in)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Union[torch.Tensor, SparseBatch]) -> torch.Tensor:
        if isinstance(x, SparseBatch) and x.values.numel() >= DENSE_INPUT_DENSITY * x.n_rows * x.n_cols:
            x = x.dense()
        if isinstance(x, SparseBatch):
            out = F.embedding_bag(
                x.cols, self.weight, x.offsets, mode="sum", per_sample_weights=x.values
            )
            return out + self.bias
        return torch.addmm(self.bias, x, self.weight)


class Block(nn.Module):
    """Linear -> LayerNorm -> BatchNorm -> LeakyReLU -> Dropout (DESIGN §1.2)."""

    def __init__(self, n_in: int, n_out: int, dropout: float = 0.1, sparse_input: bool = False):
        super().__init__()
        self.linear = InputLinear(n_in, n_out) if sparse_input else nn.Linear(n_in, n_out)
        self.layer_norm = nn.LayerNorm(n_out)
        self.batch_norm = nn.BatchNorm1d(n_out)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x) -> torch.Tensor:
        h = self.batch_norm(self.layer_norm(self.linear(x)))
        return self.dropout(F.leaky_relu(h, 0.01))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the hidden units of one cell, viewed as tokens."""

    def __init__(self, n_hidden: int = 128, n_tokens: int = 8, n_heads: int = 8):
        super().__init__()
        if n_hidden % n_tokens:
            raise ValueError(f"n_hidden ({n_hidden}) must be a multiple of n_tokens ({n_tokens}).")
        self.n_tokens, self.token_dim, self.n_heads = n_tokens, n_hidden // n_tokens, n_heads
        inner = n_heads * self.token_dim
        self.qkv = nn.Linear(self.token_dim, 3 * inner)
        self.out = nn.Linear(inner, self.token_dim)
        self.norm = nn.LayerNorm(n_hidden)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b = h.shape[0]
        tokens = h.view(b, self.n_tokens, self.token_dim)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        split = lambda t: t.view(b, self.n_tokens, self.n_heads, self.token_dim).transpose(1, 2)
        att = F.scaled_dot_product_attention(split(q), split(k), split(v))  # b, heads, tokens, dim
        att = att.transpose(1, 2).reshape(b, self.n_tokens, -1)
        return self.norm(h + self.out(att).reshape(b, -1))


class RNABranch(nn.Module):
    """h = block(log1p x); with attention, a mask m = sigmoid(Linear(h)) and output h * m."""

    def __init__(self, n_genes: int, n_hidden: int, dropout: float, attention: bool = True):
        super().__init__()
        self.block = Block(n_genes, n_hidden, dropout, sparse_input=True)
        self.mask = nn.Linear(n_hidden, n_hidden) if attention else None

    def forward(self, x) -> torch.Tensor:
        h = self.block(x)
        return h * torch.sigmoid(self.mask(h)) if self.mask is not None else h


class ATACBranch(nn.Module):
    """h = block(tfidf y), followed (with attention) by self-attention."""

    def __init__(self, n_peaks: int, n_hidden: int, dropout: float, attention: bool = True):
        super().__init__()
        self.block = Block(n_peaks, n_hidden, dropout, sparse_input=True)
        self.attention = SelfAttention(n_hidden) if attention else None

    def forward(self, y) -> torch.Tensor:
        h = self.block(y)
        return self.attention(h) if self.attention is not None else h


class GaussianHead(nn.Module):
    """Linear -> LayerNorm -> LeakyReLU, then the mean and log-variance of q(z|.)."""

    def __init__(self, n_in: int, n_hidden: int, n_latent: int):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(n_in, n_hidden), nn.LayerNorm(n_hidden), nn.LeakyReLU(0.01))
        self.mean = nn.Linear(n_hidden, n_latent)
        self.logvar = nn.Linear(n_hidden, n_latent)

    def forward(self, h: torch.Tensor):
        h = self.hidden(h)
        return self.mean(h), self.logvar(h).clamp(-12.0, 8.0)


class ClusterGate(nn.Module):
    """Cluster attention: gate = sigmoid(Linear(q(c|z))) or H * softmax(Linear(q(c|z)))."""

    def __init__(self, n_clusters: int, n_hidden: int, kind: str = "sigmoid"):
        super().__init__()
        if kind not in ("sigmoid", "softmax"):
            raise ValueError("gate must be 'sigmoid' or 'softmax'.")
        self.kind, self.n_hidden = kind, n_hidden
        self.linear = nn.Linear(n_clusters, n_hidden)

    def forward(self, q_c: torch.Tensor) -> torch.Tensor:
        a = self.linear(q_c)
        if self.kind == "sigmoid":
            return torch.sigmoid(a)
        return torch.softmax(a, dim=-1) * self.n_hidden


class RNADecoder(nn.Module):
    """rho = softmax(Linear(block(z) * gate)) over genes; the NB mean is library * rho."""

    def __init__(self, n_in: int, n_hidden: int, n_genes: int, dropout: float):
        super().__init__()
        self.block = Block(n_in, n_hidden, dropout)
        self.out = nn.Linear(n_hidden, n_genes)

    def forward(self, z: torch.Tensor, gate: Optional[torch.Tensor]) -> torch.Tensor:
        h = self.block(z)
        if gate is not None:
            h = h * gate
        return torch.softmax(self.out(h), dim=-1)


class ATACDecoder(nn.Module):
    """Rate fractions softmax over peaks and zero-inflation logits per peak and cell."""

    def __init__(self, n_in: int, n_hidden: int, n_peaks: int, dropout: float, attention: bool = True):
        super().__init__()
        self.block = Block(n_in, n_hidden, dropout)
        self.attention = SelfAttention(n_hidden) if attention else None
        self.rate = nn.Linear(n_hidden, n_peaks)
        self.dropout_logits = nn.Linear(n_hidden, n_peaks)

    def forward(self, z: torch.Tensor, gate: Optional[torch.Tensor]):
        h = self.block(z)
        if self.attention is not None:
            h = self.attention(h)
        if gate is not None:
            h = h * gate
        return torch.softmax(self.rate(h), dim=-1), self.dropout_logits(h)
