"""The ``scmvp`` command line.

    scmvp fit DATA -o OUT_DIR [--epochs N] [--n-clusters K] [--label-column cell_type] ...
    scmvp demo -o OUT_DIR          # fit on the bundled SNARE-seq adult cortex data
    python -m scmvp fit ...        # the same
    torchrun --standalone --nproc_per_node=2 -m scmvp fit DATA -o OUT_DIR   # 2 processes

DATA is a folder in the layout of ``inst/extdata/snare_adult_cortex``, a 10x Multiome
``filtered_feature_bc_matrix.h5`` or a MuData ``.h5mu`` (modalities ``rna`` and ``atac``, counts
in ``X`` as CSR). The counts of an HDF5 file are streamed from disk (:mod:`scmvp.backed`) when
``--stream yes``, or with ``auto`` when they hold more than :data:`STREAM_ABOVE_VALUES` stored
values. OUT_DIR receives embedding.tsv, clusters.tsv, history.tsv, model.pt, run.json (cells,
features, epochs, fit seconds, peak RSS, bytes read, device, processes, processor, versions:
:mod:`scmvp.runinfo`), metrics.json (ARI/NMI when labels exist), loss.png (the warm-up and an early
stop marked) and umap.png (the published labels, when they exist, and the scMVP clusters side by
side on the same UMAP; :mod:`scmvp.plots`). With several processes (:mod:`scmvp.distributed`),
rank 0 writes them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__

__all__ = ["main", "clustering_scores"]


def clustering_scores(z: np.ndarray, labels, clusters, seed: int = 0) -> dict:
    """KMeans (k = number of labels, the paper's protocol) and model-cluster ARI/NMI."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    labels = np.asarray(labels).astype(str)
    k = len(set(labels))
    km = KMeans(k, n_init=10, random_state=seed).fit_predict(z)
    return {
        "n_labels": k,
        "kmeans_ari": float(adjusted_rand_score(labels, km)),
        "kmeans_nmi": float(normalized_mutual_info_score(labels, km)),
        "cluster_ari": float(adjusted_rand_score(labels, clusters)),
        "cluster_nmi": float(normalized_mutual_info_score(labels, clusters)),
    }


#: ``--stream auto`` streams an HDF5 file whose RNA and ATAC hold more stored values than this
#: (2^28: about 2 GB as CSR float32 in memory); smaller data are loaded, which shuffles cells
#: one by one instead of by blocks.
STREAM_ABOVE_VALUES = 2**28


def _read(path: Path, stream: str):
    from dataclasses import replace

    from .backed import BackedMatrix
    from .io import read_paired

    data = read_paired(path, backed=stream != "no" and path.suffix in (".h5", ".h5mu"))
    if stream == "auto" and isinstance(data.rna, BackedMatrix) and data.rna.nnz + data.atac.nnz <= STREAM_ABOVE_VALUES:
        data = replace(data, rna=data.rna[:], atac=data.atac[:])  # small: load the counts, keep the names read
    return data


def _fit(args) -> int:
    from . import distributed
    from .backed import BackedMatrix
    from .model import ScMVP
    from .runinfo import bytes_read, peak_rss_bytes, run_record

    distributed.init_from_env(getattr(args, "setting_device", "auto"))
    main = distributed.is_main()
    out = Path(args.output)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    read0 = bytes_read()
    data = _read(Path(args.data), args.stream)
    streamed = isinstance(data.rna, BackedMatrix)
    quiet = args.quiet or not main
    if not quiet:
        how = "streamed from the file" if streamed else "in memory"
        print(f"scMVP: {data.rna.shape[0]} cells, {data.rna.shape[1]} genes, {data.atac.shape[1]} peaks from "
              f"{args.data} ({how}; {distributed.world_size()} process{'es' if distributed.world_size() > 1 else ''})")
    model = ScMVP(_config_from_args(args), progress_bar=not quiet, verbose=not quiet)
    t0 = time.time()
    batch = data.cells[args.batch_column].astype(str).values if args.batch_column else None
    model.fit(data.rna, data.atac, batch=batch, rna_features=data.genes, atac_features=data.peaks)
    fit_s = time.time() - t0
    read = bytes_read()
    rss = distributed.gather_object(peak_rss_bytes())
    reads = distributed.gather_object(None if read is None or read0 is None else read - read0)
    if not main:
        return 0
    run = run_record(data.rna.shape[0], len(model.features_["rna"]), len(model.features_["atac"]),
                     len(model.history_["loss"]), fit_s, str(model._device()), distributed.world_size(), rss,
                     None if None in reads else int(sum(reads)), streamed)
    run["atac_signal"] = None if model.atac_signal_ is None else model.atac_signal_.to_dict()
    (out / "run.json").write_text(json.dumps(run, indent=2))
    _write_results(args, model, data, out, fit_s)
    return 0


def _write_results(args, model, data, out: Path, fit_s: float) -> None:
    from .plots import plot_loss, plot_umap, umap_coordinates

    z, probs = model.embedding(), model.cluster_probabilities()
    clusters = probs.argmax(1)
    barcodes = data.cells["barcode"].astype(str).values if "barcode" in data.cells else np.arange(len(z)).astype(str)
    pd.DataFrame(z, index=barcodes, columns=[f"SCMVP_{i + 1}" for i in range(z.shape[1])]).to_csv(
        out / "embedding.tsv", sep="\t", index_label="barcode")
    pd.DataFrame({"barcode": barcodes, "cluster": clusters, "probability": probs.max(1)}).to_csv(
        out / "clusters.tsv", sep="\t", index=False)
    pd.DataFrame(model.history_).to_csv(out / "history.tsv", sep="\t", index=False)
    model.save(out / "model.pt")
    cfg = model.trained_config
    max_epochs = cfg.epochs_for(data.rna.shape[0])
    plot_loss(model.history_, out / "loss.png", warmup_epochs=cfg.warmup_epochs(max_epochs), max_epochs=max_epochs)
    colourings = {}
    metrics = {"fit_seconds": round(fit_s, 1), "epochs": len(model.history_["loss"]), "n_clusters": model.n_clusters_}
    if args.label_column and args.label_column in data.cells:
        labels = data.cells[args.label_column].astype(str).values
        colourings[f"published labels ({args.label_column})"] = labels
        metrics.update(clustering_scores(z, labels, clusters, model.seed))
        print(f"scMVP: KMeans (k={metrics['n_labels']}) ARI {metrics['kmeans_ari']:.3f}  NMI {metrics['kmeans_nmi']:.3f}; "
              f"mixture clusters ARI {metrics['cluster_ari']:.3f}  NMI {metrics['cluster_nmi']:.3f}")
    colourings[f"scMVP clusters ({model.n_clusters_} mixture components merged)"] = clusters
    plot_umap(umap_coordinates(z, model.seed), colourings, out / "umap.png", seed=model.seed)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"scMVP: fitted in {fit_s:.0f} s ({metrics['epochs']} epochs); wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")


