"""Feature selection (scmvp.features): Seurat's vst rule, accessible peaks, and their use in fit."""
import argparse

import numpy as np
import pytest
import scipy.sparse as sp

import scmvp
from scmvp.data import ScMVPInputError, prepare_matrix
from scmvp.features import _loess, accessible_peaks, select_matrix, variable_genes, vst_variance

from synthetic import make_paired


def _nb_counts(n_cells=400, n_genes=300, n_variable=20, seed=0):
    """Gamma-Poisson counts over a wide range of means; ``n_variable`` genes (the first ones)
    are 6 times higher in half of the cells."""
    rng = np.random.default_rng(seed)
    mean = rng.lognormal(0.0, 1.2, n_genes)
    rate = np.tile(mean, (n_cells, 1))
    high = rng.random(n_cells) < 0.5
    rate[np.ix_(high, np.arange(n_variable))] *= 6.0
    return sp.csr_matrix(rng.poisson(rng.gamma(5.0, rate / 5.0)).astype(np.float32))


def test_vst_variance_is_the_clipped_standardised_variance():
    X = _nb_counts()
    dense = X.toarray().astype(np.float64)
    n = dense.shape[0]
    mean, var = dense.mean(0), dense.var(0, ddof=1)
    ok = var > 0
    sd = np.sqrt(10 ** _loess(np.log10(mean[ok]), np.log10(var[ok])))
    z = np.minimum((dense[:, ok] - mean[ok]) / sd, np.sqrt(n))
    expected = np.zeros(dense.shape[1])
    expected[ok] = (z ** 2).sum(0) / (n - 1)  # mean of z is not subtracted, as in Seurat
    np.testing.assert_allclose(vst_variance(X), expected, rtol=1e-10)


def test_loess_recovers_a_quadratic_exactly():
    x = np.linspace(-2, 2, 500)
    y = 1.0 + 0.5 * x - 0.25 * x ** 2
    np.testing.assert_allclose(_loess(x, y), y, atol=1e-8)


def test_variable_genes_finds_the_planted_genes():
    X = _nb_counts(n_variable=20)
    top = variable_genes(X, 20)
    assert len(set(top.tolist()) & set(range(20))) >= 18
    assert np.all(np.diff(top) > 0)  # column order
    assert variable_genes(X, 10_000).tolist() == list(range(X.shape[1]))


def test_accessible_peaks_keeps_the_most_accessible_in_column_order():
    X = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 0, 1, 1], [1, 0, 1, 1], [0, 0, 0, 1]], dtype=np.float32))
    assert accessible_peaks(X, 2).tolist() == [2, 3]
    assert accessible_peaks(X, 3).tolist() == [0, 2, 3]
    assert accessible_peaks(X, 1).tolist() == [3]


def test_select_matrix_refuses_cells_left_without_counts():
    X = sp.csr_matrix(np.array([[1, 0, 0], [0, 2, 0], [0, 1, 3]], dtype=np.float32))
    m = prepare_matrix(X, ["a", "b", "c"], "atac", verbose=False)
    with pytest.raises(ScMVPInputError, match="max_peaks=None keeps all"):
        select_matrix(m, "atac", None, 1, verbose=False)
    kept = select_matrix(m, "atac", None, 2, verbose=False)  # b, then a before c (ties keep column order)
    assert kept.features == ["a", "b"] and kept.kept.tolist() == [0, 1] and kept.X.shape == (3, 2)


def test_fit_trains_on_the_selected_features_and_takes_full_matrices_after():
    rna, atac, genes, peaks, _ = make_paired(n_cells=240, n_genes=120, n_peaks=400, seed=1)
    m = scmvp.ScMVP(n_clusters=3, n_top_genes=50, max_peaks=200, seed=0, verbose=False, progress_bar=False)
    m.fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=2)
    assert len(m.features_["rna"]) == 50 and len(m.features_["atac"]) == 200
    assert m.module.n_features("rna") == 50 and m.module.n_features("atac") == 200
    expected = [genes[i] for i in variable_genes(prepare_matrix(rna, genes, verbose=False).X, 50)]
    assert m.features_["rna"] == expected
    # new data come with every feature; the model picks its own by name, or by position
    z_named = m.embedding(rna, atac, rna_features=genes, atac_features=peaks)
    z_pos = m.embedding(rna, atac)
    np.testing.assert_allclose(z_named, z_pos)
    assert z_named.shape == (240, m.n_latent)


def test_cli_setting_none_means_none():
    from scmvp.cli import _add_settings, _config_from_args

    p = argparse.ArgumentParser()
    _add_settings(p)
    cfg = _config_from_args(p.parse_args(["--max-peaks", "none", "--cluster-resolution", "none", "--n-top-genes", "2000"]))
    assert cfg.max_peaks is None and cfg.cluster_resolution is None and cfg.n_top_genes == 2000
    assert _config_from_args(p.parse_args([])) == scmvp.ScMVPConfig()


def test_fit_anndata_uses_highly_variable_flags():
    anndata = pytest.importorskip("anndata")
    rna, atac, genes, peaks, _ = make_paired(n_cells=240, n_genes=120, n_peaks=400, seed=2)
    a_rna = anndata.AnnData(rna.astype(np.float32))
    a_rna.var_names = genes
    a_rna.var["highly_variable"] = np.arange(120) < 60
    a_atac = anndata.AnnData(atac.astype(np.float32))
    a_atac.var_names = peaks
    for a in (a_rna, a_atac):
        a.obs_names = [f"c{i}" for i in range(240)]
    model = scmvp.io.fit_anndata(a_rna, a_atac, scmvp.ScMVP(n_clusters=3, verbose=False, progress_bar=False), max_epochs=2)
    assert model.features_["rna"] == genes[:60]
    assert len(model.features_["atac"]) == int((np.asarray(atac.sum(0)).ravel() > 0).sum())  # every peak with counts
    assert a_rna.obsm["X_scmvp"].shape == (240, model.n_latent) and a_rna.n_vars == 120
