"""How far apart two methods are over seeds: the mean gap of each score and its 95% interval.

    python bench/seed_gap.py bench/results pbmc_multiome_2k scmvp_joint scmvp_rna

Reads the scored JSONs of ``RESULTS/DATASET/METHOD/seed*.json`` (``bench/compare.py`` writes
them) and prints, for KMeans ARI / NMI, Leiden ARI and the model's own clusters: each method's
mean ± sd and number of seeds, the gap A - B with Welch's 95% interval (seeds of the two methods
are independent fits, not pairs), and the sorted per-seed values, which show a score that falls
into two groups over the seeds (a large type kept whole or split) rather than around one mean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import load  # noqa: E402

SCORES = (("kmeans_ari", "KMeans ARI"), ("kmeans_nmi", "KMeans NMI"), ("leiden_ari", "Leiden ARI"),
          ("model_cluster_ari", "own clusters ARI"))


def welch_interval(a: np.ndarray, b: np.ndarray, level: float = 0.95):
    """Mean of ``a`` minus mean of ``b`` and Welch's ``level`` interval for it.

    >>> gap, lo, hi = welch_interval(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))
    >>> round(gap, 3), round(lo, 3), round(hi, 3)
    (1.0, -1.267, 3.267)
    """
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    gap = a.mean() - b.mean()
    return float(gap), float(gap - half), float(gap + half)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("dataset")
    ap.add_argument("method_a")
    ap.add_argument("method_b")
    args = ap.parse_args(argv)
    runs = load(args.results).get(args.dataset, {})
    for m in (args.method_a, args.method_b):
        if len(runs.get(m, [])) < 2:
            sys.exit(f"{args.results}/{args.dataset}/{m}: fewer than 2 scored seeds; run bench/compare.py first.")
    print(f"{args.dataset}: {args.method_a} (A) against {args.method_b} (B)")
    for key, name in SCORES:
        a, b = (np.array([r["scores"][key] for r in runs[m] if key in r["scores"]]) for m in (args.method_a, args.method_b))
        if len(a) < 2 or len(b) < 2:
            continue
        gap, lo, hi = welch_interval(a, b)
        print(f"  {name}: A {a.mean():.3f} ± {a.std(ddof=1):.3f} ({len(a)}), B {b.mean():.3f} ± {b.std(ddof=1):.3f} "
              f"({len(b)}); A - B {gap:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        print(f"    A: {' '.join(f'{x:.3f}' for x in np.sort(a))}")
        print(f"    B: {' '.join(f'{x:.3f}' for x in np.sort(b))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
