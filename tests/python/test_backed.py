"""The streamed data path: matrices read from HDF5 files by rows (scmvp.backed), checks and
feature selection on them, shuffled-block epochs, and a fit whose memory stays below its data."""
import hashlib
import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

import scmvp
from scmvp import io
from scmvp.backed import BackedMatrix, column_nnz
from scmvp.data import ScMVPInputError, prepare_matrix
from scmvp.features import accessible_peaks, vst_variance
from scmvp.inference import CellData

anndata = pytest.importorskip("anndata")
pytest.importorskip("mudata")


def _h5mu(tmp_path, paired, name="d.h5mu"):
    rna, atac, genes, peaks, groups = paired
    obs = {"cell_type": [f"t{g}" for g in groups]}
    import pandas as pd

    return io.write_h5mu(tmp_path / name, [(rna[:37], atac[:37]), (rna[37:], atac[37:])], genes, peaks,
                         [f"c{i}" for i in range(rna.shape[0])], obs=pd.DataFrame(obs))


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_rows_match_the_matrix_in_any_order(tmp_path, paired):
    rna, atac, genes, peaks, _ = paired
    path = _h5mu(tmp_path, paired)
    d = io.read_h5mu(path)
    assert isinstance(d.atac, BackedMatrix) and d.atac.shape == atac.shape
    assert d.genes == genes and d.peaks == peaks and d.cells["cell_type"][0].startswith("t")
    for idx in ([0], [5, 3, 119, 3, 77], np.arange(rna.shape[0])[::-1], slice(10, 20)):
        got = d.atac[idx]
        assert sp.isspmatrix_csr(got) and got.dtype == np.float32
        assert (got != atac[idx]).nnz == 0
    cols = np.array([1, 4, 9, 30])
    assert (d.rna.select(cols)[[2, 0]] != rna[[2, 0]][:, cols]).nnz == 0
    np.testing.assert_array_equal(column_nnz(d.atac), np.bincount(sp.csr_matrix(atac).indices, minlength=atac.shape[1]))
    # the same reader reads the 10x layout (features x cells CSC)
    ten = io.read_10x_h5(io.example_10x_h5(), backed=True)
    mem = io.read_10x_h5(io.example_10x_h5())
    assert (ten.atac[[499, 0, 250]] != mem.atac[[499, 0, 250]]).nnz == 0


def test_csc_and_bad_values_are_refused_with_the_fix(tmp_path, paired):
    rna, atac, genes, peaks, _ = paired
    a = anndata.AnnData(sp.csc_matrix(rna))
    a.write_h5ad(tmp_path / "csc.h5ad")
    with pytest.raises(ScMVPInputError, match="csr_matrix"):
        BackedMatrix(tmp_path / "csc.h5ad", "X")
    bad = sp.csr_matrix(rna, copy=True)
    bad.data[3] = -1
    anndata.AnnData(bad).write_h5ad(tmp_path / "neg.h5ad")
    b = anndata.read_h5ad(tmp_path / "neg.h5ad", backed="r")
    with pytest.raises(ScMVPInputError, match="negative values"):
        prepare_matrix(b.X, name="rna", verbose=False)


def test_checks_and_feature_rules_equal_the_in_memory_ones(tmp_path, paired):
    rna, atac, genes, peaks, _ = paired
    zero_col = sp.csr_matrix(rna, copy=True)
    zero_col[:, 7] = 0
    zero_col.eliminate_zeros()
    a = anndata.AnnData(zero_col, var={"name": genes})
    a.write_h5ad(tmp_path / "r.h5ad")
    b = anndata.read_h5ad(tmp_path / "r.h5ad", backed="r")  # an AnnData backed X is accepted as is
    m_mem, m_file = (prepare_matrix(x, genes, "rna", verbose=False) for x in (zero_col, b.X))
    assert m_file.features == m_mem.features and m_file.dropped == [genes[7]]
    assert isinstance(m_file.X, BackedMatrix) and (m_file.X[:] != m_mem.X).nnz == 0
    np.testing.assert_allclose(vst_variance(m_file.X), vst_variance(m_mem.X), rtol=1e-10)
    np.testing.assert_array_equal(accessible_peaks(m_file.X, 10), accessible_peaks(m_mem.X, 10))


def test_streamed_epochs_visit_every_cell_once_and_split_between_processes(tmp_path, paired):
    path = _h5mu(tmp_path, paired)
    d = io.read_h5mu(path)
    data = CellData(d.rna, d.atac)
    cells = np.sort(np.random.default_rng(0).choice(d.rna.shape[0], 100, replace=False))
    seen = np.concatenate(list(data.epoch(cells, 16, np.random.default_rng(1))))
    np.testing.assert_array_equal(np.sort(seen), cells)
    shares = [list(data.epoch(cells, 16, np.random.default_rng(1), rank=r, world=2)) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) > 0  # the same number of steps on both processes
    a, b = (np.concatenate(s) for s in shares)
    assert not set(a) & set(b) and set(a) | set(b) <= set(cells)
    assert all(len(i) == 8 for s in shares for i in s[:-1])  # half the minibatch each
    # a minibatch read from the buffer is the same as one read from the file
    idx = shares[0][0]
    gen = data.epoch(cells, 16, np.random.default_rng(1), rank=0, world=2)
    first = next(gen)
    cached = data.inputs(first, "cpu").atac
    gen.close()
    direct = data.inputs(first, "cpu").atac
    assert np.array_equal(idx, first) and torch_equal(cached.dense(), direct.dense())


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_streamed_fit_leaves_the_file_alone_and_gives_results(tmp_path, paired):
    path = _h5mu(tmp_path, paired)
    before = _digest(path)
    d = io.read_h5mu(path)
    model = scmvp.ScMVP(n_clusters=3, n_hidden=32, seed=0, verbose=False, progress_bar=False)
    model.fit(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks, max_epochs=3)
    z = model.embedding()
    assert z.shape == (d.rna.shape[0], model.n_latent) and np.isfinite(z).all()
    assert len(model.history_["loss"]) == 3
    # the same cells from memory give the same embedding, and imputation reads the file too
    np.testing.assert_allclose(model.embedding(d.rna[:], d.atac[:], rna_features=d.genes, atac_features=d.peaks), z,
                               rtol=1e-5, atol=1e-5)
    imputed = model.impute_atac(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks)
    assert imputed.shape == (d.atac.shape[0], len(model.features_["atac"]))
    assert _digest(path) == before


