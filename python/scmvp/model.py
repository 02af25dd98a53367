"""User API: :class:`ScMVP` — fit on paired counts, then embedding, clusters, imputation,
save and load. Matrices are cells x features (scipy.sparse or numpy); results are numpy arrays
(or CSR when a threshold is given).
"""
from __future__ import annotations

import io
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp
import torch

from . import __version__
from .data import Matrix, ScMVPInputError, check_pair, compute_idf, prepare_matrix
from .module import ScMVPModule
from .nn import ATTENTION_PARTS, attention_parts
from .prior import estimate_n_clusters
from .settings import fast_float32_matmul, resolve_device, seed_everything
from .train import TrainConfig, TrainData, default_max_epochs, iterate, posterior_means, train

__all__ = ["ScMVP"]

FORMAT_VERSION = 1
_PARAMS = (
    "n_latent", "n_clusters", "n_hidden", "modality", "attention", "cycle", "prior", "gate",
    "atac_weight", "dropout", "lr", "batch_size", "seed",
)


class ScMVP:
    """Multi-view VAE with a Gaussian-mixture prior for paired RNA + ATAC counts.

    Parameters
    ----------
    n_latent : latent dimensions d (default 10).
    n_clusters : mixture components K; None estimates K from the RNA (see
        :func:`scmvp.prior.estimate_n_clusters`).
    n_hidden : hidden width H (default 128; a multiple of 8 with the ATAC self-attention).
    modality : ``"joint"`` (both views), ``"rna"`` or ``"atac"`` (single-view runs).
    attention : the attention layers to use, any of ``"rna_mask"`` (the RNA encoders' mask
        attention), ``"atac_self"`` (the ATAC self-attention of encoders and decoder) and
        ``"gate"`` (the decoders' cluster attention from q(c|z)); ``True`` means all three (the
        paper's full model), ``False`` none. The default, ``("rna_mask", "atac_self")``, leaves
        out the cluster gate: on the bundled SNARE-seq data (10 seeds) it gave KMeans / Leiden
        ARI 0.483 / 0.413 against 0.436 / 0.388 with the gate, and mixture-cluster ARI 0.570
        against 0.583 (bench/RESULTS.md, "Stop 20"). Stored as ``True``/``False`` or a list in
        that order.
    cycle : the cycle-consistency module: ``True`` re-encodes the imputed RNA and ATAC,
        ``"rna"`` the imputed RNA only (cheaper: no dense pass over all peaks), ``False`` none.
    prior : ``"gmm"`` (mixture prior) or ``"normal"`` (standard normal; clusters from a
        mixture fitted after training).
    gate : form of the cluster gate (with ``"gate"`` in ``attention``): ``"sigmoid"`` (default)
        or the paper's ``"softmax"`` (same quality on the bundled data, bench/RESULTS.md).
    atac_weight : weight of the ATAC log-likelihood next to the RNA one in joint mode (default
        0.05). A peak matrix has many more features than the gene matrix and, at weight 1, its
        likelihood drives the latent space; on the SNARE-seq cortex data (1,677 genes, 24,744
        peaks) KMeans ARI/NMI of the joint embedding were 0.31/0.56 at weight 1, 0.37/0.61 at
        0.2 and 0.43/0.63 at 0.05 (RNA-only: 0.38/0.62).
    seed : seeds Python, NumPy, torch and the mixture initialisation; CPU runs repeat exactly.
    device : ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> import scmvp
    >>> rna, atac, cells, genes, peaks = scmvp.io.load_example(n_cells=300)
    >>> model = scmvp.ScMVP(n_clusters=5, seed=0, verbose=False, progress_bar=False)
    >>> model = model.fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=2)
    >>> model.embedding(rna, atac).shape
    (300, 10)
    """

    def __init__(
        self,
        n_latent: int = 10,
        n_clusters: Optional[int] = None,
        n_hidden: int = 128,
        modality: str = "joint",
        attention=("rna_mask", "atac_self"),
        cycle=True,
        prior: str = "gmm",
        gate: str = "sigmoid",
        atac_weight: float = 0.05,
        dropout: float = 0.1,
        lr: float = 5e-3,
        batch_size: int = 128,
        seed: int = 0,
        device: str = "auto",
        verbose: bool = True,
        progress_bar: bool = True,
    ):
        _check_int("n_latent", n_latent, 1)
        _check_int("n_hidden", n_hidden, 8)
        _check_int("batch_size", batch_size, 2)
        if n_clusters is not None:
            _check_int("n_clusters", n_clusters, 1)
        if modality not in ("joint", "rna", "atac"):
            raise ValueError(f"modality must be 'joint', 'rna' or 'atac', got {modality!r}.")
        if cycle not in (True, False, "rna"):
            raise ValueError(f"cycle must be True (re-encode both imputed views), 'rna' (the imputed RNA only) or False, got {cycle!r}.")
        parts = attention_parts(attention)
        if "atac_self" in parts and n_hidden % 8:
            raise ValueError(f"n_hidden must be a multiple of 8 with the ATAC self-attention (attention={attention!r}), got {n_hidden}.")
        if gate not in ("sigmoid", "softmax"):
            raise ValueError(f"gate must be 'sigmoid' or 'softmax', got {gate!r}.")
        if gate != "sigmoid" and "gate" not in parts:
            raise ValueError(
                f"gate={gate!r} sets the form of the decoders' cluster gate, which attention={attention!r} "
                "leaves out; add \"gate\" to attention (e.g. attention=True)."
            )
        attention = True if len(parts) == len(ATTENTION_PARTS) else [p for p in ATTENTION_PARTS if p in parts] or False
        self.n_latent, self.n_hidden = int(n_latent), int(n_hidden)
        self.n_clusters = None if n_clusters is None else int(n_clusters)
        self.modality, self.attention, self.cycle, self.prior, self.gate = modality, attention, cycle, prior, gate
        if isinstance(atac_weight, bool) or not (isinstance(atac_weight, (int, float)) and 0 < atac_weight <= 10):
            raise ValueError(f"atac_weight must be a number in (0, 10], got {atac_weight!r}.")
        self.atac_weight = float(atac_weight)
        self.dropout, self.lr, self.batch_size, self.seed = float(dropout), float(lr), int(batch_size), int(seed)
        self.device, self.verbose, self.progress_bar = device, verbose, progress_bar
        self.module: Optional[ScMVPModule] = None
        self.history_: Dict[str, List[float]] = {}
        self.features_: Dict[str, Optional[List[str]]] = {"rna": None, "atac": None}
        self.input_features_: Dict[str, Optional[List[str]]] = {"rna": None, "atac": None}
        self.batch_categories_: Optional[List[str]] = None
        self._train_data: Optional[TrainData] = None

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        rna=None,
        atac=None,
        batch: Optional[Sequence] = None,
        rna_features: Optional[Sequence[str]] = None,
        atac_features: Optional[Sequence[str]] = None,
        max_epochs: Optional[int] = None,
        early_stopping: bool = True,
        callback=None,
    ) -> "ScMVP":
        """Train on raw counts (cells x features). Returns ``self``; ``history_`` holds the losses."""
        self.params_check_views(rna, atac)
        rna_m = prepare_matrix(rna, rna_features, "rna", verbose=self.verbose) if self._uses("rna") else None
        atac_m = prepare_matrix(atac, atac_features, "atac", verbose=self.verbose) if self._uses("atac") else None
        n = check_pair(rna_m.X if rna_m else None, atac_m.X if atac_m else None)
        onehot = self._batch_onehot(batch, n, fit=True)
        k = self.n_clusters
        if k is None:
            k = estimate_n_clusters((rna_m or atac_m).X, seed=self.seed)
            if self.verbose:
                print(f"scMVP: n_clusters not given; estimated K = {k} (Marchenko-Pastur rule on {('RNA' if rna_m else 'ATAC')}).")
        if k > n:
            raise ScMVPInputError(f"n_clusters = {k} is larger than the number of cells ({n}); choose at most {n}.")
        if max_epochs is not None:
            _check_int("max_epochs", max_epochs, 1)
        self.n_clusters_ = int(k)
        for name, m in (("rna", rna_m), ("atac", atac_m)):
            self.features_[name] = m.features if m else None
            self.input_features_[name] = m.input_features if m else None

        seed_everything(self.seed)
        dev = resolve_device(self.device, self.verbose)
        idf = torch.from_numpy(compute_idf(atac_m.X)) if atac_m else None
        self.module = ScMVPModule(
            n_genes=rna_m.X.shape[1] if rna_m else 0,
            n_peaks=atac_m.X.shape[1] if atac_m else 0,
            n_latent=self.n_latent, n_clusters=self.n_clusters_, n_hidden=self.n_hidden,
            n_batches=0 if onehot is None else onehot.shape[1], modality=self.modality,
            attention=self.attention, cycle=self.cycle, prior=self.prior, gate=self.gate,
            atac_weight=self.atac_weight, dropout=self.dropout, idf=idf,
        )
        data = TrainData(rna_m.X if rna_m else None, atac_m.X if atac_m else None, onehot)
        config = TrainConfig(
            max_epochs=int(max_epochs or default_max_epochs(n)), batch_size=self.batch_size, lr=self.lr,
            early_stopping=early_stopping, progress_bar=self.progress_bar, callback=callback,
        )
        self.history_ = train(self.module, data, config, dev, self.seed, self.verbose)
        self._train_data = data
        return self

    # ------------------------------------------------------------------ outputs
    def embedding(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None) -> np.ndarray:
        """Posterior mean of z, (n_cells, n_latent) float32. No data: the training cells."""
        data = self._query(rna, atac, batch, rna_features, atac_features)
        return posterior_means(self.module, data, self._device())

    def cluster_probabilities(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None) -> np.ndarray:
        """q(c|z) at the posterior mean, (n_cells, K) float32; rows sum to 1."""
        z = torch.from_numpy(self.embedding(rna, atac, batch, rna_features, atac_features)).to(self._device())
        with torch.no_grad():
            return self.module.cluster_log_probs(z).exp().cpu().numpy()

    def clusters(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None) -> np.ndarray:
        """Most probable mixture component per cell (int64, 0-based)."""
        return self.cluster_probabilities(rna, atac, batch, rna_features, atac_features).argmax(1)

    def impute_rna(self, rna=None, atac=None, features=None, library: Optional[float] = 1e4, batch=None,
                   rna_features=None, atac_features=None, chunk_size: Optional[int] = None) -> np.ndarray:
        """Denoised expression mu_x = library * rho at the posterior mean, (cells, features) float32.

        ``library=None`` uses each cell's observed RNA total; ``features`` selects genes by name.
        """
        self._need("rna")
        cols = self._feature_index("rna", features)
        return self._impute(rna, atac, batch, rna_features, atac_features, chunk_size, cols, "rna", library, None)

    def impute_atac(self, rna=None, atac=None, features=None, kind: str = "probability", library=None,
                    threshold: Optional[float] = None, batch=None, rna_features=None, atac_features=None,
                    chunk_size: Optional[int] = None) -> Union[np.ndarray, sp.csr_matrix]:
        """Imputed accessibility at the posterior mean.

        ``kind="probability"``: P(y > 0) = (1 - sigmoid(pi)) (1 - exp(-lambda)); ``kind="rate"``:
        the Poisson rate lambda (``library`` = observed ATAC total when None). ``features``
        selects peaks by name; ``threshold`` returns a CSR matrix keeping values >= threshold.
        """
        self._need("atac")
        if kind not in ("probability", "rate"):
            raise ValueError(f"kind must be 'probability' or 'rate', got {kind!r}.")
        cols = self._feature_index("atac", features)
        return self._impute(rna, atac, batch, rna_features, atac_features, chunk_size, cols, kind, library, threshold)

    # ------------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        """The model as bytes (see :meth:`save`)."""
        buf = io.BytesIO()
        torch.save(self._state(), buf)
        return buf.getvalue()

    def save(self, path) -> None:
        """Write weights, feature names, IDF and parameters; loads with ``weights_only=True``."""
        torch.save(self._state(), path)

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "auto", verbose: bool = False) -> "ScMVP":
        return cls._from_state(torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True), device, verbose)

    @classmethod
    def load(cls, path, device: str = "auto", verbose: bool = False) -> "ScMVP":
        """Load a model written by :meth:`save` (no code is executed: ``weights_only=True``)."""
        return cls._from_state(torch.load(path, map_location="cpu", weights_only=True), device, verbose)

    # ------------------------------------------------------------------ internals
    def params_check_views(self, rna, atac) -> None:
        for view in ("rna", "atac"):
            if self._uses(view) and (rna if view == "rna" else atac) is None:
                raise ScMVPInputError(f"modality={self.modality!r} needs the {view.upper()} matrix, but none was given.")

    def _uses(self, view: str) -> bool:
        return self.modality in ("joint", view)

    def _need(self, view: str) -> None:
        self._fitted()
        if not self._uses(view):
            raise ValueError(f"This model was trained with modality={self.modality!r}; it has no {view.upper()} decoder.")

    def _fitted(self) -> None:
        if self.module is None:
            raise RuntimeError("The model is not trained yet: call fit() first, or ScMVP.load().")

    def _device(self) -> torch.device:
        return next(self.module.parameters()).device

    def _batch_onehot(self, batch, n: int, fit: bool) -> Optional[np.ndarray]:
        if batch is None:
            if not fit and self.batch_categories_:
                raise ScMVPInputError("This model was trained with batches: pass batch= (one label per cell).")
            return None
        labels = np.asarray([str(b) for b in batch])
        if labels.shape[0] != n:
            raise ScMVPInputError(f"batch has {labels.shape[0]} labels but the data have {n} cells; give one label per cell.")
        if fit:
            self.batch_categories_ = sorted(set(labels.tolist()))
        elif not self.batch_categories_:
            raise ScMVPInputError("This model was trained without batches; call without batch=.")
        unknown = sorted(set(labels.tolist()) - set(self.batch_categories_))
        if unknown:
            raise ScMVPInputError(f"Unknown batch labels {unknown[:5]}; the model knows {self.batch_categories_}.")
        onehot = np.zeros((n, len(self.batch_categories_)), dtype=np.float32)
        onehot[np.arange(n), np.searchsorted(self.batch_categories_, labels)] = 1.0
        return onehot

    def _query(self, rna, atac, batch, rna_features, atac_features, allow_missing: bool = False) -> TrainData:
        """Validated, feature-aligned data for the trained model; no data -> the training data."""
        self._fitted()
        if rna is None and atac is None and batch is None and self._train_data is not None:
            return self._train_data
        self.params_check_views(rna, atac)
        mats = {}
        for view, x, names in (("rna", rna, rna_features), ("atac", atac, atac_features)):
            if self._uses(view):
                m = prepare_matrix(x, names, view, drop_empty_features=False, verbose=False)
                mats[view] = self._align(view, m, names is not None, allow_missing)
        n = check_pair(mats.get("rna"), mats.get("atac"))
        return TrainData(mats.get("rna"), mats.get("atac"), self._batch_onehot(batch, n, fit=False))

    def _align(self, view: str, m: Matrix, named: bool, allow_missing: bool) -> sp.csr_matrix:
        trained = self.features_[view]
        if not named:
            given = self.input_features_[view]
            if m.X.shape[1] != len(given):
                raise ScMVPInputError(
                    f"{view}: the model was trained on {len(given)} {view.upper()} features but this matrix has "
                    f"{m.X.shape[1]} columns. Pass {view}_features= (names) so features can be matched by name."
                )
            pos = {f: i for i, f in enumerate(given)}
            return m.X[:, [pos[f] for f in trained]].tocsr()
        pos = {f: i for i, f in enumerate(m.input_features)}
        missing = [f for f in trained if f not in pos]
        if missing and (not allow_missing or len(missing) == len(trained)):
            raise ScMVPInputError(
                f"{view}: {len(missing)} of the model's {len(trained)} features are missing from the data "
                f"(e.g. {', '.join(missing[:5])}). Use data with the model's features "
                f"(model.features_['{view}']), or a model trained on these features."
            )
        if missing:
            warnings.warn(f"{view}: {len(missing)} of {len(trained)} model features are missing and set to 0 "
                          f"(e.g. {', '.join(missing[:5])}).", UserWarning, stacklevel=3)
        src = np.array([pos.get(f, -1) for f in trained])
        have = np.flatnonzero(src >= 0)
        sel = m.X[:, src[have]].tocsc()
        # place the present columns at their model positions (missing ones stay empty)
        indptr = np.zeros(len(trained) + 1, dtype=np.int64)
        indptr[have + 1] = np.diff(sel.indptr)
        indptr = np.cumsum(indptr)
        out = sp.csc_matrix((sel.data, sel.indices, indptr), shape=(m.X.shape[0], len(trained)))
        return out.tocsr()

    def _feature_index(self, view: str, features) -> np.ndarray:
        names = self.features_[view]
        if features is None:
            return np.arange(len(names))
        pos = {f: i for i, f in enumerate(names)}
        features = [str(f) for f in ([features] if isinstance(features, str) else features)]
        missing = [f for f in features if f not in pos]
        if missing:
            raise ScMVPInputError(
                f"{len(missing)} requested {view.upper()} features are not in the model (e.g. {', '.join(missing[:5])}); "
                f"see model.features_['{view}'] (features without counts in training were dropped)."
            )
        return np.array([pos[f] for f in features], dtype=np.int64)

    @torch.no_grad()
    @fast_float32_matmul()
    def _impute(self, rna, atac, batch, rna_features, atac_features, chunk_size, cols, kind, library, threshold):
        data = self._query(rna, atac, batch, rna_features, atac_features)
        dev = self._device()
        n_out = len(self.features_["rna" if kind == "rna" else "atac"])
        chunk = chunk_size or max(64, int(2**24 // max(n_out, 1)))
        self.module.eval()
        parts = []
        cols_t = torch.as_tensor(cols, device=dev)
        for idx in iterate(data.n_cells, chunk, False, None):
            inputs = data.inputs(idx, dev)
            mean, _ = self.module.encode(inputs)
            # decode only the view asked for: the chunk size is set by that view's width
            rho, rate_frac, pi_logits = self.module.decode(mean, inputs.batch, views=("rna",) if kind == "rna" else ("atac",))
            if kind == "rna":
                lib = inputs.rna.library.unsqueeze(1) if library is None else float(library)
                vals = (rho[:, cols_t] * lib)
            else:
                lib = inputs.atac.library.unsqueeze(1) if library is None else float(library)
                rate = rate_frac[:, cols_t] * lib
                vals = rate if kind == "rate" else torch.sigmoid(-pi_logits[:, cols_t]) * -torch.expm1(-rate)
            vals = vals.float().cpu().numpy()
            if threshold is not None:
                vals = sp.csr_matrix(np.where(vals >= threshold, vals, 0.0).astype(np.float32))
            parts.append(vals)
        if threshold is not None:
            return sp.vstack(parts, format="csr")
        return np.concatenate(parts, axis=0)

    def _state(self) -> dict:
        self._fitted()
        params = {k: getattr(self, k) for k in _PARAMS}
        params["n_clusters"] = self.n_clusters_
        return {
            "format": "scmvp",
            "format_version": FORMAT_VERSION,
            "scmvp_version": __version__,
            "params": params,
            "state_dict": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "features": {k: v for k, v in self.features_.items() if v is not None},
            "input_features": {k: v for k, v in self.input_features_.items() if v is not None},
            "batch_categories": self.batch_categories_ or [],
            "history": {k: [float(x) for x in v] for k, v in self.history_.items()},
        }

    @classmethod
    def _from_state(cls, state: dict, device: str, verbose: bool) -> "ScMVP":
        if not isinstance(state, dict) or state.get("format") != "scmvp":
            raise ValueError("This file is not an scMVP model (written by ScMVP.save).")
        if state["format_version"] > FORMAT_VERSION:
            raise ValueError(
                f"This model file has format version {state['format_version']}, newer than this scmvp "
                f"({__version__}) reads ({FORMAT_VERSION}). Upgrade scmvp."
            )
        p = dict(state["params"])
        model = cls(**p, device=device, verbose=verbose, progress_bar=False)
        model.n_clusters_ = int(p["n_clusters"])
        feats = state["features"]
        model.features_ = {"rna": feats.get("rna"), "atac": feats.get("atac")}
        inp = state["input_features"]
        model.input_features_ = {"rna": inp.get("rna"), "atac": inp.get("atac")}
        model.batch_categories_ = list(state["batch_categories"]) or None
        model.history_ = {k: list(v) for k, v in state["history"].items()}
        sd = state["state_dict"]
        model.module = ScMVPModule(
            n_genes=len(feats.get("rna") or []), n_peaks=len(feats.get("atac") or []), n_latent=p["n_latent"],
            n_clusters=model.n_clusters_, n_hidden=p["n_hidden"], n_batches=len(model.batch_categories_ or []),
            modality=p["modality"], attention=p["attention"], cycle=p["cycle"], prior=p["prior"], gate=p["gate"],
            atac_weight=p.get("atac_weight", 1.0), dropout=p["dropout"], idf=sd["idf"].clone(),
        )
        model.module.load_state_dict(sd)
        model.module.to(resolve_device(device, verbose)).eval()
        return model


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
