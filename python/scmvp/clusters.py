"""Clusters from the mixture's components: components that the cells' neighbourhood graph joins
are merged, by modularity, as Louvain/Leiden's aggregation step does.

The mixture prior has K components, and K is an estimate (:func:`scmvp.prior.estimate_n_components`
counts the groups of the embedding at the end of the warm-up at resolution 3, finer than the
clusters kept at the default 0.5). A cell type split over two components shows as many graph
edges between them. :func:`component_graph` sums the edges of a k-nearest-neighbour
graph of the embedding between components (a K x K matrix, all that is kept of the cells), and
:func:`merge_components` merges, greedily, the pair whose union most increases the modularity

    Q = sum_c [ e_cc / 2m - resolution * (a_c / 2m)^2 ]

(e_cc: edge ends inside cluster c, a_c: its total degree, 2m: all edge ends), until no merge
increases it. ``resolution`` is the same knob as Seurat's ``FindClusters`` and scanpy's Leiden:
higher keeps more clusters; ``None`` keeps every component.

>>> import numpy as np
>>> graph = np.array([[10., 8., 0.], [8., 10., 1.], [0., 1., 20.]])
>>> merge_components(graph, resolution=1.0)
array([0, 0, 1])
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

__all__ = ["component_graph", "merge_components", "N_NEIGHBOURS", "MAX_GRAPH_CELLS"]

#: Neighbours per cell in the graph (scanpy's and Seurat's default is 15-20).
N_NEIGHBOURS = 15
#: The graph is built on at most this many cells (a random subset beyond).
MAX_GRAPH_CELLS = 50_000


def component_graph(z: np.ndarray, components: np.ndarray, n_components: int, seed: int = 0,
                    n_neighbours: int = N_NEIGHBOURS, max_cells: int = MAX_GRAPH_CELLS) -> np.ndarray:
    """K x K edge counts of the symmetric k-nearest-neighbour graph of ``z`` between the
    cells' most probable components (diagonal: twice the edges inside a component)."""
    from sklearn.neighbors import NearestNeighbors

    n = z.shape[0]
    if n > max_cells:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_cells, replace=False))
        z, components, n = z[keep], components[keep], max_cells
    k = min(n_neighbours, n - 1)
    if k < 1:
        return np.zeros((n_components, n_components))
    idx = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z, return_distance=False)[:, 1:]
    adj = sp.csr_matrix((np.ones(n * k), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    adj = ((adj + adj.T) > 0).astype(np.float64)
    member = sp.csr_matrix((np.ones(n), (np.arange(n), components)), shape=(n, n_components))
    return np.asarray((member.T @ adj @ member).todense())


def merge_components(graph: np.ndarray, resolution: Optional[float] = 1.0) -> np.ndarray:
    """Cluster of each component (0 = the cluster with the most edge ends, then by size).

    Greedy modularity agglomeration of the components on ``graph`` (:func:`component_graph`);
    components without cells keep a cluster of their own at the end. ``resolution=None`` keeps
    every component as a cluster, numbered as the components.
    """
    graph = np.asarray(graph, dtype=np.float64)
    k = graph.shape[0]
    if resolution is None:
        return np.arange(k)
    degree = graph.sum(1)
    groups = {c: [c] for c in range(k)}
    total = graph.sum()
    if total > 0:
        e = graph.copy()
        a = degree.copy()
        active = [c for c in range(k) if degree[c] > 0]
        while len(active) > 1:
            sub = np.ix_(active, active)
            gain = e[sub] / total - resolution * np.outer(a[active], a[active]) / total**2
            np.fill_diagonal(gain, -np.inf)
            i, j = np.unravel_index(np.argmax(gain), gain.shape)
            if gain[i, j] <= 0:
                break
            c, d = active[min(i, j)], active[max(i, j)]
            e[c] += e[d]
            e[:, c] += e[:, d]
            e[d] = 0.0
            e[:, d] = 0.0
            a[c] += a[d]
            a[d] = 0.0
            groups[c] += groups.pop(d)
            active.remove(d)
    size = {c: degree[members].sum() for c, members in groups.items()}
    order = sorted(groups, key=lambda c: (-size[c], c))
    out = np.empty(k, dtype=np.int64)
    for new, c in enumerate(order):
        out[groups[c]] = new
    return out
