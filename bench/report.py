"""Tables (mean and spread over seeds) and plots from the benchmark's stored runs.

    python bench/report.py --results bench/results     # writes bench/results/tables.md, bench/figures/*.png

With RESULTS/scaling.json (from `bench/speed.py --methods scmvp multivi --json ...`), also plots
seconds per epoch and peak RSS against the number of cells (bench/figures/scaling.png).

Quality per method: KMeans and Leiden ARI/NMI, silhouette; cost: fit wall and CPU time, peak
RSS, epochs. Values are "mean ± sd (n seeds)"; a method with fewer seeds than asked says so.
Every results folder is a current method: a run made on older code is re-run or deleted, not kept.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
QUALITY = [("kmeans_ari", "KMeans ARI"), ("kmeans_nmi", "KMeans NMI"), ("leiden_ari", "Leiden ARI"),
           ("leiden_nmi", "Leiden NMI"), ("silhouette", "silhouette")]
COST = [("fit_s", "fit s"), ("cpu_s", "CPU s"), ("peak_rss_mb", "peak RSS MB"), ("epochs", "epochs")]
# Times are averaged over clean runs on one processor only: a run that shared the cores with
# another job carries "contended": "<why>" in its JSON, and a run on another processor model
# than the dataset's reference one (the most common among its runs, JSON "cpu") is not
# comparable; both are left out of these two columns.
TIMED = ("fit_s", "cpu_s")


def reference_cpu(methods) -> str:
    """The processor model most of a dataset's runs were timed on."""
    cpus = [r.get("cpu", "unknown") for rs in methods.values() for r in rs]
    return max(set(cpus), key=cpus.count)


def timed(r, key, ref_cpu):
    """A run's cost value, or None for a time that is not comparable (contended, other CPU)."""
    if key in TIMED and (r.get("contended") or r.get("cpu", "unknown") != ref_cpu):
        return None
    return r.get(key)


def fmt(values, digits=3):
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return "—"
    if len(v) == 1:
        return f"{v[0]:.{digits}f} (1)"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f} ({len(v)})"


def load(results):
    runs = defaultdict(lambda: defaultdict(list))
    for js in sorted(Path(results).glob("*/*/seed*.json")):
        r = json.loads(js.read_text())
        if "scores" in r:
            runs[r["dataset"]][r["method"]].append(r)
    return runs


def tables(runs) -> str:
    lines = []
    for ds, methods in runs.items():
        ref_cpu = reference_cpu(methods)
        order = sorted(methods, key=lambda m: -np.mean([r["scores"]["kmeans_ari"] for r in methods[m]]))
        lines += [f"### {ds}: quality (mean ± sd over seeds; n seeds in brackets), best KMeans ARI first", "",
                  "| method | " + " | ".join(h for _, h in QUALITY) + " |", "|---" * (len(QUALITY) + 1) + "|"]
        for m in order:
            lines.append(f"| {m} | " + " | ".join(fmt([r["scores"][k] for r in methods[m]]) for k, _ in QUALITY) + " |")
        lines += ["", f"### {ds}: cost", "", "| method | " + " | ".join(h for _, h in COST) + " | model clusters ARI / NMI |",
                  "|---" * (len(COST) + 2) + "|"]
        for m in order:
            cost = [fmt([timed(r, k, ref_cpu) for r in methods[m]], 0) for k, _ in COST]
            lines.append(f"| {m} | " + " | ".join(cost) + f" | {model_clusters(methods[m])} |")
        lines += ["", f"(fit s and CPU s: clean runs on the reference processor ({ref_cpu}) only; runs that "
                  "shared the CPU with another job or ran on another processor are left out, so their n can be "
                  "smaller; quality and memory use every run.)", ""]
        lines += fit_time_by_processor(ds, methods, order)
    return "\n".join(lines)


def model_clusters(rs) -> str:
    """ARI / NMI of scMVP's own mixture clusters against the labels ("—" for other methods)."""
    if "model_cluster_ari" not in rs[0]["scores"]:
        return "—"
    return fmt([r["scores"]["model_cluster_ari"] for r in rs]) + " / " + fmt([r["scores"]["model_cluster_nmi"] for r in rs])


