"""The settings of a model and their defaults: :class:`ScMVPConfig`, the only place a default
is written.

:class:`scmvp.ScMVP`, the torch module, the training loop, the command line (``scmvp fit
--help`` prints these defaults), the reticulate bridge and R's ``RunSCMVP()`` (whose arguments
default to ``NULL``, meaning "the value here") all read it, and a saved model stores the whole
configuration it was trained with.

>>> from scmvp import ScMVPConfig
>>> cfg = ScMVPConfig(n_latent=20)
>>> cfg.n_latent, cfg.batch_size
(20, 128)
>>> cfg.replace(seed=3).seed
3
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from .nn import ATTENTION_PARTS, attention_parts

__all__ = ["ScMVPConfig", "ATTENTION_PARTS", "attention_parts", "default_max_epochs"]

def default_max_epochs(n_cells: int) -> int:
    """About 4,800 minibatch steps of 128 cells, between 20 and 400 epochs: 60 epochs at 10k
    cells, 120 at 5k, 20 from 31k cells on. Early stopping usually ends a fit well before (34-39
    epochs on the bundled 10k cells)."""
    return int(min(400, max(20, round(4800 * 128 / max(n_cells, 1)))))


def _help(text: str) -> Dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class ScMVPConfig:
    """Every setting of an scMVP model and its training, with its default.

    Model
    -----
    n_latent : latent dimensions d.
    n_clusters : mixture components K; ``None`` chooses K at the end of the warm-up as the
        number of groups the embedding holds by then (:func:`scmvp.prior.estimate_n_components`).
    cluster_resolution : the cells' clusters merge mixture components that the neighbourhood
        graph of the embedding joins, by modularity at this resolution (as Seurat's
        ``FindClusters``: higher keeps more clusters; :mod:`scmvp.clusters`); ``None`` (or
        ``False``, as R passes it) keeps every component as a cluster.
    n_hidden : hidden width H (a multiple of 8 with the ATAC self-attention).
    modality : ``"joint"`` (both views), ``"rna"`` or ``"atac"`` (single-view runs).
    attention : the attention layers, any of ``"rna_mask"`` (the RNA encoders' mask attention),
        ``"atac_self"`` (the ATAC self-attention of encoders and decoder) and ``"gate"`` (the
        decoders' cluster attention from q(c|z)); ``True`` means all three (the paper's full
        model), ``False`` none. The default leaves out the cluster gate, which cost the embedding
        more than it gave the clusters on the bundled data (bench/RESULTS.md).
    encode_atac : whether the joint encoder reads the chromatin: ``"auto"`` reads it when it shows
        at least one reproducible cell-to-cell direction (:func:`scmvp.view_signal.split_half_signal`)
        and otherwise leaves it to the decoder and the cycle; ``True`` always, ``False`` never.
        Chromatin with no such direction is sampling noise to the encoder, which learns to tell
        training cells apart by it (bench/RESULTS.md, "Why the encoder may skip the chromatin").
    cycle : the cycle-consistency module: ``True`` re-encodes the imputed RNA and ATAC,
        ``"rna"`` the imputed RNA only, ``False`` none.
    prior : ``"gmm"`` (mixture prior) or ``"normal"`` (standard normal; clusters from a
        mixture fitted after training).
    gate : form of the cluster gate (with ``"gate"`` in ``attention``): ``"sigmoid"`` or the
        paper's ``"softmax"``.
    atac_weight : weight of the ATAC log-likelihood next to the RNA one in joint mode, after the
        warm-up. A peak matrix has many more features than a gene matrix and, at weight 1 for
        the whole fit, its likelihood drives the latent space (bench/RESULTS.md).
    warmup_atac_weight : the same weight during the warm-up, while the embedding is laid out and
        K is chosen from it: at 1, groups of cells that differ in the chromatin alone get a
        place in the embedding and a mixture component, which ``atac_weight`` then keeps.
    dropout : dropout rate of the encoder and decoder blocks.

    Features
    --------
    n_top_genes : train on this many variable genes (Seurat's "vst" on counts,
        :func:`scmvp.features.variable_genes`); ``None`` keeps every gene given (R passes the
        assay's ``VariableFeatures()`` when set, AnnData helpers ``var["highly_variable"]``).
    max_peaks : train on at most this many peaks, those accessible in the most cells
        (:func:`scmvp.features.accessible_peaks`); ``None`` keeps every peak.

    Training
    --------
    max_epochs : most epochs; ``None`` scales them with the cells (:func:`default_max_epochs`).
    batch_size, lr, weight_decay, grad_clip : minibatch size, Adam's learning rate and weight
        decay, gradient-norm clipping.
    warmup_fraction, max_warmup_epochs : the warm-up (standard normal prior, KL ramp) takes this
        share of the epochs, at most ``max_warmup_epochs``; the mixture is fitted at its end.
    cycle_weight : weight of the cycle terms after the warm-up.
    validation_fraction : share of cells held out for early stopping (none below 200 cells; at
        most 10,000 of them are scored, :func:`scmvp.train.scored_held_out`).
    early_stopping, patience : stop when the held-out loss has not improved by 0.1% for
        ``patience`` epochs.
    restore_best : at an early stop, go back to the weights of the best held-out loss instead of
        keeping the last epoch's (scvi-tools keeps the last).
    seed : seeds Python, NumPy, torch and the mixture initialisation; CPU runs repeat exactly.
    device : ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    """

    # ---- model
    # 20: against 10, over 5-6 seeds on each dataset in ../shared/data, KMeans ARI +0.017 (PBMC) and
    # +0.007 (cortex), Leiden ARI level (PBMC) and +0.04 (cortex) (bench/RESULTS.md)
    n_latent: int = field(default=20, metadata=_help("latent dimensions"))
    n_clusters: Optional[int] = field(default=None, metadata=_help("mixture components K (None: estimated from the data)"))
    # 0.5: on both datasets in ../shared/data and every model variant measured, merging at 0.5
    # scored a higher ARI than at 0.8-1.0 (bench/RESULTS.md, "Why clusters merge mixture components")
    cluster_resolution: Optional[float] = field(
        default=0.5, metadata=_help("modularity resolution for merging components into clusters (None or False: no merging)"))
    n_hidden: int = field(default=128, metadata=_help("hidden width (a multiple of 8 with the ATAC self-attention)"))
    modality: str = field(default="joint", metadata=_help("'joint', 'rna' or 'atac'"))
    attention: Union[bool, Tuple[str, ...]] = field(
        default=("rna_mask", "atac_self"),
        metadata=_help("attention parts: True (all), False (none) or some of rna_mask, atac_self, gate"))
    encode_atac: Union[bool, str] = field(
        default="auto", metadata=_help("joint encoder reads the chromatin: 'auto' (when it shows reproducible signal), True or False"))
    cycle: Union[bool, str] = field(default=True, metadata=_help("cycle module: True, 'rna' or False"))
    prior: str = field(default="gmm", metadata=_help("'gmm' (mixture prior) or 'normal'"))
    gate: str = field(default="sigmoid", metadata=_help("form of the cluster gate: 'sigmoid' or 'softmax'"))
    atac_weight: float = field(default=0.05, metadata=_help("weight of the ATAC likelihood next to the RNA one"))
    # 1 (the likelihood unweighted): with K from the warm-up embedding, KMeans ARI 0.48-0.50 ->
    # 0.99 on the synthetic set whose groups need both views, within the seed spread on the real
    # datasets (bench/RESULTS.md, "Why K is chosen after the warm-up")
    warmup_atac_weight: float = field(default=1.0, metadata=_help("weight of the ATAC likelihood during the warm-up"))
    dropout: float = field(default=0.1, metadata=_help("dropout rate"))
    # ---- features
    n_top_genes: Optional[int] = field(default=None, metadata=_help("variable genes to train on (None: every gene given)"))
    max_peaks: Optional[int] = field(default=100_000, metadata=_help("most peaks to train on, the most accessible (None: all)"))
    # ---- training
    max_epochs: Optional[int] = field(default=None, metadata=_help("most epochs (None: scaled with the cells)"))
    batch_size: int = field(default=128, metadata=_help("minibatch size"))
    lr: float = field(default=5e-3, metadata=_help("Adam learning rate"))
    weight_decay: float = field(default=1e-6, metadata=_help("Adam weight decay"))
    grad_clip: float = field(default=10.0, metadata=_help("gradient-norm clipping"))
    warmup_fraction: float = field(default=0.2, metadata=_help("share of the epochs in the warm-up"))
    # at most 12 epochs (the warm-up of the 60-epoch schedule at 10k cells): a longer warm-up
    # overfits the decoders before the mixture exists (bench/RESULTS.md)
    max_warmup_epochs: int = field(default=12, metadata=_help("most warm-up epochs"))
    cycle_weight: float = field(default=1.0, metadata=_help("weight of the cycle terms"))
    validation_fraction: float = field(default=0.1, metadata=_help("share of cells held out for early stopping"))
    early_stopping: bool = field(default=True, metadata=_help("stop when the held-out loss stalls"))
    # 5: against 10, KMeans ARI +0.017 and own clusters +0.038 on PBMC; on the cortex KMeans ARI -0.013,
    # Leiden ARI +0.024 (5 seeds each); synthetic level; 17-27% fewer epochs. After the warm-up the held-out loss
    # is on a plateau, along which the embedding drifts (bench/RESULTS.md, "Why training stops where it does")
    patience: int = field(default=5, metadata=_help("epochs without a 0.1% held-out improvement before stopping"))
    restore_best: bool = field(default=False, metadata=_help("at an early stop, restore the best held-out weights"))
    seed: int = field(default=0, metadata=_help("random seed"))
    device: str = field(default="auto", metadata=_help("'auto', 'cpu' or 'cuda'"))

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: normalise once)
        for name, minimum in (("n_latent", 1), ("n_hidden", 8), ("batch_size", 2), ("max_warmup_epochs", 1),
                              ("patience", 1)):
            set_(name, _integer(name, getattr(self, name), minimum))
        for name in ("n_clusters", "max_epochs", "n_top_genes", "max_peaks"):
            if getattr(self, name) is not None:
                set_(name, _integer(name, getattr(self, name), 1))
        set_("seed", _integer("seed", self.seed, 0))
        if self.modality not in ("joint", "rna", "atac"):
            raise ValueError(f"modality must be 'joint', 'rna' or 'atac', got {self.modality!r}.")
        if not (isinstance(self.cycle, (bool, np.bool_)) or self.cycle == "rna"):
            raise ValueError(f"cycle must be True (re-encode both imputed views), 'rna' (the imputed RNA only) or False, got {self.cycle!r}.")
        set_("cycle", self.cycle if self.cycle == "rna" else bool(self.cycle))
        if not (isinstance(self.encode_atac, (bool, np.bool_)) or self.encode_atac == "auto"):
            raise ValueError(f"encode_atac must be 'auto', True or False, got {self.encode_atac!r}.")
        set_("encode_atac", self.encode_atac if self.encode_atac == "auto" else bool(self.encode_atac))
        if self.prior not in ("gmm", "normal"):
            raise ValueError(f"prior must be 'gmm' or 'normal', got {self.prior!r}.")
        parts = attention_parts(self.attention)
        set_("attention", True if len(parts) == len(ATTENTION_PARTS) else tuple(p for p in ATTENTION_PARTS if p in parts) or False)
        if "atac_self" in parts and self.n_hidden % 8:
            raise ValueError(f"n_hidden must be a multiple of 8 with the ATAC self-attention (attention={self.attention!r}), got {self.n_hidden}.")
        if self.gate not in ("sigmoid", "softmax"):
            raise ValueError(f"gate must be 'sigmoid' or 'softmax', got {self.gate!r}.")
        if self.gate != "sigmoid" and "gate" not in parts:
            raise ValueError(
                f"gate={self.gate!r} sets the form of the decoders' cluster gate, which attention={self.attention!r} "
                "leaves out; add \"gate\" to attention (e.g. attention=True)."
            )
        for name in ("atac_weight", "warmup_atac_weight"):
            set_(name, _number(name, getattr(self, name), 0.0, 10.0, "(0, 10]"))
        if self.cluster_resolution is False:  # R's spelling of "no merging" (NULL means the default)
            set_("cluster_resolution", None)
        if self.cluster_resolution is not None:
            set_("cluster_resolution", _number("cluster_resolution", self.cluster_resolution, 0.0, math.inf, "> 0 or None"))
        set_("dropout", _number("dropout", self.dropout, -1e-12, 0.999, "[0, 1)", low_open=False))
        for name in ("lr", "grad_clip"):
            set_(name, _number(name, getattr(self, name), 0.0, math.inf, "> 0"))
        for name in ("weight_decay", "cycle_weight"):
            set_(name, _number(name, getattr(self, name), -1e-12, math.inf, ">= 0", low_open=False))
        for name in ("warmup_fraction", "validation_fraction"):
            set_(name, _number(name, getattr(self, name), -1e-12, 0.9, "[0, 0.9]", low_open=False))
        for name in ("early_stopping", "restore_best"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
            set_(name, bool(getattr(self, name)))
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda' (or 'cuda:N'), got {self.device!r}.")

    # ------------------------------------------------------------------ helpers
    @property
    def attention_parts(self) -> frozenset:
        return attention_parts(self.attention)

    def replace(self, **changes) -> "ScMVPConfig":
        """A copy with some settings changed (unknown names are an error naming the known ones)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def epochs_for(self, n_cells: int) -> int:
        """``max_epochs``, or the default scaled to ``n_cells``."""
        return self.max_epochs if self.max_epochs is not None else default_max_epochs(n_cells)

    def warmup_epochs(self, max_epochs: int) -> int:
        return min(max_epochs, max(1, min(self.max_warmup_epochs, round(self.warmup_fraction * max_epochs))))

    def to_dict(self) -> Dict[str, Any]:
        """Plain Python values (``attention`` as ``True``/``False`` or a list), for JSON and R."""
        out = dataclasses.asdict(self)
        if isinstance(out["attention"], tuple):
            out["attention"] = list(out["attention"])
        return out

    @classmethod
    def from_dict(cls, values: Dict[str, Any], assumed: Optional[Dict[str, Any]] = None,
                  source: str = "this model file") -> "ScMVPConfig":
        """A config from :meth:`to_dict` output. Keys missing from ``values`` take ``assumed``'s
        value when given there, else the default, and a warning names what was assumed."""
        known = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in values.items() if k in known}
        missing = sorted(known - set(given))
        filled = {k: (assumed or {}).get(k, cls.field_defaults()[k]) for k in missing}
        if filled:
            shown = ", ".join(f"{k}={v!r}" for k, v in filled.items())
            warnings.warn(f"{source} does not record {', '.join(missing)}; assumed {shown}.", UserWarning, stacklevel=3)
        return cls(**given, **filled)

    @classmethod
    def field_defaults(cls) -> Dict[str, Any]:
        """Each setting's default, as :meth:`to_dict` writes it."""
        return cls().to_dict()

    @classmethod
    def optional_settings(cls) -> Tuple[str, ...]:
        """The settings that may be ``None`` (each one's meaning of None is in the docstring)."""
        return tuple(f.name for f in dataclasses.fields(cls) if str(f.type).startswith("Optional"))

    @classmethod
    def field_help(cls) -> Dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def _check_names(values: Dict[str, Any]) -> None:
    known = [f.name for f in dataclasses.fields(ScMVPConfig)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise TypeError(f"unknown scMVP setting(s) {', '.join(unknown)}; the settings are: {', '.join(known)}.")


def _integer(name: str, value, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) and not (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    ):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _number(name: str, value, low: float, high: float, shown: str, low_open: bool = True) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = math.isfinite(v) or high == math.inf and v == math.inf
        ok = ok and (v > low if low_open else v >= low) and v <= high
    if not ok:
        raise ValueError(f"{name} must be a number in {shown}, got {value!r}.")
    return float(value)