def _setting_type(name: str, default):
    """argparse type of a setting, from its default (and, for the switches, its values); a
    setting that may be None (``ScMVPConfig.optional_settings()``) also takes ``none``."""
    from .config import ScMVPConfig

    base = _base_type(name, default)
    if name not in ScMVPConfig.optional_settings():
        return base
    return lambda v: None if v.lower() == "none" else base(v)


def _base_type(name: str, default):
    from .config import ScMVPConfig

    if name == "attention":
        return lambda v: {"true": True, "false": False}.get(v.lower(), tuple(p for p in v.split(",") if p))
    if name in ("cycle", "encode_atac"):
        return lambda v: {"true": True, "false": False}.get(v.lower(), v)
    if isinstance(default, bool):
        return lambda v: {"true": True, "false": False}[v.lower()]
    if isinstance(default, float):
        return float
    if isinstance(default, int) or ScMVPConfig.__dataclass_fields__[name].type == "Optional[int]":
        return int
    return str


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """One option per ScMVPConfig setting, with its default and help from there."""
    from .config import ScMVPConfig

    group = parser.add_argument_group(
        "model and training settings (scmvp.ScMVPConfig)",
        "each defaults to the value shown; a setting whose help mentions None takes 'none'")
    helps = ScMVPConfig.field_help()
    for name, default in ScMVPConfig.field_defaults().items():
        shown = ",".join(default) if isinstance(default, list) else default
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"setting_{name}", default=argparse.SUPPRESS, metavar="VALUE",
                           type=_setting_type(name, default), help=helps[name].replace("%", "%%") + ("" if default is None else f" (default: {shown})"))
    group.add_argument("--epochs", dest="setting_max_epochs", type=int, default=argparse.SUPPRESS, metavar="N",
                       help="the same as --max-epochs")


def _config_from_args(args):
    from .config import ScMVPConfig

    # only the options given are in args (their default is argparse.SUPPRESS), so 'none' stays None
    given = {k[len("setting_"):]: v for k, v in vars(args).items() if k.startswith("setting_")}
    return ScMVPConfig(**given)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scmvp", description="scMVP for paired single-cell RNA + ATAC data.")
    parser.add_argument("--version", action="version", version=f"scmvp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fit", "demo"):
        p = sub.add_parser(name, help="fit a model and write results" if name == "fit" else "fit on the bundled SNARE-seq data")
        if name == "fit":
            p.add_argument("data", help="dataset folder (rna.mtx.gz, atac.mtx.gz, ...), 10x Multiome .h5 or MuData .h5mu")
            p.add_argument("--stream", choices=("auto", "yes", "no"), default="auto",
                           help="read the counts of an .h5/.h5mu file from disk during training instead of loading them "
                                f"(auto: above {STREAM_ABOVE_VALUES:,} stored values)")
        p.add_argument("-o", "--output", required=True, help="output folder")
        p.add_argument("--label-column", default="cell_type", help="cells.tsv column scored with ARI/NMI")
        p.add_argument("--batch-column", default=None, help="cells.tsv column with sample/batch labels")
        p.add_argument("--quiet", action="store_true")
        _add_settings(p)
    args = parser.parse_args(argv)
    from .data import ScMVPInputError

    if args.command == "demo":
        from .io import example_dir

        args.data, args.stream = str(example_dir()), "no"
    try:
        return _fit(args)
    except (ScMVPInputError, FileNotFoundError, ValueError, TypeError) as err:
        print(f"scmvp: error: {err}", file=sys.stderr)
        return 2
    finally:
        from . import distributed

        if distributed.active():
            import torch.distributed as dist

            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
