"""autoseg: self-configuring deep learning for medical images."""

from autoseg.errors import AutosegError

__version__ = "0.1.0"

__all__ = ["AutosegError", "__version__"]
