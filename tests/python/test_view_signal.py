"""Split-half reliability of the chromatin (scmvp.view_signal) and where a fit reports it."""
import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from scmvp import ScMVP
from scmvp.synthetic import paired_groups
from scmvp.view_signal import MIN_SPLIT_HALF_CORRELATION, ViewSignal, _canonical_correlations, split_half_signal


def test_canonical_correlations_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 5))
    a -= a.mean(0)
    # an invertible linear map of the same embedding: every canonical correlation is 1
    np.testing.assert_allclose(_canonical_correlations(a, a @ rng.normal(size=(5, 5))), 1.0, atol=1e-8)
    # one shared coordinate plus independent noise of equal variance: correlation 1/2 (population)
    shared = rng.normal(size=(20000, 1))
    b = np.hstack([shared + rng.normal(size=(20000, 1)), rng.normal(size=(20000, 2))])
    c = np.hstack([shared + rng.normal(size=(20000, 1)), rng.normal(size=(20000, 2))])
    rho = _canonical_correlations(b - b.mean(0), c - c.mean(0))
    assert abs(rho[0] - 0.5) < 0.02 and rho[1] < 0.03


@pytest.mark.parametrize("programs", [1, 2, 3, 4])
def test_counts_the_between_group_directions(programs):
    # k chromatin programs span k - 1 directions between their means; one program, none
    _, atac, *_ = paired_groups(n_cells=1500, atac_programs=programs, seed=0)
    signal = split_half_signal(atac, seed=0)
    assert signal.n_reproducible == programs - 1
    assert signal.threshold >= MIN_SPLIT_HALF_CORRELATION


def test_depth_alone_is_not_signal():
    # cells differing only in depth (log-normal, 4-fold spread), peaks drawn from one profile
    rng = np.random.default_rng(1)
    depth = rng.lognormal(np.log(300), 0.7, 1200)
    profile = rng.gamma(0.5, 1.0, 4000)
    counts = sp.csr_matrix(rng.poisson(np.outer(depth, profile / profile.sum())).astype(np.float32))
    assert split_half_signal(counts).n_reproducible == 0


def test_backed_rows_and_subsample_agree_with_memory(monkeypatch):
    _, atac, *_ = paired_groups(n_cells=800, atac_programs=3, seed=2)

    class Rows:  # a matrix that can only be indexed by rows, as a BackedMatrix
        shape = atac.shape

        def __getitem__(self, idx):
            return atac[idx]

    a, b = split_half_signal(atac, seed=3), split_half_signal(Rows(), seed=3)
    np.testing.assert_allclose(a.correlations, b.correlations)
    assert split_half_signal(atac[:10]) is None  # too few cells to tell
    # above the cell cap, the same random subset of rows from memory or from a file
    import scmvp.view_signal as vs

    monkeypatch.setattr(vs, "MAX_SIGNAL_CELLS", 400)
    c, d = split_half_signal(atac, seed=3), split_half_signal(Rows(), seed=3)
    np.testing.assert_allclose(c.correlations, d.correlations)
    assert len(c.correlations) == 4 and c.n_reproducible == 2  # one component per 100 of the 400 cells


def test_fit_reports_the_signal_and_warns_without_it(tmp_path):
    rna, atac, *_ = paired_groups(n_cells=400, n_genes=300, n_peaks=1500, atac_programs=3, seed=0)
    model = ScMVP(verbose=False, progress_bar=False, n_latent=4, max_epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(rna, atac)
    assert isinstance(model.atac_signal_, ViewSignal) and model.atac_signal_.n_reproducible == 2
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = ScMVP.load(path)
    np.testing.assert_allclose(loaded.atac_signal_.correlations, model.atac_signal_.correlations)
    assert json.dumps(loaded.atac_signal_.to_dict())

    assert model.trained_config.encode_atac is True and hasattr(model.module, "atac_branch")


def test_chromatin_without_signal_is_not_encoded(tmp_path, rna_and_noise):
    rna, noise = rna_and_noise
    model = ScMVP(verbose=False, progress_bar=False, n_latent=4, max_epochs=2)
    with pytest.warns(UserWarning, match="no cell-to-cell signal.*reads the RNA only"):
        model.fit(rna, noise)
    # the joint encoder has no chromatin branch; the chromatin is still decoded and imputed
    assert model.trained_config.encode_atac is False and not hasattr(model.module, "atac_branch")
    assert model.module.joint_head.hidden[0].in_features == model.config.n_hidden
    assert model.impute_atac().shape == (noise.shape[0], len(model.features_["atac"]))
    path = tmp_path / "m.pt"
    model.save(path)
    np.testing.assert_allclose(ScMVP.load(path).embedding(rna, noise), model.embedding(rna, noise), rtol=1e-5, atol=1e-6)
    # asked for, the encoder reads it anyway; asked not to, it never does
    forced = ScMVP(verbose=False, progress_bar=False, n_latent=4, max_epochs=1, encode_atac=True)
    with pytest.warns(UserWarning, match="the embedding will rest on the RNA"):
        forced.fit(rna, noise)
    assert hasattr(forced.module, "atac_branch")
    assert ScMVP(verbose=False, progress_bar=False, modality="rna", max_epochs=1).fit(rna).atac_signal_ is None


def test_encode_atac_is_validated_and_parsed():
    from scmvp import ScMVPConfig
    from scmvp.cli import _setting_type

    with pytest.raises(ValueError, match="encode_atac must be 'auto', True or False"):
        ScMVPConfig(encode_atac="sometimes")
    assert ScMVPConfig(encode_atac=np.bool_(False)).encode_atac is False
    parse = _setting_type("encode_atac", "auto")
    assert (parse("false"), parse("TRUE"), parse("auto")) == (False, True, "auto")


@pytest.fixture
def rna_and_noise():
    rna, *_ = paired_groups(n_cells=400, n_genes=300, n_peaks=1500, atac_programs=3, seed=0)
    noise = sp.random(400, 1500, density=0.01, format="csr", random_state=0, dtype=np.float32)
    noise.data[:] = 1
    return rna, noise


def test_bench_table_reports_what_the_fit_decides(tmp_path, capsys, rna_and_noise):
    import sys
    from pathlib import Path

    import pandas as pd

    from scmvp.io import PairedData, write_mtx_dir

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from atac_signal import main

    rna, noise = rna_and_noise
    _, atac, *_ = paired_groups(n_cells=400, n_genes=300, n_peaks=1500, atac_programs=3, seed=0)
    cells = pd.DataFrame({"barcode": [f"c{i}" for i in range(400)], "cell_type": "x"})
    genes, peaks = [f"G{i}" for i in range(300)], [f"chr1:{10 * i}-{10 * i + 5}" for i in range(1500)]
    for name, y in (("programs", atac), ("noise", noise)):
        write_mtx_dir(tmp_path / name, PairedData(rna, y.astype(np.float32), genes, peaks, cells))
    assert main([str(tmp_path / "programs"), str(tmp_path / "noise")]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| programs") or r.startswith("| noise")]
    assert rows[0].split(" | ")[2:3] == ["2"] and rows[0].split(" | ")[5] == "yes"
    assert rows[1].split(" | ")[2:3] == ["0"] and rows[1].split(" | ")[5] == "no"
