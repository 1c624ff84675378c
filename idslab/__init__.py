"""idslab: Implicit Data Synthesis, contrastive learning whose positive pairs come from perturbed weights.

    from idslab import PerturbedLinear, build_encoder, nt_xent
    h = idslab.embed("m.pt", "scenes.h5").h     # frozen 32-d h of every tile of a file (idslab.embeddings)
"""
__version__ = "0.1.0"

__all__ = ["PerturbedLinear", "set_sites", "ENCODERS", "build_encoder", "nt_xent", "embed", "__version__"]

# The public names are imported on first use (PEP 562), so `import idslab` (and with it `import idslab.cli`, the
# console script's first line) does not import torch: a Ctrl-C while torch loads then reaches cli.main's handler
# (one line, exit 130) instead of printing a traceback from inside an import.
_LAZY = {"PerturbedLinear": "perturb", "set_sites": "perturb", "ENCODERS": "encoders", "build_encoder": "encoders",
         "nt_xent": "loss", "embed": "embeddings"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'idslab' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
