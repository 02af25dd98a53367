"""scmvp.seurat: Seurat .rds objects read and written from Python through rpy2 and R.

Needs rpy2 (the ``test`` extra) and R with SeuratObject (Debian's r-cran-seuratobject) and the R
package scMVP (scripts/setup.sh installs both). The objects are built in R from the bundled
SNARE-seq data.
"""
import inspect

import numpy as np
import pytest
import scipy.sparse as sp

ro = pytest.importorskip("rpy2.robjects", reason="rpy2 is not installed (pip install rpy2)")

from scmvp import ScMVP, ScMVPInputError  # noqa: E402
from scmvp.io import load_example  # noqa: E402
from scmvp.seurat import read_seurat, read_seurat_mudata, write_seurat  # noqa: E402

if not bool(ro.r('isTRUE(requireNamespace("SeuratObject", quietly = TRUE))')[0]):
    pytest.skip("R has no SeuratObject package", allow_module_level=True)
if not bool(ro.r('isTRUE(requireNamespace("scMVP", quietly = TRUE))')[0]):
    pytest.skip("R has no scMVP package (R CMD INSTALL .)", allow_module_level=True)

_MAKE = r"""
function(ri, rp, rx, rdim, genes, ai, ap, ax, adim, peaks, cells, cell_type, path) {
  rna <- Matrix::sparseMatrix(i = ri, p = rp, x = rx, dims = rdim, dimnames = list(genes, cells), index1 = FALSE)
  atac <- Matrix::sparseMatrix(i = ai, p = ap, x = ax, dims = adim, dimnames = list(peaks, cells), index1 = FALSE)
  obj <- SeuratObject::CreateSeuratObject(counts = rna, assay = "RNA")
  obj[["ATAC"]] <- SeuratObject::CreateAssayObject(counts = atac)
  obj$cell_type <- cell_type
  saveRDS(obj, path)
  path
}
"""


def _r_csc(x_cells_by_features):
    """cells x features -> the (i, p, x, dim) of R's features x cells dgCMatrix."""
    csc = sp.csc_matrix(x_cells_by_features.T)
    csc.sort_indices()
    return (ro.IntVector(csc.indices.tolist()), ro.IntVector(csc.indptr.tolist()), ro.FloatVector(csc.data.tolist()),
            ro.IntVector(list(csc.shape)))


@pytest.fixture(scope="module")
def seurat_rds(tmp_path_factory):
    rna, atac, cells, genes, peaks = load_example(n_cells=150, seed=3)
    keep = np.asarray(atac.sum(0)).ravel() > 0
    atac = atac[:, keep].tocsr()
    peaks = [p.replace(":", "-") for p, k in zip(peaks, keep) if k]  # Seurat/Signac names: chr-start-end
    path = tmp_path_factory.mktemp("seurat") / "snare.rds"
    ro.r(_MAKE)(*_r_csc(rna), ro.StrVector(genes), *_r_csc(atac), ro.StrVector(peaks),
                ro.StrVector(cells["barcode"].astype(str).tolist()), ro.StrVector(cells["cell_type"].astype(str).tolist()),
                str(path))
    return path, rna, atac, cells, genes, peaks


def test_read_seurat_gives_the_counts_names_and_meta_data(seurat_rds):
    path, rna, atac, cells, genes, peaks = seurat_rds
    d = read_seurat(path)
    assert d.rna.shape == rna.shape and d.atac.shape == atac.shape
    assert sp.isspmatrix_csr(d.rna) and d.rna.dtype == np.float32
    assert (d.rna != rna).nnz == 0 and (d.atac != atac).nnz == 0
    assert d.genes == list(genes) and d.peaks == peaks
    assert d.cells["barcode"].tolist() == cells["barcode"].astype(str).tolist()
    assert d.cells["cell_type"].tolist() == cells["cell_type"].astype(str).tolist()
    assert d.cells["nCount_RNA"].tolist() == pytest.approx(np.asarray(rna.sum(1)).ravel().tolist())


def test_read_seurat_mudata(seurat_rds):
    pytest.importorskip("mudata")
    path, rna, atac, cells, genes, peaks = seurat_rds
    m = read_seurat_mudata(path)
    assert set(m.mod) == {"rna", "atac"}
    assert m["rna"].shape == rna.shape and m["atac"].shape == atac.shape
    assert list(m["atac"].var_names) == peaks
    assert list(m["rna"].obs["cell_type"]) == cells["cell_type"].astype(str).tolist()
    assert list(m.obs["cell_type"]) == cells["cell_type"].astype(str).tolist()


def test_read_seurat_errors_are_clear(seurat_rds, tmp_path):
    path = seurat_rds[0]
    with pytest.raises(ScMVPInputError, match=r"assay 'peaks' is not in the object \(assays: RNA, ATAC\)"):
        read_seurat(path, atac_assay="peaks")
    other = tmp_path / "not_seurat.rds"
    ro.r("function(p) saveRDS(1:3, p)")(str(other))
    with pytest.raises(ScMVPInputError, match="holds a integer, not a Seurat object"):
        read_seurat(other)


