"""The bundled 10x Multiome filtered_feature_bc_matrix.h5, its writer script and read_10x_h5."""
import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from scmvp import io

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "data" / "pbmc_multiome_2k"


def _script():
    spec = importlib.util.spec_from_file_location("make_pbmc_10x_h5", ROOT / "inst" / "scripts" / "make_pbmc_10x_h5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_h5_has_cell_ranger_arc_layout_and_reads():
    path = io.example_10x_h5()
    assert path.stat().st_size < 2_000_000
    with h5py.File(path, "r") as f:
        feats = f["matrix/features"]
        assert {"id", "name", "feature_type", "genome", "interval"} <= set(feats)
        assert set(feats["feature_type"][:]) == {b"Gene Expression", b"Peaks"}
        assert tuple(f["matrix/shape"][:]) == (7500, 500)
    d = io.read_10x_h5(path)
    assert d.rna.shape == (500, 2500) and d.atac.shape == (500, 5000)
    assert sp.isspmatrix_csr(d.rna) and d.atac.nnz > 0 and np.all(d.rna.data == np.round(d.rna.data))
    labels = pd.read_csv(path.parent / "cell_types.tsv", sep="\t")
    assert list(labels["barcode"]) == list(d.cells["barcode"]) and labels["cell_type"].nunique() >= 10


def test_writer_round_trips(tmp_path, paired):
    rna, atac, genes, peaks, _ = paired
    path = tmp_path / "x.h5"
    _script().write_10x_h5(path, sp.csr_matrix(rna), sp.csr_matrix(atac), [f"B{i}-1" for i in range(rna.shape[0])],
                           genes, peaks)
    d = io.read_10x_h5(path)
    assert (d.rna != rna).nnz == 0 and (d.atac != atac).nnz == 0
    assert d.genes == genes and d.peaks == peaks and d.cells["barcode"][3] == "B3-1"


@pytest.mark.skipif(not SOURCE.exists(), reason="the source data (../shared/data/pbmc_multiome_2k) are not here")
def test_bundled_h5_holds_the_source_counts():
    d = io.read_10x_h5(io.example_10x_h5())
    cells = pd.read_csv(SOURCE / "cells.tsv", sep="\t")
    rows = pd.Index(cells["barcode"]).get_indexer(d.cells["barcode"])
    assert (rows >= 0).all()
    rna = sp.csr_matrix(scipy.io.mmread(SOURCE / "rna.mtx.gz"))[rows]
    atac = sp.csr_matrix(scipy.io.mmread(SOURCE / "atac.mtx.gz"))[rows]
    assert (d.rna != rna).nnz == 0 and (d.atac != atac).nnz == 0
