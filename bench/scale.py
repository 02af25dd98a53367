"""Seconds per epoch, peak RSS and bytes read of fits streamed from disk, up to a million cells
(not a test).

    python bench/scale.py --json bench/results/scale.json                      # the two shapes below
    python bench/scale.py --cells 100000 --shape 8000x23000:1000,3000 --methods scmvp multivi
    python bench/scale.py --cells 100000 --shape 2000x20000:300,1000 --processes 2

Each data set is a synthetic ``.h5mu`` written block by block to ``bench/data/`` (gitignored;
``scmvp.synthetic.write_sparse_h5mu``: a fixed number of non-zeros per cell, counts 1-3) and
kept for later runs; the free disk is checked first. ``--shape GxP:r,a`` is genes x peaks with
about r RNA and a ATAC non-zeros per cell. The default runs are the issue's two shapes:
100,000 cells x 8,000 genes x 23,000 peaks (1,000 and 3,000 non-zeros a cell) and 100,000 and
1,000,000 cells x 2,000 genes x 20,000 peaks (300 and 1,000).

``scmvp`` streams the file (``read_h5mu``, backed) and fits 3 epochs (the first a warm-up, the
mixture fitted at its end, then two with the full loss), K = 10, no early stop, 10% of cells held
out (``--n-clusters auto``: K chosen by the default rule after the warm-up); ``--processes N``
starts it with ``torchrun`` (N processes, 1 thread each). ``--epochs 1`` fits the warm-up epoch
alone (for a million cells). ``multivi`` loads the same file into memory (it cannot stream), binarises
the ATAC and trains 3 epochs. Reported: each epoch (``epoch_s`` the last: with 3, the steady
state), the passes before training (checks, feature counts, K: ``before_training_s``), the
whole fit with the results (``fit_s``), peak RSS of every process and the bytes each read
(``rchar``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from scmvp.runinfo import cpu_model

HERE = Path(__file__).resolve().parent

SCMVP_CHILD = r"""
import json, sys, time, torch
import scmvp
from scmvp import distributed
from scmvp.io import read_h5mu
from scmvp.runinfo import bytes_read, peak_rss_bytes
import scmvp.model
distributed.init_from_env()
epochs = int(sys.argv[2])
r0 = bytes_read()
stamps, start = [], []
train = scmvp.model.train
scmvp.model.train = lambda *a, **k: (start.append(time.perf_counter()), train(*a, **k))[1]
t0 = time.perf_counter()
d = read_h5mu(sys.argv[1])
k = None if sys.argv[3] == "auto" else int(sys.argv[3])
m = scmvp.ScMVP(n_clusters=k, seed=0, verbose=False, progress_bar=False)
m.fit(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks, max_epochs=epochs, early_stopping=False,
      callback=lambda e, n, r: stamps.append(time.perf_counter()))
z = m.embedding() if distributed.is_main() else None
t1 = time.perf_counter()
rss = distributed.gather_object(peak_rss_bytes())
read = distributed.gather_object(bytes_read() - r0)
if distributed.is_main():
    stamps = [start[0]] + stamps
    epoch = {f"epoch{i + 1}_s": b - a for i, (a, b) in enumerate(zip(stamps, stamps[1:]))}
    print(json.dumps({**epoch, "epoch_s": epoch[f"epoch{len(epoch)}_s"], "before_training_s": start[0] - t0,
                      "fit_s": t1 - t0, "peak_rss_mb": [r / 2**20 for r in rss],
                      "read_gb": [b / 1e9 for b in read], "threads": torch.get_num_threads(), "embedding": list(z.shape),
                      "n_clusters": m.n_clusters_}))
if distributed.active():
    torch.distributed.destroy_process_group()
"""

MULTIVI_CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
import muon as mu
from multivi_timing import timed_multivi_fit
t0 = time.perf_counter()
mdata = mu.read_h5mu(sys.argv[1])
mdata.mod["atac"].X.data[:] = 1.0
load_s = time.perf_counter() - t0
t0, stamps = timed_multivi_fit(mdata)
hwm = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"epoch1_s": stamps[0] - t0, "epoch2_s": stamps[1] - stamps[0],
                  "epoch3_s": stamps[2] - stamps[1], "epoch_s": stamps[2] - stamps[1], "fit_s": stamps[2] - t0, "load_s": load_s,
                  "peak_rss_mb": [hwm], "threads": int(sys.argv[2])}))
"""

DEFAULT_RUNS = [(100_000, "8000x23000:1000,3000"), (100_000, "2000x20000:300,1000"), (1_000_000, "2000x20000:300,1000")]