def test_results_round_trip_into_the_seurat_object(seurat_rds, tmp_path):
    path, *_ = seurat_rds
    d = read_seurat(path)
    model = ScMVP(n_clusters=3, seed=0, verbose=False, progress_bar=False)
    model.fit(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks, max_epochs=1)
    z, probs = model.embedding(), model.cluster_probabilities()
    cells = d.cells["barcode"].tolist()
    order = np.arange(len(cells))[::-1]  # rows in another order are matched by name
    out = tmp_path / "with_scmvp.rds"
    write_seurat(path, out, z[order], [cells[i] for i in order], clusters=(probs.argmax(1) + 1)[order],
                 probability=probs.max(1)[order], model=model)
    check = ro.r(r"""
    function(p) {
      obj <- readRDS(p)
      red <- obj[["scmvp"]]
      list(emb = as.vector(SeuratObject::Embeddings(red)), dim = dim(SeuratObject::Embeddings(red)),
           cells = rownames(SeuratObject::Embeddings(red)), key = SeuratObject::Key(red),
           clusters = as.character(obj$scmvp_clusters), prob = obj$scmvp_clusters_probability,
           model = methods::slot(red, "misc")$model, genes = methods::slot(red, "misc")$features$rna)
    }""")(str(out))
    assert tuple(check.rx2("dim")) == z.shape
    assert list(check.rx2("cells")) == cells
    assert check.rx2("key")[0] == "SCMVP_"
    np.testing.assert_allclose(np.asarray(check.rx2("emb")).reshape(z.shape, order="F"), z, rtol=1e-6)
    assert list(check.rx2("clusters")) == [str(c) for c in probs.argmax(1) + 1]
    np.testing.assert_allclose(np.asarray(check.rx2("prob")), probs.max(1), rtol=1e-6)
    raw = bytes(check.rx2("model"))
    assert raw == model.to_bytes()
    assert list(check.rx2("genes")) == model.features_["rna"]
    # the stored model embeds the same cells to the same place
    again = ScMVP.from_bytes(raw)
    np.testing.assert_allclose(again.embedding(d.rna, d.atac, rna_features=d.genes, atac_features=d.peaks), z, atol=1e-5)
    with pytest.raises(ScMVPInputError, match="the results cover 10 cells but the object has 150"):
        write_seurat(path, tmp_path / "bad.rds", z[:10], cells[:10])


_READ_BACK = r"""
function(p) {
  m <- scMVP:::.scmvp_read(readRDS(p))
  misc <- methods::slot(readRDS(p)[["scmvp"]], "misc")
  list(modality = m$modality, views = m$views, assays = m$assays, names = names(m$assays),
       rna = m$features$rna, atac = m$features$atac, n_clusters = m$params$n_clusters, n_latent = m$params$n_latent,
       seed = m$params$seed, attention = m$params$attention, written_by = misc$written.by,
       n_misc_clusters = misc$n.clusters, is_list = is.list(misc$params))
}"""


def test_the_r_package_writes_the_layout_and_reads_it_back(seurat_rds, tmp_path):
    """write_seurat goes through the R package's one writer (no R copy of the layout here), and the
    R package's reader understands what it wrote, for joint and single-view models."""
    import scmvp.seurat as mod

    source = inspect.getsource(mod)
    assert "CreateDimReducObject" not in source and "misc <-" not in source
    path, *_ = seurat_rds
    d = read_seurat(path)
    for modality in ("joint", "rna"):
        model = ScMVP(n_clusters=3, seed=1, modality=modality, verbose=False, progress_bar=False)
        model.fit(d.rna, d.atac if modality == "joint" else None, rna_features=d.genes,
                  atac_features=d.peaks if modality == "joint" else None, max_epochs=1)
        out = tmp_path / f"{modality}.rds"
        write_seurat(path, out, model.embedding(), d.cells["barcode"].tolist(), model=model)
        back = ro.r(_READ_BACK)(str(out))
        assert back.rx2("modality")[0] == modality
        assert back.rx2("is_list")[0]
        assert back.rx2("n_clusters")[0] == 3 and back.rx2("n_misc_clusters")[0] == 3
        assert back.rx2("n_latent")[0] == model.config.n_latent and back.rx2("seed")[0] == 1
        assert list(back.rx2("attention")) == list(model.config.to_dict()["attention"])
        assert list(back.rx2("rna")) == model.features_["rna"]
        assert back.rx2("written_by")[0] == "scmvp.seurat.write_seurat (Python)"
        if modality == "joint":
            assert list(back.rx2("names")) == ["rna", "atac"] and list(back.rx2("assays")) == ["RNA", "ATAC"]
            assert list(back.rx2("atac")) == model.features_["atac"]
        else:
            assert list(back.rx2("views")) == ["rna"] and list(back.rx2("assays")) == ["RNA"]
            assert len(back.rx2("atac")) == 0
