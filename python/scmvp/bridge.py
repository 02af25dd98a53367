"""The narrow matrix-in / matrix-out functions the R package calls through reticulate.

Conventions (R's, see ../shared/notes/r-python-environment.md):
* matrices arrive as R stores them: features x cells, scipy CSC (from a dgCMatrix, float64
  values that are integers); the transpose to cells x features CSR is free;
* scalars may arrive as R doubles (``10.0``), character vectors of length one as ``str``;
* results are plain numpy arrays: dense results as float64 in Fortran order (fastest to
  convert to R), imputed matrices features x cells, clusters 1-based int32 (R's convention),
  sparse results as scipy CSC features x cells;
* the trained model crosses as bytes (:func:`model_to_bytes` / :func:`model_from_bytes`);
* settings are :class:`~scmvp.config.ScMVPConfig` names; ``None`` (R's ``NULL``) means the
  default written there, so R never repeats a default (:func:`defaults` lists them).

Only the public API of :class:`~scmvp.ScMVP` is used here.
"""
from __future__ import annotations

import platform
import sys
import warnings
from typing import Callable, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from .config import ScMVPConfig
from .model import ScMVP
from .train import lines_progress

__all__ = [
    "fit", "embed", "impute_rna", "impute_atac", "model_to_bytes", "model_from_bytes",
    "model_info", "defaults", "settings_help", "config", "lines_progress",
]


def _cells_by_features(x):
    """features x cells (scipy sparse or dense) -> cells x features, without copying data."""
    if x is None:
        return None
    if sp.issparse(x):
        return x.T  # CSC features x cells -> CSR cells x features (a view of the same arrays)
    return np.asarray(x).T


def _names(x) -> Optional[list]:
    if x is None:
        return None
    if isinstance(x, str):
        return [x]
    return [str(v) for v in list(x)]


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asfortranarray(x, dtype=np.float64)


def _results(model: ScMVP, rna, atac, batch, rna_features, atac_features, allow_missing=False) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.transform(rna, atac, batch, rna_features, atac_features, allow_missing_features=allow_missing)
    probs = out["cluster_probabilities"]
    return {
        "embedding": _f64(out["embedding"]),
        "probabilities": _f64(probs),
        "clusters": (probs.argmax(1) + 1).astype(np.int32),
        "max_probability": probs.max(1).astype(np.float64),
        "warnings": [str(w.message) for w in caught],
    }


def defaults() -> dict:
    """Every setting's default (:class:`~scmvp.config.ScMVPConfig`), as R reads them."""
    return ScMVPConfig.field_defaults()


def settings_help() -> dict:
    """A line of help for every setting."""
    return ScMVPConfig.field_help()


def fit(rna=None, atac=None, rna_features=None, atac_features=None, batch=None, callback=None, verbose=True,
        **settings) -> dict:
    """Train on features x cells matrices; returns the model and the training cells' results.

    ``settings`` are :class:`~scmvp.config.ScMVPConfig` names (``n_latent``, ``n_clusters``,
    ``seed``, ``max_epochs``, ...); a setting that is ``None`` takes its default. Keys:
    ``model`` (an :class:`~scmvp.ScMVP`), ``embedding`` (cells x d), ``probabilities``
    (cells x K), ``clusters`` (1-based), ``max_probability``, ``history`` (losses by name),
    ``features_rna`` / ``features_atac`` (kept features), ``n_clusters`` (clusters, the columns
    of ``probabilities``) and ``n_components`` (mixture components K).
    """
    settings = {k: v for k, v in settings.items() if v is not None}
    model = ScMVP(verbose=bool(verbose), progress_bar=bool(verbose) and callback is None, **settings)
    model.fit(_cells_by_features(rna), _cells_by_features(atac), batch=_names(batch),
              rna_features=_names(rna_features), atac_features=_names(atac_features), callback=callback)
    out = _results(model, None, None, None, None, None)
    out.update(
        model=model,
        history={k: np.asarray(v, dtype=np.float64) for k, v in model.history_.items()},
        features_rna=model.features_["rna"] or [],
        features_atac=model.features_["atac"] or [],
        n_clusters=int(out["probabilities"].shape[1]),
        n_components=int(model.n_clusters_),
    )
    return out


def embed(model: ScMVP, rna=None, atac=None, rna_features=None, atac_features=None, batch=None,
          allow_missing: bool = True) -> dict:
    """Embed new cells (features x cells) with a trained model; features are matched by name
    and, with ``allow_missing``, absent ones are set to 0 and reported in ``warnings``."""
    return _results(model, _cells_by_features(rna), _cells_by_features(atac), _names(batch),
                    _names(rna_features), _names(atac_features), allow_missing)


def impute_rna(model: ScMVP, rna=None, atac=None, rna_features=None, atac_features=None, features=None,
               library=1e4, batch=None) -> np.ndarray:
    """Denoised expression, genes x cells float64 (F order), for ``features`` (default all)."""
    x = model.impute_rna(_cells_by_features(rna), _cells_by_features(atac), features=_names(features),
                         library=None if library is None else float(library), batch=_names(batch),
                         rna_features=_names(rna_features), atac_features=_names(atac_features))
    return _f64(x.T)


def impute_atac(model: ScMVP, rna=None, atac=None, rna_features=None, atac_features=None, features=None,
                kind="probability", threshold=None, batch=None):
    """Imputed accessibility, peaks x cells: float64 F-order array, or scipy CSC when a
    ``threshold`` is given (values below it dropped)."""
    y = model.impute_atac(_cells_by_features(rna), _cells_by_features(atac), features=_names(features), kind=kind,
                          threshold=None if threshold is None else float(threshold), batch=_names(batch),
                          rna_features=_names(rna_features), atac_features=_names(atac_features))
    if sp.issparse(y):
        return sp.csc_matrix(y.T, dtype=np.float64)
    return _f64(y.T)


def model_to_bytes(model: ScMVP) -> bytes:
    """The model file's content as bytes (R keeps them as a raw vector)."""
    return model.to_bytes()


def model_from_bytes(data, device: str = "auto") -> ScMVP:
    """A model from :func:`model_to_bytes` output (bytes, bytearray or a uint8 array)."""
    if isinstance(data, np.ndarray):
        data = data.astype(np.uint8).tobytes()
    return ScMVP.from_bytes(bytes(data), device=device)


def model_info(model: ScMVP) -> dict:
    """Settings (the whole configuration it was trained with; ``n_clusters`` is the fitted K)
    and feature names of a trained model."""
    return {
        "params": model.trained_config.to_dict(),
        "features_rna": model.features_["rna"] or [],
        "features_atac": model.features_["atac"] or [],
        "batch_categories": model.batch_categories_ or [],
    }


def config() -> dict:
    """Python, package versions, the device ``"auto"`` resolves to and the CPU matmul path."""
    import scipy
    import torch

    from . import __version__
    from .settings import _onednn_float32_matmul_available

    cuda = bool(torch.cuda.is_available())
    return {
        "python": sys.executable,
        "python_version": platform.python_version(),
        "scmvp": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cuda": cuda,
        "device": "cuda" if cuda else "cpu",
        "threads": int(torch.get_num_threads()),
        # see settings.fast_float32_matmul
        "float32_matmul": "oneDNN (float32-exact on this CPU)" if _onednn_float32_matmul_available()
        else "torch default",
    }
