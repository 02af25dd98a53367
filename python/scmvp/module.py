"""The scMVP torch module: encoders -> z -> cluster-gated decoders, and the loss by name.

Only math lives here (no data loading, no optimiser). ``modality`` picks the views used:
``"joint"`` encodes RNA and ATAC together (q(z|x,y)), ``"rna"`` / ``"atac"`` use only that
view's encoder and decoder (the paper's single-view runs). ``attention`` (all, none, or some of
:data:`scmvp.nn.ATTENTION_PARTS`), ``cycle`` and ``prior`` switch the parts DESIGN.md §1.7 asks
to ablate. Every setting comes from :class:`scmvp.config.ScMVPConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from .data import SparseBatch, log1p_input, tfidf_log1p, tfidf_log1p_dense
from .distributions import (
    nb_log_prob, nb_log_prob_zero, sparse_log_likelihood, zip_log_likelihood_and_mean,
)
from .config import ScMVPConfig
from .nn import ATACBranch, ATACDecoder, ClusterGate, GaussianHead, RNABranch, RNADecoder
from .prior import K_BOUNDS, GMMPrior, gaussian_kl, normal_kl

__all__ = ["ScMVPModule", "LossOutput", "Inputs"]

@dataclass
class Inputs:
    """One minibatch: sparse counts per view (None when unused) and an optional batch one-hot."""

    rna: Optional[SparseBatch] = None
    atac: Optional[SparseBatch] = None
    batch: Optional[torch.Tensor] = None


@dataclass
class LossOutput:
    """Minibatch-mean loss and its named components (all scalars)."""

    loss: torch.Tensor
    terms: Dict[str, torch.Tensor] = field(default_factory=dict)

    def scalars(self) -> Dict[str, float]:
        return {"loss": float(self.loss.detach()), **{k: float(v.detach()) for k, v in self.terms.items()}}


class ScMVPModule(nn.Module):
    """The model for ``n_genes`` genes, ``n_peaks`` peaks and ``n_batches`` batches, built from a
    :class:`~scmvp.config.ScMVPConfig`. K is ``config.n_clusters``; when that is None the
    mixture starts with 2 components, unused until training sets K at the end of the warm-up
    (:meth:`resize_mixture`)."""

    def __init__(
        self,
        n_genes: int,
        n_peaks: int,
        config: ScMVPConfig,
        n_batches: int = 0,
        idf: Optional[torch.Tensor] = None,
    ):
        super().__init__()
        if config.n_clusters is None:
            config = config.replace(n_clusters=K_BOUNDS[0])
        self.config = config
        modality, cycle = config.modality, config.cycle
        self.modality, self.prior_kind = modality, config.prior
        parts = self.attention_parts = config.attention_parts
        mask, self_att = "rna_mask" in parts, "atac_self" in parts
        self.use_cycle = bool(cycle) and modality == "joint"
        # which imputed views the cycle re-encodes: both, or RNA only (skips the dense
        # re-encoding of the imputed peak matrix, the costliest step of a joint epoch)
        self.cycle_atac = self.use_cycle and cycle != "rna"
        self.use_rna, self.use_atac = modality in ("joint", "rna"), modality in ("joint", "atac")
        self.n_batches = n_batches
        self._n_features = {"rna": n_genes if self.use_rna else 0, "atac": n_peaks if self.use_atac else 0}
        # weight of the ATAC log-likelihood next to the RNA one (joint mode only)
        self.atac_weight = config.atac_weight if modality == "joint" else 1.0
        # ... and during the warm-up, while the embedding is laid out and K is chosen from it
        self.warmup_atac_weight = config.warmup_atac_weight if modality == "joint" else 1.0
        n_latent, n_clusters, n_hidden, dropout, gate = (
            config.n_latent, config.n_clusters, config.n_hidden, config.dropout, config.gate)
        H, d, nb = n_hidden, n_latent, n_batches
        self.register_buffer("idf", idf if idf is not None else torch.ones(max(n_peaks, 1)))

        # encoders: the branches of the joint encoder (the chromatin's only with encode_atac;
        # the fit resolves "auto", and an unresolved one reads it), and single-view encoders
        # q(z|x), q(z|y)
        self.encodes_atac = modality == "joint" and config.encode_atac is not False
        if modality == "joint":
            self.rna_branch = RNABranch(n_genes, H, dropout, mask)
            if self.encodes_atac:
                self.atac_branch = ATACBranch(n_peaks, H, dropout, self_att)
            self.joint_head = GaussianHead((2 if self.encodes_atac else 1) * H + nb, H, d)
        if self.use_rna:
            self.rna_encoder_branch = RNABranch(n_genes, H, dropout, mask)
            self.rna_head = GaussianHead(H + nb, H, d)
        if self.use_atac:
            self.atac_encoder_branch = ATACBranch(n_peaks, H, dropout, self_att)
            self.atac_head = GaussianHead(H + nb, H, d)

        # prior and decoders
        self.prior = GMMPrior(n_clusters, d)
        self.gate = ClusterGate(n_clusters, H, gate) if "gate" in parts else None
        if self.use_rna:
            self.rna_decoder = RNADecoder(d + nb, H, n_genes, dropout)
            self.log_theta = nn.Parameter(torch.zeros(max(nb, 1), n_genes))
        if self.use_atac:
            self.atac_decoder = ATACDecoder(d + nb, H, n_peaks, dropout, self_att)

    def n_features(self, view: str) -> int:
        """Genes (``"rna"``) or peaks (``"atac"``) the module models (0 for an unused view)."""
        return self._n_features[view]

    # ---------------------------------------------------------------- encoders
    @staticmethod
    def _cat(h: torch.Tensor, batch: Optional[torch.Tensor]) -> torch.Tensor:
        return h if batch is None else torch.cat([h, batch], dim=-1)

    def encode_rna(self, x_in, batch=None):
        """q(z|x) from an RNA encoder input (log1p counts, sparse or dense)."""
        return self.rna_head(self._cat(self.rna_encoder_branch(x_in), batch))

    def encode_atac(self, y_in, batch=None):
        """q(z|y) from an ATAC encoder input (TF-IDF, sparse or dense)."""
        return self.atac_head(self._cat(self.atac_encoder_branch(y_in), batch))

    def encoder_inputs(self, inputs: Inputs):
        x_in = log1p_input(inputs.rna) if inputs.rna is not None and self.use_rna else None
        y_in = tfidf_log1p(inputs.atac, self.idf) if inputs.atac is not None and self.use_atac else None
        return x_in, y_in

    def encode(self, inputs: Inputs):
        """(mean, logvar) of the main posterior: q(z|x,y), q(z|x) or q(z|y) by modality."""
        return self._encode(*self.encoder_inputs(inputs), inputs.batch)

    def _encode(self, x_in, y_in, batch):
        if self.modality == "joint":
            h = self.rna_branch(x_in)
            if self.encodes_atac:
                h = torch.cat([h, self.atac_branch(y_in)], dim=-1)
            return self.joint_head(self._cat(h, batch))
        if self.modality == "rna":
            return self.encode_rna(x_in, batch)
        return self.encode_atac(y_in, batch)

    # ---------------------------------------------------------------- decoders
    def cluster_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        return self.prior.log_q_c(z)

    def gate_input(self, z: torch.Tensor) -> torch.Tensor:
        """q(c|z) as the cluster gate reads it: a read-out of the clusters, never a force on them.

        Both z and the mixture's parameters are detached, so the reconstruction loss can neither
        train the prior through the gate nor move cells between components to suit the gate;
        only the KL fits the mixture. Until the mixture is fitted (end of the warm-up), and
        always with ``prior="normal"``, the input is uniform (one shared gate). With gradients
        through the gate, the mixture collapsed onto one component within 8 epochs of its
        initialisation on the bundled data (bench/RESULTS.md).
        """
        k = self.prior.n_clusters
        if self.prior_kind != "gmm" or not bool(self.prior.initialised):
            return z.new_full((z.shape[0], k), 1.0 / k)
        with torch.no_grad():
            return self.prior.log_q_c(z).exp()

    @torch.no_grad()
    def resize_mixture(self, n_clusters: int) -> None:
        """Give the mixture ``n_clusters`` new, uninitialised components (K chosen at the end of
        the warm-up). The cluster gate, whose input is q(c|z), gets a K-wide input layer whose
        columns are all the mean of the old ones: until the mixture is fitted it reads a uniform
        q(c|z), so it computes exactly what it computed during the warm-up."""
        self.prior.resize(n_clusters)
        if self.gate is not None:
            old = self.gate.linear
            new = nn.Linear(n_clusters, old.out_features).to(old.weight.device)
            new.weight.copy_(old.weight.mean(1, keepdim=True).expand(-1, n_clusters))
            new.bias.copy_(old.bias)
            self.gate.linear = new
        self.config = self.config.replace(n_clusters=n_clusters)

    def atac_weight_at(self, warmup: bool) -> float:
        """Weight of the ATAC log-likelihood during the warm-up or after it."""
        return self.warmup_atac_weight if warmup else self.atac_weight

    def k_parameters(self) -> List[nn.Parameter]:
        """The parameters whose shape depends on K (the mixture's, the gate's input layer)."""
        return list(self.prior.parameters()) + (list(self.gate.linear.parameters()) if self.gate is not None else [])

    def decode(self, z: torch.Tensor, batch: Optional[torch.Tensor], views=("rna", "atac")):
        """Decoder outputs for z: RNA fractions rho, ATAC rate fractions and dropout logits.

        ``views`` limits decoding to some views (the others come back as None): imputing genes
        then never builds the cells x peaks matrices.
        """
        gate = self.gate(self.gate_input(z)) if self.gate is not None else None
        zb = self._cat(z, batch)
        rho = self.rna_decoder(zb, gate) if self.use_rna and "rna" in views else None
        atac = self.atac_decoder(zb, gate) if self.use_atac and "atac" in views else (None, None)
        return rho, atac[0], atac[1]

    def theta(self, batch: Optional[torch.Tensor]) -> torch.Tensor:
        """NB inverse dispersion per gene (and per batch when batches are given)."""
        if batch is None or self.n_batches == 0:
            return self.log_theta[0].exp()
        return (batch @ self.log_theta).exp()

    # ---------------------------------------------------------------- loss
    def forward(self, inputs: Inputs, beta: float = 1.0, use_gmm: bool = True, cycle_weight: float = 0.0,
                atac_weight: Optional[float] = None) -> LossOutput:
        """The training loss (:meth:`loss`): what ``DistributedDataParallel`` wraps."""
        return self.loss(inputs, beta=beta, use_gmm=use_gmm, cycle_weight=cycle_weight, atac_weight=atac_weight)

    def loss(self, inputs: Inputs, beta: float = 1.0, use_gmm: bool = True, cycle_weight: float = 0.0,
             atac_weight: Optional[float] = None) -> LossOutput:
        """Negative ELBO (+ cycle terms), averaged over the minibatch, with named parts.

        ``atac_weight`` overrides the module's :attr:`atac_weight` (the training loop passes
        :attr:`warmup_atac_weight` during the warm-up)."""
        x_in, y_in = self.encoder_inputs(inputs)
        mean, logvar = self._encode(x_in, y_in, inputs.batch)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        rho, rate_frac, pi_logits = self.decode(z, inputs.batch)
        terms: Dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=mean.device)
        x_imp = y_imp = None
        if self.use_rna:
            x = inputs.rna
            mu = x.library.unsqueeze(1) * rho
            theta = self.theta(inputs.batch)
            ll = sparse_log_likelihood(nb_log_prob, nb_log_prob_zero, x.rows, x.cols, x.values, mu, theta)
            terms["rna_nll"] = -ll.mean()
            total = total + terms["rna_nll"]
            x_imp = mu
        if self.use_atac:
            y = inputs.atac
            rate = y.library.unsqueeze(1) * rate_frac
            ll, y_imp = zip_log_likelihood_and_mean(y.rows, y.cols, y.values, rate, pi_logits)
            terms["atac_nll"] = -ll.mean()
            total = total + (self.atac_weight if atac_weight is None else atac_weight) * terms["atac_nll"]
        if use_gmm and self.prior_kind == "gmm":
            terms["kl_z"] = self.prior.kl(z, mean, logvar).mean()
        else:
            terms["kl_z"] = normal_kl(mean, logvar).mean()
        total = total + beta * terms["kl_z"]

        if self.modality == "joint":
            # the single-view encoders learn to match the joint posterior from raw data
            # (the joint side is held fixed, so this never pulls the joint embedding)
            m_d, lv_d = mean.detach(), logvar.detach()
            terms["single_rna"] = gaussian_kl(m_d, lv_d, *self.encode_rna(x_in, inputs.batch)).mean()
            terms["single_atac"] = gaussian_kl(m_d, lv_d, *self.encode_atac(y_in, inputs.batch)).mean()
            total = total + terms["single_rna"] + terms["single_atac"]
            if self.use_cycle and cycle_weight > 0:
                # clustering consistency: the imputed views, re-encoded, agree with q(z|x,y)
                q_x = self.encode_rna(torch.log1p(x_imp), inputs.batch)
                terms["cycle"] = gaussian_kl(mean, logvar, *q_x).mean()
                if self.cycle_atac:
                    q_y = self.encode_atac(tfidf_log1p_dense(y_imp, self.idf), inputs.batch)
                    terms["cycle"] = terms["cycle"] + gaussian_kl(mean, logvar, *q_y).mean()
                total = total + cycle_weight * terms["cycle"]
        return LossOutput(total, terms)
