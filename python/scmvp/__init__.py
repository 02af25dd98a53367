"""scMVP: a multi-view deep generative model for paired single-cell RNA + ATAC data.

>>> import scmvp
>>> model = scmvp.ScMVP(n_latent=20)      # then model.fit(rna, atac), model.embedding(), ...
"""
__version__ = "0.1.0"

from . import data, distributions  # noqa: E402
from .config import ScMVPConfig  # noqa: E402
from .data import ScMVPInputError  # noqa: E402
from .model import ScMVP  # noqa: E402
from . import io  # noqa: E402

__all__ = ["ScMVP", "ScMVPConfig", "ScMVPInputError", "io", "data", "distributions", "__version__"]
