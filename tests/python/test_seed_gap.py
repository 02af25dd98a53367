"""bench/seed_gap.py: the gap between two methods over seeds and its Welch interval."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from seed_gap import main, welch_interval  # noqa: E402


def test_interval_is_welchs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.03, 5), rng.normal(0.72, 0.07, 9)
    gap, lo, hi = welch_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert gap == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx((ci.low, ci.high))


def _write(root, method, values):
    for seed, v in enumerate(values):
        d = root / "toy" / method
        d.mkdir(parents=True, exist_ok=True)
        scores = {"kmeans_ari": v, "kmeans_nmi": v, "leiden_ari": v - 0.1}
        (d / f"seed{seed}.json").write_text(json.dumps({"dataset": "toy", "method": method, "seed": seed, "scores": scores}))


def test_prints_each_score_and_refuses_too_few_seeds(tmp_path, capsys):
    _write(tmp_path, "a", [0.80, 0.82, 0.84])
    _write(tmp_path, "b", [0.70, 0.71])
    assert main([str(tmp_path), "toy", "a", "b"]) == 0
    out = capsys.readouterr().out
    assert "KMeans ARI: A 0.820 ± 0.020 (3), B 0.705 ± 0.007 (2); A - B +0.115" in out
    assert "Leiden ARI" in out and "own clusters" not in out  # no model clusters in these runs
    assert "A: 0.700 0.720 0.740" in out
    _write(tmp_path, "c", [0.5])
    with pytest.raises(SystemExit, match="fewer than 2 scored seeds"):
        main([str(tmp_path), "toy", "a", "c"])
