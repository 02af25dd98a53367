"""Fit time per epoch and peak RSS of scMVP (and MultiVI) on synthetic sparse data (not a test).

    python bench/speed.py                     # 2k / 10k / 50k cells, 8,000 genes x 23,000 peaks
    python bench/speed.py --cells 2000 --threads 1 2 --device cuda
    python bench/speed.py --methods scmvp multivi --threads 2 --json bench/results/scaling.json

MultiVI runs in the peers' virtualenv (bench/setup_peers.sh; --peers-python) on the same
matrices (ATAC binarised, as MultiVI models it; no feature filter, so both models see every
gene and peak), also 3 epochs with 10% of cells held out; its time is that of the third epoch.
``multivi_onednn`` is MultiVI with ``torch.set_float32_matmul_precision("medium")``, which on
torch >= 2.9 sends its CPU float32 products through oneDNN as scMVP's
``settings.fast_float32_matmul`` does (a user of MultiVI could set it; scvi-tools does not).

Each configuration runs in a fresh process (so peak RSS is its own) and fits 3 epochs: the
first is the warm-up (normal prior, no cycle), the second and third the full model (mixture
prior, cycle terms). Reported: seconds for the third epoch (``epoch_s``: the steady state),
the same per cell, the second (``first_full_epoch_s``: for scMVP it also holds the one-off
mixture initialisation, posterior means of every cell and a GaussianMixture fit), peak RSS,
and the dense float32 size of the input for comparison. Sparsity as in real data:
~95% zeros in RNA, ~98% in ATAC.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scmvp.runinfo import cpu_model  # noqa: E402

CHILD = r"""
import json, sys, time, torch
cells, genes, peaks, threads, device = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cycle = {"true": True, "rna": "rna"}[sys.argv[6]]
torch.set_num_threads(threads)
import scmvp
attention = {"all": {"attention": True}, "default": {}}[sys.argv[7]]
from scmvp.runinfo import peak_rss_bytes
from scmvp.synthetic import sparse_counts
rna = sparse_counts(cells, genes, 0.05, max_count=5, seed=1)
atac = sparse_counts(cells, peaks, 0.02, max_count=2, seed=2)
stamps = []
cb = lambda epoch, total, rec: stamps.append(time.perf_counter())
t0 = time.perf_counter()
m = scmvp.ScMVP(n_clusters=10, seed=0, device=device, verbose=False, progress_bar=False, cycle=cycle, **attention)
m.fit(rna, atac, max_epochs=3, early_stopping=False, callback=cb)
if device.startswith("cuda"):
    torch.cuda.synchronize()
print(json.dumps({"cells": cells, "threads": threads, "device": device,
  "warmup_epoch_s": stamps[0] - t0, "first_full_epoch_s": stamps[1] - stamps[0], "epoch_s": stamps[2] - stamps[1],
  "peak_rss_mb": peak_rss_bytes() / 2**20,
  "nnz": int(rna.nnz + atac.nnz), "dense_mb": cells * (genes + peaks) * 4 / 2**20}))
"""

MULTIVI_CHILD = r"""
import json, sys, time, torch
cells, genes, peaks, threads, device = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
if sys.argv[6] == "onednn":
    torch.set_float32_matmul_precision("medium")
import anndata as ad, muon as mu
from multivi_timing import timed_multivi_fit
from scmvp.runinfo import peak_rss_bytes
from scmvp.synthetic import sparse_counts
rna = sparse_counts(cells, genes, 0.05, max_count=5, seed=1)
atac = sparse_counts(cells, peaks, 0.02, max_count=2, seed=2)
atac.data[:] = 1.0
mdata = mu.MuData({"rna": ad.AnnData(rna), "atac": ad.AnnData(atac)})
t0, stamps = timed_multivi_fit(mdata, accelerator="gpu" if device.startswith("cuda") else "cpu")
print(json.dumps({"cells": cells, "threads": threads, "device": device,
  "warmup_epoch_s": stamps[0] - t0, "first_full_epoch_s": stamps[1] - stamps[0], "epoch_s": stamps[2] - stamps[1],
  "peak_rss_mb": peak_rss_bytes() / 2**20,
  "nnz": int(rna.nnz + atac.nnz), "dense_mb": cells * (genes + peaks) * 4 / 2**20}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, nargs="+", default=[2000, 10000, 50000])
    p.add_argument("--genes", type=int, default=8000)
    p.add_argument("--peaks", type=int, default=23000)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--methods", nargs="+", default=["scmvp"], choices=["scmvp", "scmvp_full_attention", "scmvp_cycle_rna", "multivi", "multivi_onednn"],
                   help="scmvp: the default model; scmvp_full_attention: attention=True (all three parts, "
                   "with the decoders' cluster gate); scmvp_cycle_rna: scMVP with cycle='rna' (no re-encoding of the imputed peaks); "
                   "multivi_onednn: MultiVI with float32 matmul precision 'medium' (see above)")
    p.add_argument("--peers-python", default=str(Path.home() / ".virtualenvs/scmvp-peers/bin/python"),
                   help="Python of the peers' virtualenv (for multivi)")
    p.add_argument("--json", help="also write the rows to this file (rows already there for other "
                   "method / cells / threads / device combinations are kept)")
    args = p.parse_args(argv)
    rows = []
    print(f"{'method':>8} {'cells':>7} {'threads':>7} {'device':>6} {'epoch s':>8} {'ms/cell':>8} {'peak RSS MB':>11} {'dense input MB':>14} {'nnz':>11}")
    runs = [(c, t, m) for c in args.cells for t in args.threads for m in args.methods]
    for cells, threads, method in runs:
        if method.startswith("multivi"):
            py, code, extra = args.peers_python, MULTIVI_CHILD, ["onednn" if method == "multivi_onednn" else "default"]
        else:
            py, code, extra = sys.executable, CHILD, ["rna" if method == "scmvp_cycle_rna" else "true",
                                                      "all" if method == "scmvp_full_attention" else "default"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
        out = subprocess.run([py, "-c", code, str(cells), str(args.genes), str(args.peaks), str(threads), args.device,
                              *extra], capture_output=True, text=True, env=env)
        if out.returncode:
            print(f"{method} at {cells} cells failed:", out.stderr[-2000:], file=sys.stderr)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["method"] = method
        r["cpu"] = cpu_model()
        r["ms_per_cell_epoch"] = 1000 * r["epoch_s"] / (0.9 * cells)  # 10% of cells are held out
        rows.append(r)
        print(f"{method:>8} {cells:>7} {threads:>7} {args.device:>6} {r['epoch_s']:>8.1f} {r['ms_per_cell_epoch']:>8.2f} "
              f"{r['peak_rss_mb']:>11.0f} {r['dense_mb']:>14.0f} {r['nnz']:>11}", flush=True)
    if args.json:
        key = lambda r: (r["method"], r["cells"], r["threads"], r["device"])
        new = {key(r) for r in rows}
        old = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else []
        merged = [r for r in old if key(r) not in new] + rows
        with open(args.json, "w") as fh:
            json.dump(sorted(merged, key=lambda r: (r["cells"], r["method"], r["threads"])), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
