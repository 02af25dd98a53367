"""Whether the chromatin carries reproducible cell-to-cell signal: split-half reliability.

A cell type opens many peaks together, so two disjoint random halves of the peaks see the same
cell-to-cell differences; the sampling noise of a sparse peak matrix (a few random peaks per
cell) is independent between the halves. :func:`split_half_signal` reduces each half by LSI
(the model's TF-IDF, a truncated SVD, the first, depth-driven component dropped, and what a
quadratic in the cells' log depth explains removed: depth is shared by the halves but is not
signal) and measures how far the halves agree: the canonical correlations between the two
embeddings. A direction whose split-half correlation is rho has a full-data reliability of 2 rho / (1 + rho)
(Spearman-Brown); it carries more signal than noise when that is at least 1/2, i.e. rho >= 1/3
(:data:`MIN_SPLIT_HALF_CORRELATION`). Directions must also beat the largest canonical
correlation of the halves with the cells of one half shuffled (the same count of dimensions and
cells with no shared signal), which guards small data sets.

Measured on the peaks a default fit trains on (bench/RESULTS.md, "Why the encoder may skip the
chromatin"): 10x PBMC Multiome, 12 reproducible directions (top correlation 1.00); the same with
2% of its ATAC counts kept, 1 (0.83); SNARE-seq cortex, 3 (0.65); the cortex with 10% of its
ATAC counts kept, none (0.24).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .data import compute_idf, tfidf_log1p_matrix

__all__ = ["ViewSignal", "split_half_signal", "MIN_SPLIT_HALF_CORRELATION"]

#: Split-half canonical correlation at which a direction's full-data reliability is 1/2.
MIN_SPLIT_HALF_CORRELATION = 1.0 / 3.0
#: LSI components of each half (after the first is dropped), at most one per
#: :data:`CELLS_PER_COMPONENT` cells: the largest canonical correlation of two unrelated
#: embeddings of p dimensions over n cells is about 2 sqrt(p / n) (Wachter), 0.2 at p = n / 100,
#: well below :data:`MIN_SPLIT_HALF_CORRELATION`.
N_COMPONENTS = 30
CELLS_PER_COMPONENT = 100
#: The statistic is computed on at most this many cells (a random subset beyond): a split-half
#: correlation of 1/3 is then measured to about +-0.02, and the check adds little memory to a
#: fit streamed from disk.
MAX_SIGNAL_CELLS = 5_000
#: Shuffles of one half's cells for the null.
N_SHUFFLES = 3
#: Fewer cells, or fewer peaks in a half, are too few to tell signal from noise.
MIN_CELLS, MIN_HALF_PEAKS = 50, 20


@dataclass(frozen=True)
class ViewSignal:
    """Split-half canonical correlations of a view (largest first) and the null's largest."""

    correlations: np.ndarray
    null: float

    @property
    def threshold(self) -> float:
        return max(MIN_SPLIT_HALF_CORRELATION, self.null)

    @property
    def n_reproducible(self) -> int:
        """Directions whose split-half correlation passes :attr:`threshold`."""
        return int((self.correlations > self.threshold).sum())

    def to_dict(self) -> dict:
        """The figures as plain numbers (for ``run.json``)."""
        return {"reproducible_directions": self.n_reproducible, "threshold": round(self.threshold, 4),
                "split_half_correlations": [round(float(c), 4) for c in self.correlations],
                "shuffled_null": round(self.null, 4)}

    def __str__(self) -> str:
        top = ", ".join(f"{c:.2f}" for c in self.correlations[:3])
        return (f"{self.n_reproducible} reproducible chromatin directions (split-half correlations {top}; "
                f"threshold {self.threshold:.2f})")


def _lsi(t: sp.csr_matrix, n_components: int, seed: int, depth: np.ndarray) -> np.ndarray:
    """Cells x components LSI embedding without its first component, with what a quadratic in
    the cells' log depth explains removed (depth is shared by the halves but is not signal)."""
    from sklearn.utils.extmath import randomized_svd

    k = min(n_components + 1, min(t.shape) - 1)
    u, s, _ = randomized_svd(t, k, random_state=seed)
    e = (u * s)[:, 1:]
    basis = np.linalg.qr(np.column_stack([np.ones_like(depth), depth, depth ** 2]))[0]
    return e - basis @ (basis.T @ e)


def _canonical_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    return np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0)


def split_half_signal(counts, seed: int = 0, n_components: int = N_COMPONENTS) -> Optional[ViewSignal]:
    """Split-half canonical correlations of a cells x peaks count matrix (CSR, or anything whose
    rows can be indexed, e.g. :class:`scmvp.backed.BackedMatrix`); None for fewer than
    :data:`MIN_CELLS` cells or :data:`MIN_HALF_PEAKS` peaks a half.

    >>> from scmvp.synthetic import paired_groups
    >>> _, atac, *_ = paired_groups(n_cells=600, seed=0)
    >>> split_half_signal(atac).n_reproducible > 0
    True
    >>> noise = sp.random(600, 2000, density=0.02, format="csr", random_state=0)
    >>> noise.data[:] = 1
    >>> split_half_signal(noise).n_reproducible
    0
    """
    rng = np.random.default_rng(seed)
    n_cells, n_peaks = counts.shape
    if n_cells < MIN_CELLS or n_peaks < 2 * MIN_HALF_PEAKS:
        return None
    if n_cells > MAX_SIGNAL_CELLS:
        counts = counts[np.sort(rng.choice(n_cells, MAX_SIGNAL_CELLS, replace=False))]
    elif not sp.issparse(counts):  # a matrix on disk: its rows, read once
        counts = counts[np.arange(n_cells)]
    counts = sp.csr_matrix(counts)
    n_components = min(n_components, max(2, counts.shape[0] // CELLS_PER_COMPONENT), n_peaks // 2 // 4)
    perm = rng.permutation(n_peaks)
    halves = [np.sort(perm[: n_peaks // 2]), np.sort(perm[n_peaks // 2:])]
    depth = np.log1p(np.asarray(counts.sum(axis=1), dtype=np.float64).ravel())
    depth = (depth - depth.mean()) / max(depth.std(), 1e-12)
    a, b = (_lsi(tfidf_log1p_matrix(counts[:, h], compute_idf(counts[:, h])), n_components, seed, depth)
            for h in halves)
    correlations = _canonical_correlations(a, b)
    null = max(_canonical_correlations(a, b[rng.permutation(len(b))])[0] for _ in range(N_SHUFFLES))
    return ViewSignal(correlations, float(null))
