"""The methods of the benchmark: scMVP (modes and ablations) and its peers, one function each.

Every method takes a :class:`scmvp.io.PairedData` (raw counts), a seed and a thread count and
returns a dict with ``embedding`` (cells x d, float) and optionally ``graph`` (a cells x cells
sparse connectivity matrix, for methods whose output is a graph: Leiden then runs on it),
``epochs`` (training epochs or iterations used) and ``info`` (settings worth reporting).

scMVP methods run in scMVP's own virtualenv; the peers (scanpy, muon, scvi-tools, mofapy2) in
the peers' virtualenv (``bench/requirements-peers.txt``), never in the package's dependencies.
Each peer is preprocessed as its own documentation recommends; the choices are in ``info``.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import scipy.sparse as sp

# A smoke test of the pipeline (SCMVP_BENCH_QUICK=1): every model trains 2 epochs / iterations.
QUICK = os.environ.get("SCMVP_BENCH_QUICK") == "1"

# name -> (virtualenv, wall-clock cap in seconds or None). "scmvp" = the package's venv.
METHODS = {
    "scmvp_joint": ("scmvp", None),
    "scmvp_rna": ("scmvp", None),
    "scmvp_atac": ("scmvp", None),
    "scmvp_no_attention": ("scmvp", None),
    "scmvp_attention_gate": ("scmvp", None),
    "scmvp_full_attention": ("scmvp", None),
    "scmvp_gate_softmax": ("scmvp", None),
    "scmvp_no_cycle": ("scmvp", None),
    "scmvp_normal_prior": ("scmvp", None),
    "scmvp_cycle_rna": ("scmvp", None),
    "scmvp_multivi_features": ("scmvp", None),
    "scmvp_atac_weight_002": ("scmvp", None),
    "scmvp_atac_weight_02": ("scmvp", None),
    "scmvp_atac_weight_1": ("scmvp", None),
    "scmvp_atac_weight_features": ("scmvp", None),
    "scmvp_latent_10": ("scmvp", None),
    "scmvp_restore_best": ("scmvp", None),
    "scmvp_patience_10": ("scmvp", None),
    "scmvp_patience_3": ("scmvp", None),
    "scmvp_warmup_atac_weight_005": ("scmvp", None),
    "scmvp_cycle_weight_05": ("scmvp", None),
    "scmvp_atac_input_only": ("scmvp", None),
    "scmvp_encode_atac": ("scmvp", None),
    "pca_rna": ("peers", None),
    "lsi_atac": ("peers", None),
    "wnn": ("peers", None),
    "scvi_rna": ("peers", None),
    "multivi": ("peers", None),
    "mofa": ("peers", None),
}

# ---------------------------------------------------------------- scMVP


def _scmvp(data, seed, threads, device="cpu", **params):
    import torch

    import scmvp

    torch.set_num_threads(threads)
    model = scmvp.ScMVP(seed=seed, device=device, verbose=False, progress_bar=False, **params)
    model.fit(data.rna, data.atac, rna_features=data.genes, atac_features=data.peaks, max_epochs=2 if QUICK else None)
    hist = model.history_
    return {
        "embedding": model.embedding(),
        "clusters": model.clusters(),
        "components": model.component_probabilities().argmax(1),
        "epochs": len(hist["loss"]),
        "info": {"n_clusters": int(model.n_clusters_), **{k: v for k, v in params.items()}},
    }


def scmvp_joint(data, seed, threads):
    return _scmvp(data, seed, threads)


def scmvp_rna(data, seed, threads):
    return _scmvp(data, seed, threads, modality="rna")


def scmvp_atac(data, seed, threads):
    return _scmvp(data, seed, threads, modality="atac")


def scmvp_no_attention(data, seed, threads):
    return _scmvp(data, seed, threads, attention=False)


def scmvp_attention_gate(data, seed, threads):
    """The decoders' cluster gate alone (no RNA mask, no ATAC self-attention)."""
    return _scmvp(data, seed, threads, attention=["gate"])


def scmvp_full_attention(data, seed, threads):
    """The paper's full model (``attention=True``): the encoders' attention and the decoders'
    cluster gate."""
    return _scmvp(data, seed, threads, attention=True)


def scmvp_gate_softmax(data, seed, threads):
    """The full model (:func:`scmvp_full_attention`) with the paper's Softmax cluster gate
    instead of the sigmoid gate."""
    return _scmvp(data, seed, threads, attention=True, gate="softmax")


