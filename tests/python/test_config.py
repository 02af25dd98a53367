"""ScMVPConfig is the one place a default is written: the model, the module, training, the
bridge, the command line and saved models all read it."""
import dataclasses
import io
import warnings

import numpy as np
import pytest
import torch

import scmvp
from scmvp import ScMVP, ScMVPConfig, ScMVPInputError, bridge
from scmvp.cli import main

FAST = dict(n_hidden=32, verbose=False, progress_bar=False)


def test_every_consumer_reads_the_same_defaults(paired, capsys):
    defaults = ScMVPConfig.field_defaults()
    assert ScMVP().config == ScMVPConfig()
    assert bridge.defaults() == defaults
    assert set(bridge.settings_help()) == set(defaults) and all(bridge.settings_help().values())
    model = ScMVP(n_clusters=3, seed=0, **FAST).fit(*paired[:2], max_epochs=1)
    # the fit resolves encode_atac="auto" (this chromatin has reproducible signal)
    assert model.trained_config == ScMVPConfig(n_clusters=3, n_hidden=32, max_epochs=1, encode_atac=True)
    assert model.module.config is model.trained_config
    assert bridge.model_info(model)["params"] == model.trained_config.to_dict()
    # the command line offers every setting, with the default from the config in its help
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for name, value in defaults.items():
        assert f"--{name.replace('_', '-')}" in shown
        if value is not None:
            text = ",".join(value) if isinstance(value, list) else str(value)
            assert f"(default: {text})" in shown, name


def test_settings_are_validated_with_the_fix():
    with pytest.raises(TypeError, match="unknown scMVP setting.*n_latnet.*the settings are: n_latent"):
        ScMVP(n_latnet=3)
    with pytest.raises(ValueError, match="atac_weight must be a number in"):
        ScMVPConfig(atac_weight=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        ScMVPConfig(seed=1.5)
    with pytest.raises(ValueError, match="early_stopping must be True or False"):
        ScMVPConfig(early_stopping="yes")
    assert ScMVPConfig(n_latent=12.0, seed=3.0).n_latent == 12  # R's doubles
    with pytest.raises(AttributeError, match=r"model.config.replace\(seed=...\)"):
        ScMVP().seed = 3
    assert ScMVP(seed=4).seed == 4 and ScMVP(ScMVPConfig(seed=4), n_latent=3).config == ScMVPConfig(seed=4, n_latent=3)
    with pytest.raises(TypeError, match="config must be an scmvp.ScMVPConfig"):
        ScMVP({"seed": 1})


def test_config_round_trips_and_old_files_say_what_was_assumed(paired):
    cfg = ScMVPConfig(attention=["gate"], cycle="rna", n_clusters=4)
    assert ScMVPConfig.from_dict(cfg.to_dict()) == cfg
    model = ScMVP(n_clusters=3, seed=0, **FAST).fit(*paired[:2], max_epochs=1)
    state = torch.load(io.BytesIO(model.to_bytes()), weights_only=True)
    assert state["format_version"] == 3 and state["config"] == model.trained_config.to_dict()
    # a format-2 file has no encode_atac: its encoder read the chromatin, and it loads as such
    v2 = dict(state, format_version=2, config={k: v for k, v in state["config"].items() if k != "encode_atac"})
    buf = io.BytesIO()
    torch.save(v2, buf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ScMVP.from_bytes(buf.getvalue()).trained_config.encode_atac is True
    # a format-1 file kept the model settings only, without atac_weight in the oldest ones
    old = dict(state, format_version=1, scmvp_version="0.0.9")
    old["params"] = {k: v for k, v in state["config"].items()
                     if k in ("n_latent", "n_clusters", "n_hidden", "modality", "attention", "cycle", "prior", "gate",
                              "dropout", "lr", "batch_size", "seed")}
    del old["config"]
    buf = io.BytesIO()
    torch.save(old, buf)
    with pytest.warns(UserWarning, match=r"format 1, scmvp 0.0.9\) does not record atac_weight; assumed atac_weight=1.0"):
        loaded = ScMVP.from_bytes(buf.getvalue())
    assert loaded.trained_config.atac_weight == 1.0 and loaded.trained_config.n_hidden == 32


def test_refit_forgets_the_batches_of_an_earlier_fit(paired, tmp_path):
    """fit(batch=b) then fit() on the same object: the second model has no batch, saves and loads."""
    rna, atac, genes, peaks, _ = paired
    batch = np.where(np.arange(rna.shape[0]) % 2, "s1", "s2")
    model = ScMVP(n_clusters=3, seed=0, **FAST).fit(rna, atac, batch=batch, max_epochs=1)
    model.fit(rna, atac, max_epochs=1)
    assert model.batch_categories_ is None and model.module.n_batches == 0
    model.save(tmp_path / "m.pt")
    loaded = ScMVP.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.embedding(rna, atac), model.embedding())


def test_a_loaded_model_asks_for_the_matrices(paired, tmp_path):
    rna, atac, genes, peaks, _ = paired
    model = ScMVP(n_clusters=3, seed=0, **FAST).fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=1)
    model.save(tmp_path / "m.pt")
    loaded = ScMVP.load(tmp_path / "m.pt")
    with pytest.raises(ScMVPInputError, match=r"loaded from a file\): pass the count matrices.*model.embedding\(rna, atac"):
        loaded.embedding()
    rna_only = ScMVP(n_clusters=3, modality="rna", seed=0, **FAST).fit(rna, None, rna_features=genes, max_epochs=1)
    with pytest.raises(ScMVPInputError, match=r"model.embedding\(rna, rna_features=genes\)"):
        ScMVP.from_bytes(rna_only.to_bytes()).embedding()


def test_config_fields_are_documented():
    doc = " ".join(ScMVPConfig.__doc__.split())
    for f in dataclasses.fields(ScMVPConfig):
        assert f.name in doc, f.name
    assert scmvp.ScMVPConfig is ScMVPConfig