def fit_time_by_processor(ds, methods, order) -> list:
    """Fit seconds of the clean runs, one column per processor model: the times that the cost
    table leaves out for being on another processor, side by side on their own."""
    cpus = sorted({r.get("cpu", "unknown") for rs in methods.values() for r in rs if not r.get("contended")})
    if len(cpus) < 2:
        return []
    lines = [f"### {ds}: fit s of clean runs, by processor", "",
             "| method | " + " | ".join(cpus) + " |", "|---" * (len(cpus) + 1) + "|"]
    for m in order:
        lines.append(f"| {m} | " + " | ".join(fmt([timed(r, "fit_s", c) for r in methods[m]], 0) for c in cpus) + " |")
    return lines + [""]


def plot(runs, figdir: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    figdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds, methods in runs.items():
        ref_cpu = reference_cpu(methods)
        order = sorted(methods, key=lambda m: -np.mean([r["scores"]["kmeans_ari"] for r in methods[m]]))
        fig, axes = plt.subplots(1, 4, figsize=(17, 0.42 * len(order) + 1.6), sharey=True)
        for ax, key, title in zip(axes, ["kmeans_ari", "kmeans_nmi", "leiden_ari", "fit_s"],
                                  ["KMeans ARI", "KMeans NMI", "Leiden ARI", "fit time (s, log)"]):
            vals = [[v for v in ((r["scores"][key] if key in r["scores"] else timed(r, key, ref_cpu))
                                 for r in methods[m]) if v is not None] or [np.nan] for m in order]
            y = np.arange(len(order))
            colours = ["tab:red" if m.startswith("scmvp") else "tab:grey" for m in order]
            ax.barh(y, [np.mean(v) for v in vals], color=colours, alpha=0.8)
            for yi, v in zip(y, vals):
                ax.scatter(v, [yi] * len(v), color="black", s=10, zorder=3)
            ax.set_title(title)
            if key == "fit_s" and any(x > 0 for v in vals for x in v):  # no clean run: no log axis
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlapped
        axes[0].set_yticks(np.arange(len(order)), order)
        axes[0].invert_yaxis()
        fig.suptitle(f"{ds}: bars = mean over seeds, dots = single seeds (red: scMVP)")
        fig.tight_layout()
        path = figdir / f"quality_{ds}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_scaling(rows, figdir: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in sorted({r["method"] for r in rows}):
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["cells"])
        label = f"{method} ({rs[0]['threads']} threads, {rs[0]['device']})"
        axes[0].plot([r["cells"] for r in rs], [r["epoch_s"] for r in rs], "o-", label=label)
        axes[1].plot([r["cells"] for r in rs], [r["peak_rss_mb"] / 1024 for r in rs], "o-", label=label)
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    cells = sorted({r["cells"] for r in rows})
    for ax, title in zip(axes, ["seconds per epoch", "peak RSS (GB)"]):
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        # ticks at the measured sizes only, written as numbers (log minor labels overlapped)
        ax.xaxis.set_major_locator(FixedLocator(cells))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("cells (8,000 genes x 23,000 peaks, synthetic)")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = figdir / "scaling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(HERE / "results"))
    p.add_argument("--figures", default=str(HERE / "figures"))
    args = p.parse_args(argv)
    runs = load(args.results)
    if not runs:
        raise SystemExit(f"no scored runs under {args.results}: run bench/compare.py (or bench/score.py) first")
    text = tables(runs)
    (Path(args.results) / "tables.md").write_text(text)
    print(text)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: tables.md written, figures not redrawn", file=sys.stderr)
        return 0
    for path in plot(runs, Path(args.figures)):
        print("wrote", path)
    scaling = Path(args.results) / "scaling.json"
    if scaling.exists():
        print("wrote", plot_scaling(json.loads(scaling.read_text()), Path(args.figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