def scmvp_no_cycle(data, seed, threads):
    return _scmvp(data, seed, threads, cycle=False)


def scmvp_normal_prior(data, seed, threads):
    return _scmvp(data, seed, threads, prior="normal")


def scmvp_cycle_rna(data, seed, threads):
    return _scmvp(data, seed, threads, cycle="rna")


# ---- the balance of the two likelihoods and the latent size (defaults: atac_weight 0.05, n_latent 20)


def scmvp_atac_weight_002(data, seed, threads):
    return _scmvp(data, seed, threads, atac_weight=0.02)


def scmvp_atac_weight_02(data, seed, threads):
    return _scmvp(data, seed, threads, atac_weight=0.2)


def scmvp_atac_weight_1(data, seed, threads):
    return _scmvp(data, seed, threads, atac_weight=1.0)


def scmvp_atac_weight_features(data, seed, threads):
    """The feature-count rule: ATAC weight = genes / peaks (at most 1), so each view's
    likelihood sums over the same number of effective features."""
    return _scmvp(data, seed, threads, atac_weight=min(1.0, data.rna.shape[1] / data.atac.shape[1]))


def scmvp_latent_10(data, seed, threads):
    """10 latent dimensions: the default before 20 (the cortex ablations ran at this size)."""
    return _scmvp(data, seed, threads, n_latent=10)


def scmvp_restore_best(data, seed, threads):
    """At the early stop, the weights of the best held-out epoch instead of the last one's."""
    return _scmvp(data, seed, threads, restore_best=True)


def scmvp_patience_10(data, seed, threads):
    """Early stopping after 10 epochs without a 0.1% held-out improvement (the default before 5)."""
    return _scmvp(data, seed, threads, patience=10)


def scmvp_patience_3(data, seed, threads):
    """Early stopping after 3 epochs without a 0.1% held-out improvement instead of 5."""
    return _scmvp(data, seed, threads, patience=3)


def scmvp_warmup_atac_weight_005(data, seed, threads):
    """The ATAC likelihood at the weight 0.05 in the warm-up too (the default weighs it 1 there)."""
    return _scmvp(data, seed, threads, warmup_atac_weight=0.05)


def scmvp_cycle_weight_05(data, seed, threads):
    """The cycle terms at half weight (``cycle_weight=0.5``; the default is 1)."""
    return _scmvp(data, seed, threads, cycle_weight=0.5)


def scmvp_atac_input_only(data, seed, threads):
    """The chromatin as encoder input only: its likelihood weighted 1e-6 in and after the
    warm-up, and no cycle, so the joint model differs from its RNA-only mode by the ATAC
    encoder branch (and the single-view encoders trained beside it on detached targets)."""
    return _scmvp(data, seed, threads, atac_weight=1e-6, warmup_atac_weight=1e-6, cycle=False, encode_atac=True)


def scmvp_encode_atac(data, seed, threads):
    """The joint encoder reads the chromatin whatever its signal (``encode_atac=True``; the
    default, ``"auto"``, skips chromatin with no reproducible direction)."""
    return _scmvp(data, seed, threads, encode_atac=True)


def scmvp_multivi_features(data, seed, threads):
    """scMVP (default) on MultiVI's input features: those in >= 1% of cells (raw counts kept)."""
    genes, peaks = common_features(data)
    kept = type(data)(data.rna[:, genes], data.atac[:, peaks], [data.genes[i] for i in genes],
                      [data.peaks[i] for i in peaks], data.cells)
    out = _scmvp(kept, seed, threads)
    out["info"].update(n_genes=int(genes.size), n_peaks=int(peaks.size))
    return out


def common_features(data, min_cells_frac=0.01):
    """Gene and peak indices with counts in >= ``min_cells_frac`` of the cells: the MultiVI
    tutorial's filter, shared by :func:`multivi` and :func:`scmvp_multivi_features`."""
    n = data.rna.shape[0]
    keep = lambda x: np.flatnonzero(np.asarray((x > 0).sum(0)).ravel() >= min_cells_frac * n)
    return keep(data.rna), keep(data.atac)


# ---------------------------------------------------------------- peers


def _anndata(x, names, cells):
    import anndata as ad
    import pandas as pd

    a = ad.AnnData(sp.csr_matrix(x, dtype=np.float32), obs=pd.DataFrame(index=cells.barcode.astype(str).values),
                   var=pd.DataFrame(index=pd.Index(names).astype(str)))
    a.var_names_make_unique()
    return a


