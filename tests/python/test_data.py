import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scmvp.data import (
    ScMVPInputError, SparseBatch, check_pair, compute_idf, prepare_matrix, tfidf_log1p, tfidf_log1p_dense,
)


def test_prepare_returns_csr_float32_copy_and_drops_empty_features():
    x = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 3]], dtype=np.float64))
    before = x.copy()
    m = prepare_matrix(x, ["a", "b", "c"], verbose=False)
    assert isinstance(m.X, sp.csr_matrix) and m.X.dtype == np.float32
    assert m.features == ["a", "c"] and m.dropped == ["b"] and list(m.kept) == [0, 2]
    m.X.data[:] = 99  # the copy is ours: the caller's matrix is untouched
    assert (x != before).nnz == 0


def test_dense_and_csc_input_accepted():
    dense = np.array([[1, 0, 2], [0, 4, 3]])
    a = prepare_matrix(dense, verbose=False).X
    b = prepare_matrix(sp.csc_matrix(dense), verbose=False).X
    assert (a != b).nnz == 0 and a.dtype == np.float32


@pytest.mark.parametrize(
    "values, match",
    [
        ([[1, np.nan], [1, 1]], "NaN or infinite"),
        ([[1, np.inf], [1, 1]], "NaN or infinite"),
        ([[1, -1], [1, 1]], "negative"),
        ([[1, 0.5], [1, 1]], "non-integer"),
        ([[0, 0], [1, 1]], "no counts"),
    ],
)
def test_bad_values_give_clear_errors(values, match):
    x = np.array(values, dtype=np.float64)
    keep = x.copy()
    with pytest.raises(ScMVPInputError, match=match):
        prepare_matrix(sp.csr_matrix(x), verbose=False)
    np.testing.assert_array_equal(x, keep)


def test_duplicate_and_wrong_number_of_names():
    x = sp.csr_matrix(np.ones((2, 3)))
    with pytest.raises(ScMVPInputError, match="duplicated feature names"):
        prepare_matrix(x, ["a", "a", "b"], verbose=False)
    with pytest.raises(ScMVPInputError, match="2 feature names"):
        prepare_matrix(x, ["a", "b"], verbose=False)


def test_check_pair_cells_differ():
    with pytest.raises(ScMVPInputError, match="same cells"):
        check_pair(sp.csr_matrix((3, 2)), sp.csr_matrix((4, 2)))
    with pytest.raises(ScMVPInputError, match="barcodes"):
        check_pair(sp.csr_matrix((2, 2)), sp.csr_matrix((2, 2)), ["a", "b"], ["a", "c"])
    assert check_pair(sp.csr_matrix((2, 2)), None) == 2


def test_dense_input_too_large_is_refused(monkeypatch):
    import scmvp.data as data

    monkeypatch.setattr(data, "available_memory_bytes", lambda: 10)
    with pytest.raises(ScMVPInputError, match="scipy.sparse CSR"):
        prepare_matrix(np.ones((4, 4)), verbose=False)


def test_idf_and_tfidf_match_the_formula():
    y = sp.csr_matrix(np.array([[1, 0, 2], [0, 1, 1], [3, 0, 0]], dtype=np.float32))
    idf = compute_idf(y)
    np.testing.assert_allclose(idf, 3 / (1 + np.array([2, 1, 2])), rtol=1e-6)
    batch = SparseBatch.from_csr(y, np.array([0, 1, 2]), torch.device("cpu"))
    dense = torch.from_numpy(y.toarray())
    expected = np.log1p(y.toarray() / y.toarray().sum(1, keepdims=True) * idf * 1e4)
    sparse_vals = tfidf_log1p(batch, torch.from_numpy(idf))
    got = sparse_vals.dense().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(tfidf_log1p_dense(dense, torch.from_numpy(idf)).numpy(), expected, rtol=1e-5)


def test_dense_tfidf_gradient_equals_autograd_of_the_formula():
    g = torch.Generator().manual_seed(0)
    idf = torch.rand(12, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(4, 12, generator=g, dtype=torch.float64) * 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda y: tfidf_log1p_dense(y, idf), (y,))
    formula = lambda y: torch.log1p(y / y.sum(1, keepdim=True).clamp_min(1e-8) * idf * 1e4)
    # a row whose total is below the 1e-8 cap: no gradient through the total, as autograd gives
    y0 = torch.zeros(2, 12, dtype=torch.float64)
    y0[0, :3] = 1e-10
    y0[1] = torch.rand(12, generator=g, dtype=torch.float64)
    for yy in (y.detach(), y0):
        yy = yy.clone().requires_grad_()
        w = torch.randn(yy.shape, generator=g, dtype=torch.float64)
        torch.testing.assert_close(tfidf_log1p_dense(yy, idf), formula(yy))
        ours = torch.autograd.grad((tfidf_log1p_dense(yy, idf) * w).sum(), yy)[0]
        torch.testing.assert_close(ours, torch.autograd.grad((formula(yy) * w).sum(), yy)[0])


def test_sparse_batch_rows_dense_and_library():
    x = sp.random(50, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
    x.data = np.ceil(x.data * 5)
    idx = np.array([3, 7, 20, 49])
    b = SparseBatch.from_csr(x, idx, torch.device("cpu"))
    np.testing.assert_array_equal(b.dense().numpy(), x[idx].toarray())
    np.testing.assert_allclose(b.library.numpy(), np.asarray(x[idx].sum(1)).ravel())
