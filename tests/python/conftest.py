"""Shared fixtures for the Python tests."""
import pytest
import torch

from synthetic import make_paired

# Tiny data gains nothing from threads, and on a busy 2-core machine OpenMP threads that
# spin-wait make small fits many times slower. Real-data tests set their own thread count.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def paired():
    return make_paired()


@pytest.fixture(scope="session")
def fitted(paired):
    """A joint model trained for a few epochs on the synthetic data (shared, do not modify)."""
    import scmvp

    rna, atac, genes, peaks, _ = paired
    model = scmvp.ScMVP(n_clusters=3, n_hidden=32, seed=0, verbose=False, progress_bar=False)
    return model.fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=4)
