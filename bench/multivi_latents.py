"""What MultiVI's latent space holds after a fixed number of epochs (run in the peers' virtualenv).

    python bench/multivi_latents.py bench/data/synthetic_both_views --epochs 20 100

First prints the share of non-zeros in the binarised ATAC that MultiVI trains on (overall, and
the 5th, 50th and 95th percentiles over cells). Then, for each epoch count (none: the share
only), fits MultiVI on the bench's input (:func:`methods.multivi_model`, seed 0, no early
stopping) and prints the training ELBO, reconstruction and KL per cell at the first,
middle and last epoch, then for each of its latent representations (joint, expression,
accessibility): KMeans ARI against the labels (k = number of labels, n_init 10) and the spread
of the posterior means per dimension (the prior's is 1). A spread near 0 with a KL of a few nats
means the posterior has collapsed onto the prior: the decoders explain the data without z.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from methods import multivi_model  # noqa: E402
from score import LABEL_COLUMN  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="a dataset folder (../shared/data layout)")
    ap.add_argument("--epochs", type=int, nargs="*", default=[20, 100])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import scipy.sparse as sp
    import torch
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from scmvp.io import read_mtx_dir

    torch.set_num_threads(args.threads)
    data = read_mtx_dir(args.dataset)
    labels = data.cells[LABEL_COLUMN].astype(str).to_numpy()
    k = len(np.unique(labels))
    atac = sp.csr_matrix(multivi_model(data, seed=0).adata.mod["atac"].X)
    share = np.diff(atac.indptr) / atac.shape[1]
    print(f"{Path(args.dataset).name}: MultiVI's ATAC input, {atac.shape[1]:,} peaks, {atac.nnz / np.prod(atac.shape):.1%} "
          "non-zero; per cell (5th / 50th / 95th percentile) "
          + " / ".join(f"{q:.1%}" for q in np.percentile(share, [5, 50, 95])))
    for epochs in args.epochs:
        model = multivi_model(data, seed=0)
        model.train(max_epochs=epochs, accelerator="cpu", enable_progress_bar=False, early_stopping=False)
        h = model.history
        at = [0, epochs // 2, epochs - 1]
        print(f"{Path(args.dataset).name}, MultiVI, {epochs} epochs (at epochs {', '.join(str(i + 1) for i in at)}):")
        for key in ("elbo_train", "reconstruction_loss_train", "kl_local_train"):
            print(f"  {key}: " + " / ".join(f"{float(h[key].iloc[i, 0]):.1f}" for i in at))
        for modality in ("joint", "expression", "accessibility"):
            z = model.get_latent_representation(modality=modality)
            found = KMeans(k, n_init=10, random_state=0).fit_predict(z)
            sd = z.std(axis=0)
            print(f"  {modality}: KMeans ARI {adjusted_rand_score(labels, found):.3f}, "
                  f"sd of posterior means per dimension {sd.min():.3f}-{sd.max():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
