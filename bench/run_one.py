"""Fit one method on one dataset with one seed and store its output and cost (run by compare.py).

    python bench/run_one.py --dataset DIR --method scmvp_joint --seed 0 --out bench/results

Writes OUT/<dataset>/<method>/seed<S>.npz (embedding, optional graph, model clusters and components) and
seed<S>.json (cost: fit wall and CPU seconds, peak RSS, epochs, import time, settings). The fit
clock starts after the imports and the data loading. Scoring is done separately (score.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scmvp.runinfo import cpu_model, peak_rss_bytes  # noqa: E402


def _cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="a folder in the layout of ../shared/data/*")
    p.add_argument("--method", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench/results")
    args = p.parse_args(argv)

    import numpy as np
    import scipy.sparse as sp

    import methods

    if args.method not in methods.METHODS:
        p.error(f"unknown method {args.method!r}; choose from {', '.join(methods.METHODS)}")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    t0 = time.perf_counter()
    fn = getattr(methods, args.method)
    if args.method.startswith("scmvp"):
        import torch  # noqa: F401

        import scmvp  # noqa: F401
    elif args.method in ("pca_rna", "lsi_atac", "wnn", "mofa"):
        import muon  # noqa: F401
        import scanpy  # noqa: F401
    else:
        import muon  # noqa: F401
        import scvi  # noqa: F401
    from scmvp.io import read_mtx_dir

    data = read_mtx_dir(args.dataset)
    import_s = time.perf_counter() - t0

    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    res = fn(data, args.seed, args.threads)
    fit_s, cpu_s = time.perf_counter() - wall0, _cpu_seconds() - cpu0

    out = Path(args.out) / Path(args.dataset).name / args.method
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"embedding": np.asarray(res["embedding"], dtype=np.float32)}
    for key in ("clusters", "components"):  # scMVP: merged clusters, and mixture components
        if res.get(key) is not None:
            arrays[key] = np.asarray(res[key])
    if res.get("graph") is not None:
        g = sp.csr_matrix(res["graph"])
        arrays.update(graph_data=g.data, graph_indices=g.indices, graph_indptr=g.indptr)
    np.savez_compressed(out / f"seed{args.seed}.npz", **arrays)
    record = {
        "dataset": Path(args.dataset).name, "method": args.method, "seed": args.seed, "threads": args.threads,
        "cpu": cpu_model(), "n_cells": int(data.rna.shape[0]), "fit_s": fit_s, "cpu_s": cpu_s, "import_load_s": import_s,
        "peak_rss_mb": peak_rss_bytes() / 2**20,
        "epochs": res.get("epochs"), "dims": int(arrays["embedding"].shape[1]), "info": res.get("info", {}),
    }
    (out / f"seed{args.seed}.json").write_text(json.dumps(record, indent=1, default=str))
    print(json.dumps({k: record[k] for k in ("method", "seed", "fit_s", "peak_rss_mb", "epochs")}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
