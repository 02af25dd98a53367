"""MultiVI trained for a fixed number of epochs with a time stamp at the end of each: the one
MultiVI run that bench/speed.py and bench/scale.py time (imported by their children, which run
in the peers' virtualenv with bench/ on the path)."""
from __future__ import annotations

import time


def timed_multivi_fit(mdata, epochs: int = 3, accelerator: str = "cpu"):
    """Set up MultiVI on ``mdata`` (modalities ``"rna"`` and ``"atac"``), train it ``epochs``
    epochs without early stopping (seed 0), and return ``(start, ends)``: ``time.perf_counter()``
    before the set-up and at the end of every epoch."""
    import scvi
    from lightning.pytorch.callbacks import Callback

    ends = []

    class Stamp(Callback):
        def on_train_epoch_end(self, trainer, module):
            ends.append(time.perf_counter())

    scvi.settings.seed = 0
    start = time.perf_counter()
    scvi.model.MULTIVI.setup_mudata(mdata, modalities={"rna_layer": "rna", "atac_layer": "atac"})
    model = scvi.model.MULTIVI(mdata)
    model.train(max_epochs=epochs, accelerator=accelerator, enable_progress_bar=False, callbacks=[Stamp()],
                early_stopping=False)
    return start, ends
