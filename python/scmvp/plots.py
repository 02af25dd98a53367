"""PNG plots for the command line, made to be read on a slide: the loss history with the warm-up
and the early stop marked, and UMAPs of the embedding with one panel per colouring on the same
coordinates.

Colours follow scanpy's defaults (``default_20`` up to 20 groups, ``default_28`` up to 28; beyond
that matplotlib's tab20, tab20b and tab20c, 60 colours). Every panel has a legend with each
group's name and number of cells. Above 20 groups colours alone no longer tell groups apart, so
the names are also written on the clusters, in black with a white outline, moved apart until no
two overlap.
"""
from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

__all__ = ["categorical_palette", "plot_loss", "umap_coordinates", "plot_umap", "umap_figure"]

#: Above this many groups the names are written on the clusters as well.
LABEL_ON_DATA_ABOVE = 20

# scanpy's default_28 (Zeileis et al. 2009 plus four added colours), scanpy/plotting/palettes.py
_ZEILEIS_28 = [
    "#023fa5", "#7d87b9", "#bec1d4", "#d6bcc0", "#bb7784", "#8e063b", "#4a6fe3", "#8595e1", "#b5bbe3", "#e6afb9",
    "#e07b91", "#d33f6a", "#11c638", "#8dd593", "#c6dec7", "#ead3c6", "#f0b98d", "#ef9708", "#0fcfc0", "#9cded6",
    "#d5eae7", "#f3e1eb", "#f6c4e1", "#f79cd4", "#7f7f7f", "#c7c7c7", "#1CE6FF", "#336600",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def categorical_palette(n: int) -> List[str]:
    """``n`` distinguishable colours (hex), scanpy's defaults: ``default_20`` for up to 20
    groups, ``default_28`` for up to 28, then tab20 + tab20b + tab20c (60).

    >>> categorical_palette(3)
    ['#1f77b4', '#ff7f0e', '#279e68']
    >>> len(set(categorical_palette(28)))
    28
    """
    import matplotlib
    from matplotlib import cm, colors

    if n <= 20:
        tab20 = [colors.to_hex(c) for c in cm.tab20.colors]
        # scanpy's default_20: tab20's dark colours, then its light ones, without the greys
        pal = [*tab20[0:14:2], *tab20[16::2], *tab20[1:15:2], *tab20[17::2], "#ad494a", "#8c6d31"]
        pal[2], pal[4], pal[7] = "#279e68", "#aa40fc", "#b5bd61"
        return pal[:n]
    if n <= len(_ZEILEIS_28):
        return _ZEILEIS_28[:n]
    many = [colors.to_hex(c) for name in ("tab20", "tab20b", "tab20c") for c in matplotlib.colormaps[name].colors]
    if n > len(many):
        raise ValueError(f"{n} groups are too many to tell apart by colour (at most {len(many)}); "
                         "plot a coarser grouping, e.g. clusters(resolution=...) with a lower resolution.")
    return many[:n]


def _natural_key(name: str):
    """Sort "2" before "10" and "L2/3" before "L4"."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name)]


def plot_loss(history: Mapping[str, Sequence[float]], path, warmup_epochs: Optional[int] = None,
              max_epochs: Optional[int] = None) -> None:
    """Training and held-out loss per epoch, the warm-up shaded and, when training ended before
    ``max_epochs``, the early stop marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    loss = np.asarray(history["loss"], dtype=float)
    epochs = np.asarray(history.get("epoch", range(1, len(loss) + 1)), dtype=float)
    ax.plot(epochs, loss, marker="o", ms=3, label="training cells")
    shown = [loss]
    if "validation_loss" in history:
        held = np.asarray(history["validation_loss"], dtype=float)
        ax.plot(epochs, held, marker="o", ms=3, label="held-out cells")
        shown.append(held)
    # the first epochs are far above the rest: scale the axis to the epochs after the first two
    tail = np.concatenate([s[2:] if len(s) > 4 else s for s in shown])
    tail = tail[np.isfinite(tail)]
    if tail.size:
        lo, hi = tail.min(), tail.max()
        ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.35 * (hi - lo + 1e-9))
    if warmup_epochs:
        ax.axvspan(epochs[0] - 0.5, warmup_epochs + 0.5, color="0.9", zorder=0)
        ax.text(warmup_epochs + 0.5, 0.97, f"warm-up ends (epoch {warmup_epochs}):\nmixture prior and cycle on  ",
                transform=ax.get_xaxis_transform(), ha="right", va="top", fontsize=8)
    last = int(epochs[-1])
    if max_epochs is not None and last < max_epochs:
        ax.axvline(last, color="#d62728", ls="--", lw=1)
        ax.text(last, 0.80, f" early stop at epoch {last}\n of {max_epochs}", transform=ax.get_xaxis_transform(),
                ha="right", va="top", fontsize=8, color="#d62728")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per cell (negative ELBO + cycle)")
    ax.set_title("scMVP training")
    ax.legend(loc="center right", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def umap_coordinates(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-d UMAP (umap-learn, 15 neighbours) of an embedding."""
    import umap

    return umap.UMAP(n_neighbors=15, min_dist=0.3, random_state=seed, n_jobs=1).fit_transform(z)


def _separate_labels(ax, texts, iterations: int = 200) -> None:
    """Move text labels apart (in display space) until their boxes no longer overlap."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    for _ in range(iterations):
        boxes = [t.get_window_extent(renderer).expanded(1.08, 1.15) for t in texts]
        moved = False
        pos = np.array([ax.transData.transform(t.get_position()) for t in texts])
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                if not boxes[i].overlaps(boxes[j]):
                    continue
                dx = min(boxes[i].x1, boxes[j].x1) - max(boxes[i].x0, boxes[j].x0)
                dy = min(boxes[i].y1, boxes[j].y1) - max(boxes[i].y0, boxes[j].y0)
                d = pos[j] - pos[i]
                if dy <= dx:  # the smaller overlap is vertical: move apart vertically
                    step = np.array([0.0, (dy / 2 + 0.5) * (1 if d[1] >= 0 else -1)])
                else:
                    step = np.array([(dx / 2 + 0.5) * (1 if d[0] >= 0 else -1), 0.0])
                pos[i] -= step
                pos[j] += step
                moved = True
        for t, p in zip(texts, pos):
            t.set_position(to_data.transform(p))
        if not moved:
            return


def _panel(ax, coords: np.ndarray, values: np.ndarray, title: str, seed: int) -> list:
    """Draw one colouring; returns the labels written on the clusters (none up to 20 groups)."""
    import matplotlib.patheffects as pe
    from matplotlib.lines import Line2D

    cats = sorted(set(values), key=_natural_key)
    colour = dict(zip(cats, categorical_palette(len(cats))))
    order = np.random.default_rng(seed).permutation(len(values))  # no group hides under another
    ax.scatter(coords[order, 0], coords[order, 1], s=3, c=[colour[v] for v in values[order]], linewidths=0,
               rasterized=True)
    counts = {c: int((values == c).sum()) for c in cats}
    handles = [Line2D([], [], ls="", marker="o", ms=6, color=colour[c], label=f"{c} ({counts[c]:,})") for c in cats]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8,
              ncol=1 if len(cats) <= 26 else 2, handletextpad=0.2, borderaxespad=0.3,
              title=f"{len(cats)} groups (cells)", title_fontsize=8)
    texts = []
    if len(cats) > LABEL_ON_DATA_ABOVE:
        texts = [ax.text(*np.median(coords[values == c], axis=0), c, fontsize=8, ha="center", va="center",
                         fontweight="bold", path_effects=[pe.withStroke(linewidth=2.5, foreground="white")])
                 for c in cats]
    ax.set_title(title)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return texts


def plot_umap(coords: np.ndarray, colourings: Dict[str, Sequence], path, seed: int = 0) -> None:
    """One panel per colouring (e.g. published labels, scMVP clusters), side by side on the same
    UMAP coordinates, each with a legend of names and cell counts; written to ``path``."""
    plt = _pyplot()
    fig = umap_figure(coords, colourings, seed)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def umap_figure(coords: np.ndarray, colourings: Dict[str, Sequence], seed: int = 0):
    """The matplotlib figure that :func:`plot_umap` writes."""
    plt = _pyplot()
    n = len(colourings)
    fig, axes = plt.subplots(1, n, figsize=(7.8 * n, 6), squeeze=False)
    labels = [_panel(ax, coords, np.asarray([str(v) for v in values]), title, seed)
              for ax, (title, values) in zip(axes[0], colourings.items())]
    fig.tight_layout()  # first: label overlaps depend on the final size of the panels
    for ax, texts in zip(axes[0], labels):
        _separate_labels(ax, texts)
    return fig
