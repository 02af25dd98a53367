"""PNG plots for the command line: the loss history and a UMAP of the embedding."""
from __future__ import annotations

from typing import Dict, Mapping, Sequence

import numpy as np

__all__ = ["plot_loss", "umap_coordinates", "plot_umap"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss(history: Mapping[str, Sequence[float]], path) -> None:
    """Training (and held-out) loss per epoch."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = history.get("epoch", range(1, len(history["loss"]) + 1))
    ax.plot(epochs, history["loss"], label="training")
    if "validation_loss" in history:
        ax.plot(epochs, history["validation_loss"], label="held-out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (negative ELBO + cycle), per cell")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def umap_coordinates(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-d UMAP (umap-learn, 15 neighbours) of an embedding."""
    import umap

    return umap.UMAP(n_neighbors=15, min_dist=0.3, random_state=seed, n_jobs=1).fit_transform(z)


def plot_umap(coords: np.ndarray, colourings: Dict[str, Sequence], path) -> None:
    """One panel per colouring (e.g. scMVP clusters, published labels)."""
    plt = _pyplot()
    n = len(colourings)
    fig, axes = plt.subplots(1, n, figsize=(6.5 * n, 6), squeeze=False)
    for ax, (title, values) in zip(axes[0], colourings.items()):
        values = np.asarray([str(v) for v in values])
        cats = sorted(set(values), key=lambda s: (len(s), s))
        cmap = plt.get_cmap("tab20" if len(cats) <= 20 else "gist_ncar")
        for i, c in enumerate(cats):
            sel = values == c
            ax.scatter(coords[sel, 0], coords[sel, 1], s=2, color=cmap(i / max(1, len(cats) - (0 if len(cats) <= 20 else -1))),
                       label=c, rasterized=True)
            ax.annotate(c, np.median(coords[sel], axis=0), fontsize=7, ha="center")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
