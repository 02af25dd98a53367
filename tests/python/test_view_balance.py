"""The residual statistics of bench/view_balance.py against cases with a known answer."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from view_balance import view_stats  # noqa: E402


def test_independent_residuals_count_as_every_feature():
    r = np.random.default_rng(0).standard_normal((2000, 400))
    s = view_stats(r, "atac")
    assert abs(s["atac_phi"] - 1.0) < 0.01
    assert s["atac_peff_share"] > 0.97
    # no eigenvalue of pure noise passes the Marchenko-Pastur edge by much
    assert s["atac_top_eig"][0] < 1.05 * s["atac_noise_edge"]


def test_a_shared_factor_shrinks_the_effective_features_and_stands_out():
    rng = np.random.default_rng(1)
    n, p, rho = 2000, 400, 0.2
    # equicorrelated residuals: ||C||_F^2 = p + p(p-1) rho^2, so p_eff / p = 1 / (1 + (p-1) rho^2)
    r = np.sqrt(rho) * rng.standard_normal((n, 1)) + np.sqrt(1 - rho) * rng.standard_normal((n, p))
    s = view_stats(r, "rna")
    expected = 1 / (1 + (p - 1) * rho**2)
    assert abs(s["rna_peff_share"] - expected) < 0.25 * expected
    assert s["rna_top_eig"][0] > 10 * s["rna_noise_edge"]
