"""Real data: the bundled SNARE-seq adult mouse cortex (10,309 cells, 23 published cell types).

The paper's protocol: KMeans with k = number of labels on the joint embedding, ARI and NMI
against the published ``cell_type``. Thresholds sit a little below what was measured here
(see MEASURED); the joint model must also beat the RNA-only model, which is the point of
using both views.
"""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import scmvp

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
    # K, chosen from the warm-up embedding, is near the number of published types (23)
    n_types = len(set(labels))
    assert n_types / 2 <= joint.n_clusters_ <= 2 * n_types, joint.n_clusters_
    # the mixture components are cell groups too, not only the KMeans of the embedding
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels, joint.clusters()) > GMM_ARI_MIN


PBMC = Path(__file__).resolve().parents[3] / "shared" / "data" / "pbmc_multiome_2k"


@pytest.mark.skipif(not PBMC.is_dir(), reason="needs ../shared/data/pbmc_multiome_2k beside the repository (CI has it)")
def test_pbmc_multiome_joint_beats_rna_only_and_its_clusters_follow_the_cell_types():
    """10x Multiome PBMC (2,000 cells, 14 types), where ATAC carries cell-type signal: the joint
    embedding beats the model's own RNA-only mode, and the merged clusters are close to the
    KMeans partition. Measured at seed 0 with 2 threads: joint KMeans ARI / NMI 0.738 / 0.838,
    RNA-only 0.716 / 0.817, merged clusters ARI 0.700 (14 clusters); over 5 seeds with 1 thread
    the joint lead is larger (0.755 / 0.839 against 0.699 / 0.815; bench/RESULTS.md)."""
    from sklearn.metrics import adjusted_rand_score

    from scmvp.io import read_mtx_dir

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    d = read_mtx_dir(PBMC)
    labels = d.cells["cell_type"].astype(str).to_numpy()
    joint = scmvp.ScMVP(seed=0, verbose=False, progress_bar=False).fit(d.rna, d.atac, rna_features=d.genes,
                                                                       atac_features=d.peaks)
    rna_only = scmvp.ScMVP(seed=0, modality="rna", verbose=False, progress_bar=False).fit(d.rna, None, rna_features=d.genes)
    ari_j, nmi_j = _scores(joint.embedding(), labels)
    ari_r, nmi_r = _scores(rna_only.embedding(), labels)
    clusters = joint.clusters()
    print(f"joint ARI {ari_j:.3f} NMI {nmi_j:.3f}; rna ARI {ari_r:.3f} NMI {nmi_r:.3f}; "
          f"clusters ARI {adjusted_rand_score(labels, clusters):.3f} ({len(set(clusters))} clusters)")
    assert ari_j > 0.69 and nmi_j > 0.80
    assert ari_j + nmi_j > ari_r + nmi_r and nmi_j > nmi_r
    assert adjusted_rand_score(labels, clusters) > 0.62 and 8 <= len(set(clusters)) <= 24
