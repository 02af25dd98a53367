import numpy as np
import pytest
import scipy.sparse as sp
import torch

import scmvp
from scmvp import ScMVP, ScMVPConfig, ScMVPInputError

FAST = dict(n_hidden=32, verbose=False, progress_bar=False)


def test_outputs_shapes_dtypes(fitted, paired):
    rna, atac, genes, peaks, _ = paired
    n = rna.shape[0]
    z = fitted.embedding()
    assert z.shape == (n, ScMVPConfig().n_latent) and z.dtype == np.float32
    np.testing.assert_array_equal(fitted.embedding(rna, atac), z)  # same cells, same answer
    p = fitted.cluster_probabilities()
    assert p.shape == (n, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert fitted.clusters().shape == (n,) and fitted.clusters().max() < 3
    assert len(fitted.history_["loss"]) == 4 and "validation_loss" in fitted.history_
    for name in ("rna_nll", "atac_nll", "kl_z", "cycle", "single_rna", "single_atac"):
        assert name in fitted.history_


def test_training_separates_planted_groups():
    from sklearn.metrics import adjusted_rand_score
    from synthetic import make_paired

    rna, atac, genes, peaks, groups = make_paired(n_cells=600, n_groups=3, seed=3)
    model = ScMVP(n_clusters=3, seed=0, **FAST).fit(rna, atac, max_epochs=15)
    assert adjusted_rand_score(groups, model.clusters()) > 0.9


def test_imputation(fitted, paired):
    rna, atac, genes, peaks, _ = paired
    x = fitted.impute_rna()
    assert x.shape == (rna.shape[0], len(fitted.features_["rna"])) and x.dtype == np.float32
    np.testing.assert_allclose(x.sum(1), 1e4, rtol=1e-3)
    sub = fitted.impute_rna(features=["G5", "G2"])
    np.testing.assert_allclose(sub, x[:, [5, 2]], rtol=1e-5)
    obs = fitted.impute_rna(library=None)
    np.testing.assert_allclose(obs.sum(1), np.asarray(rna.sum(1)).ravel(), rtol=1e-3)
    prob = fitted.impute_atac(kind="probability")
    kept = fitted.features_["atac"]
    assert peaks[0] not in kept  # the empty peak was dropped
    assert prob.shape == (rna.shape[0], len(kept))
    assert (prob >= 0).all() and (prob <= 1).all()
    rate = fitted.impute_atac(kind="rate", features=kept[:3])
    assert rate.shape == (rna.shape[0], 3) and (rate > 0).all()
    thr = fitted.impute_atac(threshold=float(np.median(prob)))
    assert sp.issparse(thr) and 0 < thr.nnz < prob.size
    np.testing.assert_allclose(thr.toarray()[thr.toarray() > 0], prob[prob >= np.median(prob)], rtol=1e-5)
    np.testing.assert_allclose(fitted.impute_rna(chunk_size=7), x, rtol=1e-4)  # chunking does not change results
    with pytest.raises(ScMVPInputError, match="not in the model"):
        fitted.impute_atac(features=[peaks[0]])  # dropped: no counts in training


def test_decode_one_view_matches_both_views(fitted):
    z = torch.from_numpy(fitted.embedding()[:20])
    with torch.no_grad():
        rho, rate, pi = fitted.module.decode(z, None)
        rho_only = fitted.module.decode(z, None, views=("rna",))
        atac_only = fitted.module.decode(z, None, views=("atac",))
    assert rho_only[1] is None and rho_only[2] is None and atac_only[0] is None  # the other view is not built
    torch.testing.assert_close(rho_only[0], rho)
    torch.testing.assert_close(atac_only[1], rate)
    torch.testing.assert_close(atac_only[2], pi)


def test_seed_makes_cpu_runs_identical(paired):
    rna, atac, genes, peaks, _ = paired
    a = ScMVP(n_clusters=3, seed=7, **FAST).fit(rna, atac, max_epochs=3)
    b = ScMVP(n_clusters=3, seed=7, **FAST).fit(rna, atac, max_epochs=3)
    c = ScMVP(n_clusters=3, seed=8, **FAST).fit(rna, atac, max_epochs=3)
    assert np.array_equal(a.embedding(), b.embedding())
    assert a.history_["loss"] == b.history_["loss"]
    assert not np.array_equal(a.embedding(), c.embedding())


def test_save_load_roundtrip_without_pickle(fitted, paired, tmp_path):
    rna, atac, genes, peaks, _ = paired
    path = tmp_path / "model.pt"
    fitted.save(path)
    state = torch.load(path, weights_only=True)  # no code execution needed
    assert state["format"] == "scmvp" and state["features"]["rna"] == genes
    assert torch.allclose(state["state_dict"]["idf"], fitted.module.idf)
    loaded = ScMVP.load(path, device="cpu")
    z = fitted.embedding(rna, atac, rna_features=genes, atac_features=peaks)
    np.testing.assert_array_equal(loaded.embedding(rna, atac, rna_features=genes, atac_features=peaks), z)
    np.testing.assert_array_equal(loaded.embedding(rna, atac), z)  # unnamed: same columns as in training
    again = ScMVP.from_bytes(fitted.to_bytes())
    np.testing.assert_array_equal(again.impute_rna(rna, atac), fitted.impute_rna())


def test_query_features_matched_by_name(fitted, paired):
    rna, atac, genes, peaks, _ = paired
    order = np.random.default_rng(0).permutation(len(genes))
    z = fitted.embedding()
    shuffled = fitted.embedding(rna[:, order], atac, rna_features=[genes[i] for i in order], atac_features=peaks)
    np.testing.assert_allclose(shuffled, z, rtol=1e-5, atol=1e-6)
    with pytest.raises(ScMVPInputError, match="missing from the data"):
        fitted.embedding(rna[:, 1:], atac, rna_features=genes[1:], atac_features=peaks)
    with pytest.raises(ScMVPInputError, match="columns"):
        fitted.embedding(rna[:, 1:], atac)
    with pytest.warns(UserWarning, match="missing and set to 0"):
        out = fitted.transform(rna[:, 1:], atac, rna_features=genes[1:], atac_features=peaks, allow_missing_features=True)
    assert out["embedding"].shape == z.shape and out["cluster_probabilities"].shape == (z.shape[0], fitted.n_clusters_)


@pytest.mark.parametrize("modality", ["rna", "atac"])
def test_single_view_modes(paired, modality):
    rna, atac, genes, peaks, _ = paired
    m = ScMVP(n_clusters=3, modality=modality, seed=0, **FAST)
    m.fit(rna if modality == "rna" else None, atac if modality == "atac" else None, max_epochs=2)
    view = rna if modality == "rna" else atac
    z = m.embedding(view if modality == "rna" else None, view if modality == "atac" else None)
    assert z.shape == (rna.shape[0], ScMVPConfig().n_latent)
    other = "atac" if modality == "rna" else "rna"
    with pytest.raises(ValueError, match="no " + other.upper()):
        getattr(m, f"impute_{other}")()


@pytest.mark.parametrize(
    "switch", [dict(attention=False), dict(attention=["gate"]), dict(cycle=False), dict(cycle="rna"), dict(prior="normal"), dict(attention=True, gate="softmax")]
)
def test_ablations_train(paired, switch):
    rna, atac, genes, peaks, _ = paired
    m = ScMVP(n_clusters=3, seed=0, **FAST, **switch).fit(rna, atac, max_epochs=2)
    assert np.isfinite(m.embedding()).all() and m.cluster_probabilities().shape == (rna.shape[0], 3)
    assert ("cycle" in m.history_) == (switch.get("cycle", True) is not False)
    assert m.module.cycle_atac == (switch.get("cycle", True) is True)
    restored = ScMVP.from_bytes(m.to_bytes(), device="cpu")
    np.testing.assert_allclose(restored.embedding(rna, atac), m.embedding(rna, atac), atol=1e-5)


def test_attention_parts_switch_their_layers_only():
    """Each attention part adds its own layers and nothing else; True builds all three."""
    from scmvp.module import ScMVPModule
    from scmvp.nn import ATTENTION_PARTS

    def layers(attention):
        mod = ScMVPModule(20, 30, ScMVPConfig(n_clusters=3, n_hidden=32, attention=attention))
        return {
            "rna_mask": [b.mask is not None for b in (mod.rna_branch, mod.rna_encoder_branch)],
            "atac_self": [b.attention is not None for b in (mod.atac_branch, mod.atac_encoder_branch, mod.atac_decoder)],
            "gate": [mod.gate is not None],
        }

    for part in ATTENTION_PARTS:
        for name, present in layers([part]).items():
            assert all(present) if name == part else not any(present), (part, name)
    assert all(all(v) for v in layers(True).values()) and not any(any(v) for v in layers(False).values())
    n_params = lambda a: sum(p.numel() for p in ScMVPModule(20, 30, ScMVPConfig(n_clusters=3, n_hidden=32, attention=a)).parameters())
    added = {p: n_params([p]) - n_params(False) for p in ATTENTION_PARTS}
    assert added["gate"] == 3 * 32 + 32  # Linear(K -> H)
    assert added["rna_mask"] == 2 * (32 * 32 + 32)  # Linear(H -> H) in the joint and the RNA encoder
    assert n_params(True) - n_params(False) == sum(added.values())
    assert ScMVP(attention=["gate", "rna_mask", "atac_self"]).attention is True
    assert ScMVP(attention="gate").attention == ("gate",) and ScMVP(attention=[]).attention is False
    with pytest.raises(ValueError, match=r"one or more of \['rna_mask', 'atac_self', 'gate'\]"):
        ScMVP(attention=["gate", "mask"])
    with pytest.raises(ValueError, match="multiple of 8 with the ATAC self-attention"):
        ScMVP(n_hidden=12)
    assert ScMVP(n_hidden=12, attention=["gate", "rna_mask"]).n_hidden == 12
    with pytest.raises(ValueError, match="sets the form of the decoders' cluster gate.*add \"gate\" to attention"):
        ScMVP(gate="softmax")
    with pytest.raises(ValueError, match="gate must be 'sigmoid' or 'softmax'"):
        ScMVP(attention=True, gate="relu")


def test_cluster_gate_reads_the_mixture_without_training_it():
    """The gate's input is uniform until the mixture is fitted (and always with a normal prior),
    then q(c|z); the reconstruction sends no gradient through the gate into the mixture or z."""
    from scmvp.module import ScMVPModule

    torch.manual_seed(0)
    z = torch.randn(8, 10)
    fitted_on = np.random.default_rng(0).normal(size=(90, 10))
    for prior in ("gmm", "normal"):
        mod = ScMVPModule(20, 30, ScMVPConfig(n_latent=10, n_clusters=3, n_hidden=32, prior=prior)).train()
        torch.testing.assert_close(mod.gate_input(z), torch.full((8, 3), 1 / 3))
        mod.prior.initialise(fitted_on, seed=0)
        expected = mod.prior.log_q_c(z).exp() if prior == "gmm" else torch.full((8, 3), 1 / 3)
        torch.testing.assert_close(mod.gate_input(z), expected.detach())
    mod = ScMVPModule(20, 30, ScMVPConfig(n_latent=10, n_clusters=3, n_hidden=32, attention=True)).train()
    mod.prior.initialise(fitted_on, seed=0)
    w = torch.randn(3, 8, 30)
    rho, rate, logits = mod.decode(z.requires_grad_(), None)
    ((rho * w[0, :, :20]).sum() + (rate * w[1]).sum() + (logits * w[2]).sum()).backward()
    assert all(p.grad is None for p in mod.prior.parameters())
    assert mod.gate.linear.weight.grad.abs().sum() > 0
    gate_only = z.detach().clone().requires_grad_()
    mod.gate(mod.gate_input(gate_only)).sum().backward()
    assert gate_only.grad is None


def test_cycle_rna_skips_the_imputed_atac():
    """With cycle="rna" the cycle term is the RNA KL alone; with True it adds the ATAC KL."""
    from scmvp.data import tfidf_log1p_dense
    from scmvp.module import Inputs, ScMVPModule
    from scmvp.prior import gaussian_kl
    from scmvp.inference import CellData
    from synthetic import make_paired

    rna, atac, *_ = make_paired(n_cells=64, n_groups=2, seed=1)
    data = CellData(sp.csr_matrix(rna, dtype=np.float32), sp.csr_matrix(atac, dtype=np.float32))
    for cycle in (True, "rna"):
        torch.manual_seed(0)
        mod = ScMVPModule(rna.shape[1], atac.shape[1], ScMVPConfig(n_clusters=2, n_hidden=32, cycle=cycle, dropout=0.0)).eval()
        inputs = data.inputs(np.arange(64), torch.device("cpu"))
        torch.manual_seed(1)
        out = mod.loss(inputs, cycle_weight=1.0)
        torch.manual_seed(1)  # the same z draw, to rebuild the imputations by hand
        mean, logvar = mod.encode(inputs)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        rho, rate_frac, pi_logits = mod.decode(z, None)
        x_imp = inputs.rna.library.unsqueeze(1) * rho
        y_imp = inputs.atac.library.unsqueeze(1) * rate_frac * torch.sigmoid(-pi_logits)
        expected = gaussian_kl(mean, logvar, *mod.encode_rna(torch.log1p(x_imp))).mean()
        if cycle is True:
            expected = expected + gaussian_kl(mean, logvar, *mod.encode_atac(tfidf_log1p_dense(y_imp, mod.idf))).mean()
        torch.testing.assert_close(out.terms["cycle"], expected)
    with pytest.raises(ValueError, match="cycle must be"):
        ScMVP(cycle="atac")


def test_batches(paired):
    rna, atac, genes, peaks, _ = paired
    batch = np.where(np.arange(rna.shape[0]) % 2, "s1", "s2")
    m = ScMVP(n_clusters=3, seed=0, **FAST).fit(rna, atac, batch=batch, max_epochs=2)
    assert m.batch_categories_ == ["s1", "s2"]
    assert m.embedding(rna, atac, batch=batch).shape == (rna.shape[0], ScMVPConfig().n_latent)
    with pytest.raises(ScMVPInputError, match="batch="):
        m.embedding(rna, atac)
    with pytest.raises(ScMVPInputError, match="Unknown batch"):
        m.embedding(rna, atac, batch=["s3"] * rna.shape[0])
    with pytest.raises(ScMVPInputError, match="one label per cell"):
        ScMVP(**FAST).fit(rna, atac, batch=["a"], max_epochs=1)


def test_bad_input_errors_before_training(paired):
    rna, atac, genes, peaks, _ = paired
    with pytest.raises(ScMVPInputError, match="same cells"):
        ScMVP(**FAST).fit(rna[:10], atac[:11])
    with pytest.raises(ScMVPInputError, match="larger than the number of cells"):
        ScMVP(n_clusters=50, **FAST).fit(rna[:20], atac[:20])
    with pytest.raises(ScMVPInputError, match="needs the ATAC matrix"):
        ScMVP(**FAST).fit(rna, None)
    with pytest.raises(ValueError, match="n_latent"):
        ScMVP(n_latent=0)
    with pytest.raises(ValueError, match="modality"):
        ScMVP(modality="both")
    with pytest.raises(RuntimeError, match="not trained"):
        ScMVP().embedding()
    neg = rna.copy()
    neg.data[0] = -1
    snapshot = neg.copy()
    with pytest.raises(ScMVPInputError, match="negative"):
        ScMVP(**FAST).fit(neg, atac)
    assert (neg != snapshot).nnz == 0


def test_k_is_chosen_from_the_warm_up_embedding(paired, monkeypatch):
    # n_clusters=None: K is set at the end of the warm-up (epoch 2 of 10) from the embedding,
    # the mixture and the gate get K-wide parameters, and the optimiser trains those afterwards
    import scmvp.train as train_mod

    rna, atac, genes, peaks, _ = paired
    chosen, after = [], {}
    real = train_mod.estimate_n_components
    monkeypatch.setattr(train_mod, "estimate_n_components", lambda z, seed=0: chosen.append(real(z, seed=seed)) or chosen[-1])

    def callback(epoch, max_epochs, record):
        after[epoch] = m.module.prior.means.detach().clone()

    m = ScMVP(seed=0, attention=True, **FAST)
    m.fit(rna, atac, max_epochs=10, early_stopping=False, callback=callback)
    k = chosen[0]
    assert len(chosen) == 1 and 2 <= k <= 50
    assert m.n_clusters_ == k == m.module.prior.n_clusters == m.trained_config.n_clusters
    assert m.module.gate.linear.in_features == k and m.component_probabilities().shape == (rna.shape[0], k)
    assert not torch.equal(after[3], after[10])  # the new components are trained


def test_given_k_is_kept(paired):
    rna, atac, genes, peaks, _ = paired
    m = ScMVP(seed=0, n_clusters=4, **FAST).fit(rna, atac, max_epochs=3)
    assert m.n_clusters_ == 4 == m.module.prior.n_clusters


def test_resized_gate_computes_what_it_did_on_uniform_input(fitted):
    import copy

    from scmvp.nn import ClusterGate

    module = copy.deepcopy(fitted.module)
    module.gate = ClusterGate(3, fitted.trained_config.n_hidden)  # the fixture has no gate
    before = module.gate(torch.full((2, 3), 1 / 3))
    module.resize_mixture(7)
    after = module.gate(torch.full((2, 7), 1 / 7))
    assert module.prior.n_clusters == 7 and module.config.n_clusters == 7
    torch.testing.assert_close(before, after)


def test_nan_loss_stops_with_explanation(paired, monkeypatch):
    rna, atac, genes, peaks, _ = paired
    from scmvp.module import LossOutput, ScMVPModule

    def bad_loss(self, inputs, **kw):
        return LossOutput(torch.tensor(float("nan"), requires_grad=True), {})

    monkeypatch.setattr(ScMVPModule, "loss", bad_loss)
    with pytest.raises(FloatingPointError, match="learning rate"):
        ScMVP(n_clusters=3, **FAST).fit(rna, atac, max_epochs=1)


def test_default_epochs_scale_with_cells():
    from scmvp.config import default_max_epochs

    assert default_max_epochs(1000) >= default_max_epochs(10000) >= default_max_epochs(200000) >= 1


def test_warmup_is_a_fifth_of_the_epochs_capped_at_twelve():
    from scmvp.config import default_max_epochs

    warm = ScMVPConfig().warmup_epochs
    assert [warm(e) for e in (1, 3, 20, 60, 120, 400)] == [1, 1, 4, 12, 12, 12]
    # the 10k-cell default keeps its 12-epoch warm-up; 2,000 cells no longer warm up for 61
    assert warm(default_max_epochs(10309)) == 12 and default_max_epochs(2000) == 307 and warm(307) == 12


@pytest.mark.parametrize("restore_best", [False, True])
def test_early_stopping_waits_patience_epochs_and_keeps_last_or_best(paired, monkeypatch, restore_best):
    import scmvp.train as train_mod

    rna, atac, *_ = paired
    config = ScMVPConfig(n_clusters=3, seed=0, max_epochs=40, restore_best=restore_best)
    warm, patience = config.warmup_epochs(40), config.patience
    assert not ScMVPConfig().restore_best  # default: keep the last epoch, as scvi-tools does
    # held-out loss per epoch: warm-up epochs (not monitored), then the best at epoch warm + 2,
    # then a gain below the 0.1% tolerance (10.0 -> 9.995) and only worse values
    losses = iter([50.0] * warm + [12.0, 10.0, 9.995, 11.0, 10.5, 10.2, 10.1, 10.0] + [13.0] * 40)
    best = warm + 2
    states = {}
    monkeypatch.setattr(train_mod, "_validation_loss", lambda *a, **k: next(losses))
    record = lambda epoch, total, rec: states.setdefault(epoch, {k: v.clone() for k, v in model.module.state_dict().items()})
    model = ScMVP(config, **FAST)
    model.fit(rna, atac, callback=record)
    assert len(model.history_["loss"]) == best + patience  # stopped `patience` epochs after the best
    final = model.module.state_dict()
    same = lambda epoch: all(torch.equal(final[k], v) for k, v in states[epoch].items())
    assert same(best) == restore_best and same(best + patience) == (not restore_best)


def test_atac_weight_scales_only_the_atac_likelihood(fitted, paired):

    module = fitted.module
    data = fitted._train_data
    inputs = data.inputs(np.arange(20), torch.device("cpu"))
    module.eval()
    out = {}
    for w in (1.0, 0.05):
        module.atac_weight = w
        torch.manual_seed(0)
        out[w] = module.loss(inputs)
    module.atac_weight = fitted.atac_weight
    t = out[1.0].terms
    assert torch.isclose(out[1.0].terms["atac_nll"], out[0.05].terms["atac_nll"])
    np.testing.assert_allclose(float(out[1.0].loss - out[0.05].loss), 0.95 * float(t["atac_nll"]), rtol=1e-4)
    with pytest.raises(ValueError, match="warmup_atac_weight"):
        ScMVP(warmup_atac_weight=-1)
    with pytest.raises(ValueError, match="atac_weight"):
        ScMVP(atac_weight=0)
    with pytest.raises(ValueError, match="atac_weight"):
        ScMVP(atac_weight=True)


def test_progress_in_a_log_is_a_line_every_few_epochs(paired, capsys):
    """Output that is not a terminal gets whole lines, never tqdm's carriage returns."""
    rna, atac, *_ = paired
    ScMVP(n_clusters=3, seed=0, n_hidden=32, verbose=False, progress_bar=True).fit(rna, atac, max_epochs=3)
    captured = capsys.readouterr()
    assert "\r" not in captured.err + captured.out
    assert sum(ln.startswith("scMVP: epoch") for ln in captured.out.splitlines()) == 3


def test_warm_up_weighs_the_atac_likelihood_by_warmup_atac_weight(paired, monkeypatch):
    from scmvp.module import ScMVPModule

    rna, atac, genes, peaks, _ = paired
    seen = set()
    real = ScMVPModule.loss

    def spy(self, inputs, beta=1.0, use_gmm=True, cycle_weight=0.0, atac_weight=None):
        seen.add((use_gmm, atac_weight))  # use_gmm is False exactly in the warm-up
        return real(self, inputs, beta=beta, use_gmm=use_gmm, cycle_weight=cycle_weight, atac_weight=atac_weight)

    monkeypatch.setattr(ScMVPModule, "loss", spy)
    ScMVP(seed=0, n_clusters=3, atac_weight=0.05, warmup_atac_weight=0.7, **FAST).fit(rna, atac, max_epochs=6)
    assert seen == {(False, 0.7), (True, 0.05)}
    seen.clear()
    ScMVP(seed=0, n_clusters=3, modality="atac", warmup_atac_weight=0.7, **FAST).fit(None, atac, max_epochs=6)
    assert seen == {(False, 1.0), (True, 1.0)}  # single-view fits have no balance to set
