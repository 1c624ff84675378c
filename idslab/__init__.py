"""idslab: Implicit Data Synthesis, contrastive learning whose positive pairs come from perturbed weights.

    from idslab import PerturbedLinear, build_encoder, nt_xent
"""
__version__ = "0.1.0"

from .perturb import PerturbedLinear, set_sites  # noqa: E402
from .encoders import ENCODERS, build_encoder  # noqa: E402
from .loss import nt_xent  # noqa: E402

__all__ = ["PerturbedLinear", "set_sites", "ENCODERS", "build_encoder", "nt_xent", "__version__"]
