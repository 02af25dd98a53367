"""Sparse all the way: one epoch on data whose dense float32 form (25.6 GB) exceeds this
machine's memory completes, and peak RSS stays far below the dense size."""
import json
import subprocess
import sys

import pytest

from scmvp import ScMVPConfig

SCRIPT = r"""
import json, resource, time, torch
torch.set_num_threads(2)
import scmvp
from scmvp.synthetic import sparse_counts
n_cells, n_genes, n_peaks = 200_000, 2_000, 32_000
rna = sparse_counts(n_cells, n_genes, 0.05, max_count=5, seed=1)
atac = sparse_counts(n_cells, n_peaks, 0.01, max_count=1, seed=2)
t = time.time()
m = scmvp.ScMVP(n_clusters=5, n_hidden=32, seed=0, verbose=False, progress_bar=False)
m.fit(rna, atac, max_epochs=1)
z = m.embedding()
y = m.impute_atac(features=m.features_["atac"][:100])
print(json.dumps({
    "dense_bytes": n_cells * (n_genes + n_peaks) * 4,
    "nnz": int(rna.nnz + atac.nnz),
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "seconds": time.time() - t, "epochs": len(m.history_["loss"]), "z": list(z.shape), "y": list(y.shape),
}))
"""


@pytest.mark.slow
def test_one_epoch_on_data_larger_than_memory_as_dense():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(res)
    assert res["epochs"] == 1 and res["z"] == [200_000, ScMVPConfig().n_latent] and res["y"] == [200_000, 100]
    assert res["dense_bytes"] > 24 * 2**30  # would not fit in this machine's memory
    # the bound is what a sparse path must meet
    assert res["peak_rss_bytes"] < res["dense_bytes"] / 5
