"""How each view's likelihood fits under a trained model: the numbers behind "Why the ATAC
weight is small" in bench/RESULTS.md (not a test).

    python bench/view_balance.py ../shared/data/pbmc_multiome_2k --atac-weight 0.05 1

For each dataset folder and ATAC weight, fits the default model (seed 0, 1 thread) and prints
one JSON line with:
- ``rna_nll``, ``atac_nll``: the last epoch's negative log-likelihood per cell of each view;
- ``rna_phi``, ``atac_phi``: Pearson dispersion of each view under the model (mean squared
  Pearson residual over the cells x features; 1 for data the likelihood describes);
- ``*_peff_share``: effective number of features / features, from the participation ratio of
  the residual feature correlations on 2,000 cells, corrected for sampling noise (1 when the
  residuals are independent);
- ``*_top_eig`` and ``*_noise_edge``: the largest eigenvalues of the residual correlations and
  the Marchenko-Pastur edge that noise alone would stay under.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def residuals(model, data, cells):
    """Pearson residuals (cells x features) of each view at the posterior mean."""
    from scmvp.inference import iterate

    module = model.module.eval()
    part = model._query(data.rna, data.atac, None, data.genes, data.peaks).read(cells)
    out = {"rna": [], "atac": []}
    with torch.no_grad():
        for idx in iterate(part.n_cells, 256, False, None):
            inputs = part.inputs(idx, torch.device("cpu"))
            rho, rate_frac, pi_logits = module.decode(module.encode(inputs)[0], None)
            if rho is not None:
                x = torch.from_numpy(part.rna[idx].toarray())
                mu = inputs.rna.library.unsqueeze(1) * rho
                out["rna"].append(((x - mu) / (mu + mu**2 / module.theta(None)).sqrt()).numpy())
            if rate_frac is not None:
                y = torch.from_numpy(part.atac[idx].toarray())
                rate, pi = inputs.atac.library.unsqueeze(1) * rate_frac, torch.sigmoid(pi_logits)
                mean, var = (1 - pi) * rate, (1 - pi) * rate * (1 + pi * rate)
                out["atac"].append(((y - mean) / var.clamp_min(1e-8).sqrt()).numpy())
    return {view: np.concatenate(r).astype(np.float64) for view, r in out.items() if r}


def view_stats(r: np.ndarray, view: str) -> dict:
    """Dispersion and redundancy of one view's residuals ``r`` (cells x features)."""
    stats = {f"{view}_phi": float((r**2).mean())}
    r = r - r.mean(0)
    sd = r.std(0)
    r = r[:, sd > 1e-6] / sd[sd > 1e-6]
    n, p = r.shape
    gram = r @ r.T / n  # the nonzero spectrum of the p x p residual correlation matrix
    excess = max((gram**2).sum() - p - p * (p - 1) / n, 0.0)  # beyond what sampling noise gives
    eig = np.linalg.eigvalsh(gram)[::-1]
    stats.update({f"{view}_peff_share": p / (p + excess), f"{view}_top_eig": [round(float(e), 1) for e in eig[:3]],
                  f"{view}_noise_edge": (1 + np.sqrt(p / n)) ** 2})
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("datasets", nargs="+", help="dataset folders (../shared/data layout)")
    p.add_argument("--atac-weight", type=float, nargs="+", default=[0.05])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cells", type=int, default=2000, help="cells whose residuals are measured")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import scmvp
    from scmvp.io import read_mtx_dir

    for folder in args.datasets:
        data = read_mtx_dir(folder)
        n = data.rna.shape[0]
        cells = np.sort(np.random.default_rng(0).choice(n, min(n, args.cells), replace=False))
        for weight in args.atac_weight:
            model = scmvp.ScMVP(seed=args.seed, atac_weight=weight, verbose=False, progress_bar=False)
            model.fit(data.rna, data.atac, rna_features=data.genes, atac_features=data.peaks)
            row = {"dataset": folder, "atac_weight": weight, "seed": args.seed, "epochs": len(model.history_["loss"]),
                   **{k: model.history_[k][-1] for k in ("rna_nll", "atac_nll")}}
            for view, r in residuals(model, data, cells).items():
                row.update(view_stats(r, view))
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
