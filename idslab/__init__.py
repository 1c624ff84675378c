"""idslab: Implicit Data Synthesis, contrastive learning whose positive pairs come from perturbed weights.

    from idslab import PerturbedLinear, build_encoder, nt_xent
    h = idslab.embed("m.pt", "scenes.h5").h     # frozen 32-d h of every tile of a file (idslab.embeddings)
"""
__version__ = "0.1.0"

from .perturb import PerturbedLinear, set_sites  # noqa: E402
from .encoders import ENCODERS, build_encoder  # noqa: E402
from .loss import nt_xent  # noqa: E402

__all__ = ["PerturbedLinear", "set_sites", "ENCODERS", "build_encoder", "nt_xent", "embed", "__version__"]


def __getattr__(name):
    # idslab.embed is idslab.embeddings.embed, imported on first use: `import idslab` stays light (no train/probes)
    if name == "embed":
        from .embeddings import embed
        return embed
    raise AttributeError(f"module 'idslab' has no attribute {name!r}")