def _rna_pca(data, seed, n_comps=50):
    """scanpy's recipe: total-count normalise (1e4), log1p, HVGs (<= 2,000), scale, PCA."""
    import scanpy as sc

    a = _anndata(data.rna, data.genes, data.cells)
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    sc.pp.highly_variable_genes(a, n_top_genes=min(2000, a.n_vars))
    a = a[:, a.var.highly_variable].copy()
    sc.pp.scale(a, max_value=10)
    sc.pp.pca(a, n_comps=min(n_comps, a.n_vars - 1), random_state=seed)
    return a


def _atac_lsi(data, seed, n_comps=50):
    """muon's recipe: TF-IDF (scale 1e4, log), LSI (50 components), drop the first (depth)."""
    from muon import atac as ac

    a = _anndata(data.atac, data.peaks, data.cells)
    ac.pp.tfidf(a, scale_factor=1e4)
    np.random.seed(seed)  # svds inside lsi takes no random state
    ac.tl.lsi(a, n_comps=n_comps)
    a.obsm["X_lsi"] = a.obsm["X_lsi"][:, 1:]
    return a


def pca_rna(data, seed, threads):
    a = _rna_pca(data, seed)
    return {"embedding": a.obsm["X_pca"], "info": {"n_pcs": a.obsm["X_pca"].shape[1], "n_hvg": int(a.n_vars)}}


def lsi_atac(data, seed, threads):
    a = _atac_lsi(data, seed)
    return {"embedding": a.obsm["X_lsi"], "info": {"n_lsi": a.obsm["X_lsi"].shape[1], "dropped": "component 1"}}


def wnn(data, seed, threads):
    """muon's WNN: per-view neighbours on RNA PCA and ATAC LSI (L2-normalised), weighted graph.

    Leiden runs on the WNN graph; KMeans and silhouette on a 30-d spectral embedding of it.
    """
    import muon as mu
    import scanpy as sc

    rna, atac = _rna_pca(data, seed), _atac_lsi(data, seed)
    mdata = mu.MuData({"rna": rna, "atac": atac})
    mu.pp.l2norm(mdata["rna"], rep="X_pca")
    mu.pp.l2norm(mdata["atac"], rep="X_lsi")
    sc.pp.neighbors(mdata["rna"], use_rep="X_pca", random_state=seed)
    sc.pp.neighbors(mdata["atac"], use_rep="X_lsi", random_state=seed)
    mu.pp.neighbors(mdata, key_added="wnn")
    graph = sp.csr_matrix(mdata.obsp["wnn_connectivities"])
    return {"embedding": spectral_embedding(graph, 30, seed), "graph": graph,
            "info": {"embedding": "30-d spectral embedding of the WNN graph"}}


def spectral_embedding(graph, n_comps, seed):
    """The leading non-trivial eigenvectors of the symmetrically normalised graph (Laplacian eigenmap)."""
    from sklearn.manifold import spectral_embedding as se

    g = (graph + graph.T) / 2
    return se(g, n_components=n_comps, random_state=seed, drop_first=True)


def scvi_rna(data, seed, threads):
    """scVI on raw RNA counts (HVGs as the scvi-tools tutorial, seurat_v3 flavour), default training."""
    import scanpy as sc
    import scvi
    import torch

    torch.set_num_threads(threads)
    scvi.settings.seed = seed
    a = _anndata(data.rna, data.genes, data.cells)
    a.layers["counts"] = a.X.copy()
    sc.pp.highly_variable_genes(a, n_top_genes=min(2000, a.n_vars), flavor="seurat_v3", layer="counts")
    a = a[:, a.var.highly_variable].copy()
    scvi.model.SCVI.setup_anndata(a, layer="counts")
    model = scvi.model.SCVI(a)
    model.train(accelerator="cpu", enable_progress_bar=False, **({"max_epochs": 2} if QUICK else {}))
    epochs = len(model.history["elbo_train"])
    return {"embedding": model.get_latent_representation(), "epochs": epochs,
            "info": {"n_latent": model.module.n_latent, "n_hvg": int(a.n_vars)}}


