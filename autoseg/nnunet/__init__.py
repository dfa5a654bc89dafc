"""nnU-Net v2 trained models, used as they are or imported as autoseg models.

``autoseg predict -m FOLDER`` and ``autoseg.load_model(FOLDER)`` take an
nnU-Net v2 model folder (``TRAINER__PLANS__CONFIGURATION`` with plans.json,
dataset.json and ``fold_K/checkpoint_final.pth``) directly; ``autoseg
import_nnunet`` writes it into the results folder as an autoseg model, after
which every autoseg command works on it. docs/nnunet.md has the details.
"""

from autoseg.nnunet.checkpoint import read_nnunet_checkpoint
from autoseg.nnunet.importer import convert_model_folder, import_nnunet
from autoseg.nnunet.model_folder import NnUNetModel, is_nnunet_model_folder

__all__ = ["NnUNetModel", "convert_model_folder", "import_nnunet", "is_nnunet_model_folder", "read_nnunet_checkpoint"]
