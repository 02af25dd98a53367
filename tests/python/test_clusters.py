"""Clusters = mixture components merged by modularity on the neighbourhood graph."""
import numpy as np
import pytest

from scmvp import ScMVP
from scmvp.clusters import component_graph, merge_components

FAST = dict(n_hidden=32, verbose=False, progress_bar=False)


def _modularity(graph, mapping, resolution=1.0):
    total = graph.sum()
    q = 0.0
    for c in np.unique(mapping):
        m = mapping == c
        q += graph[np.ix_(m, m)].sum() / total - resolution * (graph[m].sum() / total) ** 2
    return q


def test_components_split_from_one_group_are_merged():
    """Three well-separated groups of points; group 0 is split over components 0 and 1."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    z = np.concatenate([c + rng.normal(size=(60, 2)) for c in centres])
    components = np.repeat([0, 2, 3], 60)
    components[:30] = 1  # one group, two components
    graph = component_graph(z, components, 5)
    assert graph.shape == (5, 5) and np.allclose(graph, graph.T) and graph[4].sum() == 0
    assert graph[0, 1] > 0 and graph[0, 2] == graph[0, 3] == 0
    mapping = merge_components(graph, 1.0)
    assert mapping[0] == mapping[1] and len({mapping[0], mapping[2], mapping[3]}) == 3
    assert mapping[4] == mapping.max()  # the empty component comes last, on its own
    # merging never lowers the modularity; the greedy result beats keeping every component
    assert _modularity(graph[:4, :4], mapping[:4]) > _modularity(graph[:4, :4], np.arange(4))
    assert list(merge_components(graph, None)) == [0, 1, 2, 3, 4]  # no merging
    assert len(np.unique(merge_components(graph, 50.0))) == 5  # high resolution: nothing merged
    assert len(np.unique(merge_components(graph[:4, :4], 0.01))) == 3  # groups without edges never merge
    chain = np.array([[10.0, 8.0, 0.0], [8.0, 10.0, 1.0], [0.0, 1.0, 20.0]])
    assert list(merge_components(chain, 1.0)) == [0, 0, 1]
    assert list(merge_components(chain, 0.01)) == [0, 0, 0]  # low resolution: one cluster


def test_model_clusters_follow_the_resolution(paired, tmp_path):
    rna, atac, genes, peaks, _ = paired
    model = ScMVP(n_clusters=6, seed=0, **FAST).fit(rna, atac, max_epochs=3)
    assert model.component_graph_.shape == (6, 6)
    out = model.transform()
    comp, merged = out["component_probabilities"], out["cluster_probabilities"]
    mapping = model.cluster_map()
    assert merged.shape == (rna.shape[0], mapping.max() + 1)
    np.testing.assert_allclose(merged.sum(1), 1.0, atol=1e-5)
    for c in range(merged.shape[1]):
        np.testing.assert_allclose(merged[:, c], comp[:, mapping == c].sum(1), atol=1e-6)
    np.testing.assert_array_equal(model.clusters(resolution=None), comp.argmax(1))
    n = [len(np.unique(model.cluster_map(r))) for r in (0.05, 1.0, 100.0)]
    assert n[0] <= n[1] <= n[2] == 6
    model.save(tmp_path / "m.pt")
    loaded = ScMVP.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.component_graph_, model.component_graph_)
    np.testing.assert_array_equal(loaded.clusters(rna, atac), model.clusters())
    assert ScMVP(cluster_resolution=False).config.cluster_resolution is None  # R: FALSE = no merging
    with pytest.raises(ValueError, match="cluster_resolution must be a number"):
        ScMVP(cluster_resolution=-1)
