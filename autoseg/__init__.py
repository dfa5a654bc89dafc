"""autoseg: self-configuring deep learning for medical images.

``autoseg.load_model(...)`` loads a trained model for prediction in memory (docs/python_api.md); it is
imported on first use, so ``import autoseg`` stays light.
"""

from autoseg.errors import AutosegError
from autoseg.version import __version__

__all__ = ["AutosegError", "ClassPrediction", "Model", "__version__", "load_model"]


def __getattr__(name: str):
    if name in ("load_model", "Model", "ClassPrediction"):
        from autoseg.workflows import model

        return getattr(model, name)
    raise AttributeError(f"module 'autoseg' has no attribute {name!r}")
