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

from . import __version__, distributed
from .clusters import component_graph, merge_components
from .config import ScMVPConfig
from .backed import BackedMatrix
from .data import Matrix, ScMVPInputError, check_pair, compute_idf, prepare_matrix
from .features import select_matrix
from .inference import CellData, impute, posterior_moments
from .module import ScMVPModule
from .settings import resolve_device, seed_everything
from .train import train
from .view_signal import ViewSignal, split_half_signal

__all__ = ["ScMVP"]

#: Version 3 may hold a joint encoder without the chromatin branch (``encode_atac``), which
#: older readers cannot build; version 2 stores the whole :class:`ScMVPConfig`; version 1 stored
#: the model settings only.
FORMAT_VERSION = 3
# what a version-1 file that lacks a setting was trained with (atac_weight came after it)
_VERSION1_ASSUMED = {"atac_weight": 1.0}


class ScMVP:
    """Multi-view VAE with a Gaussian-mixture prior for paired RNA + ATAC counts.

    Parameters
    ----------
    config : a :class:`~scmvp.config.ScMVPConfig`; default ``ScMVPConfig()``.
    verbose : print what the fit decides (estimated K, device, early stop).
    progress_bar : show training progress: a live bar in a terminal or notebook, one line
        every few epochs (about 20 lines a fit) when output goes to a file, CI or a log.
    **settings : any :class:`~scmvp.config.ScMVPConfig` setting by name (``n_latent``,
        ``n_clusters``, ``seed``, ``device``, ``atac_weight``, ...), applied on top of
        ``config``; ``ScMVP(n_latent=20)`` is ``ScMVP(ScMVPConfig(n_latent=20))``. The defaults
        and what each setting does are documented there, and nowhere else.

    The settings are available as ``model.config`` and, read-only, as attributes
    (``model.n_latent``).

    After :meth:`fit`: ``n_clusters_`` (K), ``history_`` (losses by epoch), ``features_`` (the
    features trained on) and ``atac_signal_`` (the chromatin's reproducible directions,
    :func:`scmvp.view_signal.split_half_signal`, which ``encode_atac="auto"`` follows).

    Examples
    --------
    >>> import scmvp
    >>> rna, atac, cells, genes, peaks = scmvp.io.load_example(n_cells=300)
    >>> model = scmvp.ScMVP(n_clusters=5, seed=0, verbose=False, progress_bar=False)
    >>> model = model.fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=2)
    >>> model.embedding(rna, atac).shape
    (300, 20)
    """

    def __init__(self, config: Optional[ScMVPConfig] = None, *, verbose: bool = True, progress_bar: bool = True,
                 **settings):
        if config is not None and not isinstance(config, ScMVPConfig):
            raise TypeError(f"config must be an scmvp.ScMVPConfig, got {type(config).__name__}; pass settings by name, "
                            "e.g. ScMVP(n_latent=20).")
        base = config if config is not None else ScMVPConfig()
        self.config: ScMVPConfig = base.replace(**settings) if settings else base
        self.verbose, self.progress_bar = bool(verbose), bool(progress_bar)
        self.module: Optional[ScMVPModule] = None
        self.n_clusters_: Optional[int] = None  # mixture components K
        self.component_graph_: Optional[np.ndarray] = None  # K x K neighbour edges (clusters.py)
        self.history_: Dict[str, List[float]] = {}
        self.features_: Dict[str, Optional[List[str]]] = {"rna": None, "atac": None}
        self.input_features_: Dict[str, Optional[List[str]]] = {"rna": None, "atac": None}
        self.batch_categories_: Optional[List[str]] = None
        # split-half reliability of the training chromatin (view_signal.py); None without ATAC
        self.atac_signal_: Optional[ViewSignal] = None
        self._train_data: Optional[CellData] = None

    def __getattr__(self, name: str):
        # the settings, read-only: model.n_latent is model.config.n_latent
        config = self.__dict__.get("config")
        if config is not None and name in ScMVPConfig.__dataclass_fields__:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    @property
    def trained_config(self) -> ScMVPConfig:
        """The configuration the model was trained with (``n_clusters`` is the fitted K)."""
        self._fitted()
        return self.module.config

    def __setattr__(self, name: str, value) -> None:
        if name in ScMVPConfig.__dataclass_fields__:
            raise AttributeError(f"{name} is a setting of model.config; set it with "
                                 f"model.config = model.config.replace({name}=...) before fit().")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.config.to_dict().items() if v != ScMVPConfig.field_defaults()[k]}
        state = f"K={self.n_clusters_}, trained" if self.module is not None else "not trained"
        return f"ScMVP({', '.join(f'{k}={v!r}' for k, v in changed.items())}{', ' if changed else ''}{state})"

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        rna=None,
        atac=None,
        batch: Optional[Sequence] = None,
        rna_features: Optional[Sequence[str]] = None,
        atac_features: Optional[Sequence[str]] = None,
        max_epochs: Optional[int] = None,
        early_stopping: Optional[bool] = None,
        callback=None,
    ) -> "ScMVP":
        """Train on raw counts (cells x features). Returns ``self``; ``history_`` holds the losses.

        ``max_epochs`` and ``early_stopping`` override the config's for this fit; ``callback``
        is called after each epoch with (epoch, max_epochs, losses by name). A new fit starts
        from scratch: the features, batches and K of an earlier fit are forgotten.

        Ctrl-C (``KeyboardInterrupt``; in R, an interrupt during ``RunSCMVP()``) ends training
        after the current step with a warning that says how many epochs were done; the model is
        then finished and usable, as after an early stop.

        ``rna`` and ``atac`` may stay on disk: a :class:`scmvp.backed.BackedMatrix` (e.g. from
        ``scmvp.io.read_h5mu(path)``) or an AnnData ``X`` opened with ``backed="r"`` is checked,
        selected and trained on block by block (:meth:`scmvp.inference.CellData.epoch`), so memory
        stays bounded as cells grow. Started by ``torchrun`` (:mod:`scmvp.distributed`), the
        processes share the training and rank 0 keeps the cells' results.
        """
        cfg = self.config
        if max_epochs is not None or early_stopping is not None:
            cfg = cfg.replace(**{k: v for k, v in (("max_epochs", max_epochs), ("early_stopping", early_stopping))
                                 if v is not None})
        self._check_views(rna, atac)
        rna_m, atac_m = (
            select_matrix(prepare_matrix(x, names, view, verbose=self.verbose), view, cfg.n_top_genes,
                          cfg.max_peaks, self.verbose) if self._uses(view) else None
            for view, x, names in (("rna", rna, rna_features), ("atac", atac, atac_features)))
        n = check_pair(rna_m.X if rna_m else None, atac_m.X if atac_m else None)
        self.batch_categories_ = self.component_graph_ = None  # a refit forgets the earlier fit
        self.atac_signal_ = self._measure_atac_signal(atac_m, cfg.seed)
        if cfg.modality == "joint" and cfg.encode_atac == "auto":
            # every process builds the same encoder: rank 0 measured the chromatin, the others follow it
            reads = distributed.broadcast_object(
                None if self.atac_signal_ is None else self.atac_signal_.n_reproducible > 0)
            cfg = cfg.replace(encode_atac=True if reads is None else bool(reads))
        onehot = self._batch_onehot(batch, n, fit=True)
        k = cfg.n_clusters  # None: chosen at the end of the warm-up (scmvp.train)
        if k is not None and k > n:
            raise ScMVPInputError(f"n_clusters = {k} is larger than the number of cells ({n}); choose at most {n}.")
        for name, m in (("rna", rna_m), ("atac", atac_m)):
            self.features_[name] = m.features if m else None
            self.input_features_[name] = m.input_features if m else None

        seed_everything(cfg.seed)
        dev = resolve_device(distributed.local_device(cfg.device), self.verbose and distributed.is_main())
        idf = torch.from_numpy(compute_idf(atac_m.X)) if atac_m else None
        self.module = ScMVPModule(
            n_genes=rna_m.X.shape[1] if rna_m else 0, n_peaks=atac_m.X.shape[1] if atac_m else 0,
            config=cfg, n_batches=0 if onehot is None else onehot.shape[1], idf=idf,
        )
        data = CellData(rna_m.X if rna_m else None, atac_m.X if atac_m else None, onehot)
        self.history_ = train(self.module, data, cfg, cfg.epochs_for(n), dev, verbose=self.verbose,
                              progress_bar=self.progress_bar, callback=callback)
        self.n_clusters_ = int(self.module.prior.n_clusters)
        self._train_data = data
        if not distributed.is_main():
            return self  # with several processes, rank 0 computes and writes the results
        out = self.transform()
        components = out["component_probabilities"].argmax(1)
        self.component_graph_ = component_graph(out["embedding"], components, self.n_clusters_, seed=cfg.seed)
        if self.verbose:
            n = len(np.unique(self.cluster_map()[components]))
            print(f"scMVP: {n} clusters from {self.n_clusters_} mixture components "
                  f"(cluster_resolution={cfg.cluster_resolution}).")
        return self

    # ------------------------------------------------------------------ outputs
    def transform(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None,
                  allow_missing_features: bool = False, resolution="config") -> Dict[str, np.ndarray]:
        """Embedding, cluster and component probabilities of cells, in one pass.

        Returns float32 arrays: ``"embedding"`` (n_cells, n_latent), the posterior mean of z;
        ``"component_probabilities"`` (n_cells, K), q(c|z); ``"cluster_probabilities"``
        (n_cells, n_clusters), q(c|z) summed over the components of each cluster
        (:meth:`cluster_map`). No data: the training cells. Features are matched by name when
        names are given; with ``allow_missing_features`` model features absent from the data are
        set to 0 (with a warning) instead of raising an error.
        """
        data = self._query(rna, atac, batch, rna_features, atac_features, allow_missing_features)
        dev = self._device()
        z = posterior_moments(self.module, data, dev)[0]
        with torch.no_grad():  # by chunks: q(c|z) builds cells x K x d temporaries
            comp = np.concatenate([
                self.module.cluster_log_probs(torch.from_numpy(z[i:i + 4096]).to(dev)).exp().cpu().numpy()
                for i in range(0, max(len(z), 1), 4096)])
        mapping = self.cluster_map(resolution)
        merged = np.zeros((comp.shape[0], mapping.max() + 1), dtype=np.float32)
        np.add.at(merged.T, mapping, comp.T)
        return {"embedding": z, "cluster_probabilities": merged, "component_probabilities": comp}

    def cluster_map(self, resolution="config") -> np.ndarray:
        """The cluster (0-based, largest first) of each of the K mixture components.

        Components are merged by modularity on the neighbourhood graph of the training cells
        (:mod:`scmvp.clusters`) at ``resolution`` (default: ``config.cluster_resolution``;
        higher keeps more clusters, ``None`` none merged).
        """
        self._fitted()
        resolution = self.config.cluster_resolution if resolution == "config" else resolution
        if self.component_graph_ is None:  # during fit, or a model file without the graph
            return np.arange(self.n_clusters_)
        return merge_components(self.component_graph_, resolution)

    def embedding(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None) -> np.ndarray:
        """Posterior mean of z, (n_cells, n_latent) float32. No data: the training cells."""
        return self.transform(rna, atac, batch, rna_features, atac_features)["embedding"]

    def cluster_probabilities(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None,
                              resolution="config") -> np.ndarray:
        """Probability of each cluster, (n_cells, n_clusters) float32; rows sum to 1.

        A cluster's probability is q(c|z) summed over its mixture components (:meth:`cluster_map`).
        """
        return self.transform(rna, atac, batch, rna_features, atac_features, resolution=resolution)["cluster_probabilities"]

    def clusters(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None,
                 resolution="config") -> np.ndarray:
        """Most probable cluster per cell (int64, 0-based; 0 is the largest cluster).

        ``resolution`` (default: ``config.cluster_resolution``) sets how far mixture components
        are merged: higher gives more clusters, ``None`` the K components themselves.
        """
        return self.cluster_probabilities(rna, atac, batch, rna_features, atac_features, resolution).argmax(1)

    def component_probabilities(self, rna=None, atac=None, batch=None, rna_features=None, atac_features=None) -> np.ndarray:
        """q(c|z) over the K mixture components at the posterior mean, (n_cells, K) float32."""
        return self.transform(rna, atac, batch, rna_features, atac_features)["component_probabilities"]

    def impute_rna(self, rna=None, atac=None, features=None, library: Optional[float] = 1e4, batch=None,
                   rna_features=None, atac_features=None, chunk_size: Optional[int] = None) -> np.ndarray:
        """Denoised expression mu_x = library * rho at the posterior mean, (cells, features) float32.

        ``library=None`` uses each cell's observed RNA total; ``features`` selects genes by name.
        """
        self._need("rna")
        cols = self._feature_index("rna", features)
        data = self._query(rna, atac, batch, rna_features, atac_features)
        return impute(self.module, data, self._device(), "rna", cols, library, None, chunk_size)

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
        data = self._query(rna, atac, batch, rna_features, atac_features)
        return impute(self.module, data, self._device(), kind, cols, library, threshold, chunk_size)

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
    def _check_views(self, rna, atac) -> None:
        for view in ("rna", "atac"):
            if self._uses(view) and (rna if view == "rna" else atac) is None:
                raise ScMVPInputError(f"modality={self.modality!r} needs the {view.upper()} matrix, but none was given.")

    def _measure_atac_signal(self, atac_m: Optional[Matrix], seed: int) -> Optional[ViewSignal]:
        """How many reproducible directions the training chromatin holds (rank 0 only); says
        so when it holds none, since the chromatin then cannot shape the embedding."""
        if atac_m is None or not distributed.is_main():
            return None
        signal = split_half_signal(atac_m.X, seed=seed)
        if signal is None:  # too few cells or peaks to tell
            return None
        if self.verbose:
            print(f"scMVP: the chromatin shows {signal}.")
        if signal.n_reproducible == 0:
            what = ("the joint encoder reads the RNA only (encode_atac='auto') and the embedding rests on it"
                    if self.modality == "joint" and self.config.encode_atac == "auto"
                    else "the embedding will rest on the RNA" if self.modality == "joint"
                    else "an ATAC-only embedding will hold no cell-type structure")
            warnings.warn(
                f"scMVP: the ATAC counts show no cell-to-cell signal beyond their sampling noise ({signal}): "
                f"{what}. Check that the peak matrix belongs to these cells and is not too sparse "
                "(e.g. fragments per cell).", UserWarning, stacklevel=3)
        return signal

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

    def _query(self, rna, atac, batch, rna_features, atac_features, allow_missing: bool = False) -> CellData:
        """Validated, feature-aligned data for the trained model; no data -> the training data."""
        self._fitted()
        if rna is None and atac is None and batch is None:
            if self._train_data is not None:
                return self._train_data
            call = {"joint": "rna, atac, rna_features=genes, atac_features=peaks", "rna": "rna, rna_features=genes",
                    "atac": "atac=atac, atac_features=peaks"}[self.modality]
            raise ScMVPInputError(
                "This model keeps no cells (it was loaded from a file): pass the count matrices (cells x features) "
                f"and their feature names again, e.g. model.embedding({call})."
            )
        self._check_views(rna, atac)
        mats = {}
        for view, x, names in (("rna", rna, rna_features), ("atac", atac, atac_features)):
            if self._uses(view):
                m = prepare_matrix(x, names, view, drop_empty_features=False, verbose=False)
                mats[view] = self._align(view, m, names is not None, allow_missing)
        n = check_pair(mats.get("rna"), mats.get("atac"))
        return CellData(mats.get("rna"), mats.get("atac"), self._batch_onehot(batch, n, fit=False))

    def _align(self, view: str, m: Matrix, named: bool, allow_missing: bool) -> sp.csr_matrix:
        trained = self.features_[view]
        if isinstance(m.X, BackedMatrix):
            return self._align_backed(view, m, named)
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

    def _align_backed(self, view: str, m: Matrix, named: bool) -> BackedMatrix:
        """The model's features of a backed matrix: the file's columns, in the model's order."""
        names = m.input_features if named else self.input_features_[view]
        if len(names) != m.X.shape[1]:
            raise ScMVPInputError(f"{view}: the model was trained on {len(names)} {view.upper()} features but this matrix "
                                  f"has {m.X.shape[1]} columns. Pass {view}_features= (names).")
        pos = {f: i for i, f in enumerate(names)}
        missing = [f for f in self.features_[view] if f not in pos]
        cols = np.array([pos.get(f, -1) for f in self.features_[view]])
        if missing or np.any(np.diff(cols) <= 0):
            raise ScMVPInputError(
                f"{view}: a file-backed matrix is read as stored, but {len(missing)} of the model's features are missing "
                "from it or they are in another order. Load the cells into memory (e.g. X[:] or adata.to_memory()) "
                "so that features can be matched by name.")
        return m.X.select(cols)

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

    def _state(self) -> dict:
        self._fitted()
        return {
            "format": "scmvp",
            "format_version": FORMAT_VERSION,
            "scmvp_version": __version__,
            "config": self.trained_config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "features": {k: v for k, v in self.features_.items() if v is not None},
            "input_features": {k: v for k, v in self.input_features_.items() if v is not None},
            "batch_categories": self.batch_categories_ or [],
            "history": {k: [float(x) for x in v] for k, v in self.history_.items()},
            "component_graph": None if self.component_graph_ is None else torch.from_numpy(self.component_graph_),
            "atac_signal": None if self.atac_signal_ is None else torch.from_numpy(
                np.append(self.atac_signal_.correlations, self.atac_signal_.null)),
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
        if state["format_version"] >= 2:
            # files written before the feature settings existed trained on every feature given,
            # and before warmup_atac_weight with atac_weight throughout; the features a model uses
            # are stored with it, and these settings only steer training, so they change nothing here.
            # Version 2 files always hold the encoder's chromatin branch (encode_atac=True).
            saved = state["config"]
            config = ScMVPConfig.from_dict({"n_top_genes": None, "max_peaks": None, "encode_atac": True,
                                            "warmup_atac_weight": saved.get("atac_weight", 1.0), **saved})
        else:
            # version 1 kept the model settings only: training settings (which do not change a
            # trained model) take today's defaults, a missing model setting its old value
            model_keys = ("n_latent", "n_clusters", "n_hidden", "modality", "attention", "cycle", "prior", "gate",
                          "atac_weight", "dropout")
            values = {k: v for k, v in ScMVPConfig.field_defaults().items() if k not in model_keys}
            values.update(state["params"])
            config = ScMVPConfig.from_dict(values, assumed=_VERSION1_ASSUMED,
                                           source=f"This model file (format 1, scmvp {state.get('scmvp_version', '?')})")
        model = cls(config.replace(device=device), verbose=verbose, progress_bar=False)
        model.n_clusters_ = int(config.n_clusters)
        feats = state["features"]
        model.features_ = {"rna": feats.get("rna"), "atac": feats.get("atac")}
        inp = state["input_features"]
        model.input_features_ = {"rna": inp.get("rna"), "atac": inp.get("atac")}
        model.batch_categories_ = list(state["batch_categories"]) or None
        model.history_ = {k: list(v) for k, v in state["history"].items()}
        graph = state.get("component_graph")  # (format 1 has none: every component is a cluster)
        model.component_graph_ = None if graph is None else graph.numpy()
        signal = state.get("atac_signal")  # absent in files written before it was measured
        model.atac_signal_ = None if signal is None else ViewSignal(signal[:-1].numpy(), float(signal[-1]))
        sd = state["state_dict"]
        model.module = ScMVPModule(
            n_genes=len(feats.get("rna") or []), n_peaks=len(feats.get("atac") or []), config=config,
            n_batches=len(model.batch_categories_ or []), idf=sd["idf"].clone(),
        )
        model.module.load_state_dict(sd)
        model.module.to(resolve_device(device, verbose)).eval()
        return model


