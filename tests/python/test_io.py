import json

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scmvp
from scmvp import io


def _write_dataset(folder, rna, atac, genes, peaks, labels):
    cells = pd.DataFrame({"barcode": [f"c{i}" for i in range(rna.shape[0])], "cell_type": labels})
    io.write_mtx_dir(folder, io.PairedData(sp.csr_matrix(rna), sp.csr_matrix(atac), genes, peaks, cells))


def test_write_mtx_dir_round_trips_counts_names_and_labels(tmp_path, paired):
    rna, atac, genes, peaks, groups = paired
    _write_dataset(tmp_path / "d", rna, atac, genes, peaks, [f"t{g}" for g in groups])
    d = io.read_mtx_dir(tmp_path / "d")
    assert (d.rna != rna).nnz == 0 and (d.atac != atac).nnz == 0
    assert d.genes == list(genes) and d.peaks == list(peaks)
    assert d.cells["cell_type"].tolist() == [f"t{g}" for g in groups] and d.cells["barcode"][0] == "c0"
    # integer Matrix Market, as the bundled data
    import gzip

    with gzip.open(tmp_path / "d" / "atac.mtx.gz", "rt") as fh:
        assert fh.readline().split()[3] == "integer"


def test_write_mtx_dir_refuses_what_is_not_counts(tmp_path, paired):
    rna, atac, genes, peaks, groups = paired
    cells = pd.DataFrame({"barcode": [f"c{i}" for i in range(rna.shape[0])]})
    logged = sp.csr_matrix(rna, dtype=np.float64)
    logged.data = np.log1p(logged.data)
    with pytest.raises(io.ScMVPInputError, match="non-integer"):
        io.write_mtx_dir(tmp_path / "d", io.PairedData(logged, sp.csr_matrix(atac), genes, peaks, cells))
    assert not (tmp_path / "d").exists()


def test_bundled_example_reads():
    rna, atac, cells, genes, peaks = io.load_example(n_cells=500)
    assert rna.shape == (500, 1677) and atac.shape == (500, 24744)
    assert rna.dtype == np.float32 and sp.isspmatrix_csr(rna)
    assert {"barcode", "cell_type"} <= set(cells.columns) and peaks[0].startswith("chr")


def test_read_mtx_dir_and_cli(tmp_path, paired):
    rna, atac, genes, peaks, groups = paired
    _write_dataset(tmp_path / "d", rna, atac, genes, peaks, [f"t{g}" for g in groups])
    d = io.read_mtx_dir(tmp_path / "d")
    assert (d.rna != rna).nnz == 0 and d.genes == genes and d.peaks == peaks
    from scmvp.cli import main

    rc = main(["fit", str(tmp_path / "d"), "-o", str(tmp_path / "out"), "--epochs", "2", "--n-clusters", "3", "--quiet"])
    assert rc == 0
    out = tmp_path / "out"
    for f in ("embedding.tsv", "clusters.tsv", "history.tsv", "model.pt", "loss.png", "umap.png", "metrics.json", "run.json"):
        assert (out / f).stat().st_size > 0, f
    run = json.loads((out / "run.json").read_text())
    assert run["cells"] == rna.shape[0] and run["epochs"] == 2 and not run["streamed"] and run["world_size"] == 1
    assert run["genes"] <= len(genes) and run["peak_rss_bytes"] > 100 * 2**20 and run["processor"]
    assert (out / "umap.png").read_bytes()[:4] == b"\x89PNG"
    m = json.loads((out / "metrics.json").read_text())
    assert 0 <= m["kmeans_nmi"] <= 1 and m["epochs"] == 2
    emb = pd.read_csv(out / "embedding.tsv", sep="\t", index_col=0)
    assert emb.shape == (rna.shape[0], scmvp.ScMVPConfig().n_latent) and emb.index[0] == "c0"


def test_cli_reports_bad_folder(tmp_path, capsys):
    from scmvp.cli import main

    assert main(["fit", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "missing rna.mtx.gz" in capsys.readouterr().err


def test_read_10x_h5(tmp_path, paired):
    rna, atac, genes, peaks, _ = paired
    X = sp.hstack([rna, atac]).T.tocsc().astype(np.int32)  # features x cells, as Cell Ranger writes
    path = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = X.data, X.indices, X.indptr
        g["shape"] = np.array(X.shape)
        g["barcodes"] = np.array([f"AAAC-{i}".encode() for i in range(X.shape[1])])
        feats = g.create_group("features")
        feats["name"] = np.array([s.encode() for s in genes + peaks])
        feats["id"] = feats["name"][:]
        feats["feature_type"] = np.array([b"Gene Expression"] * len(genes) + [b"Peaks"] * len(peaks))
    d = io.read_10x_h5(path)
    assert (d.rna != rna).nnz == 0 and (d.atac != atac).nnz == 0
    assert d.peaks == peaks and d.cells["barcode"][0] == "AAAC-0"


def test_fit_anndata_and_mudata(paired):
    anndata = pytest.importorskip("anndata")
    mudata = pytest.importorskip("mudata")
    rna, atac, genes, peaks, _ = paired
    obs = pd.DataFrame(index=[f"c{i}" for i in range(rna.shape[0])])
    a_rna = anndata.AnnData(rna.astype(np.float32), obs=obs.copy(), var=pd.DataFrame(index=genes))
    a_atac = anndata.AnnData(atac.astype(np.float32), obs=obs.copy(), var=pd.DataFrame(index=peaks))
    mdata = mudata.MuData({"rna": a_rna, "atac": a_atac})
    model = io.fit_mudata(mdata, scmvp.ScMVP(n_clusters=3, n_hidden=16, verbose=False, progress_bar=False), max_epochs=1)
    assert mdata.obsm["X_scmvp"].shape == (rna.shape[0], scmvp.ScMVPConfig().n_latent)
    assert mdata["rna"].obs["scmvp_cluster"].nunique() <= 3
    np.testing.assert_allclose(mdata.obsm["X_scmvp"], model.embedding())
