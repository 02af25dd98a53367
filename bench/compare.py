"""Side-by-side benchmark of scMVP and its peers on real paired datasets (not a test).

    bash bench/setup_peers.sh                       # the peers' own virtualenv (once)
    python bench/compare.py                         # every dataset in ../shared/data, 3 seeds
    python bench/compare.py --methods scmvp_joint wnn --seeds 0 --datasets /path/to/dataset_dir

Each (dataset, method, seed) runs in a fresh process (bench/run_one.py) with the right
virtualenv, so peak memory is its own; finished runs are kept in --results and skipped next
time (delete a run's JSON to redo it). Then bench/score.py scores every run and
bench/report.py writes the tables and plots (bench/RESULTS.md, bench/figures/).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from methods import METHODS  # noqa: E402

DEFAULT_SCMVP = Path(os.environ.get("SCMVP_VENV", Path.home() / ".virtualenvs/r-scmvp")) / "bin/python"
DEFAULT_PEERS = Path(os.environ.get("SCMVP_PEERS_VENV", Path.home() / ".virtualenvs/scmvp-peers")) / "bin/python"


def dataset_dirs(roots, extra):
    """Every dataset folder (holding rna.mtx.gz) under the roots, then the extra folders."""
    found = []
    for root in map(Path, roots):
        if root.is_dir():
            found += [d for d in sorted(root.iterdir()) if (d / "rna.mtx.gz").exists()]
    for d in map(Path, extra):
        if not (d / "rna.mtx.gz").exists():
            raise SystemExit(f"{d} is not a dataset folder (no rna.mtx.gz); see ../shared/data/README.md for the layout")
        found.append(d)
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", nargs="*", default=[str(HERE.parent.parent / "shared" / "data")],
                   help="folders whose sub-folders are datasets (default ../shared/data)")
    p.add_argument("--datasets", nargs="*", default=[], help="more dataset folders, same layout")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", default=str(HERE / "results"))
    p.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is stopped")
    p.add_argument("--scmvp-python", default=str(DEFAULT_SCMVP))
    p.add_argument("--peers-python", default=str(DEFAULT_PEERS))
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)

    data = dataset_dirs(args.data_root, args.datasets)
    if not data:
        raise SystemExit(f"no dataset folders found under {args.data_root} or in --datasets")
    pythons = {"scmvp": args.scmvp_python, "peers": args.peers_python}
    for name, py in pythons.items():
        if not Path(py).exists():
            hint = "bash scripts/setup.sh" if name == "scmvp" else "bash bench/setup_peers.sh"
            raise SystemExit(f"{name} Python {py} not found: run `{hint}` or pass --{name}-python")
    for seed in args.seeds:  # seed-major: a first complete picture early
        for d in data:
            for m in args.methods:
                js = Path(args.results) / d.name / m / f"seed{seed}.json"
                if js.exists():
                    continue
                venv = METHODS[m][0]
                cmd = [pythons[venv], str(HERE / "run_one.py"), "--dataset", str(d), "--method", m,
                       "--seed", str(seed), "--threads", str(args.threads), "--out", args.results]
                t0 = time.perf_counter()
                print(f"== {d.name} {m} seed {seed}", flush=True)
                try:
                    r = subprocess.run(cmd, timeout=args.timeout, capture_output=True, text=True)
                except subprocess.TimeoutExpired:
                    print(f"   stopped after {args.timeout:.0f} s (--timeout)", flush=True)
                    continue
                if r.returncode:
                    print(f"   FAILED ({time.perf_counter() - t0:.0f} s):\n{r.stderr[-3000:]}", flush=True)
                else:
                    print("   " + r.stdout.strip().splitlines()[-1], flush=True)
    subprocess.run([pythons["peers"], str(HERE / "score.py"), "--results", args.results,
                    "--data-root", *args.data_root, *[str(Path(x).parent) for x in args.datasets]], check=True)
    if not args.no_report:
        subprocess.run([pythons["peers"], str(HERE / "report.py"), "--results", args.results], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