def test_streamed_fit_reads_the_held_out_cells_once(tmp_path, paired, monkeypatch):
    """Training cells are read every epoch; held-out cells once for the whole fit, not as
    scattered rows every epoch."""
    d = io.read_h5mu(_h5mu(tmp_path, paired))
    n = d.rna.shape[0]
    reads = np.zeros(n, dtype=np.int64)
    plain = BackedMatrix.__getitem__

    def counting(self, idx):
        if self.shape[1] == d.rna.shape[1]:
            np.add.at(reads, np.asarray(idx if not isinstance(idx, slice) else np.arange(n)[idx]), 1)
        return plain(self, idx)

    monkeypatch.setattr(BackedMatrix, "__getitem__", counting)
    epochs = 4
    model = scmvp.ScMVP(n_clusters=3, n_hidden=32, seed=0, early_stopping=False, verbose=False, progress_bar=False)
    model.fit(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks, max_epochs=epochs)
    perm = np.random.default_rng(0).permutation(n)  # the training loop's split (seed 0)
    held = np.zeros(n, dtype=bool)
    held[perm[:round(model.validation_fraction * n)]] = True
    assert held.sum() > 0
    assert len(np.unique(reads[held])) == 1 and len(np.unique(reads[~held])) == 1
    assert reads[~held][0] - reads[held][0] == epochs - 1


def test_scored_held_out_cells_are_a_capped_even_spread():
    from scmvp.train import MAX_SCORED_HELD_OUT, scored_held_out

    small = np.arange(0, 5000, 7)
    assert scored_held_out(small) is small
    big = np.sort(np.random.default_rng(1).choice(10**6, 100_000, replace=False))
    part = scored_held_out(big)
    assert len(part) == MAX_SCORED_HELD_OUT and np.isin(part, big).all() and np.all(np.diff(part) > 0)
    # spread over the whole held-out set, not its start
    assert part[0] == big[0] and part[-1] == big[-1]


def test_cli_streams_h5mu_and_records_the_run(tmp_path, paired):
    from scmvp.cli import main

    path = _h5mu(tmp_path, paired)
    rc = main(["fit", str(path), "-o", str(tmp_path / "out"), "--stream", "yes", "--epochs", "2", "--n-clusters", "3",
               "--n-hidden", "16", "--quiet"])
    assert rc == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["streamed"] and run["cells"] == paired[0].shape[0] and run["epochs"] == 2 and run["world_size"] == 1
    assert run["peak_rss_bytes"] > 0 and run["bytes_read"] > 0 and run["versions"]["torch"]


_MEMORY_CHILD = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(1)
    import scmvp
    from scmvp.io import read_h5mu
    from scmvp.synthetic import sparse_counts

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    # warm every code path on small data, then measure the streamed fit's own growth
    small = scmvp.ScMVP(n_clusters=3, max_epochs=2, verbose=False, progress_bar=False)
    small.fit(sparse_counts(600, 400, 0.4, 3, 1), sparse_counts(600, 3000, 0.17, 3, 2))
    del small
    open("/proc/self/clear_refs", "w").write("5")  # restart the peak-RSS count
    base = hwm()
    d = read_h5mu(sys.argv[1])
    model = scmvp.ScMVP(max_epochs=2, verbose=False, progress_bar=False)
    model.fit(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks)
    z = model.embedding()
    print(json.dumps({"growth": hwm() - base, "cells": int(z.shape[0]), "epochs": len(model.history_["loss"])}))
""")


@pytest.mark.slow
def test_streamed_fit_stays_within_a_memory_limit_below_its_data(tmp_path):
    """The counts on disk (values and indices) are larger than the memory the fit may add."""
    from scmvp.synthetic import write_sparse_h5mu

    path = write_sparse_h5mu(tmp_path / "big.h5mu", 80_000, 400, 3000, 160, 500, seed=0, block_cells=20_000)
    with h5py.File(path, "r") as f:
        stored = sum(f[f"mod/{m}/X/{a}"].size * 4 for m in ("rna", "atac") for a in ("data", "indices"))
    # the streamed fit adds ~185 MB whatever the cells (the read buffer, the model, freed memory
    # glibc keeps during training); loaded into memory, the counts alone would take 422 MB
    limit = 250 * 2**20
    assert stored > 1.6 * limit
    res = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path)], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["cells"] == 80_000 and out["epochs"] == 2
    assert out["growth"] < limit, f"the streamed fit added {out['growth'] / 2**20:.0f} MB (limit {limit / 2**20:.0f} MB)"
