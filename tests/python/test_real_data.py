"""Real data: the bundled SNARE-seq adult mouse cortex (10,309 cells, 23 published cell types).

The paper's protocol: KMeans with k = number of labels on the joint embedding, ARI and NMI
against the published ``cell_type``. Thresholds sit a little below what was measured here
(see MEASURED); the joint model must also beat the RNA-only model, which is the point of
using both views.
"""
import os

import numpy as np
import pytest
import torch

import scmvp
from scmvp.prior import estimate_n_clusters

pytestmark = pytest.mark.slow

# The default model with 2 CPU threads (torch 2.13 CPU) measures joint KMeans ARI / NMI
# 0.44-0.48 / 0.64-0.65 and mixture-cluster ARI about 0.57-0.59 over seeds (bench/RESULTS.md);
# the peers on the same protocol score at most 0.39 / 0.60 (WNN). The thresholds sit below the
# lowest seed and, for KMeans, above every peer's mean; GMM_ARI_MIN guards against a mixture
# collapsing onto a few components.
ARI_MIN, NMI_MIN, GMM_ARI_MIN = 0.40, 0.60, 0.45


def _scores(z, labels, seed=0):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    k = len(set(labels))
    pred = KMeans(k, n_init=10, random_state=seed).fit_predict(z)
    return adjusted_rand_score(labels, pred), normalized_mutual_info_score(labels, pred)


@pytest.fixture(scope="module")
def snare():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    rna, atac, cells, genes, peaks = scmvp.io.load_example()
    yield rna, atac, cells["cell_type"].to_numpy(), genes, peaks
    torch.set_num_threads(1)


def test_estimated_k_is_near_the_number_of_published_types(snare):
    rna, atac, labels, genes, peaks = snare
    k = estimate_n_clusters(rna, seed=0)
    n_types = len(set(labels))
    assert n_types / 2 <= k <= 2 * n_types, k


def test_joint_embedding_recovers_published_cell_types_and_beats_rna_only(snare):
    rna, atac, labels, genes, peaks = snare
    joint = scmvp.ScMVP(seed=0, verbose=False, progress_bar=False).fit(rna, atac, rna_features=genes, atac_features=peaks)
    rna_only = scmvp.ScMVP(seed=0, modality="rna", verbose=False, progress_bar=False).fit(rna, None, rna_features=genes)
    ari_j, nmi_j = _scores(joint.embedding(), labels)
    ari_r, nmi_r = _scores(rna_only.embedding(), labels)
    print(f"joint ARI {ari_j:.3f} NMI {nmi_j:.3f} ({len(joint.history_['loss'])} epochs); "
          f"rna ARI {ari_r:.3f} NMI {nmi_r:.3f} ({len(rna_only.history_['loss'])} epochs)")
    assert ari_j > ARI_MIN and nmi_j > NMI_MIN
    assert ari_j + nmi_j > ari_r + nmi_r
    # the mixture components are cell groups too, not only the KMeans of the embedding
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels, joint.clusters()) > GMM_ARI_MIN