def parse_shape(shape: str):
    dims, nnz = shape.split(":")
    genes, peaks = (int(x) for x in dims.split("x"))
    rna_nnz, atac_nnz = (int(x) for x in nnz.split(","))
    return genes, peaks, rna_nnz, atac_nnz


def dataset(cells: int, shape: str) -> Path:
    """The .h5mu of ``cells`` cells of ``shape`` in bench/data, written when missing."""
    genes, peaks, rna_nnz, atac_nnz = parse_shape(shape)
    path = HERE / "data" / f"scale_{cells}_{shape.replace(':', '_').replace(',', '_')}.h5mu"
    if path.exists():
        return path
    need = cells * (rna_nnz + atac_nnz) * 8 * 1.05
    free = shutil.disk_usage(path.parent if path.parent.exists() else HERE).free
    if need > 0.8 * free:
        raise SystemExit(f"{path.name} needs ~{need / 1e9:.1f} GB; only {free / 1e9:.1f} GB are free.")
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"writing {path.name} (~{need / 1e9:.1f} GB) ...", flush=True)
    # in a process of its own, so that the memory of writing stays out of this one's
    code = ("import sys; from scmvp.synthetic import write_sparse_h5mu; "
            "write_sparse_h5mu(sys.argv[1], *map(int, sys.argv[2:7]), seed=0)")
    subprocess.run([sys.executable, "-c", code, str(path), str(cells), str(genes), str(peaks), str(rna_nnz),
                    str(atac_nnz)], check=True)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, nargs="+", help="cell counts (with --shape; default: the issue's runs)")
    p.add_argument("--shape", default="2000x20000:300,1000", help="GENESxPEAKS:RNA_NNZ,ATAC_NNZ per cell")
    p.add_argument("--methods", nargs="+", default=["scmvp"], choices=["scmvp", "multivi"])
    p.add_argument("--threads", type=int, default=2, help="threads of a single process")
    p.add_argument("--processes", type=int, default=1, help="scmvp: processes started by torchrun (1 thread each)")
    p.add_argument("--epochs", type=int, default=3,
                   help="scmvp: epochs (1: the warm-up epoch only, for a million cells; epoch_s is the last epoch)")
    p.add_argument("--n-clusters", default="10",
                   help="scmvp: mixture components K, or 'auto' for the default rule (K chosen after the warm-up)")
    p.add_argument("--peers-python", default=str(Path.home() / ".virtualenvs/scmvp-peers/bin/python"))
    p.add_argument("--json", help="add the rows to this file (rows of the same run are replaced)")
    args = p.parse_args(argv)
    runs = [(c, args.shape) for c in args.cells] if args.cells else DEFAULT_RUNS
    rows = []
    for cells, shape in runs:
        path = dataset(cells, shape)
        for method in args.methods:
            env = dict(os.environ)
            if method == "multivi":
                cmd = [args.peers_python, "-c", MULTIVI_CHILD, str(path), str(args.threads)]
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
                procs = 1
            elif args.processes > 1:
                script = HERE / "data" / "_scale_child.py"
                script.write_text(SCMVP_CHILD)
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       f"--nproc_per_node={args.processes}", str(script), str(path), str(args.epochs), args.n_clusters]
                env["OMP_NUM_THREADS"], procs = "1", args.processes
            else:
                cmd, procs = [sys.executable, "-c", SCMVP_CHILD, str(path), str(args.epochs), args.n_clusters], 1
                env["OMP_NUM_THREADS"] = str(args.threads)
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode:
                print(f"{method} at {cells} cells failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            genes, peaks, rna_nnz, atac_nnz = parse_shape(shape)
            r.update(method=method, cells=cells, shape=shape, genes=genes, peaks=peaks, processes=procs,
                     k_rule=args.n_clusters if method == "scmvp" else None,
                     epochs=args.epochs if method == "scmvp" else 3,
                     streamed=method == "scmvp", file_gb=path.stat().st_size / 1e9, cpu=cpu_model(),
                     ms_per_cell_epoch=1000 * r["epoch_s"] / (0.9 * cells))
            rows.append(r)
            print(json.dumps(r), flush=True)
    if args.json:
        key = lambda r: (r["method"], r["cells"], r["shape"], r["processes"], r["epochs"], r["threads"],  # noqa: E731
                         r.get("k_rule") or "10")
        new = {key(r) for r in rows}
        old = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else []
        merged = [r for r in old if key(r) not in new] + rows
        Path(args.json).write_text(json.dumps(sorted(merged, key=lambda r: (r["shape"], r["cells"], r["method"])), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