def multivi_model(data, seed, min_cells_frac=0.01):
    """An untrained MultiVI (scvi-tools 1.4: setup_mudata) on the tutorial's input: features in
    >= ``min_cells_frac`` of cells, raw RNA counts, binarised ATAC."""
    import muon as mu
    import scvi

    scvi.settings.seed = seed
    genes, peaks = common_features(data, min_cells_frac)
    rna = _anndata(data.rna, data.genes, data.cells)[:, genes].copy()
    atac = _anndata((data.atac > 0).astype(np.float32), data.peaks, data.cells)[:, peaks].copy()
    mdata = mu.MuData({"rna": rna, "atac": atac})
    scvi.model.MULTIVI.setup_mudata(mdata, modalities={"rna_layer": "rna", "atac_layer": "atac"})
    return scvi.model.MULTIVI(mdata)


def multivi(data, seed, threads, max_minutes=45.0, min_cells_frac=0.01):
    """MultiVI (:func:`multivi_model`), default training (<= 500 epochs, early stopping) capped at
    ``max_minutes``."""
    import time

    import torch

    torch.set_num_threads(threads)
    model = multivi_model(data, seed, min_cells_frac)
    rna, atac = model.adata.mod["rna"], model.adata.mod["atac"]

    t0 = time.perf_counter()
    model.train(accelerator="cpu", enable_progress_bar=False, max_time={"seconds": int(max_minutes * 60)},
                **({"max_epochs": 2} if QUICK else {}))
    capped = time.perf_counter() - t0 >= max_minutes * 60 - 5
    epochs = len(model.history["elbo_train"])
    return {"embedding": model.get_latent_representation(), "epochs": epochs,
            "info": {"n_genes": int(rna.n_vars), "n_peaks": int(atac.n_vars), "max_minutes": max_minutes,
                     "stopped_by_time_cap": bool(capped)}}


def mofa(data, seed, threads, n_factors=10):
    """MOFA+ through muon (mofapy2): log-normalised HVG RNA and TF-IDF'd variable peaks
    (muon's multiome tutorial), library default 10 factors, convergence_mode "fast"."""
    import muon as mu
    import scanpy as sc

    rna = _anndata(data.rna, data.genes, data.cells)
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    sc.pp.highly_variable_genes(rna, n_top_genes=min(2000, rna.n_vars))
    atac = _anndata(data.atac, data.peaks, data.cells)
    mu.atac.pp.tfidf(atac, scale_factor=1e4)
    sc.pp.highly_variable_genes(atac, min_mean=0.05, max_mean=1.5, min_disp=0.5)
    peak_rule = "muon tutorial (min_mean 0.05, max_mean 1.5, min_disp 0.5)"
    if atac.var.highly_variable.sum() < 1000:  # sparse data sets: the tutorial's cut keeps (almost) nothing
        sc.pp.highly_variable_genes(atac, n_top_genes=min(5000, atac.n_vars))
        peak_rule = "5,000 most dispersed peaks (the tutorial's cut kept < 1,000)"
    mdata = mu.MuData({"rna": rna, "atac": atac})
    _mofapy2_names_fix()
    out = os.path.join(tempfile.mkdtemp(prefix="mofa_"), "model.hdf5")
    mu.tl.mofa(mdata, n_factors=n_factors, use_var="highly_variable", convergence_mode="fast",
               n_iterations=2 if QUICK else 1000, seed=seed, outfile=out, quiet=True, gpu_mode=False)
    import h5py

    try:  # iterations run: the length of the stored ELBO trace (NaN where not computed)
        with h5py.File(out) as f:
            iters = int(len(f["training_stats"]["elbo"][()]))
    except (KeyError, OSError):
        iters = None
    return {"embedding": mdata.obsm["X_mofa"], "epochs": iters,
            "info": {"n_factors": n_factors, "n_hvg": int(rna.var.highly_variable.sum()),
                     "n_variable_peaks": int(atac.var.highly_variable.sum()), "peak_rule": peak_rule}}


def _mofapy2_names_fix():
    """mofapy2 0.7.5 saves feature names with ``np.array(pandas.Index, dtype=h5py string)``; with
    pandas 2.3 that drops h5py's string metadata and saving fails ("Object dtype dtype('O') has no
    native HDF5 equivalent"). Hand it plain lists of str instead."""
    from mofapy2.build_model import save_model

    if getattr(save_model.saveModel.saveNames, "_scmvp_fixed", False):
        return
    original = save_model.saveModel.saveNames

    def save_names(self):
        self.features_names = [[str(x) for x in names] for names in self.features_names]
        return original(self)

    save_names._scmvp_fixed = True
    save_model.saveModel.saveNames = save_names
