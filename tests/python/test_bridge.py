"""The functions the R package calls, fed the way reticulate feeds them (features x cells CSC,
float64 values, R doubles for integers, a bare str for a length-one character vector)."""
import numpy as np
import pytest
import scipy.sparse as sp

import scmvp
from scmvp import ScMVPInputError, bridge


@pytest.fixture(scope="module")
def r_like(paired):
    rna, atac, genes, peaks, _ = paired
    return sp.csc_matrix(rna.T, dtype=np.float64), sp.csc_matrix(atac.T, dtype=np.float64), genes, peaks


@pytest.fixture(scope="module")
def result(r_like):
    rna, atac, genes, peaks = r_like
    lines = []
    out = bridge.fit(rna, atac, genes, peaks, n_clusters=3.0, n_latent=6.0, max_epochs=3.0, seed=42.0,
                     verbose=False, callback=bridge.lines_progress(every=1, printer=lines.append), n_hidden=32.0)
    out["lines"] = lines
    return out


def test_fit_returns_r_friendly_arrays(result, r_like):
    n = r_like[0].shape[1]
    assert result["embedding"].shape == (n, 6) and result["embedding"].dtype == np.float64
    assert result["embedding"].flags.f_contiguous
    assert result["probabilities"].shape == (n, 3)
    assert result["clusters"].dtype == np.int32 and result["clusters"].min() >= 1 and result["clusters"].max() <= 3
    assert result["n_clusters"] == 3 and result["features_rna"] == r_like[2]
    assert set(result["history"]) >= {"loss", "validation_loss"} and len(result["history"]["loss"]) == 3
    assert result["lines"][0].startswith("scMVP: epoch 1/3") and len(result["lines"]) == 3


def test_caller_matrices_untouched(r_like):
    rna, atac = r_like[0].copy(), r_like[1].copy()
    before = (rna.copy(), atac.copy())
    for m in (rna, atac):
        for a in (m.data, m.indices, m.indptr):
            a.setflags(write=False)  # R memory is read-only from Python
    out = bridge.fit(rna, atac, r_like[2], r_like[3], n_clusters=3, max_epochs=1, verbose=False, n_hidden=16)
    assert out["embedding"].shape == (rna.shape[1], scmvp.ScMVPConfig().n_latent)
    for m, b in zip((rna, atac), before):
        assert m.format == b.format and m.dtype == b.dtype and (m != b).nnz == 0


def test_embed_and_impute_orientation(result, r_like):
    rna, atac, genes, peaks = r_like
    model = result["model"]
    again = bridge.embed(model, rna, atac, genes, peaks)
    np.testing.assert_allclose(again["embedding"], result["embedding"], rtol=1e-5, atol=1e-6)
    x = bridge.impute_rna(model, rna, atac, genes, peaks, features="G3")  # a bare str, as from R
    assert x.shape == (1, rna.shape[1]) and x.flags.f_contiguous and x.dtype == np.float64
    y = bridge.impute_atac(model, rna, atac, genes, peaks, features=result["features_atac"][:5])
    assert y.shape == (5, rna.shape[1]) and (y <= 1).all()
    s = bridge.impute_atac(model, rna, atac, genes, peaks, threshold=0.0)
    assert sp.isspmatrix_csc(s) and s.shape == (len(result["features_atac"]), rna.shape[1])


def test_embed_reports_missing_features(result, r_like):
    rna, atac, genes, peaks = r_like
    out = bridge.embed(result["model"], rna[1:], atac, genes[1:], peaks)
    assert any("missing and set to 0" in w for w in out["warnings"])
    with pytest.raises(ScMVPInputError, match="missing"):
        bridge.embed(result["model"], rna[1:], atac, genes[1:], peaks, allow_missing=False)


def test_model_bytes_roundtrip(result, r_like):
    raw = bridge.model_to_bytes(result["model"])
    assert isinstance(raw, bytes)
    for payload in (raw, np.frombuffer(raw, dtype=np.uint8)):
        m = bridge.model_from_bytes(payload, device="cpu")
        out = bridge.embed(m, *r_like)
        np.testing.assert_allclose(out["embedding"], result["embedding"], rtol=1e-5, atol=1e-6)
    info = bridge.model_info(m)
    assert info["params"]["n_clusters"] == 3 and info["features_rna"] == r_like[2]


def test_config_reports_versions():
    cfg = bridge.config()
    assert cfg["device"] in ("cpu", "cuda") and cfg["torch"] and cfg["python_version"].startswith("3.")
    assert cfg["float32_matmul"] in ("oneDNN (float32-exact on this CPU)", "torch default")
