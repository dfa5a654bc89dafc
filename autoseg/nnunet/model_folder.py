"""An nnU-Net v2 trained model folder, read as nnU-Net writes it (never written to).

``TRAINER__PLANS__CONFIGURATION/`` holds plans.json (every configuration of
the plans, some inheriting from others), dataset.json,
dataset_fingerprint.json and ``fold_K/checkpoint_final.pth`` (and
``checkpoint_best.pth``) per trained fold; a cascade's first stage is the
``3d_lowres`` folder beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.nnunet.checkpoint import read_nnunet_checkpoint

PLANS_KEYS = ("plans_name", "configurations", "transpose_forward")  # keys of nnU-Net's plans.json that autoseg's lacks
CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")


def is_nnunet_model_folder(path: Path) -> bool:
    """Whether ``path`` is an nnU-Net v2 model folder (plans.json in nnU-Net's format beside a dataset.json)."""
    path = Path(path)
    plans = path / "plans.json"
    if not (plans.is_file() and (path / "dataset.json").is_file()):
        return False
    try:
        data = json.loads(plans.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and all(key in data for key in PLANS_KEYS)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AutosegError(f"{path} not found; an nnU-Net model folder holds plans.json and dataset.json beside its fold_K folders.")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AutosegError(f"{path} is not readable JSON ({error}).") from error
    if not isinstance(data, dict):
        raise AutosegError(f"{path} holds {type(data).__name__}, not a JSON object.")
    return data


@dataclass
class NnUNetModel:
    """One trained configuration of an nnU-Net model folder."""

    folder: Path
    trainer: str
    plans_name: str
    configuration_name: str
    plans: dict
    dataset_json: dict

    @classmethod
    def open(cls, folder: Path) -> NnUNetModel:
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise AutosegError(f"{folder} is not a folder; give an nnU-Net model folder (TRAINER__PLANS__CONFIGURATION).")
        parts = folder.name.split("__")
        if len(parts) != 3 or not all(parts):
            raise AutosegError(
                f"{folder.name!r} is not named as nnU-Net names model folders (TRAINER__PLANS__CONFIGURATION, e.g. "
                "nnUNetTrainer__nnUNetPlans__3d_fullres); give the folder that holds plans.json and the fold_K folders."
            )
        plans = _read_json(folder / "plans.json")
        missing = [key for key in PLANS_KEYS if key not in plans]
        if missing:
            raise AutosegError(f"{folder / 'plans.json'} lacks {', '.join(missing)}: it is not plans written by nnU-Net v2.")
        model = cls(folder, parts[0], parts[1], parts[2], plans, _read_json(folder / "dataset.json"))
        model.configuration()  # the configuration named by the folder is in the plans
        return model

    @property
    def dataset_name(self) -> str:
        return str(self.plans.get("dataset_name", self.folder.parent.name))

    def configuration(self, name: str | None = None) -> dict:
        """A configuration of the plans with what it inherits (``inherits_from``) filled in."""
        name = name or self.configuration_name
        configurations = self.plans["configurations"]
        chain, current = [], name
        while current is not None:
            if current not in configurations:
                raise AutosegError(
                    f"{self.folder / 'plans.json'} has no configuration {current!r}"
                    + (f" (which {chain[-1]!r} inherits from)" if chain else "")
                    + f"; it plans {', '.join(configurations)}."
                )
            if current in chain:
                raise AutosegError(
                    f"{self.folder / 'plans.json'}: configurations inherit from each other in a loop ({' -> '.join(chain)})."
                )
            chain.append(current)
            current = configurations[current].get("inherits_from")
        resolved: dict = {}
        for member in reversed(chain):
            resolved.update({key: value for key, value in configurations[member].items() if key != "inherits_from"})
        return resolved

    def folds(self, checkpoint: str) -> list[str]:
        """The folds holding ``checkpoint`` (numbered ones in order, else ``all``)."""
        found = [p.name[5:] for p in self.folder.glob("fold_*") if (p / checkpoint).is_file()]
        numbered = sorted((fold for fold in found if fold.isdigit()), key=int)
        return numbered or (["all"] if "all" in found else [])

    def checkpoint(self, fold: str, name: str) -> dict:
        return read_nnunet_checkpoint(self.folder / f"fold_{fold}" / name)

    def previous_stage(self) -> NnUNetModel | None:
        """The cascade's first stage (its model folder beside this one), or None for a single-stage model."""
        stage = self.configuration().get("previous_stage")
        if stage is None:
            return None
        folder = self.folder.parent / f"{self.trainer}__{self.plans_name}__{stage}"
        if not folder.is_dir():
            raise AutosegError(
                f"{self.folder.name} refines the predictions of {stage}, whose model folder {folder.name} is not beside it in "
                f"{self.folder.parent}; copy it there (nnU-Net trains it as a model of its own)."
            )
        return NnUNetModel.open(folder)
