"""Interrupting a fit (Ctrl-C) ends training cleanly: a warning says after how many epochs, and the
model is usable with the epochs done."""
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import scmvp


def _interrupt_at(stop_epoch):
    def callback(epoch, max_epochs, record):
        if epoch == stop_epoch:
            raise KeyboardInterrupt

    return callback


def _interrupt_when(proc, stream, seen, timeout):
    """Send SIGINT to ``proc`` at the first line of ``stream`` for which ``seen(line)`` holds; then
    wait for it to end and return its (stdout, stderr) rest."""
    try:
        for line in stream:
            if seen(line):
                proc.send_signal(signal.SIGINT)
                break
        return proc.communicate(timeout=timeout)
    finally:
        proc.kill()


@pytest.mark.parametrize("stop_epoch", [1, 5])  # during the warm-up (mixture not yet fitted) and after it
def test_interrupt_keeps_a_usable_model(paired, tmp_path, stop_epoch):
    rna, atac, genes, peaks, _ = paired
    model = scmvp.ScMVP(n_clusters=3, n_hidden=16, seed=0, verbose=False, progress_bar=False)
    with pytest.warns(RuntimeWarning, match=rf"interrupted after {stop_epoch} of 8 epochs"):
        model.fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=8, early_stopping=False,
                  callback=_interrupt_at(stop_epoch))
    assert len(model.history_["loss"]) == stop_epoch
    z = model.embedding()
    assert z.shape == (rna.shape[0], model.n_latent) and np.isfinite(z).all()
    assert model.cluster_probabilities().shape[0] == rna.shape[0]
    assert not model.module.training
    model.save(tmp_path / "m.pt")
    np.testing.assert_allclose(scmvp.ScMVP.load(tmp_path / "m.pt").embedding(rna, atac, rna_features=genes,
                                                                               atac_features=peaks), z, atol=1e-5)


def test_ctrl_c_in_a_process_stops_training_and_keeps_the_model():
    """A real SIGINT, as Ctrl-C in a terminal sends it, to a process in the middle of fit()."""
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import torch, scmvp
        from synthetic import make_paired
        torch.set_num_threads(1)
        rna, atac, genes, peaks, _ = make_paired()
        model = scmvp.ScMVP(n_clusters=3, n_hidden=16, seed=0, verbose=False, progress_bar=False)
        def report(epoch, max_epochs, record):
            print("epoch", epoch, flush=True)
        model.fit(rna, atac, rna_features=genes, atac_features=peaks, max_epochs=100000, early_stopping=False,
                  callback=report)
        print("done", len(model.history_["loss"]), model.embedding().shape, flush=True)
    """)
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    proc = subprocess.Popen([sys.executable, "-c", code, here], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = _interrupt_when(proc, proc.stdout, lambda line: line.strip() == "epoch 3", timeout=300)
    assert proc.returncode == 0, err
    done = [line for line in out.splitlines() if line.startswith("done")]
    assert done and done[0].endswith(f"(300, {scmvp.ScMVPConfig().n_latent})"), out
    epochs = int(done[0].split()[1])
    assert 3 <= epochs < 100000
    assert f"interrupted after {epochs} of 100000 epochs" in err


@pytest.mark.slow
def test_interrupt_in_r_keeps_the_session_and_the_model(tmp_path):
    """An interrupt (SIGINT, as Ctrl-C sends it) to R during RunSCMVP: reticulate raises it in
    Python as KeyboardInterrupt, training ends, and RunSCMVP returns the model trained so far."""
    import os
    import shutil

    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not installed")
    script = tmp_path / "interrupt.R"
    script.write_text(textwrap.dedent("""
        suppressPackageStartupMessages(library(scMVP))
        obj <- ReadSCMVPExample(n.cells = 300, seed = 1)
        obj <- RunSCMVP(obj, epochs = 100000L, early_stopping = FALSE, n.clusters = 4L, verbose = TRUE)
        cat("alive; epochs", length(SeuratObject::Misc(obj[["scmvp"]])$history$loss),
            "; cells", nrow(SeuratObject::Embeddings(obj, "scmvp")), "\\n")
    """))
    env = dict(os.environ, SCMVP_PYTHON=sys.executable)
    proc = subprocess.Popen([rscript, "--vanilla", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    # R's progress lines are messages (stderr)
    out, err = _interrupt_when(proc, proc.stderr, lambda line: line.startswith("scMVP: epoch 1/"), timeout=600)
    assert proc.returncode == 0, err
    assert "alive; epochs" in out and "; cells 300" in out, out + err
    epochs = int(out.split("alive; epochs")[1].split(";")[0])
    assert 1 <= epochs < 100000
    assert f"training was interrupted after {epochs} of 100000 epochs" in err
