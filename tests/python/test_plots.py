"""The demo's plots: distinguishable colours, legends with counts, readable labels, marked loss."""
import numpy as np

from scmvp import plots


def test_palettes_are_distinct_up_to_60_groups():
    for n in (3, 20, 23, 28, 45, 60):
        pal = plots.categorical_palette(n)
        assert len(pal) == n and len(set(p.lower() for p in pal)) == n


def test_umap_panels_have_counted_legends_and_labels_that_do_not_overlap():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 23, 2000)
    coords = rng.normal(size=(23, 2))[groups] * 0.15 + rng.normal(size=(2000, 2)) * 0.03  # crowded clusters
    names = np.array([f"type {i}" for i in range(23)])[groups]
    fig = plots.umap_figure(coords, {"labels": names, "clusters": groups % 5})
    left, right = fig.axes
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert len(legend) == 23 and f"type 0 ({(groups == 0).sum()})" in legend
    assert [t.get_text() for t in right.get_legend().get_texts()][:2] == [f"0 ({(groups % 5 == 0).sum()})",
                                                                          f"1 ({(groups % 5 == 1).sum()})"]
    # above 20 groups the names are written on the clusters, and no two overlap
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in left.texts]
    assert len(boxes) == 23
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(23) for j in range(i + 1, 23))
    assert not right.texts  # 5 groups: the legend suffices


def test_loss_plot_marks_warmup_and_early_stop(tmp_path, monkeypatch):
    saved = {}
    monkeypatch.setattr("matplotlib.figure.Figure.savefig", lambda fig, *a, **k: saved.setdefault("fig", fig))
    history = {"loss": list(np.linspace(900, 400, 25)), "validation_loss": list(np.linspace(920, 420, 25)),
               "epoch": list(range(1, 26))}
    plots.plot_loss(history, tmp_path / "loss.png", warmup_epochs=12, max_epochs=60)
    text = " ".join(t.get_text() for t in saved["fig"].axes[0].texts)
    assert "warm-up ends (epoch 12)" in text and "early stop at epoch 25" in text
